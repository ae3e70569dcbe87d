"""MLflow tracking of training runs (see :mod:`convergence.tracking.mlflow_tracking`).

Names are imported on first use, so that ``convergence.tracking.uri`` (standard library
only, used by the rule files) does not import MLflow.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "TrackingContext": "mlflow_tracking",
    "artifact_location": "mlflow_tracking",
    "create_child_run": "mlflow_tracking",
    "flatten_params": "mlflow_tracking",
    "init_experiments": "mlflow_tracking",
    "log_artifacts": "mlflow_tracking",
    "log_params": "mlflow_tracking",
    "mark_stale_runs_killed": "mlflow_tracking",
    "parent_run": "mlflow_tracking",
    "resolve_tracking_uri": "mlflow_tracking",
    "set_tags": "mlflow_tracking",
    "tracking_uri_for": "uri",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
