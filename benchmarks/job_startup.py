"""Where a training job's fixed cost goes: start-up imports and the exit, side by side.

Runs fresh Python processes (as Snakemake starts every job) that import what a train job
imports, one step more each, and measures

* start-up: process start to the end of the imports (and of opening the SQLite MLflow
  store, which is itself mostly imports of MLflow's database models);
* exit: the job's last line to the end of the process, with the job's logging set-up
  (:func:`convergence.logging.configure_logging`, which freezes the garbage collector at
  exit) and without it.

Prints one table (median of ``--repeats`` runs) and writes it to ``--output``.

    .venv/bin/python benchmarks/job_startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

STEPS: dict[str, str] = {
    "python + pandas": "import pandas",
    "+ torch": "import pandas, torch",
    "+ Lightning": "import pandas, torch, pytorch_lightning",
    "+ MLflow store (a train job)": (
        "import pandas, torch, pytorch_lightning\n"
        "from mlflow.tracking import MlflowClient\n"
        "MlflowClient('sqlite:///{db}').search_experiments()"
    ),
}

CHILD = """
import time
{setup}
{imports}
print(time.time(), flush=True)
"""


def run_child(imports: str, with_job_logging: bool, db: Path) -> tuple[float, float]:
    """(start-up seconds, exit seconds) of one fresh process."""
    setup = ""
    if with_job_logging:
        setup = "from convergence.logging import configure_logging\nconfigure_logging(None)"
    code = CHILD.format(setup=setup, imports=imports.format(db=db))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    ended = time.time()
    last_line = float(done.stdout.strip().splitlines()[-1])
    return last_line - started, ended - last_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/job_startup.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mlflow.db"
        run_child(STEPS["+ MLflow store (a train job)"], False, db)  # create the store once
        for name, imports in STEPS.items():
            row: dict[str, float | str] = {"imports": name}
            for with_logging, label in ((False, "plain exit"), (True, "job logging")):
                runs = [run_child(imports, with_logging, db) for _ in range(args.repeats)]
                if not with_logging:
                    row["start-up (s)"] = statistics.median(r[0] for r in runs)
                row[f"exit, {label} (s)"] = statistics.median(r[1] for r in runs)
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows).set_index("imports")
    table["exit saved (s)"] = table["exit, plain exit (s)"] - table["exit, job logging (s)"]
    text = (
        "# benchmarks/job_startup.py\n\n"
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"{datetime.now():%Y-%m-%d %H:%M}, median of {args.repeats} processes\n\n"
        + table.to_markdown(floatfmt=".2f")
        + "\n"
    )
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
