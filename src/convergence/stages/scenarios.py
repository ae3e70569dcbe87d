"""Stage ``scenarios``: what-if effects and permutation attribution of the reference model.

Forecast-model sensitivities on the backtest's last fold, across seeds; not causal
effects (see :mod:`convergence.analysis.scenarios`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.analysis.scenarios import (
    SENSITIVITY_NOTE,
    last_fold,
    permutation_importance,
    resolve_scenarios,
    scenario_effect,
    summarise_scenario,
)
from convergence.atomic import write_csv_atomic, write_json_atomic
from convergence.backtest.inputs import load_forecast_inputs
from convergence.backtest.windows import build_fold_windows
from convergence.data.canonical import sha256_file
from convergence.errors import ConfigError, DataFileError
from convergence.provenance import base_record
from convergence.settings import TrainingSettings

log = logging.getLogger(__name__)


def run(
    *,
    dataset: str,
    numerics_isa: str,
    canonical_path: str | Path,
    checkpoint_dirs: Mapping[int, str | Path],
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    model_name: str,
    scenarios: Sequence[Mapping[str, Any]] | None,
    effects_path: str | Path,
    summary_path: str | Path,
    attribution_path: str | Path,
    provenance_path: str | Path,
    n_repeats: int = 5,
) -> None:
    """Scenario effects and permutation attribution of one model on the last fold.

    ``checkpoint_dirs`` maps each seed to the train job's checkpoint folder; the last
    fold's ``fold<k>/best.ckpt`` of every seed is used.
    """
    from convergence.numerics import enter_job

    settings = TrainingSettings.from_mapping(training_cfg)
    numerics = enter_job(numerics_isa, settings.threads)
    resolved = resolve_scenarios(dataset, spec, scenarios)
    if not checkpoint_dirs:
        raise ConfigError(f"evaluation.scenarios.{dataset}", "no trained seeds to analyse")
    inputs = load_forecast_inputs(
        canonical_path=canonical_path,
        ingest_provenance_path=None,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        scenarios=resolved,
    )
    wide, mspec = inputs.wide, inputs.mspec
    fold = last_fold(wide, settings)
    checkpoints = {
        int(seed): Path(folder) / f"fold{fold.index}" / "best.ckpt"
        for seed, folder in checkpoint_dirs.items()
    }
    for path in checkpoints.values():
        if not path.is_file():
            raise DataFileError(str(path), "checkpoint of the last fold not found")
    log.info(
        "%s %s: scenarios %s on fold %d (origin %s), seeds %s",
        dataset,
        model_name,
        resolved,
        fold.index,
        fold.val_periods[-1],
        sorted(checkpoints),
    )
    effects = pd.concat(
        [
            scenario_effect(
                wide=wide,
                mspec=mspec,
                fold=fold,
                settings=settings,
                checkpoint_paths=checkpoints,
                indicator=item["indicator"],
                change=item["change"],
            )
            for item in resolved
        ],
        ignore_index=True,
    )
    effects.insert(0, "model", model_name)
    effects.insert(0, "dataset", dataset)
    summary = summarise_scenario(effects)
    windows = build_fold_windows(
        wide, mspec, fold, window=settings.window, horizon=settings.horizon, target=settings.target
    )
    attribution = permutation_importance(
        model_checkpoints=checkpoints, windows=windows, n_repeats=n_repeats, seed=min(checkpoints)
    )
    write_csv_atomic(effects, effects_path)
    write_csv_atomic(summary, summary_path)
    write_csv_atomic(attribution, attribution_path)
    write_json_atomic(
        base_record(
            dataset=dataset,
            model=model_name,
            note=SENSITIVITY_NOTE,
            fold=fold.index,
            origin=windows.test_origin,
            test_periods=windows.test_periods,
            scenarios=resolved,
            n_repeats=n_repeats,
            checkpoints={
                str(seed): {"path": str(path), "sha256": sha256_file(path)}
                for seed, path in sorted(checkpoints.items())
            },
            canonical_sha256=inputs.canonical_sha256,
            config_sha256=inputs.config_sha256,
            measurement_model=windows.measurement_model.to_dict(),
            numerics=numerics,
        ),
        provenance_path,
    )
    log.info("scenario summary:\n%s", summary.to_string(index=False))
