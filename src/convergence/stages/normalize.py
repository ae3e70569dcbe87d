"""Stage ``normalize``: fit min-max bounds and entropy weights on the fit window and
normalize every period (the descriptive measurement model)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.atomic import write_csv_atomic, write_json_atomic
from convergence.data.canonical import read_canonical, to_wide
from convergence.errors import ConfigError
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    fit_measurement,
    subsystem_indicators,
)
from convergence.measures.normalize import (
    apply_minmax,
    check_zero_range,
    dominated_bounds_check,
    size_dominated_levels_check,
)

log = logging.getLogger(__name__)


def fit_window_mask(index: pd.MultiIndex, fit_end: str | int | None) -> pd.Series | None:
    """Rows whose period is <= ``fit_end`` (period labels sort chronologically)."""
    if fit_end is None:
        return None
    periods = index.get_level_values("period").astype(str)
    mask = pd.Series(periods <= str(fit_end), index=index)
    if not mask.any():
        raise ConfigError("measures.fit_end", f"no period <= {fit_end!r} in the data")
    return mask


def run(
    canonical_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    normalized_path: str | Path,
    model_path: str | Path,
    dataset: str | None = None,
) -> MeasurementModel:
    """Fit bounds and entropy weights on the fit window; write normalized indicators.

    Fails on an indicator that is constant in the fit window (pooled, or in every entity
    with ``scope: per_entity``), naming it. Records data checks in the model JSON's
    ``data_checks``: ``per_entity_constant_indicators`` (the documented rule applied),
    ``pooled_bounds_dominated`` when one entity sets most pooled bounds and
    ``size_dominated_levels`` when pooled bounds would rank entities by size.
    """
    canonical = read_canonical(canonical_path)
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    mspec = MeasurementSpec.from_config(spec, measures)
    mask = fit_window_mask(wide.index, measures.get("fit_end"))
    fit_rows = wide if mask is None else wide.loc[mask.to_numpy()]
    data_checks = []
    constant = check_zero_range(
        fit_rows,
        mspec.scope,
        dataset=dataset,
        subsystems={name: list(group) for name, group in mspec.subsystems.items()},
    )
    data_checks += [constant] if constant else []
    if mspec.scope == "pooled":
        dominated = dominated_bounds_check(fit_rows, dataset=dataset)
        levels = size_dominated_levels_check(
            fit_rows, dataset=dataset, derived=list(spec.get("derived") or {})
        )
        data_checks += [found for found in (dominated, levels) if found]
    model = fit_measurement(wide, mspec, fit_mask=mask)
    directions = {i: d for sub in mspec.subsystems.values() for i, d in sub.items()}
    normalized = apply_minmax(wide, model.bounds, directions, clip=mspec.clip)
    long = (
        normalized.rename_axis(columns="indicator")
        .stack(future_stack=True)
        .rename("value")
        .reset_index()
        .dropna(subset=["value"])
    )
    write_csv_atomic(long, normalized_path)
    n_fit_rows = int(mask.sum()) if mask is not None else len(wide)
    write_json_atomic(
        {
            "model": model.to_dict(),
            "fit_end": measures.get("fit_end"),
            "fit_rows": n_fit_rows,
            "rows": len(wide),
            "normalization": {"scope": mspec.scope, "headroom": mspec.headroom, "clip": mspec.clip},
            "data_checks": data_checks,
        },
        model_path,
    )
    log.info("fitted measurement model on %d of %d entity-periods", n_fit_rows, len(wide))
    return model
