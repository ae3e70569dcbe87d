"""Stage ``normalize``: fit min-max bounds and entropy weights on the fit window and
normalize every period (the descriptive measurement model)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.data.canonical import read_canonical, to_wide, write_csv_atomic
from convergence.errors import ConfigError
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    fit_measurement,
    subsystem_indicators,
)
from convergence.measures.normalize import apply_minmax
from convergence.provenance import write_json_atomic

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
) -> MeasurementModel:
    """Fit bounds and entropy weights on the fit window; write normalized indicators."""
    canonical = read_canonical(canonical_path)
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    mspec = MeasurementSpec.from_config(spec, measures)
    mask = fit_window_mask(wide.index, measures.get("fit_end"))
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
    fit_rows = int(mask.sum()) if mask is not None else len(wide)
    write_json_atomic(
        {
            "model": model.to_dict(),
            "fit_end": measures.get("fit_end"),
            "fit_rows": fit_rows,
            "rows": len(wide),
        },
        model_path,
    )
    log.info("fitted measurement model on %d of %d entity-periods", fit_rows, len(wide))
    return model
