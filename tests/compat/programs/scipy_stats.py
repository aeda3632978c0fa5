import numpy as np
from scipy import sparse, stats

rng = np.random.default_rng(3)
a = rng.normal(0, 1, 200)
b = rng.normal(0.3, 1, 200)
t = stats.ttest_ind(a, b)
print(round(float(t.statistic), 6), round(float(t.pvalue), 6))
print(round(float(stats.norm.ppf(0.975)), 6), round(float(stats.norm.cdf(1.0)), 6))
print(stats.describe(a).nobs, round(float(stats.skew(a)), 6))
r = stats.pearsonr(a, a * 2 + b)
print(round(float(r[0]), 6))
m = sparse.csr_matrix(np.eye(4) * 2)
print((m @ np.ones(4)).tolist(), m.nnz)
print(round(float(stats.chi2_contingency([[10, 20], [20, 10]])[1]), 6))
