"""End to end against a real MLflow tracking server: parent run, fold child runs, artifacts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from convergence.stages.tracking import run as run_mlflow_init
from convergence.stages.train import run as run_train
from convergence.tracking import artifact_location, parent_run, resolve_tracking_uri


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    """One intra-op thread: tiny networks gain nothing from more, and a shared CPU
    with several busy threads slows them down by an order of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SERVER_START_TIMEOUT_S = 60.0
SPEC = {
    "reader": "synthetic",
    "frequency": "annual",
    "subsystems": {
        "agriculture": {"x_output": "benefit", "x_share": "benefit"},
        "ict": {"y_output": "benefit", "y_share": "cost"},
    },
}
MEASURES = {"normalization": {"scope": "pooled", "headroom": 0.0, "clip": True}}
MODEL_CFG = {
    "architecture": "lstm",
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "penalty": "l2",
    "penalty_lambda": 0,  # an int: must not clash with Lightning's logged float
}
TRAINING_CFG = {
    "window": 4,
    "horizon": 2,
    "n_origins": 2,
    "step": 1,
    "val_size": 2,
    "min_train": 12,
    "max_epochs": 3,
    "patience": 2,
    "batch_size": 16,
    "accelerator": "cpu",
    "devices": 1,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A local ``mlflow server`` on a free port; yields its URL."""
    port = free_port()
    mlflow_exe = Path(sys.executable).parent / "mlflow"
    log_file = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(mlflow_exe),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--artifacts-destination",
            str(tmp_path / "art"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Background job workers are not needed here and cost start-up time and CPU.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        # Own process group, so the server and its worker processes are stopped together.
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 60 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log_file.close()


def write_synthetic_canonical(folder: Path) -> tuple[Path, Path]:
    """A canonical table of 5 entities x 24 periods and an ingest provenance record."""
    rng = np.random.default_rng(0)
    rows = []
    for e in range(5):
        level = rng.uniform(0.5, 1.5, size=4)
        for t in range(24):
            values = level * (1 + 0.05 * t) + rng.normal(0, 0.05, size=4)
            for (subsystem, indicator), value in zip(
                [
                    ("agriculture", "x_output"),
                    ("agriculture", "x_share"),
                    ("ict", "y_output"),
                    ("ict", "y_share"),
                ],
                values,
                strict=True,
            ):
                rows.append((f"s{e}", str(2000 + t), subsystem, indicator, float(value)))
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    canonical_path = folder / "canonical.csv"
    canonical.to_csv(canonical_path, index=False)
    provenance_path = folder / "ingest.json"
    provenance_path.write_text(json.dumps({"dataset": "synthetic", "sha256": None}))
    return canonical_path, provenance_path


def test_run_train_logs_parent_and_fold_runs(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    canonical_path, provenance_path = write_synthetic_canonical(tmp_path)
    results = tmp_path / "results"
    experiments_path = results / "mlflow" / "experiments.json"
    run_mlflow_init(
        datasets=["synthetic"],
        tracking_uri=None,
        results_dir=results,
        experiments_path=experiments_path,
    )
    predictions_path = results / "forecasts" / "synthetic" / "lstm-seed7.csv"
    run_json_path = results / "forecasts" / "synthetic" / "lstm-seed7.run.json"
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
        seeds=[7],
        tracking_uri="http://ignored.invalid",  # the environment variable wins
        results_dir=results,
        experiments_path=experiments_path,
        predictions_paths=[predictions_path],
        run_json_paths=[run_json_path],
        checkpoint_dirs=[run_json_path.parent / "checkpoints"],
        curves_path=run_json_path.parent / "training_curves.png",
    )

    record = json.loads(run_json_path.read_text())
    assert record["tracking_uri"] == mlflow_server
    assert len(record["data_sha256"]) == 64
    predictions = pd.read_csv(predictions_path)
    assert set(predictions["fold"]) == {0, 1}
    assert (predictions["run_id"].nunique()) == 2

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("synthetic")
    assert experiment is not None and experiment.experiment_id == record["experiment_id"]
    parent = client.get_run(record["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "lstm-seed7"
    assert parent.data.tags["config_sha256"] == record["config_sha256"]
    assert parent.data.params["model_cfg.penalty"] == "l2"
    parent_artifacts = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"lstm-seed7.csv", "history.csv", "training_curves.png"} <= parent_artifacts

    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(int(run.data.tags["fold"]) for run in children) == [0, 1]
    for child in children:
        assert child.info.status == "FINISHED"
        assert set(predictions["run_id"]) >= {child.info.run_id}
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        assert tags["dataset"] == "synthetic" and tags["model"] == "lstm" and tags["seed"] == "7"
        assert tags["git_commit"] and tags["data_sha256"] == record["data_sha256"]
        assert tags["device"] == "cpu"
        assert params["network.architecture"] == "lstm"
        assert params["training.window"] == "4" and params["seed"] == "7"
        assert params["fold.test_periods"].count("..") == 1
        for key in ("test_mae", "test_rmse", "best_val_loss"):
            assert np.isfinite(metrics[key])
        epochs = client.get_metric_history(child.info.run_id, "val_loss")
        assert 1 <= len(epochs) <= TRAINING_CFG["max_epochs"]
        artifacts = {f.path for f in client.list_artifacts(child.info.run_id)}
        assert "predictions.csv" in artifacts
        assert [f.path for f in client.list_artifacts(child.info.run_id, "checkpoint")] == [
            "checkpoint/best.ckpt"
        ]

    # A failing job leaves its parent run FAILED, not RUNNING.
    with (
        pytest.raises(RuntimeError, match="boom"),
        parent_run(mlflow_server, experiment.experiment_id, "failing", {"a": {"b": 1}}, {}) as rid,
    ):
        raise RuntimeError("boom")
    failed = client.get_run(rid)
    assert failed.info.status == "FAILED"
    assert failed.data.params == {"a.b": "1"}


def test_resolve_tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = resolve_tracking_uri(None, tmp_path / "results")
    assert local == f"sqlite:///{(tmp_path / 'results' / 'mlflow' / 'mlflow.db').resolve()}"
    assert artifact_location(local, tmp_path / "results", "ggdc") == (
        (tmp_path / "results" / "mlflow" / "artifacts" / "ggdc").resolve().as_uri()
    )
    assert resolve_tracking_uri("http://server:5000", tmp_path) == "http://server:5000"
    assert artifact_location("http://server:5000", tmp_path, "ggdc") is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert resolve_tracking_uri("http://server:5000", tmp_path) == "http://env:1"
