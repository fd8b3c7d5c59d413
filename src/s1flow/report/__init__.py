"""Reporting on evaluation samples: tables and figures for the paper's comparisons.

Modules: ``bootstrap`` (paired and nested bootstrap confidence intervals), ``replicates`` (samples
tables per training seed and their per-setting cubes), ``metrics`` (Control,
Scaling, Performance), ``ablation`` (the data-ablation table, Table 2), ``methods`` (the
test-time scaling method comparison, Table 3, and its points), ``scaling_plot`` (the
accuracy vs thinking tokens figure) and ``sampling`` (cov@n and maj@n of sampled runs).
"""
