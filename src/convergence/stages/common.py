"""What the tracked forecasting stages (train, baselines) share: one MLflow parent run per
job around the data of :func:`~convergence.backtest.inputs.load_forecast_inputs`, and a
``run.json`` record that traces every prediction to its run, data, config and code."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convergence.atomic import write_json_atomic
from convergence.backtest.inputs import ForecastInputs
from convergence.numerics import mlflow_tags
from convergence.provenance import base_record
from convergence.tracking.mlflow_tracking import (
    TrackingContext,
    experiment_id_for,
    parent_run,
    resolve_tracking_uri,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackedJob:
    """A forecasting job's inputs, where it logs, and its open parent run."""

    inputs: ForecastInputs
    context: TrackingContext
    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.context.parent_run_id

    def write_run_json(self, path: str | Path, **fields: Any) -> None:
        """``run.json``: run and experiment ids, tracking URI, checksums, code version."""
        write_json_atomic(
            dict(
                self.record,
                **fields,
                run_id=self.run_id,
                experiment_id=self.context.experiment_id,
                tracking_uri=self.context.uri,
                data_sha256=self.inputs.data_sha256,
                canonical_sha256=self.inputs.canonical_sha256,
                config_sha256=self.inputs.config_sha256,
            ),
            path,
        )


@contextmanager
def tracked_job(
    *,
    dataset: str,
    model: str,
    run_name: str,
    inputs: ForecastInputs,
    params: Mapping[str, Any],
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    numerics: Mapping[str, Any] | None = None,
    **extra_tags: str,
) -> Iterator[TrackedJob]:
    """Open the job's parent run (FAILED if an exception escapes, else FINISHED).

    ``numerics`` (:func:`convergence.numerics.enter_job`'s record) goes to ``run.json``
    whole and to the run's tags as ``numerics.*``.
    """
    # One git query per job, taken before the work starts.
    record = base_record()
    if numerics is not None:
        record["numerics"] = dict(numerics)
    uri = resolve_tracking_uri(tracking_uri, results_dir)
    experiment_id = experiment_id_for(dataset, uri, results_dir, experiments_path)
    tags = {
        "dataset": dataset,
        "model": model,
        **extra_tags,
        "git_commit": str(record["git_commit"]),
        "git_dirty": str(record["git_dirty"]),
        "config_sha256": inputs.config_sha256,
        "data_sha256": inputs.data_sha256,
        **(mlflow_tags(numerics) if numerics is not None else {}),
    }
    log.info("%s on %s, tracking at %s", run_name, dataset, uri)
    with parent_run(uri, experiment_id, run_name, params, tags) as run_id:
        yield TrackedJob(
            inputs=inputs,
            context=TrackingContext(
                uri=uri, experiment_id=experiment_id, parent_run_id=run_id, tags=tags
            ),
            record=record,
        )
