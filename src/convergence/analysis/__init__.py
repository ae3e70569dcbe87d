"""Analyses on measured panels and trained forecasters.

* :mod:`~convergence.analysis.scenarios` -- what-if scenarios and permutation attribution of
  a trained forecaster (torch).
* :mod:`~convergence.analysis.panel` -- the entity x period matrix the convergence tests
  take, its converters, balancing and the non-positive filter.
* :mod:`~convergence.analysis.beta` -- absolute and conditional beta-convergence.
* :mod:`~convergence.analysis.sigma` -- sigma-convergence: dispersion per period and its trend.
* :mod:`~convergence.analysis.phillips_sul` -- Phillips-Sul log-t test, club clustering and
  club merging.
* :mod:`~convergence.analysis.convergence_tests` -- all of them on one panel, with the tables
  the pipeline writes (numpy, pandas, scipy, statsmodels; never torch, Lightning or MLflow).

Import the module you need: this package imports none of them.
"""
