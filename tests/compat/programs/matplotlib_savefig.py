import os
import tempfile

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 2 * np.pi, 100)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
ax1.plot(x, np.sin(x), label="sin")
ax1.plot(x, np.cos(x), label="cos")
ax1.legend()
ax1.set_title("Waves")
ax2.bar(["a", "b", "c"], [3, 5, 2])
ax2.set_xlabel("category")
d = tempfile.mkdtemp()
for ext in ("png", "svg", "pdf"):
    path = os.path.join(d, "chart." + ext)
    fig.savefig(path)
    with open(path, "rb") as f:
        head = f.read(8)
    print(ext, os.path.getsize(path) > 1000, head[:4])
fig.canvas.draw()
print(fig.canvas.get_width_height())
print([t.get_text() for t in ax2.get_xticklabels()])
