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
* ``dm_few_forecasts``: a Diebold-Mariano comparison is **not testable** (:func:`dm_testable`:
  fewer than :data:`MIN_DM_FORECASTS` (20) aligned loss differentials or fewer than
  :data:`MIN_DM_ORIGINS` (5) distinct forecast origins), or its p-value is undefined (NaN).
  The rule: the HLN-corrected test estimates a long-run variance from the differentials
  themselves, and with a dozen of them that estimate, and so the verdict, rests on a few
  degrees of freedom (12 forecasts of one series was enough to call a model "significantly
  more accurate" on a white-noise target); and forecasts of many entities made at the
  same origin share that period's shocks, so they add far less information than as many
  forecasts from different origins (Timmermann & Zhu's panel DM tests take their degrees
  of freedom from the time dimension). A single short series therefore stays not testable,
  and so does a wide panel forecast from two or three origins.
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
* ``mase_concentration``: for some model a few entities carry more than
  :data:`CONCENTRATION_SHARE` (50 %) of the sum of per-entity mean MASE (each entity's mean
  of its scaled errors, all seeds), "a few" being at most :func:`concentration_limit`
  entities: 10 % of them, or up to 3 but never more than a quarter (an even spread needs
  more than half of the entities to pass 50 %). Mean MASE then says more about those
  entities (typically near-floor ones whose naive scale is tiny but above the
  ``mase_scale_zero`` cut-off) than about the panel; the models are ranked by pooled MASE
  (:mod:`convergence.evaluation.scores`), which such entities cannot swing.
* ``target_without_dynamics``: the evaluated target has no persistence to forecast. Per
  entity, the target series is rebuilt from the test forecasts (the actual D at each
  forecast period and the last observed D at each origin; a period seen by several folds
  takes the mean of their values) and, with at least :data:`MIN_PERSISTENCE_VALUES` (8)
  periods and a non-constant series, gets the lag-1 autocorrelation ``r1`` and the ratio
  ``var(dD) / var(D)`` of the variance of the changes to that of the levels (both with
  ``ddof=1``). White noise gives ``r1 ~ 0`` and a ratio ~ 2, an AR(1) with coefficient
  ``phi`` a ratio ~ ``2 (1 - phi)``, a random walk or trend a ratio well below 1. The check
  fires when the median ratio over those entities is at least :data:`PERSISTENCE_RATIO`
  (1.5) **and** the median ``r1`` at most :data:`PERSISTENCE_R1` (0.25), i.e. the target
  behaves like noise around a level: accuracy rankings then compare ways of predicting
  noise and mean little.

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
    "CONCENTRATION_SHARE",
    "MIN_DM_FORECASTS",
    "MIN_DM_ORIGINS",
    "MIN_PERSISTENCE_VALUES",
    "MIN_TEST_FORECASTS",
    "PERSISTENCE_R1",
    "PERSISTENCE_RATIO",
    "SCALE_ABS_MIN",
    "SCALE_REL_MIN",
    "concentration_limit",
    "dm_few_forecasts_check",
    "dm_not_testable_reason",
    "dm_testable",
    "entity_mase",
    "forecast_data_checks",
    "mase_concentration_check",
    "mase_scale_check",
    "persistence_statistics",
    "target_series",
    "target_without_dynamics_check",
    "scale_threshold",
    "target_at_clip_bound_check",
    "tiny_test_set_check",
    "usable_scales",
]

STAGE = "evaluate"

MIN_TEST_FORECASTS = 30
"""A model and seed with fewer forecasts (all horizons pooled) triggers ``tiny_test_set``."""

MIN_DM_FORECASTS = 20
"""A DM comparison needs at least this many aligned loss differentials to be testable."""

MIN_DM_ORIGINS = 5
"""A DM comparison needs forecasts from at least this many distinct origins to be testable."""

CONCENTRATION_SHARE = 0.5
"""Share of the sum of per-entity mean MASE that a few entities must exceed to be flagged."""

PERSISTENCE_RATIO = 1.5
"""Median ``var(dD) / var(D)`` at or above which the target is flagged (white noise: 2)."""

