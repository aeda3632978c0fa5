import io
import os
import tempfile

import pandas as pd

df = pd.DataFrame({"name": ["x", "y", "z"], "value": [1.5, 2.25, None],
                   "when": pd.to_datetime(["2024-01-01", "2024-02-29", "2024-12-31"])})
d = tempfile.mkdtemp()
path = os.path.join(d, "data.csv")
df.to_csv(path, index=False)
back = pd.read_csv(path, parse_dates=["when"])
print(back.dtypes.to_string())
print(back.equals(df))
js = df.to_json(orient="records", date_format="iso")
print(js)
print(pd.read_json(io.StringIO(js), orient="records").shape)
df.to_json(os.path.join(d, "data.json"), orient="split")
print(pd.read_json(os.path.join(d, "data.json"), orient="split")["name"].tolist())
csv = "a;b\n1;2\n3;4\n"
print(pd.read_csv(io.StringIO(csv), sep=";").sum().to_dict())
