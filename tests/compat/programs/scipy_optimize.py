import numpy as np
from scipy import integrate, interpolate, optimize

res = optimize.minimize(lambda p: (p[0] - 3) ** 2 + (p[1] + 1) ** 2 + 1, x0=[0.0, 0.0])
print(np.round(res.x, 4), round(res.fun, 6))
root = optimize.brentq(lambda x: x ** 3 - 2 * x - 5, 2, 3)
print(round(root, 8))
xs = np.linspace(0, 10, 20)
popt, _ = optimize.curve_fit(lambda x, a, b: a * x + b, xs, 2.5 * xs + 1.0)
print(np.round(popt, 6))
val, err = integrate.quad(np.sin, 0, np.pi)
print(round(val, 10))
f = interpolate.interp1d([0, 1, 2, 3], [0, 1, 8, 27], kind="cubic")
print(round(float(f(1.5)), 6))
sol = integrate.solve_ivp(lambda t, y: -0.5 * y, [0, 2], [1.0], t_eval=[0, 1, 2], rtol=1e-8)
print(np.round(sol.y[0], 5))
