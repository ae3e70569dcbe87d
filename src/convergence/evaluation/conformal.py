"""Split-conformal prediction intervals from rolling-origin residuals.

For every data set, model, seed and horizon ``h`` separately, the interval of a forecast
made at origin ``o`` is calibrated on the absolute errors ``|actual - predicted|`` of the
same model's, seed's and horizon's forecasts whose target ``period`` is at or before ``o``:
values known at the origin, so they come from earlier folds, pooled over entities, and
never from the forecast's own test span (Vovk, Gammerman & Shafer 2005; Lei, G'Sell,
Rinaldo, Tibshirani & Wasserman 2018, split conformal; the rolling-origin calibration is
the usual adaptation to forecasting). With ``n`` calibration residuals and level
``1 - alpha`` the half-width is the ``k``-th smallest residual,

    k = ceil((n + 1) (1 - alpha)),

the finite-sample conformal quantile; the interval is ``predicted -/+ half-width`` (not
clipped). When ``k > n`` (too few residuals: fewer than 4 at 80 %, fewer than 19 at 95 %)
the interval is undefined (NaN), and the metrics count how many forecasts have one.
Under exchangeable residuals the interval covers the actual with probability at least
``1 - alpha``; forecast errors are not exchangeable across origins (their scale drifts,
the model is refitted), so the empirical coverage is the check.

Periods are canonical labels (``1990``, ``1990Q1``, ``1990-01``,
:mod:`convergence.data.canonical`) and are compared as decimal years
(:func:`~convergence.data.canonical.period_to_float`), not as text.

Metrics per data set, model, seed and horizon (and ``"all"`` horizons pooled), over the
forecasts with a defined interval and a finite actual, for each level ``L`` (``80``,
``95``):

* ``coverage<L>``: share of actuals inside ``[lower, upper]``;
* ``width<L>``: mean ``upper - lower``;
* ``interval_score<L>``: mean interval score of Gneiting & Raftery (2007, JASA 102,
  eq. 43), ``(u - l) + (2/alpha)(l - y) 1{y < l} + (2/alpha)(y - u) 1{y > u}``
  (lower is better; it rewards narrow intervals and penalises misses);
* ``n_calibrated<L>``: number of forecasts with a defined interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from convergence.data.canonical import period_to_float
from convergence.errors import InputError
from convergence.evaluation.scores import ALL_HORIZONS

LEVELS: tuple[float, ...] = (0.80, 0.95)
"""Nominal coverage levels ``1 - alpha`` of the intervals."""

GROUP_KEYS: list[str] = ["dataset", "model", "seed", "horizon"]
"""One calibration sequence per group: the same model, seed and horizon of a data set."""

_INTERVAL_METRICS: tuple[str, ...] = ("coverage", "width", "interval_score", "n_calibrated")


def level_label(level: float) -> str:
    """Column suffix of a level: ``0.8`` -> ``"80"``, ``0.95`` -> ``"95"``."""
    _check_level(level)
    return f"{100 * float(level):g}"


def interval_metric_columns(levels: Sequence[float] = LEVELS) -> list[str]:
    """Metric columns of :func:`interval_scores`: per level ``coverage<L>``, ``width<L>``,
    ``interval_score<L>``, ``n_calibrated<L>``, grouped by metric then level."""
    return [f"{metric}{level_label(level)}" for metric in _INTERVAL_METRICS for level in levels]


def _check_level(level: float) -> None:
    if not 0.0 < float(level) < 1.0:
        raise InputError(f"a coverage level must lie strictly between 0 and 1, got {level!r}")


def conformal_rank(n: int, level: float) -> int:
    """``k = ceil((n + 1) * level)``, computed exactly (``level`` read as a short fraction,
    so ``(19 + 1) * 0.95`` is 19, not 19.000000000000004)."""
    _check_level(level)
    fraction = Fraction(float(level)).limit_denominator(1_000_000)
    return math.ceil((n + 1) * fraction)


def conformal_quantile(residuals: ArrayLike, level: float) -> float:
    """Finite-sample split-conformal quantile: the ``k``-th smallest residual.

    ``k = ceil((n + 1) * level)`` for ``n`` residuals (:func:`conformal_rank`); NaN when
    ``k > n`` (too few residuals for the level). Residuals must be finite.
    """
    values = np.asarray(residuals, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise InputError("conformal residuals must be finite")
    k = conformal_rank(values.size, level)
    if k > values.size:
        return float("nan")
    return float(np.partition(values, k - 1)[k - 1])


def interval_score(
    lower: ArrayLike, upper: ArrayLike, actual: ArrayLike, level: float
) -> NDArray[np.float64]:
    """Interval score of Gneiting & Raftery (2007) per forecast, ``alpha = 1 - level``:
    ``(u - l) + (2/alpha)(l - y) 1{y < l} + (2/alpha)(y - u) 1{y > u}``."""
    _check_level(level)
    low = np.asarray(lower, dtype=np.float64)
    up = np.asarray(upper, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    alpha = 1.0 - float(level)
    below = np.where(y < low, low - y, 0.0)
    above = np.where(y > up, y - up, 0.0)
    return (up - low) + (2.0 / alpha) * (below + above)


def _as_years(labels: pd.Series, column: str) -> NDArray[np.float64]:
    try:
        return period_to_float(labels.astype(str).to_numpy())
    except InputError as error:
        raise InputError(f"conformal intervals: column {column!r}: {error}") from error


def _interval_columns(levels: Sequence[float]) -> list[str]:
    return [f"{side}{level_label(level)}" for level in levels for side in ("lower", "upper")]


def conformal_intervals(
    predictions: pd.DataFrame, levels: Sequence[float] = LEVELS
) -> pd.DataFrame:
    """Split-conformal interval of every forecast (see the module docstring).

    Args:
        predictions: rows of the prediction contract (``dataset, model, seed, fold, entity,
            origin, horizon, period, actual, predicted``; other columns are ignored).
        levels: nominal coverage levels.

    Returns:
        One row per forecast, in the input order: ``dataset, model, seed, fold, entity,
        origin, horizon, period, actual, predicted``, ``n_calibration`` (residuals known at
        the origin), ``calibration_last_period`` (the latest target period among them,
        empty when there is none; never after ``origin``), then ``lower<L>, upper<L>`` per
        level (NaN when too few residuals or the prediction is NaN).

    Raises:
        InputError: a period or origin label is not canonical, or a level is not in (0, 1).
    """
    for level in levels:
        _check_level(level)
    columns = ["dataset", "model", "seed", "fold", "entity", "origin", "horizon", "period"]
    out = predictions.loc[:, [*columns, "actual", "predicted"]].reset_index(drop=True)
    n_rows = len(out)
    n_calibration = np.zeros(n_rows, dtype=np.int64)
    last_period = np.full(n_rows, "", dtype=object)
    bounds = {name: np.full(n_rows, np.nan) for name in _interval_columns(levels)}
    if n_rows:
        origin_years = _as_years(out["origin"], "origin")
        period_years = _as_years(out["period"], "period")
        residual = np.abs(out["actual"].to_numpy(dtype=float) - out["predicted"].to_numpy(float))
        predicted = out["predicted"].to_numpy(dtype=float)
        periods = out["period"].astype(str).to_numpy()
        for _, group in out.groupby(GROUP_KEYS, sort=False):
            rows = group.index.to_numpy()
            known = rows[np.isfinite(residual[rows])]
            # Calibration residuals in time order of their target period.
            known = known[np.argsort(period_years[known], kind="stable")]
            known_years = period_years[known]
            for origin in np.unique(origin_years[rows]):
                at_origin = rows[origin_years[rows] == origin]
                n = int(np.searchsorted(known_years, origin, side="right"))
                calibration = residual[known[:n]]
                n_calibration[at_origin] = n
                if n:
                    last_period[at_origin] = periods[known[n - 1]]
                for level in levels:
                    half_width = conformal_quantile(calibration, level)
                    label = level_label(level)
                    bounds[f"lower{label}"][at_origin] = predicted[at_origin] - half_width
                    bounds[f"upper{label}"][at_origin] = predicted[at_origin] + half_width
    out["n_calibration"] = n_calibration
    out["calibration_last_period"] = last_period
    for name, values in bounds.items():
        out[name] = values
    return out


def _interval_metrics(group: pd.DataFrame, levels: Sequence[float]) -> dict[str, float | int]:
    actual = group["actual"].to_numpy(dtype=float)
    row: dict[str, float | int] = {}
    for level in levels:
        label = level_label(level)
        lower = group[f"lower{label}"].to_numpy(dtype=float)
        upper = group[f"upper{label}"].to_numpy(dtype=float)
        defined = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(actual)
        n = int(defined.sum())
        row[f"n_calibrated{label}"] = n
        if n == 0:
            row[f"coverage{label}"] = float("nan")
            row[f"width{label}"] = float("nan")
            row[f"interval_score{label}"] = float("nan")
            continue
        low, up, y = lower[defined], upper[defined], actual[defined]
        row[f"coverage{label}"] = float(np.mean((y >= low) & (y <= up)))
        row[f"width{label}"] = float(np.mean(up - low))
        row[f"interval_score{label}"] = float(np.mean(interval_score(low, up, y, level)))
    return row


def interval_scores(intervals: pd.DataFrame, levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Coverage, width, interval score and count of calibrated forecasts per group.

    Returns columns ``dataset, model, seed, horizon`` (text: ``"1"``, ..., ``"all"``) and
    :func:`interval_metric_columns`; one row per data set, model, seed and horizon plus
    one ``"all"`` row pooling the horizons, so it joins onto the score table.
    """
    rows = []
    for (dataset, model, seed), group in intervals.groupby(["dataset", "model", "seed"], sort=True):
        keys = {"dataset": dataset, "model": model, "seed": int(seed)}
        for horizon, by_horizon in group.groupby("horizon", sort=True):
            rows.append(
                {**keys, "horizon": str(int(horizon)), **_interval_metrics(by_horizon, levels)}
            )
        rows.append({**keys, "horizon": ALL_HORIZONS, **_interval_metrics(group, levels)})
    return pd.DataFrame(
        rows, columns=["dataset", "model", "seed", "horizon", *interval_metric_columns(levels)]
    )


def add_interval_scores(scores: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """The score table with the :func:`interval_scores` columns appended (left join on
    ``dataset, model, seed, horizon``; the existing columns keep their order)."""
    keys = ["dataset", "model", "seed", "horizon"]
    right = metrics.assign(horizon=metrics["horizon"].astype(str), seed=metrics["seed"].astype(int))
    left = scores.assign(horizon=scores["horizon"].astype(str), seed=scores["seed"].astype(int))
    merged = left.merge(right, on=keys, how="left", validate="one_to_one")
    return merged.loc[:, [*scores.columns, *[c for c in right.columns if c not in keys]]]
