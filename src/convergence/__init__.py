"""Measure and forecast industry convergence.

Subpackages: ``data`` (readers and canonical tables), ``measures`` (normalization,
entropy weights, coupling coordination, structural similarity), ``models`` (CNN-LSTM and
neural baselines), ``training`` (Lightning), ``evaluation`` (backtests, metrics, tests),
``plotting``, ``tracking`` (MLflow).
"""

__version__ = "0.1.0"
