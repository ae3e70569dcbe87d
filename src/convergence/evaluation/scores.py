"""Scores of backtest forecasts: loading, MASE and other metrics, seed summaries.

Inputs are the prediction CSVs of the backtest (the contract of
:mod:`convergence.backtest.contract`: one file per neural model x seed, one for all
baselines with an extra boolean ``fallback`` column) and a scales CSV
``(fold, entity, origin, scale)`` holding the in-sample naive MAE of the target up to each
forecast origin.

Definitions used here (see :mod:`convergence.evaluation.metrics` for MAE, RMSE, sMAPE):

* **MASE** of a group of forecasts is the mean over forecasts of
  ``|actual - predicted| / scale``, where ``scale`` is the naive MAE of the forecast's
  ``(fold, entity, origin)``. Each forecast is scaled by its own series' scale before
  averaging (Hyndman & Koehler, 2006, scaled errors). **Excluded forecasts**: a forecast
  whose scale is NaN, 0 or near 0 (below 1e-12 or below 1 % of the data set's median
  positive scale, :func:`~convergence.evaluation.forecast_checks.usable_scales`) has an
  undefined or hugely inflated scaled error; it is left out of MASE (every other metric
  keeps it), and the evaluate stage counts and names those forecasts in the data check
  ``mase_scale_zero``. MASE is NaN only when every term is excluded. Mean MASE weights
  every forecast equally, so a few entities whose scale is small (but above the cut-off)
  can carry most of it (data check ``mase_concentration``).
* **Pooled MASE** (``pooled_MASE``, the **ranking metric** :data:`RANKING_METRIC`) of a
  group of forecasts is ``sum |actual - predicted| / sum scale`` over the same forecasts
  (those with a usable scale, as for MASE): Hyndman & Koehler's scaled errors pooled over
  the panel, equivalently the mean of the per-forecast scaled errors weighted by their
  scales. An entity's weight is its naive scale, so a near-floor entity with a tiny scale
  cannot swing it, and it is below 1 exactly when the forecasts' total absolute error is
  below the total in-sample naive error. The leader, the ranks, the tie rule and every
  "lowest score" sentence use it; mean MASE stays beside it in every table.
* **Grade accuracy** is the share of forecasts whose predicted coordination grade
  (:func:`~convergence.measures.coupling.coordination_grade` of the prediction, clipped
  to [0, 1] because a network may overshoot) equals the grade of the actual value. It is
  NaN when an actual lies outside [0, 1] (the target is then not a coordination degree).
* **Seed summary**: mean and sample standard deviation (``ddof=1``) over seeds of the
  per-seed scores; the standard deviation is NaN for a single seed (baselines are
  deterministic, seed 0).
* **Seed ensemble**: :func:`seed_mean_forecasts` averages the forecasts over seeds; the
  DM tests (:mod:`convergence.evaluation.comparisons`) compare these. So a multi-seed
  model's summary row is the mean over seeds of per-seed scores, while its DM tests use
  the seed-averaged forecast; the score of the reference's seed-averaged forecast is the
  model ``<reference>_ensemble`` (:mod:`convergence.evaluation.ensemble`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence.backtest.contract import PREDICTION_COLUMNS, SCALE_COLUMNS
from convergence.errors import DataFileError, InputError
from convergence.evaluation.forecast_checks import usable_scales
from convergence.evaluation.metrics import grade_accuracy, mae, rmse, smape
from convergence.measures.coupling import DEFAULT_GRADE_SCALE, coordination_grade

METRICS: tuple[str, ...] = ("MAE", "RMSE", "sMAPE", "MASE", "pooled_MASE", "grade_accuracy")
"""Metric columns of :func:`score_table`, in order."""

RANKING_METRIC = "pooled_MASE"
"""The metric that ranks models (leader, ranks, ties, "lowest" sentences): pooled MASE."""

ALL_HORIZONS = "all"
"""Horizon label of the rows that pool every horizon."""

_TEXT_COLUMNS = {"dataset": str, "model": str, "entity": str, "origin": str, "period": str}
FORECAST_KEY: list[str] = ["fold", "entity", "origin", "horizon"]
"""Columns that identify one forecast across models and seeds."""


# --------------------------------------------------------------------------- loading


def load_predictions(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read and concatenate prediction CSVs.

    ``period``, ``origin``, ``entity``, ``dataset`` and ``model`` are read as text, ``run_id``
    as text, ``seed``/``fold``/``horizon`` as integers. A missing ``fallback`` column (the
    neural models' files) is added as False.

    Raises:
        DataFileError: a file is missing or lacks one of :data:`PREDICTION_COLUMNS`
            (the message names the file and the column).
        InputError: no paths were given.
    """
    frames = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DataFileError(str(path), "file not found")
        frame = pd.read_csv(path, dtype={**_TEXT_COLUMNS, "run_id": str}, keep_default_na=False)
        for column in PREDICTION_COLUMNS:
            if column not in frame.columns:
                raise DataFileError(str(path), "missing prediction column", column=column)
        for column in ("actual", "predicted", "last_observed"):
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
        for column in ("seed", "fold", "horizon"):
            frame[column] = frame[column].astype(int)
        if "fallback" in frame.columns:
            frame["fallback"] = frame["fallback"].astype(str).str.lower().isin(["true", "1"])
        else:
            frame["fallback"] = False
        frames.append(frame.loc[:, [*PREDICTION_COLUMNS, "fallback"]])
    if not frames:
        raise InputError("no prediction files given")
    return pd.concat(frames, ignore_index=True)


