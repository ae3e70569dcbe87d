"""Stage ``mlflow_init``: create the MLflow store and experiments before training fans out.

Parallel jobs creating the same experiment in one SQLite file race; this one job creates
them all first.
"""

from __future__ import annotations

from pathlib import Path

from convergence.atomic import write_json_atomic
from convergence.tracking.mlflow_tracking import init_experiments, resolve_tracking_uri
from convergence.tracking.preflight import check_tracking_server


def run(
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
    uri = resolve_tracking_uri(tracking_uri, results_dir)
    check_tracking_server(uri)
    experiment_ids = init_experiments(uri, list(datasets), results_dir)
    write_json_atomic({"tracking_uri": uri, "experiments": experiment_ids}, experiments_path)
    return experiment_ids
