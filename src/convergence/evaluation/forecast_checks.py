"""Data checks of the evaluate stage: when the forecast scores of a data set mean little.

Each check reads the tables the evaluate stage already has (the predictions of every model
and seed, the MASE scales, the DM table) and returns a data-check dict
(:func:`convergence.diagnostics.check`: logged as a WARNING, stored under ``data_checks``
in ``evaluation/provenance.json``, listed under "Data checks" in ``summary.md``) or
``None`` when the data set passes. A *forecast* is one ``(fold, entity, origin, horizon)``;
its ``actual`` is the same for every model and seed.

* ``tiny_test_set``: some model and seed has fewer than :data:`MIN_TEST_FORECASTS` (30)
  forecasts, all horizons pooled. Score differences between models are then not testable
  with any useful power; the scores are descriptive.
* ``dm_few_forecasts``: a Diebold-Mariano comparison rests on fewer than
  :data:`MIN_DM_FORECASTS` (10) aligned forecasts, or its p-value is undefined (NaN).
* ``target_at_clip_bound``: at least :data:`CLIP_SHARE` (10 %) of the test forecasts have an
  actual D within :data:`CLIP_TOLERANCE` (1e-9) of 0 or 1. The fold target is D of the
  indicators min-max normalized with bounds fitted on the fold's training periods (widened
  by the target headroom) and **clipped to [0, 1]**
  (:func:`convergence.backtest.windows.features_with_model`); D is exactly 1 only when every
  indicator sits at its upper clip bound and exactly 0 when one subsystem index is 0. A test
  value beyond the fitted range is recorded as the bound, so the errors there measure the
  clipping, not the forecast (a naive forecast from an origin at the same bound scores 0).
* ``mase_scale_zero``: the MASE scale of a forecast (``scales.csv``, column ``scale``: the
  entity's in-sample naive MAE up to the origin) is not usable: NaN, 0, below
  :data:`SCALE_ABS_MIN` (1e-12) or below :data:`SCALE_REL_MIN` (1 %) of the data set's
  median positive scale. A scale that small inflates that series' scaled errors at least a
  hundredfold, so a single such series dominates the mean (seen: MASE 834 for a tiny
  island state). :func:`usable_scales` sets those scales to NaN before scoring, so
  :func:`convergence.evaluation.scores.score_table` leaves the forecasts out of MASE
  (every other metric keeps them); the check counts and names them.

This module imports no other evaluation module, so :mod:`~convergence.evaluation.scores`
can import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from convergence.diagnostics import check

__all__ = [
    "CLIP_SHARE",
    "CLIP_TOLERANCE",
    "MIN_DM_FORECASTS",
    "MIN_TEST_FORECASTS",
    "SCALE_ABS_MIN",
    "SCALE_REL_MIN",
    "dm_few_forecasts_check",
    "forecast_data_checks",
    "mase_scale_check",
    "scale_threshold",
    "target_at_clip_bound_check",
    "tiny_test_set_check",
    "usable_scales",
]

STAGE = "evaluate"

MIN_TEST_FORECASTS = 30
"""A model and seed with fewer forecasts (all horizons pooled) triggers ``tiny_test_set``."""

MIN_DM_FORECASTS = 10
"""A DM comparison with fewer aligned forecasts triggers ``dm_few_forecasts``."""

CLIP_TOLERANCE = 1e-9
"""An actual D within this distance of 0 or 1 sits at the clip bound."""

CLIP_SHARE = 0.1
"""Share of test forecasts at a clip bound from which ``target_at_clip_bound`` triggers."""

SCALE_ABS_MIN = 1e-12
"""A MASE scale below this is treated as 0."""

SCALE_REL_MIN = 0.01
"""A MASE scale below this fraction of the median positive scale is treated as 0."""

_KEY = ["fold", "entity", "origin", "horizon"]


def _forecasts(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per forecast ``(fold, entity, origin, horizon)`` with its actual."""
    return predictions.drop_duplicates(subset=_KEY).loc[
        :, [*_KEY, "period", "actual", "last_observed"]
    ]


# --------------------------------------------------------------------------- scales


