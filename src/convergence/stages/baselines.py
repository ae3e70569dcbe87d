"""Stage ``baselines``: naive, drift, ETS, ARIMA, Theta, ridge (and NHITS) in the networks' folds.

Tracked as one MLflow run ``baselines`` per data set; writes the predictions CSV (with the
run id), the MASE scales CSV and ``run.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.atomic import write_csv_atomic
from convergence.backtest.inputs import load_forecast_inputs
from convergence.models.baselines import baseline_backtest, check_baselines, season_length_for
from convergence.settings import TrainingSettings
from convergence.stages.common import tracked_job

log = logging.getLogger(__name__)


def run(
    *,
    dataset: str,
    numerics_isa: str,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    baselines: Sequence[str],
    frequency: str,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_path: str | Path,
    scales_path: str | Path,
    run_json_path: str | Path,
) -> None:
    """Backtest the baselines on one data set, tracked as one MLflow run ``baselines``."""
    from mlflow.tracking import MlflowClient

    from convergence.numerics import enter_job
    from convergence.tracking.mlflow_tracking import log_artifacts

    names = check_baselines(baselines)
    season_length = season_length_for(frequency)
    settings = TrainingSettings.from_mapping(training_cfg)
    numerics = enter_job(numerics_isa, settings.threads)
    inputs = load_forecast_inputs(
        canonical_path=canonical_path,
        ingest_provenance_path=ingest_provenance_path,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        baselines=list(names),
        frequency=str(frequency),
    )
    params = {
        "dataset": dataset,
        "baselines": ",".join(names),
        "frequency": str(frequency),
        "season_length": season_length,
        "training": settings.to_dict(),
    }
    started = time.perf_counter()
    with tracked_job(
        dataset=dataset,
        model="baselines",
        run_name="baselines",
        inputs=inputs,
        params=params,
        tracking_uri=tracking_uri,
        results_dir=results_dir,
        experiments_path=experiments_path,
        numerics=numerics,
    ) as job:
        predictions, scales = baseline_backtest(
            dataset=dataset,
            wide=inputs.wide,
            mspec=inputs.mspec,
            settings=settings,
            baselines=names,
            season_length=season_length,
        )
        ridge_alpha = predictions.attrs.get("ridge_alpha")
        predictions["run_id"] = job.run_id
        write_csv_atomic(predictions, predictions_path)
        write_csv_atomic(scales, scales_path)
        client = MlflowClient(job.context.uri)
        error = (predictions["predicted"] - predictions["actual"]).abs()
        for name, mae in error.groupby(predictions["model"]).mean().items():
            client.log_metric(job.run_id, f"test_mae_{name}", float(mae))
        for name, count in predictions.groupby("model")["fallback"].sum().items():
            client.log_metric(job.run_id, f"fallback_rows_{name}", float(count))
        if ridge_alpha:
            at_edge = ridge_alpha["n_at_lower_edge"] + ridge_alpha["n_at_upper_edge"]
            client.log_metric(job.run_id, "ridge_alpha_folds_at_grid_edge", float(at_edge))
        client.log_metric(job.run_id, "seconds", time.perf_counter() - started)
        log_artifacts(client, job.run_id, [predictions_path, scales_path])
    fallbacks = {str(k): int(v) for k, v in predictions.groupby("model")["fallback"].sum().items()}
    job.write_run_json(
        run_json_path,
        dataset=dataset,
        model="baselines",
        baselines=list(names),
        frequency=str(frequency),
        season_length=season_length,
        n_predictions=len(predictions),
        fallback_rows=fallbacks,
        folds=sorted(int(k) for k in predictions["fold"].unique()),
        ridge_alpha=ridge_alpha,
    )
    log.info(
        "wrote %d baseline predictions to %s in %.1fs",
        len(predictions),
        predictions_path,
        time.perf_counter() - started,
    )
