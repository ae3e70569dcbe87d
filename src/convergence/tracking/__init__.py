"""MLflow tracking of training runs (see :mod:`convergence.tracking.mlflow_tracking`)."""

from convergence.tracking.mlflow_tracking import (
    TrackingContext,
    artifact_location,
    create_child_run,
    flatten_params,
    init_experiments,
    log_artifacts,
    log_params,
    parent_run,
    resolve_tracking_uri,
    set_tags,
)

__all__ = [
    "TrackingContext",
    "artifact_location",
    "create_child_run",
    "flatten_params",
    "init_experiments",
    "log_artifacts",
    "log_params",
    "parent_run",
    "resolve_tracking_uri",
    "set_tags",
]
