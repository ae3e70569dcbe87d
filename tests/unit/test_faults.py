"""Faults found by the issue-11 battery: tracking URI changes, stale MLflow runs, the
experiment kind, file modes under the umask, config typos and ``--config seeds=[0]``."""

from __future__ import annotations

import copy
import os
import socket
import stat
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from convergence.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from convergence.config import validate_config
from convergence.errors import ConfigError
from convergence.tracking.uri import tracking_uri_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


# ---------------------------------------------------------------------------
# Tracking URI in the rule params; dead server on an existing results folder
# ---------------------------------------------------------------------------


def test_tracking_uri_for_resolves_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    results = tmp_path / "results"
    assert tracking_uri_for(None, results) == f"sqlite:///{results.resolve()}/mlflow/mlflow.db"
    assert not results.exists()  # resolving touches nothing (it runs at DAG build time)
    assert tracking_uri_for("http://configured:5000", results) == "http://configured:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert tracking_uri_for("http://configured:5000", results) == "http://127.0.0.1:1"
    rule = (ROOT / "workflow" / "rules" / "tracking.smk").read_text()
    assert 'tracking_uri=tracking_uri_for(config["tracking"]["uri"], RESULTS)' in rule


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dead_server_on_existing_results_fails_within_10_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convergence.stages.tracking import run as run_mlflow_init

    experiments = tmp_path / "results" / "mlflow" / "experiments.json"
    # An existing results folder that was tracked in its local SQLite store.
    write_json_atomic({"tracking_uri": "sqlite:///old.db", "experiments": {"a": "1"}}, experiments)
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.monotonic()
    with pytest.raises(ConfigError, match=rf"{uri}.*MLFLOW_TRACKING_URI.*connection refused"):
        run_mlflow_init(
            datasets=["a"],
            tracking_uri=tracking_uri_for(None, tmp_path / "results"),
            results_dir=tmp_path / "results",
            experiments_path=experiments,
        )
    assert time.monotonic() - start < 10
    assert "old.db" in experiments.read_text()  # not overwritten


# ---------------------------------------------------------------------------
# MLflow: experiment kind, runs left RUNNING by a killed job
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    results = tmp_path_factory.mktemp("mlflow_results")
    return f"sqlite:///{results / 'mlflow.db'}", results


def test_experiments_are_marked_for_model_training(store: tuple[str, Path]) -> None:
    from mlflow.tracking import MlflowClient

    from convergence.tracking.mlflow_tracking import (
        EXPERIMENT_KIND,
        EXPERIMENT_KIND_TAG,
        init_experiments,
    )

    uri, results = store
    client = MlflowClient(uri)
    # An experiment created before the tag existed gets it on the next init.
    old_id = client.create_experiment("old")
    ids = init_experiments(uri, ["new", "old"], results)
    assert ids["old"] == old_id
    assert EXPERIMENT_KIND_TAG == "mlflow.experimentKind"
    for name in ("new", "old"):
        tags = client.get_experiment(ids[name]).tags
        assert tags["mlflow.experimentKind"] == EXPERIMENT_KIND == "custom_model_development"


def test_runs_left_running_by_a_killed_job_are_marked_killed(store: tuple[str, Path]) -> None:
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from convergence.tracking.mlflow_tracking import init_experiments, parent_run

    uri, results = store
    client = MlflowClient(uri)
    experiment_id = init_experiments(uri, ["killed"], results)["killed"]
    tags = {"dataset": "killed", "model": "mlp", "seed": "0", "git_commit": "abc"}
    # What a SIGKILLed job leaves: a RUNNING parent and a RUNNING fold run.
    stale = client.create_run(experiment_id, run_name="mlp-seed0", tags=tags).info.run_id
    child_tags = {**tags, MLFLOW_PARENT_RUN_ID: stale}
    stale_child = client.create_run(experiment_id, run_name="fold0", tags=child_tags).info.run_id
    other_seed = client.create_run(
        experiment_id, run_name="mlp-seed1", tags={**tags, "seed": "1"}
    ).info.run_id

    with parent_run(uri, experiment_id, "mlp-seed0", {}, {**tags, "git_commit": "def"}) as new:
        pass
    status = {run_id: client.get_run(run_id).info.status for run_id in (stale, stale_child, new)}
    assert status == {stale: "KILLED", stale_child: "KILLED", new: "FINISHED"}
    assert client.get_run(other_seed).info.status == "RUNNING"  # another job: untouched
    finished = client.search_runs(
        [experiment_id], "tags.seed = '0' and attributes.status = 'FINISHED'"
    )
    assert len(finished) == 1


# ---------------------------------------------------------------------------
# File modes follow the umask
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o002, 0o664)])
def test_tables_and_json_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    previous = os.umask(umask)
    try:
        write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "table.csv")
        write_text_atomic("x\n", tmp_path / "text.txt")
        write_json_atomic({"a": 1}, tmp_path / "record.json")
        (tmp_path / "plain.txt").write_text("x")  # what open() gives, like the figures
    finally:
        os.umask(previous)
    for name in ("table.csv", "text.txt", "record.json", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


# ---------------------------------------------------------------------------
# Config typos caught at start-up; seeds from the command line
# ---------------------------------------------------------------------------


def test_reference_must_be_a_trained_model(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["evaluation"]["reference"] = "cnn_lstn"
    with pytest.raises(ConfigError, match=r"config key evaluation\.reference: 'cnn_lstn' is not"):
        validate_config(broken)
    measure_only = copy.deepcopy(broken)
    measure_only["train_models"] = []  # nothing trained: nothing to compare, no error
    validate_config(measure_only)


def test_scenarios_of_unknown_data_set_and_indicator(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["evaluation"]["scenarios"] = {"chna": [{"indicator": "industry", "change": 0.1}]}
    with pytest.raises(ConfigError, match=r"evaluation\.scenarios\.chna: unknown data set"):
        validate_config(broken)
    broken["evaluation"]["scenarios"] = {
        "china": [
            {"indicator": "industry", "change": 0.1},
            {"indicator": "industri", "change": 0.1},
        ]
    }
    with pytest.raises(
        ConfigError, match=r"evaluation\.scenarios\.china\[1\]\.indicator: unknown indicator"
    ):
        validate_config(broken)


def test_seeds_from_the_command_line(default_config: dict) -> None:
    config = copy.deepcopy(default_config)
    config["seeds"] = ["0", "3"]  # what snakemake --config seeds=[0,3] passes
    assert validate_config(config)["seeds"] == [0, 3]
    config["seeds"] = 2  # --config seeds=2
    assert validate_config(config)["seeds"] == [2]
    config["seeds"] = ["x"]
    with pytest.raises(ConfigError, match=r"seeds\.0"):
        validate_config(config)
