"""Stage ``train``: rolling-origin backtest of one model with one seed on one data set.

Opens a parent run ``<model>-seed<seed>`` in the data set's experiment (one child run per
fold) and writes the predictions CSV and ``run.json``; fold checkpoints and training
curves go to ``checkpoint_dir`` (a declared output of the rule).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convergence.backtest.inputs import load_forecast_inputs
from convergence.data.canonical import write_csv_atomic
from convergence.settings import ModelSettings, TrainingSettings
from convergence.stages.common import tracked_job

log = logging.getLogger(__name__)


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
    seed: int,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_path: str | Path,
    run_json_path: str | Path,
    checkpoint_dir: str | Path,
) -> None:
    """Backtest one model with one seed on one data set, tracked in MLflow."""
    import torch
    from mlflow.tracking import MlflowClient

    from convergence.tracking.mlflow_tracking import log_artifacts
    from convergence.training.backtest import train_and_backtest

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
    params = {
        "dataset": dataset,
        "model": model_name,
        "seed": seed,
        "model_cfg": dict(model_cfg),
        "training": settings.to_dict(),
    }
    run_name = f"{model_name}-seed{seed}"
    with tracked_job(
        dataset=dataset,
        model=model_name,
        run_name=run_name,
        inputs=inputs,
        params=params,
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        experiments_path=experiments_path,
        seed=str(seed),
    ) as job:
        predictions = train_and_backtest(
            dataset=dataset,
            wide=inputs.wide,
            mspec=inputs.mspec,
            model_name=model_name,
            model=model,
            settings=settings,
            seed=seed,
            out_dir=Path(checkpoint_dir),
            tracking=job.context,
        )
        write_csv_atomic(predictions, predictions_path)
        log_artifacts(MlflowClient(job.context.uri), job.run_id, [predictions_path])
    job.write_run_json(
        run_json_path,
        dataset=dataset,
        model=model_name,
        seed=seed,
        checkpoint_dir=str(checkpoint_dir),
        n_predictions=len(predictions),
        folds=sorted(int(k) for k in predictions["fold"].unique()),
    )
    log.info("wrote %d predictions to %s", len(predictions), predictions_path)
