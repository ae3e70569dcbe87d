"""A training job against an ``mlflow server`` backed by PostgreSQL, with the artifact proxy.

Needs the PostgreSQL server binaries (Debian: ``apt-get install postgresql``, which puts
``initdb`` and ``pg_ctl`` in ``/usr/lib/postgresql/<version>/bin``; ``.ci/install-services``
does this as root). The cluster lives in a temporary folder on a free port on 127.0.0.1
and is stopped afterwards; the Debian default cluster on 5432 is not used.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from test_mlflow_server import (
    MEASURES,
    MODEL_CFG,
    SPEC,
    TRAINING_CFG,
    free_port,
    write_synthetic_canonical,
)

from convergence.stages.tracking import run as run_mlflow_init
from convergence.stages.train import run as run_train

pytestmark = pytest.mark.postgres

SERVER_START_TIMEOUT_S = 90.0


def postgres_bin() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: on PATH, else the newest Debian one."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    for initdb in reversed(candidates):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    return None


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster with a database ``mlflow``; yields its SQLAlchemy URL."""
    pgbin = postgres_bin()
    if pgbin is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
            "`apt-get install postgresql` (Debian/Ubuntu, as root: .ci/install-services)"
        )
    import psycopg2

    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb refuses to run as root")
    # A short path straight under /tmp: pytest's tmp_path lies below a 0700 folder that the
    # postgres user cannot enter, and the Unix socket path must stay under 107 characters.
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    as_user: list[str] = []
    if as_root:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log_file = root / "data", root / "pg.log"
    port = free_port()
    started = False
    try:
        subprocess.run(
            [*as_user, str(pgbin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
            + ["--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        result = subprocess.run(
            [*as_user, str(pgbin / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-w"]
            + ["-t", "60", "-o", options, "start"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        started = True  # stop even if start reported failure (it may be half up)
        if result.returncode != 0:
            log_text = log_file.read_text() if log_file.exists() else ""
            pytest.fail(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{log_text}")
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres"
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("CREATE DATABASE mlflow")
        finally:
            connection.close()
        # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; we ship psycopg2.
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        if started:
            subprocess.run(
                [*as_user, str(pgbin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mlflow_postgres_server(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on the PostgreSQL store with the artifact proxy; yields its URL."""
    port = free_port()
    mlflow_exe = Path(sys.executable).parent / "mlflow"
    log_path = tmp_path / "server.log"
    log_file = log_path.open("w")
    server = subprocess.Popen(
        [str(mlflow_exe), "server", "--backend-store-uri", postgres_url]
        + ["--artifacts-destination", str(tmp_path / "art")]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        start_new_session=True,  # own process group: stopped together with its workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not answer /health within {SERVER_START_TIMEOUT_S} s"
                )
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log_file.close()


def test_run_train_on_postgres_backed_server(
    mlflow_postgres_server: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = mlflow_postgres_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, not in minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    canonical_path, provenance_path = write_synthetic_canonical(tmp_path)
    results = tmp_path / "results"
    experiments_path = results / "mlflow" / "experiments.json"
    run_mlflow_init(
        datasets=["synthetic"],
        tracking_uri=None,
        results_dir=results,
        experiments_path=experiments_path,
    )
    predictions_path = results / "forecasts" / "synthetic" / "lstm-seed3.csv"
    run_json_path = predictions_path.with_suffix(".run.json")
    run_train(
        numerics_isa="native",  # torch is loaded already in the test process
        dataset="synthetic",
        canonical_path=canonical_path,
        ingest_provenance_path=provenance_path,
        spec=SPEC,
        measures=MEASURES,
        model_name="lstm",
        model_cfg=MODEL_CFG,
        training_cfg=TRAINING_CFG,
        seeds=[3],
        tracking_uri=None,
        results_dir=results,
        experiments_path=experiments_path,
        predictions_paths=[predictions_path],
        run_json_paths=[run_json_path],
        checkpoint_dirs=[run_json_path.parent / "checkpoints"],
    )

    record = json.loads(run_json_path.read_text())
    assert record["tracking_uri"] == url
    predictions = pd.read_csv(predictions_path)
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("synthetic")
    assert experiment is not None and experiment.experiment_id == record["experiment_id"]

    parent = client.get_run(record["run_id"])
    assert parent.info.status == "FINISHED" and parent.info.run_name == "lstm-seed3"
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:/")  # through the proxy
    assert parent.data.params["model_cfg.architecture"] == "lstm"
    assert parent.data.params["seed"] == "3"
    assert parent.data.tags["config_sha256"] == record["config_sha256"]
    assert "lstm-seed3.csv" in {f.path for f in client.list_artifacts(parent.info.run_id)}
    downloaded = client.download_artifacts(parent.info.run_id, "lstm-seed3.csv", str(tmp_path))
    assert len(pd.read_csv(downloaded)) == len(predictions)

    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(int(run.data.tags["fold"]) for run in children) == [0, 1]
    assert set(predictions["run_id"]) == {run.info.run_id for run in children}
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["network.architecture"] == "lstm"
        assert child.data.params["training.window"] == "4"
        for key in ("test_mae", "test_rmse", "best_val_loss"):
            assert key in child.data.metrics
        assert len(client.get_metric_history(child.info.run_id, "val_loss")) >= 1
        artifacts = {f.path for f in client.list_artifacts(child.info.run_id)}
        assert "predictions.csv" in artifacts

    # The rows really are in PostgreSQL, and the files under --artifacts-destination.
    import psycopg2

    connection = psycopg2.connect(postgres_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM runs WHERE experiment_id = %s",
                (int(experiment.experiment_id),),
            )
            assert cursor.fetchone()[0] == 3
    finally:
        connection.close()
    assert list((tmp_path / "art").rglob("lstm-seed3.csv"))
