"""Analyses on measured panels and trained forecasters: what-if scenarios and attribution
(:mod:`~convergence.analysis.scenarios`) and convergence tests."""
