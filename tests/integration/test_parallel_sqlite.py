"""Several training processes logging to one SQLite store at once must not fail.

Snakemake runs training jobs in parallel; with the default ``sqlite:///`` store they
all write one database file, and SQLite lets only one writer in at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from convergence.stages.tracking import run as run_mlflow_init

N_WORKERS = 6
WORKER_TIMEOUT_S = 180

# One run per process: params (nested), tags, 5 steps of metrics, FINISHED at the end.
WORKER = """
import os, sys, time
from pathlib import Path
from mlflow.tracking import MlflowClient
from convergence.tracking import parent_run, set_tags

uri, experiment_id, index, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
client = MlflowClient(uri)
client.get_experiment(experiment_id)  # connect (engine, schema check) before the barrier
go.with_name(f"ready{index}").touch()
while not go.exists():  # start all writers at the same moment
    time.sleep(0.01)
params = {"worker": index, "model_cfg": {"hidden": 4, "lr": 0.01 * (index + 1)}}
with parent_run(uri, experiment_id, f"worker{index}", params, {"worker": index}) as run_id:
    set_tags(client, run_id, {"pid": os.getpid()})
    for step in range(5):
        client.log_metric(run_id, "loss", 1.0 / (step + 1 + index), step=step)
    client.log_metric(run_id, "final", float(index))
print("done", run_id)
"""


def test_parallel_processes_log_to_one_sqlite_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    results = tmp_path / "results"
    ids = run_mlflow_init(
        datasets=["synthetic"],
        tracking_uri=None,
        results_dir=results,
        experiments_path=results / "mlflow" / "experiments.json",
    )
    uri = f"sqlite:///{(results / 'mlflow' / 'mlflow.db').resolve()}"
    experiment_id = ids["synthetic"]
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, uri, experiment_id, str(i), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for i in range(N_WORKERS)
    ]
    try:
        # Wait until every worker has imported mlflow and connected, then release all.
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while not all((tmp_path / f"ready{i}").exists() for i in range(N_WORKERS)):
            assert all(w.poll() is None for w in workers), "a worker exited before the start"
            assert time.monotonic() < deadline, "workers not ready in time"
            time.sleep(0.05)
        go.touch()
        outputs = [worker.communicate(timeout=WORKER_TIMEOUT_S)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    # Retries logged on the way ("database is locked, retry 1/5") are fine; failures are not.
    failed = {
        index: output
        for index, (worker, output) in enumerate(zip(workers, outputs, strict=True))
        if worker.returncode != 0
    }
    locked = [index for index, output in failed.items() if "database is locked" in output]
    assert not locked, f"workers {locked} failed with 'database is locked':\n{failed}"
    assert not failed, f"workers failed:\n{failed}"

    client = MlflowClient(uri)
    runs = client.search_runs([experiment_id], max_results=100)
    assert len(runs) == N_WORKERS
    assert {run.info.status for run in runs} == {"FINISHED"}
    by_worker = {int(run.data.params["worker"]): run for run in runs}
    assert sorted(by_worker) == list(range(N_WORKERS))
    for index, run in by_worker.items():
        assert run.info.run_name == f"worker{index}"
        assert run.data.params["model_cfg.hidden"] == "4"
        assert run.data.tags["worker"] == str(index) and run.data.tags["pid"]
        assert run.data.metrics["final"] == float(index)
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 5