def read_scales(path: str | Path) -> pd.DataFrame:
    """Read the scales CSV ``(fold, entity, origin, scale)``; entity and origin as text."""
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    frame = pd.read_csv(file_path, dtype={"entity": str, "origin": str}, keep_default_na=False)
    for column in SCALE_COLUMNS:
        if column not in frame.columns:
            raise DataFileError(str(file_path), "missing scales column", column=column)
    frame = frame.loc[:, list(SCALE_COLUMNS)]
    frame["fold"] = frame["fold"].astype(int)
    frame["scale"] = pd.to_numeric(frame["scale"], errors="coerce")
    return frame


# --------------------------------------------------------------------------- scoring


def _attach_scales(predictions: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    keys = ["fold", "entity", "origin"]
    unique_scales = scales.drop_duplicates(subset=keys)
    merged = predictions.merge(
        unique_scales.loc[:, [*keys, "scale"]], on=keys, how="left", indicator=True
    )
    missing = merged.pop("_merge") == "left_only"
    if missing.any():
        row = merged.loc[missing].iloc[0]
        raise InputError(
            f"no MASE scale for fold {row['fold']}, entity {row['entity']!r}, "
            f"origin {row['origin']!r} ({int(missing.sum())} forecasts lack a scale)"
        )
    return merged


def _mase_terms(group: pd.DataFrame) -> float:
    scale = group["scale"].to_numpy(dtype=float)
    error = np.abs(group["actual"].to_numpy(dtype=float) - group["predicted"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(scale > 0, error / scale, np.nan)
    if np.all(np.isnan(terms)):
        return float("nan")
    return float(np.nanmean(terms))


def _pooled_mase(group: pd.DataFrame) -> float:
    """``sum |e| / sum scale`` over the forecasts with a usable (positive) scale."""
    scale = group["scale"].to_numpy(dtype=float)
    error = np.abs(group["actual"].to_numpy(dtype=float) - group["predicted"].to_numpy(dtype=float))
    usable = (scale > 0) & np.isfinite(scale) & np.isfinite(error)  # the terms MASE keeps
    if not usable.any():
        return float("nan")
    return float(np.sum(error[usable]) / np.sum(scale[usable]))


def _grade_accuracy(group: pd.DataFrame, grade_scale: Sequence[Mapping[str, Any]]) -> float:
    actual = group["actual"].to_numpy(dtype=float)
    if np.any(np.isnan(actual)) or np.any((actual < 0.0) | (actual > 1.0)):
        return float("nan")
    predicted = np.clip(group["predicted"].to_numpy(dtype=float), 0.0, 1.0)
    return grade_accuracy(
        coordination_grade(actual, grade_scale), coordination_grade(predicted, grade_scale)
    )


def _score_group(group: pd.DataFrame, grade_scale: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    actual = group["actual"].to_numpy(dtype=float)
    predicted = group["predicted"].to_numpy(dtype=float)
    return {
        "n": len(group),
        "MAE": mae(actual, predicted),
        "RMSE": rmse(actual, predicted),
        "sMAPE": smape(actual, predicted),
        "MASE": _mase_terms(group),
        "pooled_MASE": _pooled_mase(group),
        "grade_accuracy": _grade_accuracy(group, grade_scale),
        "run_ids": ";".join(sorted({str(r) for r in group["run_id"] if str(r)})),
    }


def _horizon_sort_key(value: object) -> tuple[int, int]:
    text = str(value)
    return (1, 0) if text == ALL_HORIZONS else (0, int(float(text)))


def score_table(
    predictions: pd.DataFrame,
    scales: pd.DataFrame,
    grade_scale: Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Accuracy per data set, model, seed and horizon, plus an ``"all"`` horizon row.

    Returns columns ``dataset, model, seed, horizon, n, MAE, RMSE, sMAPE, MASE,
    pooled_MASE, grade_accuracy, run_ids``; ``horizon`` is text (``"1"``, ``"2"``, ...,
    ``"all"``). MASE, pooled MASE and grade accuracy are defined in the module docstring.

    Raises:
        InputError: a forecast has no scale, or the predictions are empty.
    """
    if predictions.empty:
        raise InputError("no predictions to score")
    scale = DEFAULT_GRADE_SCALE if grade_scale is None else grade_scale
    merged = _attach_scales(predictions, usable_scales(scales))  # near-0 scales: no MASE
    rows = []
    for (dataset, model, seed), group in merged.groupby(["dataset", "model", "seed"], sort=True):
        for horizon, by_horizon in group.groupby("horizon", sort=True):
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "seed": int(seed),
                    "horizon": str(int(horizon)),
                    **_score_group(by_horizon, scale),
                }
            )
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "seed": int(seed),
                "horizon": ALL_HORIZONS,
                **_score_group(group, scale),
            }
        )
    return pd.DataFrame(
        rows, columns=["dataset", "model", "seed", "horizon", "n", *METRICS, "run_ids"]
    )


def summarise_seeds(scores: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean and sample std (``ddof=1``) over seeds per data set, model and horizon.

    Returns columns ``dataset, model, horizon, n, n_seeds``, then ``<metric>_mean`` and
    ``<metric>_std`` for each of ``metrics`` (default :data:`METRICS`; the evaluate stage
    adds the interval metrics of :mod:`convergence.evaluation.conformal`), then ``run_ids``
    (semicolon-joined, sorted, unique). ``n`` is the number of forecasts of one seed (the
    largest over seeds).
    """
    rows = []
    scores = scores.assign(horizon=scores["horizon"].astype(str))
    for (dataset, model, horizon), group in scores.groupby(
        ["dataset", "model", "horizon"], sort=False
    ):
        row: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "horizon": horizon,
            "n": int(group["n"].max()),
            "n_seeds": int(group["seed"].nunique()),
        }
        for metric in metrics:
            values = group[metric].astype(float)
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        ids = set()
        for joined in group["run_ids"].fillna("").astype(str):
            ids.update(part for part in joined.split(";") if part)
        row["run_ids"] = ";".join(sorted(ids))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_h"] = frame["horizon"].map(_horizon_sort_key)
    frame = frame.sort_values(["dataset", "model", "_h"], kind="stable").drop(columns="_h")
    return frame.reset_index(drop=True)


def seed_mean_forecasts(predictions: pd.DataFrame) -> pd.DataFrame:
    """Average predictions over seeds per dataset, model and forecast (the seed ensemble)."""
    keys = ["dataset", "model", *FORECAST_KEY, "period"]
    return (
        predictions.groupby(keys, sort=True)
        .agg(actual=("actual", "first"), predicted=("predicted", "mean"))
        .reset_index()
    )