def scale_threshold(scales: pd.DataFrame) -> float:
    """Smallest usable MASE scale: ``max(SCALE_ABS_MIN, SCALE_REL_MIN * median positive)``."""
    values = pd.to_numeric(scales["scale"], errors="coerce").to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > SCALE_ABS_MIN)]
    median = float(np.median(positive)) if positive.size else 0.0
    return max(SCALE_ABS_MIN, SCALE_REL_MIN * median)


def usable_scales(scales: pd.DataFrame) -> pd.DataFrame:
    """``scales`` with every unusable scale (NaN, 0, below :func:`scale_threshold`) set to
    NaN, so that scoring leaves those forecasts out of MASE."""
    out = scales.copy()
    values = pd.to_numeric(out["scale"], errors="coerce").astype(float)
    out["scale"] = values.where(values >= scale_threshold(scales))
    return out


def mase_scale_check(predictions: pd.DataFrame, scales: pd.DataFrame) -> dict[str, Any] | None:
    """``mase_scale_zero`` when a forecast's MASE scale is unusable (module docstring)."""
    threshold = scale_threshold(scales)
    keys = ["fold", "entity", "origin"]
    table = scales.drop_duplicates(subset=keys).loc[:, [*keys, "scale"]].copy()
    table["scale"] = pd.to_numeric(table["scale"], errors="coerce").astype(float)
    forecasts = _forecasts(predictions).merge(table, on=keys, how="inner")
    bad = forecasts[~(forecasts["scale"] >= threshold)]
    if bad.empty:
        return None
    per_entity = bad.groupby("entity").size().sort_values(ascending=False, kind="stable")
    undefined = int(bad["scale"].isna().sum())
    smallest = {
        str(entity): float(group["scale"].min())
        for entity, group in bad.groupby("entity")
        if group["scale"].notna().any()
    }
    n_total = len(forecasts)
    undefined_text = (
        f" ({undefined} of them undefined: no in-sample naive error)" if undefined else ""
    )
    return check(
        STAGE,
        "mase_scale_zero",
        f"{len(bad)} of {n_total} forecasts have a MASE scale of 0, below {threshold:.3g} "
        "(the larger of 1e-12 and 1 % of the median positive scale) or undefined"
        f"{undefined_text}, in "
        f"{len(per_entity)} entit(y/ies); their scaled errors would dominate the mean, so "
        "MASE leaves them out (MAE, RMSE and sMAPE keep them).",
        entities=[str(e) for e in per_entity.index],
        counts={str(k): int(v) for k, v in per_entity.items()},
        rows=int(len(bad)),
        threshold=threshold,
        n_forecasts=n_total,
        n_undefined=undefined,
        smallest_scale=smallest,
    )


# --------------------------------------------------------------------------- test set size


def tiny_test_set_check(predictions: pd.DataFrame) -> dict[str, Any] | None:
    """``tiny_test_set`` when a model and seed has fewer than :data:`MIN_TEST_FORECASTS`."""
    sizes = predictions.groupby(["model", "seed"]).size()
    small = sizes[sizes < MIN_TEST_FORECASTS]
    if small.empty:
        return None
    per_model = small.groupby(level="model").min()
    horizons = int(predictions["horizon"].nunique())
    low, high = int(small.min()), int(small.max())
    count_text = f"{low}" if low == high else f"{low} to {high}"
    return check(
        STAGE,
        "tiny_test_set",
        f"{count_text} test forecasts per model and seed (all {horizons} horizon(s) pooled; "
        f"fewer than {MIN_TEST_FORECASTS}) for {len(per_model)} of "
        f"{predictions['model'].nunique()} models: differences between models are not "
        "testable with that power, so read the scores as descriptive.",
        counts={str(k): int(v) for k, v in per_model.items()},
        threshold=MIN_TEST_FORECASTS,
        models=[str(m) for m in per_model.index],
        min_forecasts=low,
    )


# --------------------------------------------------------------------------- DM tests


