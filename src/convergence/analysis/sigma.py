"""Sigma-convergence: does the cross-sectional dispersion shrink over time?

This module is the one place where the pipeline computes and tests the dispersion of a
series across entities (the measure stage's ``sigma_convergence.csv`` is a descriptive
table without a test). For each period ``t`` over the ``n_t`` entities of the balanced
panel (Barro & Sala-i-Martin 1992; the dispersion of levels as in Young, Higgins & Levy
2008)::

    std_t     = sqrt( sum_i (x_it - mean_t)^2 / (n_t - 1) )     absolute dispersion
    cv_t      = std_t / mean_t                                  relative dispersion
    std_log_t = sqrt( sum_i (ln x_it - m_t)^2 / (n_t - 1) ),   m_t = mean_i ln x_it
    gini_t    = sum_i sum_j |x_it - x_jt| / (2 n_t^2 mean_t)

``std``, ``cv`` and ``std_log`` come from :func:`convergence.measures.similarity.sigma_convergence`
(on ``x`` and ``ln x``). The trend of each measure ``m`` (and of ``ln std_log``, whose slope
is the proportional rate of change of the dispersion per period) is the OLS fit
``m_t = a + b t + u_t`` on the period position ``t = 0, 1, ..., T-1``. Its standard error is
Newey-West (Bartlett kernel, ``hac_lags`` lags) times ``sqrt(T / (T - 2))``, and the
two-sided p-value is Student t with ``T - 2`` degrees of freedom: dispersion series are
short (often 15-30 periods) and smooth, so a normal reference would overstate the
evidence. Sigma-convergence in a measure is a significantly negative slope (``b < 0``
and ``p < alpha``); a significantly positive slope is sigma-divergence. The absolute
(``std``) and relative (``cv``) dispersion can trend in opposite directions when the mean
moves: a rising mean with a constant spread lowers ``cv`` and leaves ``std`` flat.

References
----------
Barro, R. J. & Sala-i-Martin, X. (1992). Convergence. *Journal of Political Economy* 100(2),
223-251.
Newey, W. K. & West, K. D. (1994). Automatic lag selection in covariance matrix estimation.
*Review of Economic Studies* 61(4), 631-653.
Young, A. T., Higgins, M. J. & Levy, D. (2008). Sigma convergence versus beta convergence.
*Journal of Money, Credit and Banking* 40(5), 1083-1093.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from convergence.analysis._regression import ols_hac
from convergence.analysis.panel import check_matrix, drop_nonpositive, to_long
from convergence.errors import InputError
from convergence.measures.similarity import sigma_convergence

__all__ = [
    "SIGMA_COLUMNS",
    "SIGMA_MEASURES",
    "SIGMA_TREND_COLUMNS",
    "SIGMA_TREND_MEASURES",
    "SigmaSettings",
    "gini",
    "sigma_table",
    "sigma_trend",
]

#: Columns of ``sigma.csv`` (long: one row per period and measure).
SIGMA_COLUMNS: tuple[str, ...] = ("period", "measure", "value", "n")
#: Measures in ``sigma.csv``: absolute (``std``) and relative (``cv``) dispersion first.
SIGMA_MEASURES: tuple[str, ...] = ("std", "cv", "std_log", "gini")
#: Rows of ``sigma_trend.csv``, in order.
SIGMA_TREND_MEASURES: tuple[str, ...] = ("std", "cv", "std_log", "ln_std_log", "gini")
#: Columns of ``sigma_trend.csv`` (one row per measure, plus ``ln_std_log``).
SIGMA_TREND_COLUMNS: tuple[str, ...] = (
    "measure",
    "slope",
    "intercept",
    "se",
    "t",
    "df",
    "p",
    "n",
    "n_entities",
    "hac_lags",
    "converges",
)


@dataclass(frozen=True)
class SigmaSettings:
    """Conventions of the sigma-convergence trend (the one home of their defaults).

    Attributes
    ----------
    hac_maxlags
        Bartlett-kernel lags of the Newey-West standard error (config key
        ``sigma.hac_maxlags``); None (default) = Newey & West (1994) rule
        ``floor(4 (T / 100)^(2/9))``.
    alpha
        Two-sided significance level for the verdict ``converges`` (config key
        ``sigma.alpha``, default 0.05).
    """

    hac_maxlags: int | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.hac_maxlags is not None and (
            isinstance(self.hac_maxlags, bool)
            or not isinstance(self.hac_maxlags, int)
            or self.hac_maxlags < 0
        ):
            raise InputError(
                f"sigma.hac_maxlags: must be null or an integer >= 0, got {self.hac_maxlags!r}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise InputError(f"sigma.alpha: must lie in (0, 1), got {self.alpha!r}")


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient ``sum_i sum_j |x_i - x_j| / (2 n^2 mean x)`` of non-negative values.

    NaNs are ignored; NaN for fewer than 2 values or a zero mean. Computed from the sorted
    values as ``sum_i (2 i - n - 1) x_(i) / (n^2 mean x)``, ``i = 1..n``.
    """
    x = np.sort(np.asarray(values, dtype=float).ravel())
    x = x[np.isfinite(x)]
    n = x.size
    if n < 2 or x.mean() == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * x) / (n * n * x.mean()))