PERSISTENCE_R1 = 0.25
"""Median lag-1 autocorrelation at or below which the target is flagged (white noise: 0)."""

MIN_PERSISTENCE_VALUES = 8
"""An entity's target series needs at least this many periods for the persistence check."""

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


def dm_testable(n: float | None, n_origins: float | None = None) -> bool:
    """Whether a DM comparison rests on an effective sample a referee would accept.

    The one home of the rule (module docstring): at least :data:`MIN_DM_FORECASTS`
    aligned loss differentials **and** at least :data:`MIN_DM_ORIGINS` distinct forecast
    origins. ``n_origins`` None (a table written before the count existed) checks ``n``
    only.
    """
    count = pd.to_numeric(pd.Series([n]), errors="coerce").iloc[0]
    if pd.isna(count) or count < MIN_DM_FORECASTS:
        return False
    if n_origins is None:
        return True
    origins = pd.to_numeric(pd.Series([n_origins]), errors="coerce").iloc[0]
    return bool(pd.notna(origins) and origins >= MIN_DM_ORIGINS)


def dm_not_testable_reason(n: float | None, n_origins: float | None = None) -> str:
    """``n=12, 1 origin``: the sample of a comparison, for a "not testable" label."""
    count = pd.to_numeric(pd.Series([n]), errors="coerce").iloc[0]
    text = f"n={int(count) if pd.notna(count) else 0}"
    origins = pd.to_numeric(pd.Series([n_origins]), errors="coerce").iloc[0]
    if n_origins is not None and pd.notna(origins):
        text += f", {int(origins)} origin{'' if int(origins) == 1 else 's'}"
    return text


def _testable_mask(dm: pd.DataFrame) -> pd.Series:
    origins = dm["n_origins"] if "n_origins" in dm.columns else pd.Series(None, index=dm.index)
    return pd.Series(
        [dm_testable(n, o) for n, o in zip(dm["n"], origins, strict=True)],
        index=dm.index,
        dtype=bool,
    )


