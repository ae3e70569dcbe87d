"""The forecast-table contract shared by every forecaster and by evaluation.

One backtest produces one long table per model (and seed): :data:`PREDICTION_COLUMNS`,
one row per fold, entity and horizon step; the baselines add a boolean ``fallback``
column (:data:`BASELINE_COLUMNS`). MASE scales travel in a table of :data:`SCALE_COLUMNS`.
Folds are built in one place (:func:`backtest_folds`) so the networks, the baselines and
the scenario analysis forecast the same origins and targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from convergence.backtest.folds import Fold, rolling_origin_folds

if TYPE_CHECKING:
    from convergence.backtest.windows import FoldWindows
    from convergence.settings import TrainingSettings

PREDICTION_COLUMNS: tuple[str, ...] = (
    "dataset",
    "model",
    "seed",
    "fold",
    "entity",
    "origin",
    "horizon",
    "period",
    "actual",
    "predicted",
    "last_observed",
    "run_id",
)
BASELINE_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "fallback")
SCALE_COLUMNS: tuple[str, ...] = ("fold", "entity", "origin", "scale")


def covered_periods(wide: pd.DataFrame, min_share: float = 0.5) -> list[str]:
    """Sorted periods, with leading/trailing periods that few entities reach trimmed.

    In unbalanced panels (GGDC: most series end 2010-2012, a few reach 2013) folds built on
    the union of periods would put the last test span where almost no entity has data.
    A period at either end is kept only if at least ``min_share`` of the entities that are
    ever observed have complete rows there; interior periods are always kept.
    """
    complete = wide.notna().all(axis=1)
    per_period = complete.groupby(level="period").sum().sort_index()
    per_period.index = per_period.index.astype(str)
    n_entities = wide.index.get_level_values("entity").nunique()
    enough = (per_period >= min_share * n_entities).to_numpy()
    if not enough.any():
        return list(per_period.index)
    first, last = int(np.argmax(enough)), len(enough) - 1 - int(np.argmax(enough[::-1]))
    return list(per_period.index[first : last + 1])


def backtest_folds(wide: pd.DataFrame, settings: TrainingSettings) -> list[Fold]:
    """Rolling-origin folds over the periods every entity covers.

    The one place folds are built: the neural backtest, the baselines and the scenario
    analysis all call it, so they forecast the same origins and targets.
    """
    return rolling_origin_folds(
        covered_periods(wide),
        n_origins=settings.n_origins,
        horizon=settings.horizon,
        step=settings.step,
        val_size=settings.val_size,
        min_train=settings.min_train,
    )


def forecast_frame(
    windows: FoldWindows,
    predicted_target: np.ndarray,
    *,
    dataset: str,
    model_name: str,
    seed: int,
    fold: int,
    run_id: str,
) -> pd.DataFrame:
    """Long predictions table of one fold: one row per entity and horizon step.

    A predicted change is added to the last observed ``D``; levels are clipped to [0, 1],
    the range of ``D``.
    """
    n_test, horizon = windows.test_actual.shape
    predicted = predicted_target.astype(np.float64)
    if windows.target == "change":
        predicted = windows.test_last_observed[:, None] + predicted
    predicted = np.clip(predicted, 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "dataset": dataset,
            "model": model_name,
            "seed": seed,
            "fold": fold,
            "entity": np.repeat(windows.test_entities, horizon),
            "origin": windows.test_origin,
            "horizon": np.tile(np.arange(1, horizon + 1), n_test),
            "period": np.tile(windows.test_periods, n_test),
            "actual": windows.test_actual.reshape(-1),
            "predicted": predicted.reshape(-1),
            "last_observed": np.repeat(windows.test_last_observed, horizon),
            "run_id": run_id,
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return frame
