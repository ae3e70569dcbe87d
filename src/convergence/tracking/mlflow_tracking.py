"""MLflow tracking: where runs go, one experiment per data set, parent and child runs.

Layout: one experiment per data set; one *parent run* per (model, seed) training job;
one *child run* per backtest fold (tag ``mlflow.parentRunId``) holding that fold's
per-epoch metrics, test metrics and artifacts. Without a server, runs go to a SQLite
database under ``<results_dir>/mlflow/`` with artifacts next to it.

Only :class:`mlflow.tracking.MlflowClient` is used, never the fluent ``mlflow.start_run``
API, so no process-global "active run" state is involved.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from convergence.tracking.uri import ENV_TRACKING_URI, tracking_uri_for

log = logging.getLogger(__name__)

#: MLflow accepts at most 100 params / tags per ``log_batch`` call.
_BATCH_LIMIT = 100
#: MLflow 3 limits param values to 6000 characters.
_PARAM_VALUE_LIMIT = 6000
_LOCK_RETRIES = 5
#: Experiment tag the MLflow 3 UI reads to choose its view: without it ``mlflow ui`` opens
#: an experiment in the GenAI view ("Traces: 0"); ``custom_model_development`` opens the
#: runs table ("Model training").
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: Tags that identify one training job across reruns (see :func:`mark_stale_runs_killed`).
JOB_TAGS: tuple[str, ...] = ("dataset", "model", "seed")
_LOCK_WAIT_S = 1.0


@dataclass
class TrackingContext:
    """Where a training job logs: tracking URI, experiment, parent run and common tags."""

    uri: str
    experiment_id: str
    parent_run_id: str
    tags: dict[str, str] = field(default_factory=dict)


def resolve_tracking_uri(configured: str | None, results_dir: str | Path) -> str:
    """Tracking URI: ``$MLFLOW_TRACKING_URI`` if set, else ``configured``, else local SQLite.

    The local default is ``sqlite:///<absolute results_dir>/mlflow/mlflow.db`` (the folder
    is created); see :func:`tracking_uri_for`.
    """
    uri = tracking_uri_for(configured, results_dir)
    if not configured and not os.environ.get(ENV_TRACKING_URI, "").strip():
        (Path(results_dir).resolve() / "mlflow").mkdir(parents=True, exist_ok=True)
    return uri


def artifact_location(uri: str, results_dir: str | Path, experiment: str) -> str | None:
    """Artifact root for a new experiment: a local folder for SQLite, server default otherwise."""
    if uri.startswith("sqlite:"):
        folder = Path(results_dir).resolve() / "mlflow" / "artifacts" / experiment
        return folder.as_uri()
    return None


def _is_locked(error: Exception) -> bool:
    return "database is locked" in str(error).lower()


def _retry_locked(action: Any, what: str) -> Any:
    """Run ``action()``, retrying while SQLite reports a locked database."""
    for attempt in range(1, _LOCK_RETRIES + 1):
        try:
            return action()
        except Exception as error:  # MlflowException or SQLAlchemy OperationalError
            if not _is_locked(error) or attempt == _LOCK_RETRIES:
                raise
            log.warning("%s: database is locked, retry %d/%d", what, attempt, _LOCK_RETRIES)
            time.sleep(_LOCK_WAIT_S * attempt)
    raise AssertionError("unreachable")


def _get_or_create_experiment(client: MlflowClient, name: str, location: str | None) -> str:
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        if EXPERIMENT_KIND_TAG not in existing.tags:
            client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return existing.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        )
    except MlflowException as error:
        # Another job created it between our lookup and create.
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def init_experiments(uri: str, names: list[str], results_dir: str | Path) -> dict[str, str]:
    """Get or create one experiment per name; returns ``{name: experiment_id}``.

    Every experiment carries ``mlflow.experimentKind = custom_model_development`` (set on
    existing experiments that lack it), so ``mlflow ui`` opens on its runs.
    """
    client = MlflowClient(uri)
    experiment_ids: dict[str, str] = {}
    for name in names:
        location = artifact_location(uri, results_dir, name)
        experiment_ids[name] = _retry_locked(
            lambda name=name, location=location: _get_or_create_experiment(client, name, location),
            f"experiment {name}",
        )
        log.info("MLflow experiment %s: id %s (%s)", name, experiment_ids[name], uri)
    return experiment_ids


def experiment_id_for(
    dataset: str, uri: str, results_dir: str | Path, experiments_path: str | Path
) -> str:
    """The data set's experiment id from the ``mlflow_init`` JSON, or get-or-create it on a
    URI other than the one the JSON was written for."""
    path = Path(experiments_path)
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        if record.get("tracking_uri") == uri and dataset in record.get("experiments", {}):
            return str(record["experiments"][dataset])
        log.warning(
            "%s was written for tracking URI %s, not %s; looking the experiment up again",
            path,
            record.get("tracking_uri"),
            uri,
        )
    return init_experiments(uri, [dataset], results_dir)[dataset]


def flatten_params(nested: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to ``{"a.b.c": "value"}``; lists become their JSON-like text."""
    flat: dict[str, str] = {}
    for key, value in nested.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, name))
        else:
            flat[name] = str(value)
    return flat


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params (flattened, values truncated to MLflow's limit) in batches of 100."""
    entries = [
        Param(key, value[:_PARAM_VALUE_LIMIT]) for key, value in flatten_params(params).items()
    ]
    for start in range(0, len(entries), _BATCH_LIMIT):
        client.log_batch(run_id, params=entries[start : start + _BATCH_LIMIT])


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set tags (values as text) in batches of 100."""
    entries = [RunTag(str(key), str(value)) for key, value in tags.items()]
    for start in range(0, len(entries), _BATCH_LIMIT):
        client.log_batch(run_id, tags=entries[start : start + _BATCH_LIMIT])


def log_artifacts(
    client: MlflowClient, run_id: str, paths: list[str | Path], artifact_path: str | None = None
) -> None:
    """Upload files (or whole folders) to a run's artifacts, skipping missing paths."""
    for path in map(Path, paths):
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path)
        elif path.is_file():
            client.log_artifact(run_id, str(path), artifact_path)
        else:
            log.warning("artifact %s does not exist; not logged", path)


