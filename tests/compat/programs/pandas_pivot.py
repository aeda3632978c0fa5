import pandas as pd

sales = pd.DataFrame({
    "month": ["jan", "jan", "feb", "feb", "mar", "mar", "mar"],
    "shop": ["x", "y", "x", "y", "x", "y", "y"],
    "sales": [10, 20, 30, 25, 5, 15, 10],
})
pt = sales.pivot_table(index="month", columns="shop", values="sales", aggfunc="sum",
                       fill_value=0, margins=True)
print(pt)
wide = sales.groupby(["month", "shop"])["sales"].sum().unstack()
print(wide)
print(wide.stack().reset_index(name="sales"))
print(pd.melt(wide.reset_index(), id_vars="month", value_name="total").sort_values(["month", "shop"]))
print(pd.crosstab(sales["month"], sales["shop"]))
