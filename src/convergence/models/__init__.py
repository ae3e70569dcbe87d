"""Forecasting models: the networks (:mod:`~convergence.models.networks`, torch), the
statistical and ridge baselines (:mod:`~convergence.models.baselines`, no torch) and the
NHITS baseline (:mod:`~convergence.models.nhits`, neuralforecast imported on use).

Import the module you need; this package imports none of them, so a baselines job loads
torch only when it runs NHITS.
"""
