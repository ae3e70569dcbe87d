"""The tiny pipeline through `--profile profiles/slurm` on a one-node SLURM cluster.

Needs root and Debian's slurm-wlm + munge (install: `.ci/install-slurm`). The cluster is
started by :mod:`slurm_cluster` for this module and stopped afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import SlurmCluster, missing_requirements, start_cluster

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PROFILE = ROOT / "profiles" / "slurm"
TRAIN_TARGET = "results/synthetic/models/cnn_lstm/seed0/predictions.csv"
TRAIN_LOG = "results/logs/train/synthetic_cnn_lstm.log"

_reason = missing_requirements()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(_reason is not None, reason=f"SLURM tests: {_reason}"),
]


def tiny_config(workdir: Path, *, bad_sha256: bool = False) -> Path:
    """tests/integration/config.yaml reduced to synthetic + cnn_lstm, seed 0, naive."""
    config = yaml.safe_load((ROOT / "tests/integration/config.yaml").read_text())
    china = config["datasets"]["china"]
    china["path"] = str(ROOT / china["path"])
    if bad_sha256:
        china["sha256"] = "0" * 64
        config["datasets"] = {"china": china}
    else:
        config["datasets"] = {"synthetic": config["datasets"]["synthetic"]}
    config["models"] = {"cnn_lstm": config["models"]["cnn_lstm"]}
    config["train_models"] = ["cnn_lstm"]
    config["seeds"] = [0]
    config["evaluation"]["baselines"] = ["naive"]
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, *args: str, timeout: int = 420) -> subprocess.CompletedProcess:
    command = [
        SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"), *args,
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env
    )


def slurm_args(cluster: SlurmCluster) -> list[str]:
    return [
        "--profile", str(PROFILE), "--jobs", "2",
        "--default-resources", f"slurm_partition={cluster.partition}", "slurm_account=test",
        "--slurm-init-seconds-before-status-checks", "1",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    # Short path: slurmd's spool socket paths must stay under the UNIX socket limit.
    root = Path(tmp_path_factory.mktemp("slurm"))
    running = start_cluster(root)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def runs(cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny target once through SLURM and once locally."""
    on_slurm = tmp_path_factory.mktemp("on_slurm")
    tiny_config(on_slurm)
    result = snakemake(on_slurm, *slurm_args(cluster), TRAIN_TARGET)
    assert result.returncode == 0, result.stderr[-4000:] + cluster.log_tail()
    local = tmp_path_factory.mktemp("local")
    tiny_config(local)
    result = snakemake(local, "--cores", "1", TRAIN_TARGET)
    assert result.returncode == 0, result.stderr[-4000:]
    return {"slurm": on_slurm, "local": local}


def test_slurm_and_local_predictions_are_identical(runs: dict[str, Path]) -> None:
    frames = {
        name: pd.read_csv(workdir / TRAIN_TARGET, dtype={"period": str, "origin": str})
        for name, workdir in runs.items()
    }
    assert len(frames["slurm"]) > 0
    # run_id names each run's own MLflow child run; everything else must match exactly.
    pd.testing.assert_frame_equal(
        frames["slurm"].drop(columns="run_id"), frames["local"].drop(columns="run_id")
    )


def test_train_job_ran_inside_a_slurm_job(runs: dict[str, Path]) -> None:
    slurm_log = (runs["slurm"] / TRAIN_LOG).read_text()
    match = re.search(r"SLURM_JOB_ID=(\d+)", slurm_log)
    assert match, slurm_log[-2000:]
    # The plugin keeps successful job logs (slurm-keep-successful-logs) by rule and job id.
    job_logs = list((runs["slurm"] / ".snakemake/slurm_logs/rule_train").rglob("*.log"))
    assert [p.stem for p in job_logs] == [match.group(1)]
    assert "SLURM_JOB_ID=None" in (runs["local"] / TRAIN_LOG).read_text()


def test_failing_job_fails_the_run_and_names_the_rule(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    tiny_config(tmp_path, bad_sha256=True)
    result = snakemake(tmp_path, *slurm_args(cluster), "results/china/ingest/canonical.csv")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Error in rule ingest" in output, output[-3000:]
    assert "sha256" in (tmp_path / "results/logs/ingest/china.log").read_text()
    assert not (tmp_path / "results/china/ingest/canonical.csv").exists()
