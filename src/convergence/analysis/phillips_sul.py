"""Phillips-Sul log-t convergence test, club clustering and club merging.

Model (Phillips & Sul 2007). Write ``X_it = delta_it mu_t``: a common component ``mu_t``
and an idiosyncratic, time-varying loading ``delta_it``. Relative to the cross-section,

    h_it = X_it / ((1/N) sum_j X_jt)                 (relative transition path)
    H_t  = (1/N) sum_i (h_it - 1)^2                  (its cross-sectional variance)

and all loadings converge, ``delta_it -> delta``, when ``H_t -> 0``. Under
``delta_it = delta_i + sigma_i xi_it / (L(t) t^alpha)`` with ``L(t) = log t``, ``H_1 / H_t``
grows like ``L(t)^2 t^(2 alpha)``, which gives the *log-t regression*

    log(H_1 / H_t) - 2 log(log t) = a + b log t + u_t,     t = t0, ..., T

with ``b`` estimating ``2 alpha``. The null of convergence (``alpha >= 0``) is rejected at 5 %
when the one-sided t-statistic ``t_b = b / se(b) < -1.65`` (se from a HAC estimate). Before
the test each entity's series is HP-filtered (Hodrick & Prescott 1997) to remove the
business cycle: the trend ``tau`` solves ``(I + lambda D'D) tau = y`` with ``D`` the second
difference matrix (statsmodels ``hpfilter``).

Club clustering (Phillips & Sul 2007, section 4 and appendix B), as implemented here:

1. *Order*: sort entities by their last (filtered) value, highest first, or by the mean of
   the last ``sort_fraction`` of the periods.
2. *Core*: take the first ``j`` (start at ``j = 1``) with ``t_b > critical_t`` for the pair
   ``{j, j+1}``; if none, there is no club and all entities left are divergent. Grow the
   group ``{j, ..., j+k-1}`` while ``t_k > critical_t`` (stopping at the first failure, so
   every ``t_k`` considered is above it: ``min_k t_k > -1.65``) and take as core the size
   ``k*`` that maximises ``t_k`` (the paper; ``core_criterion = "max_abs_t"`` maximises
   ``|t_k|`` instead, a convention found in ports of the GAUSS code).
3. *Sieve*: each entity outside the core (above or below it in the order) joins the club if
   the log-t test of core + entity has ``t_b > c*`` (``sieve_cstar``, default 0). If the
   club then fails the log-t test, ``c*`` is raised by ``sieve_increment`` until it passes
   (past ``sieve_max`` the club is the core alone, which passes by construction).
4. *Recursion*: if the entities left pass the log-t test together they form the next club;
   otherwise steps 1-3 are repeated on them. Fewer than two left, or no core found: they
   are the divergent group (club 0).

Club merging (Phillips & Sul 2009): clubs are numbered in the order found (club 1 holds the
highest entity). Adjacent clubs ``c`` and ``c+1`` are merged when the log-t test of their
union gives ``t_b > critical_t``; after a merge the merged club is tested against the next
one; passes repeat until no pair merges. The divergent group takes no part.

Conventions: where R ``ConvergenceClubs`` (Sichera & Pizzuto 2019) and Stata ``psecta``
(Du 2017) differ, this module follows the choice named below; each is a field of
:class:`PhillipsSulSettings` (config key ``phillips_sul.<field>``):

* trimming fraction ``r``: 1/3 (Phillips & Sul 2007, 2009; ``ConvergenceClubs``
  ``time_trim = 1/3``) rather than ``psecta``'s default ``kq = 0.3`` (``trim_fraction``);
* rounding of ``rT``: both packages discard the first ``round(rT)`` periods and regress on
  ``t = round(rT) + 1, ..., T``. Stata's ``round`` takes halves up
  (``trim_rule = "discard_round"``, default); R's ``round`` takes halves to even
  (``trim_rule = "discard_round_even"``, ``ConvergenceClubs``); they differ only when
  ``rT`` is a half (``r = 0.3`` and ``T = 15, 35, 55, ...``). The paper's
  ``t = [rT], ..., T`` with ``[.]`` the integer part is ``trim_rule = "paper_floor"``.
  Always ``t0 >= 2`` (``log log 1`` is undefined);
* HAC (``hac``): ``"qs_andrews"`` (default) is the packages' convention, from Phillips &
  Sul's GAUSS code: ``Var(b) = LRV * [(X'X)^-1]_bb`` with ``LRV`` the quadratic-spectral
  long-run variance of the residuals with Andrews' (1991) AR(1) plug-in bandwidth
  ``S = 1.3221 (4 rho^2 / (1 - rho)^4 * n)^(1/5)``, no cap
  (:func:`convergence.analysis._regression.qs_andrews_lrv` gives every formula and the
  limits where ``rho`` is 0 or 1). ``"newey_west"`` is a Bartlett-kernel sandwich
  ``(X'X)^-1 S (X'X)^-1`` (statsmodels) with ``hac_maxlags`` lags, default
  ``floor(4 (n/100)^(2/9))`` (Newey & West 1994). HP-filtered series leave persistent
  residuals, for which the two standard errors differ by a factor of 1.5-3, enough to
  change clubs: only ``qs_andrews`` reproduces published ``psecta`` / ``ConvergenceClubs``
  clubs;
* ordering: by the last period (``sort_fraction = 0``, ``psecta`` ``fr(0)`` and
  ``ConvergenceClubs`` ``refCol`` = last column); ``sort_fraction > 0`` sorts by the mean
  of the last share of periods (``psecta`` ``fr()``);
* sieve: ``c* = 0`` raised in steps of 0.05 up to 50 when a club fails (``psecta``
  ``cr(0) incr(0.05) maxcr(50)``; ``ConvergenceClubs`` keeps ``c*`` fixed by default);
* HP filter with ``lambda = 400`` for annual data (Phillips & Sul 2007, 2009), applied to
  the series as given; ``log_transform = true`` takes logs first, as the papers do with
  per-capita income (``psecta`` and ``ConvergenceClubs`` leave both steps to the user).

References
----------
Phillips, P. C. B. & Sul, D. (2007). Transition modeling and econometric convergence tests.
*Econometrica* 75(6), 1771-1855.
Phillips, P. C. B. & Sul, D. (2009). Economic transition and growth. *Journal of Applied
Econometrics* 24(7), 1153-1185.
Hodrick, R. J. & Prescott, E. C. (1997). Postwar U.S. business cycles. *Journal of Money,
Credit and Banking* 29(1), 1-16.
Newey, W. K. & West, K. D. (1994). Automatic lag selection in covariance matrix estimation.
*Review of Economic Studies* 61(4), 631-653.
Sichera, R. & Pizzuto, P. (2019). ConvergenceClubs: a package for performing the Phillips
and Sul's club convergence clustering procedure. *The R Journal* 11(2), 142-151.
Du, K. (2017). Econometric convergence test and club clustering using Stata. *The Stata
Journal* 17(4), 882-900.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.tsa.filters.hp_filter import hpfilter

from convergence.analysis._regression import (
    newey_west_lags,
    ols_hac,
    ols_qs_andrews,
    qs_andrews_lrv,
)
from convergence.analysis.panel import check_matrix, drop_nonpositive
from convergence.errors import InputError

__all__ = [
    "CLUB_COLUMNS",
    "CORE_CRITERIA",
    "HAC_METHODS",
    "LOG_T_COLUMNS",
    "MIN_LOG_T_POINTS",
    "TRANSITION_COLUMNS",
    "TRIM_RULES",
    "ClubResult",
    "LogTResult",
    "PhillipsSulSettings",
    "find_clubs",
    "hp_trend",
    "log_t_test",
    "merge_clubs",
    "min_periods",
    "phillips_sul",
    "prepare_series",
    "regression_start",
    "relative_transition",
]

#: Rules for the first period of the log-t regression (see the module doc).
TRIM_RULES: tuple[str, ...] = ("discard_round", "discard_round_even", "paper_floor")
#: Standard errors of the log-t regression (see the module doc); the first is the default.
HAC_METHODS: tuple[str, ...] = ("qs_andrews", "newey_west")
#: How the core size is chosen among the growing groups; the first is the default.
CORE_CRITERIA: tuple[str, ...] = ("max_t", "max_abs_t")
#: Columns of ``log_t.csv``: the test on all entities, on each final club, on the divergent group.
LOG_T_COLUMNS: tuple[str, ...] = (
    "group",
    "n",
    "a",
    "b",
    "se",
    "t",
    "converges",
    "t0",
    "n_points",
    "hac",
    "hac_lags",
    "hac_bandwidth",
)
#: Columns of ``clubs.csv``: one row per entity.
CLUB_COLUMNS: tuple[str, ...] = ("entity", "club", "club_size", "final_rank", "initial_club")
#: Columns of ``transition.csv``: relative transition paths for plotting.
TRANSITION_COLUMNS: tuple[str, ...] = ("entity", "period", "h", "club")


@dataclass(frozen=True)
class PhillipsSulSettings:
    """Conventions of the Phillips-Sul test and clustering (the one home of their defaults).

    Each field is config key ``phillips_sul.<field>``; the module doc compares them with
    R ``ConvergenceClubs`` and Stata ``psecta``.

    Attributes
    ----------
    hp_filter
        HP-filter each entity's series before the test (default true).
    hp_lambda
        HP smoothing parameter (default 400, Phillips & Sul's choice for annual data;
        1600 is customary for quarterly).
    log_transform
        Take logs before filtering (default false: the series as given). All values
        must then be positive and all logs of one sign.
    trim_fraction
        ``r``, the share of early periods left out of the log-t regression (default 1/3).
    trim_rule
        ``"discard_round"`` (default: ``t0 = round(r T) + 1``, halves up, Stata),
        ``"discard_round_even"`` (halves to even, R) or ``"paper_floor"``
        (``t0 = floor(r T)``); ``t0 >= 2`` always.
    hac
        Standard error of ``b``: ``"qs_andrews"`` (default; ``psecta`` and
        ``ConvergenceClubs``) or ``"newey_west"`` (module doc).
    hac_maxlags
        Bartlett lags of the ``newey_west`` standard error; None (default) =
        ``floor(4 (n/100)^(2/9))`` for ``n`` regression points. Unused by ``qs_andrews``.
    critical_t
        One-sided 5 % critical value of ``t_b`` (default -1.65).
    sort_fraction
        0 (default): order entities by the last period; ``0 < f <= 1``: by the mean of the
        last ``ceil(f T)`` periods.
    sieve_cstar
        Sieve criterion ``c*`` (default 0).
    sieve_increment
        Step by which ``c*`` is raised when a sieved club fails (default 0.05).
    sieve_max
        Largest ``c*`` tried before the club falls back to its core (default 50).
    merge_clubs
        Run the Phillips & Sul (2009) merging of adjacent clubs (default true).
    core_criterion
        ``"max_t"`` (default, the paper): the core size maximises ``t_k``; ``"max_abs_t"``:
        it maximises ``|t_k|``.
    """

    hp_filter: bool = True
    hp_lambda: float = 400.0
    log_transform: bool = False
    trim_fraction: float = 1.0 / 3.0
    trim_rule: str = "discard_round"
    hac: str = HAC_METHODS[0]
    hac_maxlags: int | None = None
    critical_t: float = -1.65
    sort_fraction: float = 0.0
    sieve_cstar: float = 0.0
    sieve_increment: float = 0.05
    sieve_max: float = 50.0
    merge_clubs: bool = True
    core_criterion: str = CORE_CRITERIA[0]

    def __post_init__(self) -> None:
        key = "phillips_sul"
        if not self.hp_lambda > 0:
            raise InputError(f"{key}.hp_lambda: must be > 0, got {self.hp_lambda!r}")
        if not 0.0 < self.trim_fraction < 1.0:
            raise InputError(f"{key}.trim_fraction: must lie in (0, 1), got {self.trim_fraction!r}")
        if self.trim_rule not in TRIM_RULES:
            raise InputError(
                f"{key}.trim_rule: must be one of {TRIM_RULES}, got {self.trim_rule!r}"
            )
        if self.core_criterion not in CORE_CRITERIA:
            raise InputError(
                f"{key}.core_criterion: must be one of {CORE_CRITERIA}, got {self.core_criterion!r}"
            )
        if self.hac not in HAC_METHODS:
            raise InputError(f"{key}.hac: must be one of {HAC_METHODS}, got {self.hac!r}")
        if self.hac_maxlags is not None and (
            isinstance(self.hac_maxlags, bool)
            or not isinstance(self.hac_maxlags, int)
            or self.hac_maxlags < 0
        ):
            raise InputError(
                f"{key}.hac_maxlags: must be null or an integer >= 0, got {self.hac_maxlags!r}"
            )
        if not 0.0 <= self.sort_fraction <= 1.0:
            raise InputError(f"{key}.sort_fraction: must lie in [0, 1], got {self.sort_fraction!r}")
        if not self.sieve_increment > 0:
            raise InputError(f"{key}.sieve_increment: must be > 0, got {self.sieve_increment!r}")
        if not self.sieve_max >= self.sieve_cstar:
            raise InputError(f"{key}.sieve_max: must be >= sieve_cstar, got {self.sieve_max!r}")


@dataclass(frozen=True)
class LogTResult:
    """One log-t regression.

    Attributes
    ----------
    n
        Entities in the group.
    a, b, se, t
        Intercept, slope on ``log t``, its HAC standard error and ``t = b / se``.
    converges
        ``t > critical_t``.
    t0, n_points
        First ``t`` (1-based) of the regression and number of points ``T - t0 + 1``.
    hac, hac_lags, hac_bandwidth
        The standard error's method, the lags it weights (``qs_andrews``: all ``n - 2``;
        ``newey_west``: ``hac_maxlags``) and its kernel bandwidth (``qs_andrews``: Andrews'
        ``S``; ``newey_west``: lags + 1, where the Bartlett weight reaches 0).
    """

    n: int
    a: float
    b: float
    se: float
    t: float
    converges: bool
    t0: int
    n_points: int
    hac: str = HAC_METHODS[0]
    hac_lags: int = 0
    hac_bandwidth: float = math.nan


@dataclass(frozen=True)
class ClubResult:
    """Output of :func:`phillips_sul`.

    Attributes
    ----------
    prepared
        The (logged and) filtered entity x period panel the tests used.
    overall
        Log-t test of all entities.
    clubs
        Final clubs (after merging when enabled), lists of entity labels, club 1 first.
    initial_clubs
        Clubs found by the clustering, before merging.
    divergent
        Entities in no club.
    order
        Entities in the clustering order (rank 1 first).
    log_t, club_table, transition
        Tables with columns :data:`LOG_T_COLUMNS`, :data:`CLUB_COLUMNS`,
        :data:`TRANSITION_COLUMNS`.
    warnings
        Entities dropped, with reasons.
    """

    prepared: pd.DataFrame
    overall: LogTResult
    clubs: list[list[Hashable]]
    initial_clubs: list[list[Hashable]]
    divergent: list[Hashable]
    order: list[Hashable]
    log_t: pd.DataFrame
    club_table: pd.DataFrame
    transition: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def hp_trend(matrix: pd.DataFrame, lamb: float = 400.0) -> pd.DataFrame:
    """Hodrick-Prescott trend of each entity's series (statsmodels ``hpfilter``).

    ``tau_i = argmin sum_t (y_it - tau_t)^2 + lamb sum_t (Delta^2 tau_t)^2``, i.e.
    ``(I + lamb D'D) tau_i = y_i``. A linear series is its own trend.

    Raises
    ------
    InputError
        A missing value, or fewer than 3 periods.
    """
    check_matrix(matrix)
    if matrix.isna().to_numpy().any():
        raise InputError("HP filter needs a complete panel (no missing values)")
    if matrix.shape[1] < 3:
        raise InputError(f"HP filter needs at least 3 periods, got {matrix.shape[1]}")
    trends = np.vstack([hpfilter(row, lamb=lamb)[1] for row in matrix.to_numpy(dtype=float)])
    return pd.DataFrame(trends, index=matrix.index, columns=matrix.columns)


def relative_transition(matrix: pd.DataFrame) -> pd.DataFrame:
    """Relative transition paths ``h_it = X_it / ((1/N) sum_j X_jt)``.

    Raises
    ------
    InputError
        A period whose cross-sectional mean is zero.
    """
    check_matrix(matrix)
    means = matrix.mean(axis=0)
    if (means == 0).any():
        raise InputError(
            f"relative transition undefined: zero mean in period {means.index[means == 0][0]!r}"
        )
    return matrix.div(means, axis=1)


def regression_start(n_periods: int, settings: PhillipsSulSettings) -> int:
    """First ``t`` (1-based) of the log-t regression under ``settings.trim_rule`` (>= 2)."""
    scaled = settings.trim_fraction * n_periods
    if settings.trim_rule == "discard_round":
        first = int(math.floor(scaled + 0.5)) + 1
    elif settings.trim_rule == "discard_round_even":
        first = round(scaled) + 1  # Python's round takes halves to even, as R's
    else:
        first = int(math.floor(scaled))
    return max(first, 2)


#: Points the log-t regression needs after trimming (a line and a standard error).
MIN_LOG_T_POINTS = 3


def min_periods(settings: PhillipsSulSettings) -> int:
    """Fewest periods ``T`` that leave :data:`MIN_LOG_T_POINTS` points for the log-t
    regression after trimming, i.e. the smallest ``T`` with ``T - t0(T) + 1 >= 3``
    (:func:`regression_start`); 4 with the default ``r = 1/3``."""
    n_periods = MIN_LOG_T_POINTS
    while n_periods - regression_start(n_periods, settings) + 1 < MIN_LOG_T_POINTS:
        n_periods += 1
    return n_periods


def _log_t(values: np.ndarray, settings: PhillipsSulSettings) -> LogTResult:
    """Log-t regression on an (entities x periods) array of prepared series."""
    n_entities, n_periods = values.shape
    t0 = regression_start(n_periods, settings)
    n_points = n_periods - t0 + 1
    if n_points < MIN_LOG_T_POINTS:
        raise InputError(
            f"log-t regression needs at least {MIN_LOG_T_POINTS} periods after trimming, "
            f"got {n_points} "
            f"of {n_periods} (trim_fraction {settings.trim_fraction:.3g})"
        )
    means = values.mean(axis=0)
    h = values / means
    dispersion = np.mean((h - 1.0) ** 2, axis=0)
    t_index = np.arange(t0, n_periods + 1, dtype=float)
    window = dispersion[t0 - 1 :]
    if np.all(window == 0) and dispersion[0] == 0:  # identical series: converged already
        return LogTResult(
            n_entities, math.nan, math.nan, 0.0, math.inf, True, t0, n_points, settings.hac
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        lhs = np.log(dispersion[0] / window) - 2.0 * np.log(np.log(t_index))
    if not np.all(np.isfinite(lhs)):
        return LogTResult(
            n_entities, math.nan, math.nan, math.nan, math.nan, False, t0, n_points, settings.hac
        )
    if settings.hac == "qs_andrews":
        fit = ols_qs_andrews(np.log(t_index), lhs)
        lags, bandwidth = n_points - 2, float(fit["bandwidth"])
    else:
        fit = ols_hac(np.log(t_index), lhs, settings.hac_maxlags)
        lags = int(fit["lags"])
        bandwidth = float(lags + 1)
    t_stat = float(fit["t"])
    return LogTResult(
        n=n_entities,
        a=float(fit["a"]),
        b=float(fit["b"]),
        se=float(fit["se"]),
        t=t_stat,
        converges=bool(t_stat > settings.critical_t),
        t0=t0,
        n_points=n_points,
        hac=settings.hac,
        hac_lags=lags,
        hac_bandwidth=bandwidth,
    )


def prepare_series(
    matrix: pd.DataFrame, settings: PhillipsSulSettings | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Log (when ``log_transform``) and HP-filter (when ``hp_filter``) a complete panel.

    Returns the prepared panel and warnings (entities dropped for non-positive values
    when taking logs).

    Raises
    ------
    InputError
        Missing values; logs of both signs (the relative transition would be meaningless).
    """
    settings = settings or PhillipsSulSettings()
    check_matrix(matrix)
    if matrix.isna().to_numpy().any():
        raise InputError("the Phillips-Sul test needs a complete panel (no missing values)")
    warnings: list[str] = []
    prepared = matrix.astype(float)
    if settings.log_transform:
        prepared, warnings = drop_nonpositive(prepared)
        prepared = np.log(prepared)
        values = prepared.to_numpy()
        if (values > 0).any() and (values < 0).any():
            raise InputError(
                "log_transform: logs take both signs (values straddle 1), so h_it = X_it / "
                "mean X_t is meaningless; rescale the series or set log_transform false"
            )
    if settings.hp_filter:
        prepared = hp_trend(prepared, settings.hp_lambda)
    return prepared, warnings


def log_t_test(
    matrix: pd.DataFrame, settings: PhillipsSulSettings | None = None, *, prepared: bool = False
) -> LogTResult:
    """Phillips-Sul log-t convergence test of all entities of a panel (module doc).

    Parameters
    ----------
    matrix
        Complete entity x period panel, columns in time order.
    settings
        :class:`PhillipsSulSettings`; default ``PhillipsSulSettings()``.
    prepared
        True when ``matrix`` is already logged/filtered (skips :func:`prepare_series`).

    Raises
    ------
    InputError
        Fewer than 2 entities, too few periods, or missing values.
    """
    settings = settings or PhillipsSulSettings()
    if not prepared:
        matrix, _ = prepare_series(matrix, settings)
    check_matrix(matrix)
    if matrix.shape[0] < 2:
        raise InputError(f"the log-t test needs at least 2 entities, got {matrix.shape[0]}")
    return _log_t(matrix.to_numpy(dtype=float), settings)


def _ordering(prepared: pd.DataFrame, settings: PhillipsSulSettings) -> list[Hashable]:
    n_periods = prepared.shape[1]
    if settings.sort_fraction == 0:
        key = prepared.iloc[:, -1]
    else:
        last = max(1, math.ceil(settings.sort_fraction * n_periods))
        key = prepared.iloc[:, -last:].mean(axis=1)
    positions = np.argsort(-key.to_numpy(), kind="stable")
    return list(prepared.index[positions])


#: Relative distance from a decision threshold below which the fast (incremental) t-statistic
#: of a candidate group is recomputed exactly with :func:`_log_t` before it decides anything.
FAST_T_TOLERANCE = 1e-6


def _log_t_many(dispersion: np.ndarray, settings: PhillipsSulSettings) -> np.ndarray:
    """``t_b`` of the log-t regression of each row of a (groups x periods) array of ``H_t``.

    The arithmetic of :func:`_log_t` (either standard error: the QS long-run variance, or
    statsmodels' Bartlett HAC sandwich without small-sample correction; the same
    exact-fit, non-finite and identical-series cases), vectorised over groups in closed
    form: agrees with it to rounding (about 1e-13 relative). Callers check that enough
    points remain after trimming.
    """
    n_periods = dispersion.shape[1]
    t0 = regression_start(n_periods, settings)
    t_index = np.arange(t0, n_periods + 1, dtype=float)
    window = dispersion[:, t0 - 1 :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lhs = np.log(dispersion[:, :1] / window) - 2.0 * np.log(np.log(t_index))
    finite = np.all(np.isfinite(lhs), axis=1)
    lhs = np.where(finite[:, None], lhs, 0.0)
    design = np.column_stack([np.ones_like(t_index), np.log(t_index)])
    inverse = np.linalg.pinv(design.T @ design)
    coef = lhs @ design @ inverse.T
    residuals = lhs - coef @ design.T
    n_points = t_index.size
    if settings.hac == "qs_andrews":
        lrv = qs_andrews_lrv(residuals)[0]
        variance = np.where(lrv > 0, lrv, np.where(lrv == 0, 0.0, np.nan)) * inverse[1, 1]
    else:
        scores = residuals[:, :, None] * design[None, :, :]
        lags = newey_west_lags(n_points) if settings.hac_maxlags is None else settings.hac_maxlags
        middle = np.einsum("gti,gtj->gij", scores, scores)
        for lag in range(1, min(lags, n_points - 1) + 1):
            cross = np.einsum("gti,gtj->gij", scores[:, lag:], scores[:, :-lag])
            middle += (1.0 - lag / (lags + 1.0)) * (cross + cross.transpose(0, 2, 1))
        variance = np.einsum("i,gij,j->g", inverse[1], middle, inverse[1])
    slope = coef[:, 1]
    with np.errstate(invalid="ignore"):
        se = np.sqrt(variance)
        exact_fit = (se == 0) | (se <= 1e-14 * np.maximum(1.0, np.abs(slope)))
        t_stat = np.where(exact_fit, np.sign(slope) * np.inf, slope / np.where(exact_fit, 1, se))
    t_stat = np.where(exact_fit & (slope == 0), 0.0, t_stat)
    t_stat = np.where(finite, t_stat, np.nan)
    identical = np.all(window == 0, axis=1) & (dispersion[:, 0] == 0)
    return np.where(identical, np.inf, t_stat)


def _add_entity(
    count: int, mean: np.ndarray, m2: np.ndarray, row: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Welford update of the per-period mean and sum of squared deviations of a group of
    ``count`` entities when ``row`` (or each row of a 2-D ``row``) joins it: O(T) per row."""
    delta = row - mean
    new_mean = mean + delta / (count + 1)
    return new_mean, m2 + delta * (row - new_mean)


def _dispersion(count: int, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """``H_t = (1/n) sum_i (X_it / m_t - 1)^2 = M2_t / (n m_t^2)`` from running sums."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return m2 / (count * mean**2)


def _near(t_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Which ``t_values`` are not finite or lie within :data:`FAST_T_TOLERANCE` (relative)
    of one of the sorted, non-empty ``thresholds`` (there the fast value is not trusted)."""
    position = np.clip(np.searchsorted(thresholds, t_values), 0, thresholds.size - 1)
    gap = np.abs(t_values - thresholds[position])
    if thresholds.size > 1:
        lower = thresholds[np.maximum(position - 1, 0)]
        gap = np.minimum(gap, np.abs(t_values - lower))
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(t_values) | ~(gap > FAST_T_TOLERANCE * (1.0 + np.abs(t_values)))


def _grow_t(
    values: np.ndarray, settings: PhillipsSulSettings, exact: Callable[[int], float]
) -> list[float]:
    """``t_k`` of the groups ``values[:k]``, ``k = 2, 3, ...``, up to and including the
    first ``t_k <= critical_t``.

    ``H_t`` is updated in O(T) as each row joins and the regressions run in batches
    (:func:`_log_t_many`); a ``t_k`` within :data:`FAST_T_TOLERANCE` of ``critical_t`` (or
    not finite) is replaced by ``exact(k)``, so the stopping point is the direct one.
    """
    critical = np.array([settings.critical_t])
    found: list[float] = []
    mean, m2 = values[0].copy(), np.zeros(values.shape[1])
    size, chunk = 1, 1
    while size < values.shape[0]:
        rows = []
        for row in values[size : size + chunk]:
            mean, m2 = _add_entity(size, mean, m2, row)
            size += 1
            rows.append(_dispersion(size, mean, m2))
        t_values = _log_t_many(np.vstack(rows), settings)
        unsure = _near(t_values, critical)
        for position, t_value in enumerate(t_values.tolist()):
            if unsure[position]:
                t_value = exact(len(found) + 2)
            found.append(t_value)
            if not t_value > settings.critical_t:
                return found
        chunk *= 2
    return found


def _find_core(
    candidates: Sequence[Hashable],
    test: Callable[[list[Hashable]], LogTResult],
    settings: PhillipsSulSettings,
    values: np.ndarray,
) -> list[Hashable] | None:
    """Step 2 of the module doc on ``candidates`` (rows ``values``, in clustering order).

    The t-statistics of the growing groups come from :func:`_grow_t`; those within
    :data:`FAST_T_TOLERANCE` of the largest are recomputed exactly by ``test`` (the full
    regression) before the largest is taken, so the core is the one the direct search finds.
    """
    for start in range(len(candidates) - 1):

        def exact(size: int, start: int = start) -> float:
            return test(list(candidates[start : start + size])).t

        t_values = _grow_t(values[start:], settings, exact)
        if t_values and not t_values[-1] > settings.critical_t:
            t_values = t_values[:-1]  # the first failure ends the growth
        kept = np.array(t_values)
        if kept.size == 0:
            continue
        score = np.abs if settings.core_criterion == "max_abs_t" else np.asarray
        top = float(np.max(score(kept)))
        margin = FAST_T_TOLERANCE * (1.0 + abs(top)) if math.isfinite(top) else 0.0
        for position in np.flatnonzero(score(kept) >= top - margin):
            kept[position] = exact(int(position) + 2)
        scores = score(kept)
        return list(candidates[start : start + int(np.argmax(scores == np.max(scores))) + 2])
    return None


def _sieve_thresholds(settings: PhillipsSulSettings) -> np.ndarray:
    """Every ``c*`` the sieve may try: ``sieve_cstar``, raised by ``sieve_increment`` up to
    ``sieve_max`` (accumulated as the sieve accumulates it)."""
    found = []
    cstar = settings.sieve_cstar
    while cstar <= settings.sieve_max:
        found.append(cstar)
        cstar += settings.sieve_increment
    return np.sort(np.array(found or [settings.sieve_cstar]))


def _sieve(
    core: list[Hashable],
    candidates: Sequence[Hashable],
    test: Callable[[list[Hashable]], LogTResult],
    settings: PhillipsSulSettings,
    values: np.ndarray,
) -> list[Hashable]:
    """Step 3 of the module doc: ``candidates`` in clustering order with rows ``values``.

    ``t`` of core + entity for every entity outside the core at once: the core's running
    sums updated by each entity's row (O(T) per entity instead of a refit on O(N T)); any
    ``t`` within :data:`FAST_T_TOLERANCE` of a ``c*`` the sieve may try is recomputed
    exactly by ``test``.
    """
    members = set(core)
    outside = np.array([entity not in members for entity in candidates])
    others = [entity for entity in candidates if entity not in members]
    core_rows = values[~outside]
    mean, m2 = core_rows[0].copy(), np.zeros(values.shape[1])
    for count, row in enumerate(core_rows[1:], start=1):
        mean, m2 = _add_entity(count, mean, m2, row)
    joined_mean, joined_m2 = _add_entity(len(core_rows), mean, m2, values[outside])
    fast = _log_t_many(_dispersion(len(core_rows) + 1, joined_mean, joined_m2), settings)
    for position in np.flatnonzero(_near(fast, _sieve_thresholds(settings))):
        fast[position] = test([*core, others[position]]).t
    t_values = dict(zip(others, fast.tolist(), strict=True))
    cstar = settings.sieve_cstar
    while cstar <= settings.sieve_max:
        joined = [entity for entity in others if t_values[entity] > cstar]
        if not joined:
            return list(core)
        chosen = members | set(joined)
        club = [entity for entity in candidates if entity in chosen]
        if test(club).converges:
            return club
        cstar += settings.sieve_increment
    return list(core)


def find_clubs(
    prepared: pd.DataFrame, settings: PhillipsSulSettings | None = None
) -> tuple[list[list[Hashable]], list[Hashable], list[Hashable]]:
    """Phillips-Sul (2007) club clustering of a prepared panel (steps 1-4 of the module doc).

    Parameters
    ----------
    prepared
        Complete, already logged/filtered entity x period panel (see :func:`prepare_series`).
    settings
        :class:`PhillipsSulSettings`.

    Returns
    -------
    (clubs, divergent, order)
        Clubs as lists of entity labels in clustering order (club 1 first), the divergent
        entities, and all entities in clustering order.
    """
    settings = settings or PhillipsSulSettings()
    check_matrix(prepared)
    if prepared.shape[0] < 2:
        raise InputError(f"club clustering needs at least 2 entities, got {prepared.shape[0]}")
    values = prepared.to_numpy(dtype=float)
    row = {entity: position for position, entity in enumerate(prepared.index)}
    cache: dict[frozenset[Hashable], LogTResult] = {}

    def test(group: list[Hashable]) -> LogTResult:
        key = frozenset(group)
        if key not in cache:
            cache[key] = _log_t(values[[row[entity] for entity in group]], settings)
        return cache[key]

    order = _ordering(prepared, settings)
    remaining = list(order)
    clubs: list[list[Hashable]] = []
    while len(remaining) >= 2:
        if test(remaining).converges:
            clubs.append(list(remaining))
            remaining = []
            break
        rows = values[[row[entity] for entity in remaining]]
        core = _find_core(remaining, test, settings, rows)
        if core is None:
            break
        club = _sieve(core, remaining, test, settings, rows)
        clubs.append(club)
        remaining = [entity for entity in remaining if entity not in set(club)]
    return clubs, remaining, order


def merge_clubs(
    prepared: pd.DataFrame,
    clubs: Sequence[Sequence[Hashable]],
    settings: PhillipsSulSettings | None = None,
) -> list[list[Hashable]]:
    """Phillips & Sul (2009) merging of adjacent clubs (module doc).

    Clubs ``c`` and ``c+1`` are merged when the log-t test of their union passes; the
    merged club is then tested against the next one; passes repeat until nothing merges.

    Returns
    -------
    list of lists
        The merged clubs, in order.
    """
    settings = settings or PhillipsSulSettings()
    check_matrix(prepared)
    values = prepared.to_numpy(dtype=float)
    row = {entity: position for position, entity in enumerate(prepared.index)}
    merged = [list(club) for club in clubs]
    changed = True
    while changed and len(merged) > 1:
        changed = False
        position = 0
        while position < len(merged) - 1:
            union = merged[position] + merged[position + 1]
            if _log_t(values[[row[entity] for entity in union]], settings).converges:
                merged[position] = union
                del merged[position + 1]
                changed = True
            else:
                position += 1
    return merged


def _result_row(group: str, result: LogTResult) -> dict[str, object]:
    return {
        "group": group,
        "n": result.n,
        "a": result.a,
        "b": result.b,
        "se": result.se,
        "t": result.t,
        "converges": result.converges,
        "t0": result.t0,
        "n_points": result.n_points,
        "hac": result.hac,
        "hac_lags": result.hac_lags,
        "hac_bandwidth": result.hac_bandwidth,
    }


def phillips_sul(matrix: pd.DataFrame, settings: PhillipsSulSettings | None = None) -> ClubResult:
    """Log-t test of all entities, club clustering and (optionally) club merging.

    Parameters
    ----------
    matrix
        Complete entity x period panel (columns in time order).
    settings
        :class:`PhillipsSulSettings`; default ``PhillipsSulSettings()``.

    Returns
    -------
    ClubResult
        ``log_t`` has a row ``all``, one row ``club <c>`` per final club and, with 2+
        divergent entities, a row ``divergent``. ``club_table`` numbers final clubs from 1
        (0 = divergent); ``club_size`` is the size of the entity's club (or of the divergent
        group); ``final_rank`` is the position in the clustering order (1 = highest);
        ``initial_club`` is the club before merging. ``transition`` holds ``h_it`` of the
        prepared panel with the final club.

    Raises
    ------
    InputError
        Fewer than 2 entities, too few periods, or missing values.
    """
    settings = settings or PhillipsSulSettings()
    prepared, warnings = prepare_series(matrix, settings)
    overall = log_t_test(prepared, settings, prepared=True)
    initial, divergent, order = find_clubs(prepared, settings)
    clubs = merge_clubs(prepared, initial, settings) if settings.merge_clubs else initial

    rows = [_result_row("all", overall)]
    for number, club in enumerate(clubs, start=1):
        rows.append(
            _result_row(f"club {number}", log_t_test(prepared.loc[club], settings, prepared=True))
        )
    if len(divergent) >= 2:
        rows.append(
            _result_row("divergent", log_t_test(prepared.loc[divergent], settings, prepared=True))
        )
    log_t = pd.DataFrame(rows, columns=list(LOG_T_COLUMNS))

    final_of = {entity: number for number, club in enumerate(clubs, start=1) for entity in club}
    initial_of = {entity: number for number, club in enumerate(initial, start=1) for entity in club}
    sizes = {number: len(club) for number, club in enumerate(clubs, start=1)}
    sizes[0] = len(divergent)
    club_table = pd.DataFrame(
        {
            "entity": order,
            "club": pd.array([final_of.get(entity, 0) for entity in order], dtype="Int64"),
            "club_size": pd.array(
                [sizes[final_of.get(entity, 0)] for entity in order], dtype="Int64"
            ),
            "final_rank": pd.array(range(1, len(order) + 1), dtype="Int64"),
            "initial_club": pd.array(
                [initial_of.get(entity, 0) for entity in order], dtype="Int64"
            ),
        }
    )
    paths = relative_transition(prepared)
    transition = (
        paths.rename_axis(index="entity", columns="period")
        .stack(future_stack=True)
        .rename("h")
        .reset_index()
    )
    transition["club"] = pd.array(
        [final_of.get(entity, 0) for entity in transition["entity"]], dtype="Int64"
    )
    return ClubResult(
        prepared=prepared,
        overall=overall,
        clubs=clubs,
        initial_clubs=initial,
        divergent=divergent,
        order=order,
        log_t=log_t,
        club_table=club_table,
        transition=transition[list(TRANSITION_COLUMNS)],
        warnings=warnings,
    )
