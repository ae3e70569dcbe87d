"""Forecasting models: the networks (:mod:`~convergence.models.networks`, torch) and the
statistical and ridge baselines (:mod:`~convergence.models.baselines`, no torch).

Import the module you need; this package imports neither, so a baselines job never loads
torch.
"""
