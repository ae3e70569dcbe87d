"""Which MLflow tracking URI a job uses (standard library only: cheap for rule files)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"


def tracking_uri_for(configured: str | None, results_dir: str | Path) -> str:
    """The tracking URI a job will use, without touching the file system.

    ``$MLFLOW_TRACKING_URI`` if set, else ``configured`` (``tracking.uri``), else
    ``sqlite:///<absolute results_dir>/mlflow/mlflow.db``. The rule file puts this
    resolved URI in ``mlflow_init``'s params, so changing ``$MLFLOW_TRACKING_URI`` (or
    ``tracking.uri``) on an existing results folder reruns ``mlflow_init`` and with it
    the pre-flight check of the server.
    """
    from_env = os.environ.get(ENV_TRACKING_URI, "").strip()
    if from_env:
        return from_env
    if configured:
        return str(configured)
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow' / 'mlflow.db'}"
