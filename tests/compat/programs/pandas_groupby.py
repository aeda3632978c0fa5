import numpy as np
import pandas as pd

rng = np.random.default_rng(7)
df = pd.DataFrame({
    "region": rng.choice(["north", "south", "east", "west"], 5000),
    "product": rng.choice(["a", "b", "c"], 5000),
    "units": rng.integers(1, 20, 5000),
    "price": rng.uniform(1, 100, 5000).round(2),
})
df["revenue"] = df["units"] * df["price"]
summary = df.groupby(["region", "product"]).agg(
    orders=("units", "size"), units=("units", "sum"), revenue=("revenue", "sum"),
    mean_price=("price", "mean"))
print(summary.round(2).to_string())
print(df.groupby("region")["revenue"].sum().sort_values(ascending=False).round(2))
print(df.groupby("product")["units"].describe().round(3))
