import pandas as pd

customers = pd.DataFrame({"id": [1, 2, 3, 4], "name": ["Ada", "Bo", "Cy", "Di"],
                          "city": ["Oslo", "Rome", "Oslo", "Lima"]})
orders = pd.DataFrame({"order": range(100, 108), "customer": [1, 2, 2, 3, 5, 1, 4, 2],
                       "amount": [9.5, 20.0, 3.25, 7.0, 1.0, 15.5, 8.75, 2.0]})
inner = orders.merge(customers, left_on="customer", right_on="id", how="inner")
print(inner.sort_values("order").to_string(index=False))
outer = orders.merge(customers, left_on="customer", right_on="id", how="outer", indicator=True)
print(outer["_merge"].value_counts().sort_index())
print(inner.groupby("city")["amount"].agg(["count", "sum"]))
joined = customers.set_index("id").join(orders.groupby("customer")["amount"].sum().rename("total"))
print(joined.fillna(0).to_string())
print(pd.concat([customers.head(2), customers.tail(1)]).reset_index(drop=True))
