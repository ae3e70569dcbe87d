"""What the evaluated forecasts target, set against the descriptive D of ``coupling.csv``.

The backtest forecasts D **recomputed per fold**: the indicators are min-max normalized
with bounds fitted on the fold's training periods only, widened by the target headroom
(``training.target_headroom`` or ``datasets.<name>.forecast.target_headroom``) and clipped
to [0, 1] (:func:`convergence.backtest.inputs.forecast_measurement_spec`,
:mod:`convergence.backtest.windows`). ``measure/coupling.csv`` holds D with the bounds of
the normalize stage, fitted on the whole data set. The two are different scales of the same
indicators: an entity with no generation at all can sit at D = 0 in ``coupling.csv`` and at
0.408 in the fold target. :func:`target_versus_measured` says by how much they differ on the
test forecasts, for ``summary.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def target_versus_measured(
    predictions: pd.DataFrame, coupling: pd.DataFrame | None, headroom: float | None = None
) -> dict[str, Any]:
    """The forecast target against ``coupling.csv`` D on the same entities and periods.

    Args:
        predictions: the prediction rows (``fold, entity, origin, horizon, period, actual``).
        coupling: ``coupling.csv`` (``entity, period, D``), or None when not compared.
        headroom: the target headroom the folds used, recorded as given.

    Returns:
        ``{"headroom", "n_compared"}`` and, when some forecast's ``(entity, period)`` is in
        ``coupling``: ``mean_abs_diff``, ``max_abs_diff`` and where the largest difference
        is (``entity``, ``period``, ``target``, ``measured``). Each forecast
        ``(fold, entity, origin, horizon)`` counts once.
    """
    record: dict[str, Any] = {
        "headroom": None if headroom is None else float(headroom),
        "n_compared": 0,
    }
    if coupling is None or coupling.empty or "D" not in coupling.columns:
        return record
    forecasts = predictions.drop_duplicates(subset=["fold", "entity", "origin", "horizon"])
    measured = coupling.loc[:, ["entity", "period", "D"]].astype({"entity": str, "period": str})
    joined = forecasts.astype({"entity": str, "period": str}).merge(
        measured, on=["entity", "period"], how="inner"
    )
    joined = joined[np.isfinite(joined["actual"].astype(float)) & joined["D"].notna()]
    if joined.empty:
        return record
    difference = (joined["actual"].astype(float) - joined["D"].astype(float)).abs()
    worst = joined.loc[difference.idxmax()]
    record.update(
        n_compared=int(len(joined)),
        mean_abs_diff=float(difference.mean()),
        max_abs_diff=float(difference.max()),
        entity=str(worst["entity"]),
        period=str(worst["period"]),
        target=float(worst["actual"]),
        measured=float(worst["D"]),
    )
    return record