def dm_few_forecasts_check(dm: pd.DataFrame) -> dict[str, Any] | None:
    """``dm_few_forecasts`` when a DM comparison is not testable (:func:`dm_testable`) or
    has an undefined p-value."""
    if dm.empty:
        return None
    p = pd.to_numeric(dm["p_value"], errors="coerce")
    untestable = ~_testable_mask(dm)
    weak = dm[untestable | p.isna()]
    if weak.empty:
        return None
    counts = {
        f"h{int(row.horizon)} {row.reference} vs {row.model}": int(row.n)
        for row in weak.itertuples(index=False)
    }
    origins = (
        {
            f"h{int(row.horizon)} {row.reference} vs {row.model}": int(row.n_origins)
            for row in weak.itertuples(index=False)
        }
        if "n_origins" in weak.columns
        else {}
    )
    horizons = sorted({int(h) for h in weak["horizon"]})
    undefined = int(p.loc[weak.index].isna().sum())
    small = dm[untestable]
    fewest = (
        f"; the smallest sample: {int(small['n'].min())} forecasts"
        + (f", {int(small['n_origins'].min())} origin(s)" if "n_origins" in small.columns else "")
        if not small.empty
        else ""
    )
    return check(
        STAGE,
        "dm_few_forecasts",
        f"{len(weak)} of {len(dm)} Diebold-Mariano comparisons (horizon(s) "
        f"{', '.join(str(h) for h in horizons)}) rest on fewer than {MIN_DM_FORECASTS} "
        f"aligned forecasts or fewer than {MIN_DM_ORIGINS} distinct forecast origins, or "
        f"have no p-value ({undefined} undefined){fewest}: they are not testable, so "
        "their verdict 'neither' means 'not testable', not 'equally accurate'.",
        counts=counts,
        origins=origins,
        horizons=horizons,
        models=sorted({str(m) for m in weak["model"]}),
        threshold=MIN_DM_FORECASTS,
        min_origins=MIN_DM_ORIGINS,
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


# --------------------------------------------------------------------------- MASE concentration


def entity_mase(predictions: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    """Mean MASE per model and entity: the mean over the entity's forecasts (every seed) of
    ``|actual - predicted| / scale``, forecasts with an unusable scale (:func:`usable_scales`)
    left out. Columns ``model, entity, MASE, n``; entities without a usable scale are absent.
    """
    keys = ["fold", "entity", "origin"]
    table = usable_scales(scales).drop_duplicates(subset=keys).loc[:, [*keys, "scale"]]
    merged = predictions.merge(table, on=keys, how="inner")
    merged = merged[merged["scale"].notna() & merged["predicted"].notna()]
    merged = merged.assign(
        scaled=(merged["actual"] - merged["predicted"]).abs() / merged["scale"]
    ).dropna(subset=["scaled"])
    grouped = merged.groupby(["model", "entity"], sort=True)["scaled"]
    return pd.DataFrame({"MASE": grouped.mean(), "n": grouped.size()}).reset_index()


def concentration_limit(n_entities: int) -> int:
    """How many entities count as "a few" among ``n_entities``: the larger of 10 % of them
    (rounded down) and ``min(3, n_entities // 4)``; 0 below 4 entities (no check)."""
    if n_entities < 4:
        return 0
    return max(int(0.1 * n_entities), min(3, n_entities // 4))


def _top_share(values: pd.Series) -> tuple[list[str], float]:
    """The fewest entities whose values sum to more than :data:`CONCENTRATION_SHARE` of the
    total, largest first, and their share."""
    ordered = values.sort_values(ascending=False, kind="stable")
    shares = ordered.cumsum() / float(ordered.sum())
    k = int(np.argmax(shares.to_numpy() > CONCENTRATION_SHARE)) + 1
    return [str(e) for e in ordered.index[:k]], float(shares.iloc[k - 1])


def mase_concentration_check(
    predictions: pd.DataFrame, scales: pd.DataFrame
) -> dict[str, Any] | None:
    """``mase_concentration`` when, for some model, at most :func:`concentration_limit`
    entities carry more than :data:`CONCENTRATION_SHARE` of the sum of per-entity mean MASE
    (module docstring). The message names the model where the share is largest, its
    entities and their mean MASE; ``details.models`` holds every flagged model."""
    table = entity_mase(predictions, scales)
    flagged: dict[str, dict[str, Any]] = {}
    for model, rows in table.groupby("model", sort=True):
        values = rows.set_index("entity")["MASE"].astype(float)
        values = values[np.isfinite(values)]
        limit = concentration_limit(len(values))
        if limit == 0 or float(values.sum()) <= 0.0:
            continue
        entities, share = _top_share(values)
        if len(entities) <= limit:
            flagged[str(model)] = {
                "entities": entities,
                "share": share,
                "n_entities": int(len(values)),
                "entity_mase": {e: float(values[e]) for e in entities},
                "mean_MASE": float(values.mean()),
            }
    if not flagged:
        return None
    worst = max(flagged, key=lambda m: (flagged[m]["share"], m))
    info = flagged[worst]
    listed = ", ".join(f"{e} ({v:.2f})" for e, v in info["entity_mase"].items())
    return check(
        STAGE,
        "mase_concentration",
        f"A few entities carry most of mean MASE for {len(flagged)} model(s): for {worst}, "
        f"{len(info['entities'])} of {info['n_entities']} entities carry "
        f"{info['share']:.0%} of the sum of per-entity mean MASE ({listed}; mean over "
        f"entities {info['mean_MASE']:.2f}). Mean MASE is then a statement about those "
        "entities, so the models are ranked by pooled MASE (sum of absolute errors / sum "
        "of naive scales), which they cannot swing; mean MASE stays in the tables.",
        entities=info["entities"],
        share=info["share"],
        model=worst,
        models=flagged,
        threshold=CONCENTRATION_SHARE,
    )


# --------------------------------------------------------------------------- persistence


def target_series(predictions: pd.DataFrame) -> pd.DataFrame:
    """The evaluated target per entity and period, rebuilt from the test forecasts.

    Values: the actual at each forecast period and the last observed value at each
    origin, both on the fold's target scale; a period that several folds (or both roles)
    cover takes the mean of their values. Columns ``entity, period, value``, sorted.
    """
    actual = predictions.loc[:, ["fold", "entity", "period", "actual"]].rename(
        columns={"actual": "value"}
    )
    origin = predictions.loc[:, ["fold", "entity", "origin", "last_observed"]].rename(
        columns={"origin": "period", "last_observed": "value"}
    )
    both = pd.concat([actual, origin], ignore_index=True)
    both["value"] = pd.to_numeric(both["value"], errors="coerce")
    both = both.dropna(subset=["value"]).drop_duplicates(subset=["fold", "entity", "period"])
    series = both.groupby(["entity", "period"], sort=True)["value"].mean().reset_index()
    return series


def persistence_statistics(series: pd.DataFrame) -> pd.DataFrame:
    """Per entity of :func:`target_series`: ``n_values``, the lag-1 autocorrelation ``r1``
    (``sum c_t c_{t-1} / sum c_t^2`` of the demeaned series ``c``) and ``variance_ratio``
    ``var(dD) / var(D)`` (``ddof=1``); both NaN below :data:`MIN_PERSISTENCE_VALUES`
    periods or for a constant series. Columns ``entity, n_values, r1, variance_ratio``."""
    rows = []
    for entity, group in series.groupby("entity", sort=True):
        y = group.sort_values("period")["value"].to_numpy(dtype=float)
        r1 = ratio = float("nan")
        centered = y - y.mean() if y.size else y
        level = float(np.sum(centered**2))
        if y.size >= MIN_PERSISTENCE_VALUES and level > 0.0:
            r1 = float(np.sum(centered[1:] * centered[:-1]) / level)
            ratio = float(np.var(np.diff(y), ddof=1) / np.var(y, ddof=1))
        rows.append(
            {"entity": str(entity), "n_values": int(y.size), "r1": r1, "variance_ratio": ratio}
        )
    return pd.DataFrame(rows, columns=["entity", "n_values", "r1", "variance_ratio"])


def target_without_dynamics_check(predictions: pd.DataFrame) -> dict[str, Any] | None:
    """``target_without_dynamics`` when the median variance ratio of the target over the
    entities with enough periods is at least :data:`PERSISTENCE_RATIO` and their median
    lag-1 autocorrelation at most :data:`PERSISTENCE_R1` (module docstring)."""
    stats = persistence_statistics(target_series(predictions)).dropna(
        subset=["r1", "variance_ratio"]
    )
    if stats.empty:
        return None
    ratio = float(stats["variance_ratio"].median())
    r1 = float(stats["r1"].median())
    if ratio < PERSISTENCE_RATIO or r1 > PERSISTENCE_R1:
        return None
    noisy = stats[(stats["variance_ratio"] >= PERSISTENCE_RATIO) & (stats["r1"] <= PERSISTENCE_R1)]
    n_total = int(predictions["entity"].nunique())
    return check(
        STAGE,
        "target_without_dynamics",
        f"The forecast target behaves like noise around a level: over {len(stats)} of "
        f"{n_total} entities with at least {MIN_PERSISTENCE_VALUES} test periods, the median "
        f"lag-1 autocorrelation of D is {r1:.2f} and the median var(dD)/var(D) is "
        f"{ratio:.2f} (white noise: 0 and 2; flagged at <= {PERSISTENCE_R1:g} and >= "
        f"{PERSISTENCE_RATIO:g}); {len(noisy)} entities pass both limits on their own. "
        "There is little persistence to forecast, so accuracy rankings compare ways of "
        "predicting noise and mean little.",
        entities=[str(e) for e in noisy["entity"]],
        r1=r1,
        variance_ratio=ratio,
        n_entities=int(len(stats)),
        per_entity={
            str(row.entity): {"r1": float(row.r1), "variance_ratio": float(row.variance_ratio)}
            for row in stats.itertuples(index=False)
        },
        thresholds={"variance_ratio": PERSISTENCE_RATIO, "r1": PERSISTENCE_R1},
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
        mase_concentration_check(predictions, scales),
        target_without_dynamics_check(predictions),
    ]
    return [item for item in found if item is not None]
