"""Pipeline stages of the forecasting part: MLflow set-up and one training job.

``run_mlflow_init`` runs once before the training jobs so that experiments are created
by one process (parallel jobs creating the same experiment in one SQLite file race).
``run_train`` backtests one (data set, model, seed) and writes its predictions and a
``run.json`` provenance record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient

from convergence.config import config_hash
from convergence.data.canonical import read_canonical, sha256_file, to_wide, write_csv_atomic
from convergence.measures.index import MeasurementSpec
from convergence.provenance import base_record, read_json, write_json_atomic
from convergence.stages import forecast_measurement_spec, subsystem_indicators
from convergence.tracking.mlflow_tracking import (
    TrackingContext,
    init_experiments,
    log_artifacts,
    parent_run,
    resolve_tracking_uri,
)
from convergence.training.backtest import train_and_backtest, training_settings

log = logging.getLogger(__name__)


def run_mlflow_init(
    *,
    datasets: list[str],
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
) -> dict[str, str]:
    """Create (or find) one MLflow experiment per data set; write their ids as JSON.

    The JSON holds ``{"tracking_uri": ..., "experiments": {dataset: experiment_id}}``.
    The tracking URI is checked first (:func:`check_tracking_server`), so a dead or
    misspelt server fails this first job within seconds, before any training, and
    the JSON is not written.
    """
    from convergence.tracking.preflight import check_tracking_server

    uri = resolve_tracking_uri(tracking_uri, results_dir)
    check_tracking_server(uri)
    experiment_ids = init_experiments(uri, list(datasets), results_dir)
    write_json_atomic({"tracking_uri": uri, "experiments": experiment_ids}, experiments_path)
    return experiment_ids


def experiment_id_for(
    dataset: str, uri: str, results_dir: str | Path, experiments_path: str | Path
) -> str:
    """The data set's experiment id from the init JSON, or get-or-create it on a new URI."""
    path = Path(experiments_path)
    if path.is_file():
        record = read_json(path)
        if record.get("tracking_uri") == uri and dataset in record.get("experiments", {}):
            return str(record["experiments"][dataset])
        log.warning(
            "%s was written for tracking URI %s, not %s; looking the experiment up again",
            path,
            record.get("tracking_uri"),
            uri,
        )
    return init_experiments(uri, [dataset], results_dir)[dataset]


def _data_sha256(canonical_path: str | Path, ingest_provenance: Mapping[str, Any]) -> str:
    """sha256 of the source file (from ingest provenance), else of the canonical table."""
    source = ingest_provenance.get("sha256")
    return str(source) if source else sha256_file(canonical_path)


@dataclass(frozen=True)
class ForecastInputs:
    """What a tracked forecasting job (a model or the baselines) reads and records.

    Attributes:
        wide: indicators in wide form, one row per (entity, period).
        mspec: the measurement spec of the forecast target.
        data_sha256: sha256 of the source data file (else of the canonical table).
        canonical_sha256: sha256 of the canonical table.
        config_sha256: hash of the configuration that produced the job's numbers.
        uri: the resolved MLflow tracking URI.
        experiment_id: the data set's MLflow experiment.
        record: :func:`base_record` (code version, time) for tags and ``run.json``.
    """

    wide: pd.DataFrame
    mspec: MeasurementSpec
    data_sha256: str
    canonical_sha256: str
    config_sha256: str
    uri: str
    experiment_id: str
    record: dict[str, Any]

    def tags(self, dataset: str, model: str, **extra: str) -> dict[str, str]:
        """MLflow tags that trace a run to its data, config and code."""
        return {
            "dataset": dataset,
            "model": model,
            **extra,
            "git_commit": str(self.record["git_commit"]),
            "git_dirty": str(self.record["git_dirty"]),
            "config_sha256": self.config_sha256,
            "data_sha256": self.data_sha256,
        }


def load_forecast_inputs(
    *,
    dataset: str,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    hashed_config: Mapping[str, Any],
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
) -> ForecastInputs:
    """Read a data set's canonical table and resolve its checksums and MLflow experiment.

    ``hashed_config`` is everything besides the data that determines the job's numbers;
    its hash becomes the ``config_sha256`` tag.
    """
    canonical = read_canonical(canonical_path)
    return ForecastInputs(
        wide=to_wide(canonical, indicators=subsystem_indicators(spec)),
        mspec=forecast_measurement_spec(spec, measures, training_cfg),
        data_sha256=_data_sha256(canonical_path, read_json(ingest_provenance_path)),
        canonical_sha256=sha256_file(canonical_path),
        config_sha256=config_hash(dict(hashed_config)),
        uri=(uri := resolve_tracking_uri(tracking_uri, results_dir)),
        experiment_id=experiment_id_for(dataset, uri, results_dir, experiments_path),
        record=base_record(),
    )


def run_train(
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
) -> None:
    """Backtest one model with one seed on one data set, tracked in MLflow.

    Opens a parent run ``<model_name>-seed<seed>`` in the data set's experiment (one child
    run per fold), writes the predictions CSV and ``run.json`` (run and experiment ids,
    tracking URI, data and config sha256, seed, code version). Checkpoints and training
    curves go to the folder of ``predictions_path``.
    """
    import torch

    log.info("SLURM_JOB_ID=%s", os.environ.get("SLURM_JOB_ID"))
    # One job = one process: honour the threads Snakemake gave it.
    torch.set_num_threads(int(training_cfg.get("threads", 1)))
    inputs = load_forecast_inputs(
        dataset=dataset,
        canonical_path=canonical_path,
        ingest_provenance_path=ingest_provenance_path,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        hashed_config={
            "spec": dict(spec),
            "measures": dict(measures),
            "model_cfg": dict(model_cfg),
            "training_cfg": dict(training_cfg),
        },
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        experiments_path=experiments_path,
    )
    uri, experiment_id = inputs.uri, inputs.experiment_id
    tags = inputs.tags(dataset, model_name, seed=str(seed))
    params = {
        "dataset": dataset,
        "model": model_name,
        "seed": seed,
        "model_cfg": dict(model_cfg),
        "training": training_settings(training_cfg),
    }
    out_dir = Path(predictions_path).parent / f"{model_name}-seed{seed}"
    run_name = f"{model_name}-seed{seed}"
    log.info("training %s on %s (seed %d), tracking at %s", model_name, dataset, seed, uri)
    with parent_run(uri, experiment_id, run_name, params, tags) as run_id:
        context = TrackingContext(
            uri=uri, experiment_id=experiment_id, parent_run_id=run_id, tags=tags
        )
        predictions = train_and_backtest(
            dataset=dataset,
            wide=inputs.wide,
            mspec=inputs.mspec,
            model_name=model_name,
            model_cfg=model_cfg,
            training_cfg=training_cfg,
            seed=seed,
            out_dir=out_dir,
            tracking=context,
        )
        write_csv_atomic(predictions, predictions_path)
        log_artifacts(MlflowClient(uri), run_id, [predictions_path])
    write_json_atomic(
        # The record taken when the inputs were read: one git query per job.
        dict(
            inputs.record,
            dataset=dataset,
            model=model_name,
            seed=seed,
            run_id=run_id,
            experiment_id=experiment_id,
            tracking_uri=uri,
            data_sha256=inputs.data_sha256,
            canonical_sha256=inputs.canonical_sha256,
            config_sha256=inputs.config_sha256,
            n_predictions=len(predictions),
            folds=sorted(int(k) for k in predictions["fold"].unique()),
        ),
        run_json_path,
    )
    log.info("wrote %d predictions to %s", len(predictions), predictions_path)