def sigma_table(matrix: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Dispersion of a matrix panel per period (formulas: module doc).

    Entities with a non-positive value are dropped first (their logs are undefined),
    with a warning.

    Returns
    -------
    (pandas.DataFrame, list of str)
        Columns :data:`SIGMA_COLUMNS`: ``period`` (the panel's labels, in column order),
        ``measure`` (:data:`SIGMA_MEASURES`), ``value`` and ``n`` (entities with a value);
        and the warnings.
    """
    check_matrix(matrix)
    positive, warnings = drop_nonpositive(matrix)
    periods = list(positive.columns)
    logs = sigma_convergence(to_long(np.log(positive.astype(float)))).reindex(periods)
    levels = sigma_convergence(to_long(positive.astype(float))).reindex(periods)
    ginis = [gini(positive[period].to_numpy()) for period in periods]
    counts = positive.notna().sum(axis=0).to_numpy()
    blocks = [
        pd.DataFrame({"period": periods, "measure": "std", "value": levels["std"].to_numpy()}),
        pd.DataFrame({"period": periods, "measure": "cv", "value": levels["cv"].to_numpy()}),
        pd.DataFrame({"period": periods, "measure": "std_log", "value": logs["std"].to_numpy()}),
        pd.DataFrame({"period": periods, "measure": "gini", "value": ginis}),
    ]
    for block in blocks:
        block["n"] = counts
    return pd.concat(blocks, ignore_index=True)[list(SIGMA_COLUMNS)], warnings


def sigma_trend(table: pd.DataFrame, settings: SigmaSettings | None = None) -> pd.DataFrame:
    """Trend test of each dispersion measure over the period position (module doc).

    Parameters
    ----------
    table
        Output of :func:`sigma_table`; periods in time order.
    settings
        :class:`SigmaSettings`; default ``SigmaSettings()``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SIGMA_TREND_COLUMNS`, rows :data:`SIGMA_TREND_MEASURES`. ``slope``
        is per period; ``se`` is Newey-West times ``sqrt(n / (n - 2))``; ``p`` is two-sided,
        Student t with ``df = n - 2``; ``n`` counts periods, ``n_entities`` the fewest
        entities in a period; ``converges`` is ``slope < 0 and p < alpha``.

    Raises
    ------
    InputError
        Fewer than 3 periods with a defined measure.
    """
    settings = settings or SigmaSettings()
    rows = []
    for measure in SIGMA_TREND_MEASURES:
        source = "std_log" if measure == "ln_std_log" else measure
        chosen = table.loc[table["measure"] == source]
        series = chosen["value"].to_numpy(dtype=float)
        if measure == "ln_std_log":
            with np.errstate(divide="ignore", invalid="ignore"):
                series = np.where(series > 0, np.log(series), np.nan)
        position = np.arange(series.size, dtype=float)
        try:
            fit = ols_hac(position, series, settings.hac_maxlags, small_sample=True)
        except InputError as error:
            raise InputError(f"sigma trend of {measure}: {error}") from error
        counts = chosen["n"].to_numpy(dtype=float)
        rows.append(
            {
                "measure": measure,
                "slope": fit["b"],
                "intercept": fit["a"],
                "se": fit["se"],
                "t": fit["t"],
                "df": fit["df"],
                "p": fit["p_two_sided"],
                "n": fit["n"],
                "n_entities": int(counts.min()) if counts.size else 0,
                "hac_lags": fit["lags"],
                "converges": bool(fit["b"] < 0 and fit["p_two_sided"] < settings.alpha),
            }
        )
    return pd.DataFrame(rows, columns=list(SIGMA_TREND_COLUMNS))
