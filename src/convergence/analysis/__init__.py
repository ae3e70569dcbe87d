"""Analyses on measured panels: convergence tests.

* :mod:`~convergence.analysis.panel` -- the entity x period matrix these tests take, its
  converters, balancing and the non-positive filter.
* :mod:`~convergence.analysis.beta` -- absolute and conditional beta-convergence.
* :mod:`~convergence.analysis.sigma` -- sigma-convergence: dispersion per period and its trend.
* :mod:`~convergence.analysis.phillips_sul` -- Phillips-Sul log-t test, club clustering and
  club merging.
* :mod:`~convergence.analysis.convergence_tests` -- all of them on one panel, with the tables
  the pipeline writes.

Importing this package imports only numpy, pandas, scipy and statsmodels (never torch,
Lightning or MLflow).
"""

from convergence.analysis.beta import BETA_COLUMNS, BetaResult, BetaSettings, beta_convergence
from convergence.analysis.convergence_tests import (
    ConvergenceTestResult,
    ConvergenceTestSettings,
    convergence_tests,
)
from convergence.analysis.panel import balance_panel, drop_nonpositive, to_entity_period, to_long
from convergence.analysis.phillips_sul import (
    CLUB_COLUMNS,
    LOG_T_COLUMNS,
    ClubResult,
    LogTResult,
    PhillipsSulSettings,
    find_clubs,
    hp_trend,
    log_t_test,
    merge_clubs,
    phillips_sul,
    prepare_series,
    relative_transition,
)
from convergence.analysis.sigma import (
    SIGMA_COLUMNS,
    SIGMA_TREND_COLUMNS,
    SigmaSettings,
    gini,
    sigma_table,
    sigma_trend,
)

__all__ = [
    "BETA_COLUMNS",
    "CLUB_COLUMNS",
    "LOG_T_COLUMNS",
    "SIGMA_COLUMNS",
    "SIGMA_TREND_COLUMNS",
    "BetaResult",
    "BetaSettings",
    "ClubResult",
    "ConvergenceTestResult",
    "ConvergenceTestSettings",
    "LogTResult",
    "PhillipsSulSettings",
    "SigmaSettings",
    "balance_panel",
    "beta_convergence",
    "convergence_tests",
    "drop_nonpositive",
    "find_clubs",
    "gini",
    "hp_trend",
    "log_t_test",
    "merge_clubs",
    "phillips_sul",
    "prepare_series",
    "relative_transition",
    "sigma_table",
    "sigma_trend",
    "to_entity_period",
    "to_long",
]