def dm_few_forecasts_check(dm: pd.DataFrame) -> dict[str, Any] | None:
    """``dm_few_forecasts`` when a DM comparison has fewer than :data:`MIN_DM_FORECASTS`
    aligned forecasts or an undefined p-value."""
    if dm.empty:
        return None
    n = pd.to_numeric(dm["n"], errors="coerce")
    p = pd.to_numeric(dm["p_value"], errors="coerce")
    weak = dm[(n < MIN_DM_FORECASTS) | p.isna()]
    if weak.empty:
        return None
    counts = {
        f"h{int(row.horizon)} {row.reference} vs {row.model}": int(row.n)
        for row in weak.itertuples(index=False)
    }
    horizons = sorted({int(h) for h in weak["horizon"]})
    undefined = int(p.loc[weak.index].isna().sum())
    return check(
        STAGE,
        "dm_few_forecasts",
        f"{len(weak)} of {len(dm)} Diebold-Mariano comparisons (horizon(s) "
        f"{', '.join(str(h) for h in horizons)}) rest on fewer than {MIN_DM_FORECASTS} "
        f"aligned forecasts or have no p-value ({undefined} undefined): their verdict "
        "'neither' means 'not testable', not 'equally accurate'.",
        counts=counts,
        horizons=horizons,
        models=sorted({str(m) for m in weak["model"]}),
        threshold=MIN_DM_FORECASTS,
        n_undefined=undefined,
    )


# --------------------------------------------------------------------------- clipped target


def target_at_clip_bound_check(
    predictions: pd.DataFrame, dataset: str | None = None
) -> dict[str, Any] | None:
    """``target_at_clip_bound`` when at least :data:`CLIP_SHARE` of the test forecasts have
    an actual D within :data:`CLIP_TOLERANCE` of 0 or 1 (module docstring)."""
    forecasts = _forecasts(predictions)
    actual = forecasts["actual"].to_numpy(dtype=float)
    last = forecasts["last_observed"].to_numpy(dtype=float)
    finite = np.isfinite(actual)
    n_total = int(finite.sum())
    if n_total == 0:
        return None
    lower = finite & (np.abs(actual) <= CLIP_TOLERANCE)
    upper = finite & (np.abs(actual - 1.0) <= CLIP_TOLERANCE)
    at_bound = lower | upper
    share = float(at_bound.sum()) / n_total
    if share < CLIP_SHARE:
        return None
    same_start = at_bound & (np.abs(last - actual) <= CLIP_TOLERANCE)
    per_entity = forecasts.loc[at_bound].groupby("entity").size()
    periods = sorted({str(p) for p in forecasts.loc[at_bound, "period"]})
    key = f"datasets.{dataset}.forecast.target_headroom" if dataset else "forecast.target_headroom"
    return check(
        STAGE,
        "target_at_clip_bound",
        f"{int(at_bound.sum())} of {n_total} test forecasts ({share:.0%}) have an actual D at "
        f"the clip bound of their fold's normalization (0: {int(lower.sum())}, 1: "
        f"{int(upper.sum())}); {int(same_start.sum())} of them start at that bound too, where "
        "a naive forecast scores an error of 0. D is clipped to [0, 1], so errors there "
        "measure the clipping rather than the forecast; wider bounds "
        f"(training.target_headroom or {key}) keep the target inside.",
        entities=[str(e) for e in per_entity.index],
        counts={str(k): int(v) for k, v in per_entity.items()},
        rows=int(at_bound.sum()),
        share=share,
        n_forecasts=n_total,
        n_at_0=int(lower.sum()),
        n_at_1=int(upper.sum()),
        n_start_at_bound=int(same_start.sum()),
        periods=periods,
    )


# --------------------------------------------------------------------------- all of them


def forecast_data_checks(
    predictions: pd.DataFrame,
    scales: pd.DataFrame,
    dm: pd.DataFrame,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """Every check of this module that triggers, in a fixed order (an empty list if none)."""
    found = [
        tiny_test_set_check(predictions),
        dm_few_forecasts_check(dm),
        target_at_clip_bound_check(predictions, dataset),
        mase_scale_check(predictions, scales),
    ]
    return [item for item in found if item is not None]