def _quoted(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def mark_stale_runs_killed(
    client: MlflowClient, experiment_id: str, run_name: str, tags: Mapping[str, Any]
) -> list[str]:
    """Mark runs of the same job that are still RUNNING as KILLED; return their ids.

    A job killed hard (SIGKILL, out of memory, wall-time limit) cannot end its MLflow runs,
    which then stay RUNNING for ever. Snakemake reruns such a job; before its new run is
    created, every RUNNING run of the experiment with the same :data:`JOB_TAGS` values
    (those present in ``tags``; the run name when none is) is ended KILLED: the parent and
    its fold runs, which carry the same tags. Snakemake never runs one job twice at once;
    two pipelines running the same job against one tracking server at the same time would
    end each other's runs.
    """
    clauses = ["attributes.status = 'RUNNING'"]
    clauses += [f"tags.{key} = {_quoted(tags[key])}" for key in JOB_TAGS if key in tags]
    if len(clauses) == 1:
        clauses.append(f"attributes.run_name = {_quoted(run_name)}")
    stale = client.search_runs([experiment_id], filter_string=" and ".join(clauses))
    killed = []
    for run in stale:
        client.set_terminated(run.info.run_id, "KILLED")
        killed.append(run.info.run_id)
    if killed:
        log.warning(
            "marked %d MLflow run(s) of %s left RUNNING by an earlier, killed job as KILLED: %s",
            len(killed),
            run_name,
            ", ".join(killed),
        )
    return killed


@contextmanager
def parent_run(
    uri: str,
    experiment_id: str,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
) -> Iterator[str]:
    """Create a run, yield its id, end it FAILED if an exception escapes, else FINISHED.

    Runs of the same job left RUNNING by a killed process are marked KILLED first
    (:func:`mark_stale_runs_killed`), so a rerun leaves one FINISHED run per job.
    """
    client = MlflowClient(uri)
    _retry_locked(
        lambda: mark_stale_runs_killed(client, experiment_id, run_name, tags),
        f"stale runs of {run_name}",
    )
    run = _retry_locked(
        lambda: client.create_run(
            experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()}
        ),
        f"run {run_name}",
    )
    run_id = run.info.run_id
    log_params(client, run_id, params)
    try:
        yield run_id
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")


def create_child_run(
    context: TrackingContext, run_name: str, params: Mapping[str, Any], tags: Mapping[str, Any]
) -> str:
    """Create a run nested under ``context.parent_run_id`` with common and own tags."""
    client = MlflowClient(context.uri)
    all_tags = {**context.tags, **{k: str(v) for k, v in tags.items()}}
    all_tags[MLFLOW_PARENT_RUN_ID] = context.parent_run_id
    run = client.create_run(context.experiment_id, run_name=run_name, tags=all_tags)
    log_params(client, run.info.run_id, params)
    return run.info.run_id
