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

log = logging.getLogger(__name__)

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
#: MLflow accepts at most 100 params / tags per ``log_batch`` call.
_BATCH_LIMIT = 100
#: MLflow 3 limits param values to 6000 characters.
_PARAM_VALUE_LIMIT = 6000
_LOCK_RETRIES = 5
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
    is created).
    """
    from_env = os.environ.get(ENV_TRACKING_URI, "").strip()
    if from_env:
        return from_env
    if configured:
        return str(configured)
    folder = Path(results_dir).resolve() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


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
        return existing.experiment_id
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as error:
        # Another job created it between our lookup and create.
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def init_experiments(uri: str, names: list[str], results_dir: str | Path) -> dict[str, str]:
    """Get or create one experiment per name; returns ``{name: experiment_id}``."""
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


@contextmanager
def parent_run(
    uri: str,
    experiment_id: str,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
) -> Iterator[str]:
    """Create a run, yield its id, end it FAILED if an exception escapes, else FINISHED."""
    client = MlflowClient(uri)
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
