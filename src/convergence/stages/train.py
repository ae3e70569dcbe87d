"""Stage ``train``: rolling-origin backtest of one model on one data set, every seed.

One process trains the seeds one after another (imports and data loading are paid once
per job, not per seed). Each seed opens its own parent run ``<model>-seed<seed>`` in the
data set's experiment (one child run per fold) and writes its own predictions CSV and
``run.json``; fold checkpoints and training curves go to the seed's checkpoint folder
(declared outputs of the rule).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.backtest.inputs import load_forecast_inputs
from convergence.data.canonical import write_csv_atomic
from convergence.provenance import read_json
from convergence.settings import ModelSettings, TrainingSettings
from convergence.stages.common import tracked_job

log = logging.getLogger(__name__)


def _uptime() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def run(
    *,
    dataset: str,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    model_name: str,
    model_cfg: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    seeds: Sequence[int],
    reference_cfg: Mapping[str, Any] | None = None,
    choice_path: str | Path | None = None,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_paths: Sequence[str | Path],
    run_json_paths: Sequence[str | Path],
    checkpoint_dirs: Sequence[str | Path],
) -> None:
    """Backtest one model on one data set once per seed, each seed its own MLflow parent run.

    ``predictions_paths``, ``run_json_paths`` and ``checkpoint_dirs`` hold one path per
    seed, in the order of ``seeds``. With ``choice_path`` (the ``select`` stage's
    ``choice.json``) the chosen configuration is applied to ``model_cfg`` relative to
    ``reference_cfg`` (:func:`~convergence.training.selection.apply_choice`), and its
    ``training_choice`` (``warm_start``) to ``training_cfg``; the effective configuration
    is what is trained, hashed and logged. The seeds share one process (imports, data, windows'
    inputs) but nothing else: every seed's numbers equal those of a job with that seed only.
    """
    import torch
    from mlflow.tracking import MlflowClient

    from convergence.tracking.mlflow_tracking import log_artifacts
    from convergence.training.backtest import train_and_backtest

    seeds = [int(seed) for seed in seeds]
    for name, paths in (
        ("predictions_paths", predictions_paths),
        ("run_json_paths", run_json_paths),
        ("checkpoint_dirs", checkpoint_dirs),
    ):
        if len(paths) != len(seeds):
            raise ValueError(f"{name}: {len(paths)} paths for {len(seeds)} seeds")
    choice: dict[str, Any] = {}
    training_choice: dict[str, Any] = {}
    if choice_path is not None:
        from convergence.training.selection import apply_choice

        record = read_json(choice_path)
        choice = dict(record["choice"])
        model_cfg = apply_choice(model_cfg, reference_cfg or model_cfg, choice)
        log.info("configuration chosen on validation data: %s -> %s", choice, dict(model_cfg))
        # Training settings chosen per data set (training.warm_start).
        training_choice = dict(record.get("training_choice") or {})
        if training_choice:
            training_cfg = {**training_cfg, **training_choice}
            log.info("training settings chosen on validation data: %s", training_choice)
    settings = TrainingSettings.from_mapping(training_cfg)
    model = ModelSettings.from_mapping(model_cfg)
    log.info("SLURM_JOB_ID=%s", os.environ.get("SLURM_JOB_ID"))
    # One job = one process: honour the threads Snakemake gave it.
    torch.set_num_threads(settings.threads)
    inputs = load_forecast_inputs(
        canonical_path=canonical_path,
        ingest_provenance_path=ingest_provenance_path,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        model_cfg=dict(model_cfg),
    )
    for position, seed in enumerate(seeds):
        started = time.perf_counter()
        params = {
            "dataset": dataset,
            "model": model_name,
            "seed": seed,
            "model_cfg": dict(model_cfg),
            "selection_choice": choice,
            "training_choice": training_choice,
            "training": settings.to_dict(),
        }
        with tracked_job(
            dataset=dataset,
            model=model_name,
            run_name=f"{model_name}-seed{seed}",
            inputs=inputs,
            params=params,
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            seed=str(seed),
        ) as job:
            if position == 0:
                log.info("fixed cost: %.2f s from process start to the first fold", _uptime())
            predictions = train_and_backtest(
                dataset=dataset,
                wide=inputs.wide,
                mspec=inputs.mspec,
                model_name=model_name,
                model=model,
                settings=settings,
                seed=seed,
                out_dir=Path(checkpoint_dirs[position]),
                tracking=job.context,
            )
            write_csv_atomic(predictions, predictions_paths[position])
            log_artifacts(MlflowClient(job.context.uri), job.run_id, [predictions_paths[position]])
        job.write_run_json(
            run_json_paths[position],
            dataset=dataset,
            model=model_name,
            seed=seed,
            checkpoint_dir=str(checkpoint_dirs[position]),
            model_cfg=dict(model_cfg),
            selection_choice=choice,
            training_choice=training_choice,
            n_predictions=len(predictions),
            folds=sorted(int(k) for k in predictions["fold"].unique()),
        )
        log.info(
            "seed %d (%d/%d): %d predictions to %s in %.1f s",
            seed,
            position + 1,
            len(seeds),
            len(predictions),
            predictions_paths[position],
            time.perf_counter() - started,
        )
