# display() is brig's (as Jupyter's): natively it falls back to savefig.
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

try:
    display
except NameError:
    def display(fig):
        fig.savefig("display-001.png")
        return "display-001.png"

fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
ax.scatter([1, 2, 3, 4], [4, 1, 3, 2], c=["r", "g", "b", "k"])
ax.set_title("scatter")
print(display(fig))
