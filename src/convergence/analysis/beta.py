"""Beta-convergence: do entities that start lower grow faster?

Absolute (unconditional) beta-convergence, one cross-section over the whole span of
``T`` periods (Barro & Sala-i-Martin 1992)::

    g_i = (ln x_iT - ln x_i0) / T = alpha + beta ln x_i0 + e_i,     i = 1..N

estimated by OLS with heteroskedasticity-robust (HC1) standard errors. Conditional
beta-convergence (Islam 1995), a panel of non-overlapping spells of ``k`` periods starting
at columns ``0, k, 2k, ...`` (an incomplete last spell is not used)::

    g_is = (ln x_i,s+k - ln x_is) / k = mu_i [+ tau_s] + beta ln x_is + e_is

with entity fixed effects ``mu_i`` (entity dummies; optional spell dummies ``tau_s``) and
standard errors clustered by entity (CRV1 with statsmodels' small-sample factor, Student t
with ``G - 1`` degrees of freedom). Up to :data:`LSDV_MAX_ENTITIES` entities the dummies are
in the design (statsmodels OLS); above, the same estimate comes from the within
transformation (Frisch-Waugh-Lovell: demean by entity), in O(N) instead of the O(N^3) of a
dense design with N dummy columns; both agree to rounding (tested). A negative ``beta`` is beta-convergence. The implied
speed of convergence and half-life, from ``ln x_iT - ln x* = e^{-lambda T} (ln x_i0 - ln x*)``
(so ``beta T = e^{-lambda T} - 1``)::

    lambda    = -ln(1 + beta T) / T          (T = k for the conditional panel)
    half_life = ln 2 / lambda

``lambda`` is NaN (with the reason in ``note``) when ``1 + beta T <= 0`` (over-shooting) and
the half-life is NaN unless ``lambda > 0``. The fixed-effects estimate is biased towards
faster convergence in short panels (Nickell 1981); read it as an upper bound on speed.

References
----------
Barro, R. J. & Sala-i-Martin, X. (1992). Convergence. *Journal of Political Economy* 100(2),
223-251.
Islam, N. (1995). Growth empirics: a panel data approach. *Quarterly Journal of Economics*
110(4), 1127-1170.
Nickell, S. (1981). Biases in dynamic models with fixed effects. *Econometrica* 49(6),
1417-1426.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from convergence.analysis.panel import check_matrix, drop_nonpositive
from convergence.errors import InputError

__all__ = ["BETA_COLUMNS", "BETA_POINT_COLUMNS", "BetaResult", "BetaSettings", "beta_convergence"]

#: Columns of ``beta.csv`` (one row per kind: ``absolute``, ``conditional``).
BETA_COLUMNS: tuple[str, ...] = (
    "kind",
    "series",
    "beta",
    "se",
    "t",
    "p",
    "n",
    "n_entities",
    "r2",
    "intercept",
    "speed",
    "half_life",
    "T",
    "note",
)
#: Most entities for which the conditional regression puts the entity dummies in a dense
#: design (statsmodels); larger panels use the within transformation (:func:`_within_fit`).
LSDV_MAX_ENTITIES = 200

#: Columns of the per-entity points of the absolute regression (``beta_points.csv``).
BETA_POINT_COLUMNS: tuple[str, ...] = ("entity", "initial", "growth")


@dataclass(frozen=True)
class BetaSettings:
    """Conventions of the beta-convergence regressions (the one home of their defaults).

    Attributes
    ----------
    spell_length
        ``k``, length in periods of the non-overlapping spells of the conditional panel
        (config key ``beta.spell_length``). Default 5, the customary five-year spells.
    take_logs
        Regress growth of ``ln x`` on initial ``ln x`` (config key ``beta.take_logs``,
        default true). False uses the series as it is (for a series that already is a
        log, or is a rate), and the speed is then that of the series itself.
    time_effects
        Add spell dummies to the conditional panel (config key ``beta.time_effects``,
        default false: entity effects only, which lets common growth load on ``beta``
        only through its correlation with the level).
    """

    spell_length: int = 5
    take_logs: bool = True
    time_effects: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.spell_length, bool) or not isinstance(self.spell_length, int):
            raise InputError(f"beta.spell_length: must be an integer, got {self.spell_length!r}")
        if self.spell_length < 1:
            raise InputError(f"beta.spell_length: must be >= 1, got {self.spell_length}")


@dataclass(frozen=True)
class BetaResult:
    """Output of :func:`beta_convergence`.

    Attributes
    ----------
    table
        Columns :data:`BETA_COLUMNS`, rows ``absolute`` and ``conditional``.
    points
        Columns :data:`BETA_POINT_COLUMNS`: initial (log) level and average growth per
        period of each entity in the absolute regression.
    warnings
        Entities dropped and regressions skipped, each with its reason.
    """

    table: pd.DataFrame
    points: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _WithinFit:
    """The parts of a statsmodels fit that :func:`_row` and the within R^2 read."""

    params: dict[str, float]
    bse: dict[str, float]
    pvalues: dict[str, float]
    nobs: int
    ssr: float


def _within_fit(panel: pd.DataFrame, time_effects: bool) -> _WithinFit:
    """Entity fixed-effects regression of ``growth`` on ``initial`` [+ spell dummies] by the
    within transformation, with entity-clustered standard errors.

    The same numbers as statsmodels OLS on the dummy design with ``cov_type="cluster"``
    (Frisch-Waugh-Lovell): the slope and residuals of the entity-demeaned regression are
    the dummy regression's; the slope's row of ``(X'X)^-1 X'`` is ``e_1' (Z'Z)^-1 Z'`` for
    the demeaned regressors ``Z``; the variance is ``sum_g (w_g' u_g)^2`` times
    ``G / (G - 1) * (n - 1) / (n - K)`` with ``K`` the dummy design's columns; the p-value
    is Student t with ``G - 1`` degrees of freedom. O(n) for ``n`` observations.
    """
    codes = pd.factorize(panel["entity"])[0]
    n_groups = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_groups)

    def demean(column: np.ndarray) -> np.ndarray:
        return column - (np.bincount(codes, weights=column, minlength=n_groups) / counts)[codes]

    regressors = [panel["initial"].to_numpy(dtype=float)]
    if time_effects:
        spells = pd.get_dummies(panel["spell"], drop_first=True, dtype=float).to_numpy()
        regressors.extend(spells.T)
    design = np.column_stack([demean(column) for column in regressors])
    response = demean(panel["growth"].to_numpy(dtype=float))
    inverse = np.linalg.pinv(design.T @ design)
    coef = inverse @ (design.T @ response)
    resid = response - design @ coef
    scores = np.bincount(codes, weights=(design @ inverse[0]) * resid, minlength=n_groups)
    n_obs = len(panel)
    n_params = n_groups + design.shape[1]  # constant + G - 1 entity dummies, regressors
    correction = n_groups / (n_groups - 1.0) * (n_obs - 1.0) / float(n_obs - n_params)
    se = math.sqrt(float(np.sum(scores**2)) * correction)
    beta = float(coef[0])
    p_value = float(2.0 * stats.t(n_groups - 1).sf(abs(beta / se))) if se > 0 else math.nan
    return _WithinFit(
        params={"initial": beta},
        bse={"initial": se},
        pvalues={"initial": p_value},
        nobs=n_obs,
        ssr=float(np.sum(resid**2)),
    )


def _conditional_fit(panel: pd.DataFrame, time_effects: bool) -> object:
    """The conditional regression (module doc) on the spell panel (``entity, spell, initial,
    growth``): statsmodels OLS on the dummy design up to :data:`LSDV_MAX_ENTITIES` entities,
    :func:`_within_fit` above."""
    if panel["entity"].nunique() > LSDV_MAX_ENTITIES:
        return _within_fit(panel, time_effects)
    dummies = [pd.get_dummies(panel["entity"], prefix="e", drop_first=True, dtype=float)]
    if time_effects:
        dummies.append(pd.get_dummies(panel["spell"], prefix="s", drop_first=True, dtype=float))
    design = sm.add_constant(pd.concat([panel[["initial"]], *dummies], axis=1))
    groups = pd.factorize(panel["entity"])[0]
    return sm.OLS(panel["growth"], design).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )


def _speed(beta: float, horizon: float) -> tuple[float, float, str]:
    """Implied speed ``-ln(1 + beta T) / T`` and half-life, with a note when undefined."""
    if not np.isfinite(beta):
        return math.nan, math.nan, ""
    base = 1.0 + beta * horizon
    if base <= 0:
        return math.nan, math.nan, "1 + beta*T <= 0: speed and half-life undefined"
    speed = -math.log(base) / horizon
    if speed <= 0:
        return speed, math.nan, "speed <= 0 (no convergence): half-life undefined"
    return speed, math.log(2.0) / speed, ""


def _row(
    kind: str, series: str, fit: object | None, horizon: float, n_entities: int, note: str
) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(BETA_COLUMNS, math.nan)
    row.update(kind=kind, series=series, T=horizon, n_entities=n_entities, note=note, n=0)
    if fit is None:
        return row
    params, bse = fit.params, fit.bse  # type: ignore[attr-defined]
    beta, se = float(params["initial"]), float(bse["initial"])
    t_stat = beta / se if se > 0 else math.copysign(math.inf, beta) if beta != 0 else 0.0
    p_value = float(fit.pvalues["initial"]) if se > 0 else (0.0 if beta != 0 else 1.0)  # type: ignore[attr-defined]
    speed, half_life, speed_note = _speed(beta, horizon)
    row.update(
        beta=beta,
        se=se,
        t=t_stat,
        p=p_value,
        n=int(fit.nobs),  # type: ignore[attr-defined]
        speed=speed,
        half_life=half_life,
        note="; ".join(part for part in (note, speed_note) if part),
    )
    return row


def beta_convergence(
    matrix: pd.DataFrame, settings: BetaSettings | None = None, *, series: str = "value"
) -> BetaResult:
    """Absolute and conditional beta-convergence of a matrix panel (formulas: module doc).

    Parameters
    ----------
    matrix
        Entity x period panel (columns in time order, equally spaced). Missing cells
        drop the observations that need them.
    settings
        :class:`BetaSettings`; default ``BetaSettings()``.
    series
        Name written to the ``series`` column.

    Returns
    -------
    BetaResult
        ``r2`` is the ordinary R^2 for ``absolute`` and the within R^2
        ``1 - SSR / sum (g_is - mean_s g_is)^2`` for ``conditional``; ``intercept`` is NaN
        for ``conditional``. A regression that cannot be run (too few entities or spells)
        gets a row of NaN with the reason in ``note`` and in the warnings.

    Raises
    ------
    InputError
        Not an entity x period panel, or fewer than 2 periods.
    """
    settings = settings or BetaSettings()
    check_matrix(matrix)
    warnings: list[str] = []
    if matrix.shape[1] < 2:
        raise InputError(f"beta convergence needs at least 2 periods, got {matrix.shape[1]}")
    values = matrix
    if settings.take_logs:
        values, dropped = drop_nonpositive(values)
        warnings.extend(dropped)
        levels = np.log(values.astype(float))
    else:
        levels = values.astype(float)

    # Absolute: first to last column.
    horizon = float(levels.shape[1] - 1)
    ends = levels.iloc[:, [0, -1]].dropna(how="any")
    if len(ends) < len(levels):
        missing = list(levels.index.difference(ends.index))
        warnings.append(
            f"absolute beta: dropped entities missing the first or last period: {missing}"
        )
    points = pd.DataFrame(
        {
            "entity": ends.index.to_numpy(),
            "initial": ends.iloc[:, 0].to_numpy(),
            "growth": (ends.iloc[:, 1] - ends.iloc[:, 0]).to_numpy() / horizon,
        }
    )
    rows = []
    if len(points) < 3:
        note = f"absolute beta needs at least 3 entities, got {len(points)}"
        warnings.append(note)
        rows.append(_row("absolute", series, None, horizon, len(points), note))
    else:
        design = sm.add_constant(points[["initial"]], has_constant="add")
        fit = sm.OLS(points["growth"], design).fit(cov_type="HC1", use_t=True)
        row = _row("absolute", series, fit, horizon, len(points), "")
        row.update(r2=float(fit.rsquared), intercept=float(fit.params["const"]))
        rows.append(row)

    # Conditional: non-overlapping spells of k periods, entity fixed effects.
    k = settings.spell_length
    starts = list(range(0, levels.shape[1] - k, k))
    spells = []
    for number, start in enumerate(starts):
        spell = pd.DataFrame(
            {
                "entity": levels.index.to_numpy(),
                "spell": number,
                "initial": levels.iloc[:, start].to_numpy(),
                "growth": (levels.iloc[:, start + k] - levels.iloc[:, start]).to_numpy() / k,
            }
        )
        spells.append(spell)
    panel = pd.concat(spells, ignore_index=True).dropna() if spells else pd.DataFrame()
    n_entities = int(panel["entity"].nunique()) if len(panel) else 0
    if len(starts) < 2 or n_entities < 2 or len(panel) <= n_entities + len(starts):
        note = (
            f"conditional beta needs at least 2 spells of {k} periods over 2+ entities "
            f"(got {len(starts)} spells in {levels.shape[1]} periods, {n_entities} entities)"
        )
        warnings.append(note)
        rows.append(_row("conditional", series, None, float(k), n_entities, note))
    else:
        fit = _conditional_fit(panel, settings.time_effects)
        within = panel["growth"] - panel.groupby("entity")["growth"].transform("mean")
        row = _row("conditional", series, fit, float(k), n_entities, "")
        total = float(np.sum(within**2))
        row["r2"] = 1.0 - float(fit.ssr) / total if total > 0 else math.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(BETA_COLUMNS))
    return BetaResult(table=table, points=points, warnings=warnings)
