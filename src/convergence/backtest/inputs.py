"""What every forecasting job reads: the indicator panel, the fold target spec, checksums.

The networks, the baselines and the scenario analysis call :func:`load_forecast_inputs`,
so they forecast the same target (``D`` of the measurement spec below, refitted per fold)
from the same table and record the same data checksums.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.config import config_hash
from convergence.data.canonical import read_canonical, sha256_file, to_wide
from convergence.measures.index import MeasurementSpec, subsystem_indicators
from convergence.provenance import read_json
from convergence.settings import TrainingSettings


def forecast_measurement_spec(
    spec: Mapping[str, Any], measures: Mapping[str, Any], target_headroom: float
) -> MeasurementSpec:
    """Measurement spec that defines the forecast target of each backtest fold.

    Same as the descriptive one, except that ``training.target_headroom`` (or the data
    set's ``forecast.target_headroom``) widens the bounds fitted on the fold's training
    periods: a steadily growing series (China) otherwise leaves the fitted range right
    after the origin and the clipped target sits at 1 for every test period.
    """
    base = MeasurementSpec.from_config(spec, measures)
    return dataclasses.replace(base, headroom=float(target_headroom))


@dataclass(frozen=True)
class ForecastInputs:
    """The data side of a forecasting job.

    Attributes:
        wide: indicators in wide form, one row per (entity, period).
        mspec: the measurement spec of the forecast target.
        data_sha256: sha256 of the source data file (else of the canonical table).
        canonical_sha256: sha256 of the canonical table.
        config_sha256: hash of the configuration that produced the job's numbers.
    """

    wide: pd.DataFrame
    mspec: MeasurementSpec
    data_sha256: str
    canonical_sha256: str
    config_sha256: str


def load_forecast_inputs(
    *,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path | None,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    **job_config: Any,
) -> ForecastInputs:
    """Read a data set's canonical table; resolve its target spec and checksums.

    ``spec``, ``measures``, ``training_cfg`` and the job's own ``job_config`` (model, baseline
    or scenario settings) are everything besides the data that determines the job's numbers;
    their hash becomes ``config_sha256``. The data checksum is the source file's (from the
    ingest provenance), else the canonical table's.
    """
    settings = TrainingSettings.from_mapping(training_cfg)
    hashed_config = {
        "spec": dict(spec),
        "measures": dict(measures),
        "training_cfg": dict(training_cfg),
        **job_config,
    }
    canonical = read_canonical(canonical_path)
    canonical_sha256 = sha256_file(canonical_path)
    source = read_json(ingest_provenance_path).get("sha256") if ingest_provenance_path else None
    return ForecastInputs(
        wide=to_wide(canonical, indicators=subsystem_indicators(spec)),
        mspec=forecast_measurement_spec(spec, measures, settings.target_headroom),
        data_sha256=str(source) if source else canonical_sha256,
        canonical_sha256=canonical_sha256,
        config_sha256=config_hash(hashed_config),
    )
