"""Whole-pipeline benchmark: wall time per rule, fixed cost per training job, samples/s.

Runs Snakemake end to end on one or more configs, each in a fresh temporary results
folder, for the current working tree and (``--previous REF``) for an earlier commit
checked out in a temporary git worktree, one after the other on the same machine, and
prints one table per config with the layouts side by side (this tree is also run with
``forkserver: false``, every job in its own interpreter, unless
``--no-forkserver-column``):

* wall time of the whole run and the number of jobs;
* per rule: jobs and summed wall seconds (Snakemake ``benchmark:`` files);
* fixed cost per training job: the job's wall time minus the span from its first
  ``fold 1/`` log line to its last log line (process start-up, imports, data loading,
  MLflow set-up before the first fold), mean over the train jobs, computed the same way
  for both layouts;
* training samples/s (window-epochs over fitting seconds, from the ``samples/s`` log
  lines; only layouts that log them);
* a no-op rerun (Snakemake again on the finished folder).

Configs: ``quick`` is ``tests/integration/config.yaml``; ``mid`` is each layout's own
``config.yaml`` cut to the China and GGDC data sets, cnn_lstm and lstm, seeds 0 and 1,
no selection search (the previous layout has none); ``default`` is the full default
config (long: the number ``make run`` takes).

    .venv/bin/python benchmarks/pipeline.py                      # quick and mid, all layouts
    .venv/bin/python benchmarks/pipeline.py --configs default --previous none
    .venv/bin/python benchmarks/pipeline.py --from-run /tmp/clone \\
        --output benchmarks/results/default_run.md    # figures of a finished `make run`
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
#: the commit before the layout (issue 9) and speed (issue 13) work: 77 min default run
PREVIOUS_DEFAULT = "b8bc547"
MID_DATASETS = ("china", "ggdc")
MID_MODELS = ("cnn_lstm", "lstm")
MID_SEEDS = (0, 1)
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _log_time(line: str) -> datetime | None:
    match = _STAMP.match(line)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") if match else None


def reduced_config(layout_root: Path, name: str, results_dir: Path) -> dict[str, Any]:
    """The config of ``name`` for a layout, with absolute data paths and results folder."""
    if name == "quick":
        config = yaml.safe_load((layout_root / "tests/integration/config.yaml").read_text())
    else:
        config = yaml.safe_load((layout_root / "config.yaml").read_text())
    if name == "mid":
        config["datasets"] = {k: v for k, v in config["datasets"].items() if k in MID_DATASETS}
        config["models"] = {k: v for k, v in config["models"].items() if k in MID_MODELS}
        config["train_models"] = [m for m in config["train_models"] if m in MID_MODELS]
        config["seeds"] = list(MID_SEEDS)
        evaluation = config.get("evaluation", {})
        if "ablations" in evaluation:
            evaluation["ablations"] = [m for m in evaluation["ablations"] if m in MID_MODELS]
        if "scenarios" in evaluation:
            evaluation["scenarios"] = {
                k: v for k, v in evaluation["scenarios"].items() if k in MID_DATASETS
            }
        if "selection" in config:
            config["selection"]["enabled"] = False
    for spec in config["datasets"].values():
        if "path" in spec and not Path(spec["path"]).is_absolute():
            spec["path"] = str(layout_root / spec["path"])
    config["results_dir"] = str(results_dir)
    return config


def run_snakemake(layout_root: Path, workdir: Path, cores: int) -> tuple[float, int, str]:
    """Run the layout's Snakefile in ``workdir``; return seconds, exit code and output."""
    env = {
        **os.environ,
        "PYTHONPATH": str(layout_root / "src"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        SNAKEMAKE,
        "-s",
        str(layout_root / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        str(cores),
        "--quiet",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def train_job_figures(results: Path) -> dict[str, float]:
    """Fixed cost per train job (mean), training samples/s and the train jobs that reused
    the reference's forecasts (nothing trained) from the logs."""
    benchmarks = {p.stem: p for p in (results / "benchmarks" / "train").glob("*.tsv")}
    fixed, samples, seconds, reused = [], 0.0, 0.0, 0
    for log_path in sorted((results / "logs" / "train").glob("*.log")):
        lines = log_path.read_text(errors="replace").splitlines()
        reused += any("its forecasts are reused" in line for line in lines)
        stamps = [t for t in map(_log_time, lines) if t is not None]
        first_fold = next(
            (_log_time(line) for line in lines if re.search(r": fold 1/\d+, origin", line)), None
        )
        bench = benchmarks.get(log_path.stem)
        if first_fold is not None and stamps and bench is not None:
            wall = float(pd.read_csv(bench, sep="\t")["s"].iloc[0])
            fixed.append(wall - (stamps[-1] - first_fold).total_seconds())
        for line in lines:
            match = re.search(r"(\d+) training samples in ([\d.]+) s", line)
            if match:
                samples += float(match.group(1))
                seconds += float(match.group(2))
    return {
        "fixed cost per train job (s)": sum(fixed) / len(fixed) if fixed else float("nan"),
        "training samples/s": samples / seconds if seconds else float("nan"),
        "train jobs reusing the reference": float(reused),
    }


def rule_times(results: Path) -> pd.DataFrame:
    """Jobs and summed wall seconds per rule from Snakemake's benchmark files."""
    rows = []
    for folder in sorted((results / "benchmarks").iterdir()):
        if not folder.is_dir():
            continue
        seconds = [float(pd.read_csv(p, sep="\t")["s"].iloc[0]) for p in folder.glob("*.tsv")]
        rows.append({"rule": folder.name, "jobs": len(seconds), "seconds": sum(seconds)})
    return pd.DataFrame(rows, columns=["rule", "jobs", "seconds"])


def snakemake_run_stats(workdir: Path) -> tuple[float, float]:
    """Wall seconds and jobs of the workdir's latest Snakemake run that did any work: the
    ``Elapsed time: H:MM:SS`` and ``N of N steps (100%) done`` lines of the newest log that
    has them (``--report`` runs leave logs without steps)."""
    for log_path in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))[::-1]:
        text = log_path.read_text(errors="replace")
        elapsed = re.search(r"Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
        steps = re.search(r"(\d+) of \1 steps \(100%\) done", text)
        if elapsed and steps:
            hours, minutes, seconds = elapsed.groups()
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds), float(steps.group(1))
    return float("nan"), float("nan")


def run_origin(workdir: Path) -> tuple[str, str, str]:
    """The commit checked out in ``workdir`` and the first and last timestamps of the
    Snakemake log that :func:`snakemake_run_stats` reads."""
    commit = subprocess.run(
        ["git", "-C", str(workdir), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    stamps: list[str] = []
    for log_path in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))[::-1]:
        text = log_path.read_text(errors="replace")
        if re.search(r"(\d+) of \1 steps \(100%\) done", text):
            stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", text, re.M)
            break
    return commit or "unknown", stamps[0] if stamps else "?", stamps[-1] if stamps else "?"


def summarise_results(workdir: Path) -> pd.DataFrame:
    """The figures of a finished run in ``workdir`` (e.g. a fresh clone after ``make run``)."""
    results = workdir / "results"
    rules = rule_times(results)
    wall, jobs = snakemake_run_stats(workdir)
    figures = {
        "Snakemake wall time (s)": wall,
        "Snakemake jobs": jobs,
        "jobs with a benchmark file": int(rules["jobs"].sum()),
        **train_job_figures(results),
    }
    return pd.DataFrame({"value": figures}), rules.set_index("rule")


def benchmark_layout(
    layout: str,
    layout_root: Path,
    config_name: str,
    cores: int,
    overrides: dict[str, Any] | None = None,
) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-layout-") as tmp:
        workdir = Path(tmp)
        results = workdir / "results"
        config = {**reduced_config(layout_root, config_name, results), **(overrides or {})}
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        print(f"[{config_name}] {layout}: running ...", flush=True)
        wall, code, output = run_snakemake(layout_root, workdir, cores)
        if code != 0:
            print(output[-3000:])
            raise SystemExit(f"{layout} on {config_name}: Snakemake failed (exit {code})")
        noop, _, _ = run_snakemake(layout_root, workdir, cores)
        rules = rule_times(results)
        figures = {
            "whole run (s)": wall,
            "jobs with a benchmark file": int(rules["jobs"].sum()),
            "no-op rerun (s)": noop,
            **train_job_figures(results),
        }
        print(f"[{config_name}] {layout}: {wall:.0f} s", flush=True)
        return {"figures": figures, "rules": rules.set_index("rule")}


def previous_worktree(ref: str, folder: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), ref],
        check=True,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["quick", "mid"])
    parser.add_argument(
        "--previous",
        default=PREVIOUS_DEFAULT,
        help="git ref of the layout to compare with ('none' to skip)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--no-forkserver-column",
        action="store_true",
        help="skip the run of this tree with forkserver: false",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="also write the tables here (default: benchmarks/results/pipeline.md for a "
        "benchmark run; nothing for --from-run, so summarising a run never overwrites it)",
    )
    parser.add_argument(
        "--from-run",
        default=None,
        help="only summarise a finished run in this folder (its results/ and .snakemake/log)",
    )
    args = parser.parse_args()
    report: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        report.append(text)

    load = os.getloadavg()[0]
    if args.from_run is not None:
        emit(f"# benchmarks/pipeline.py --from-run {args.from_run}")
        emit()
        commit, began, ended = run_origin(Path(args.from_run))
        emit(
            f"machine: {os.cpu_count()} CPUs; run of commit {commit}, Snakemake log from "
            f"{began} to {ended}; summarised {datetime.now():%Y-%m-%d %H:%M} (the load "
            "during the run is not recorded here)"
        )
        figures, rules = summarise_results(Path(args.from_run))
        emit(f"\n## finished run in {args.from_run}\n")
        emit(figures.to_markdown(floatfmt=".2f"))
        emit("\nper rule (jobs, summed wall seconds):\n")
        emit(rules.to_markdown(floatfmt=".1f"))
        if args.output is not None:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text("\n".join(report) + "\n")
        return
    emit(f"# benchmarks/pipeline.py --configs {' '.join(args.configs)} --previous {args.previous}")
    emit()
    emit(
        f"machine: {os.cpu_count()} CPUs, --cores {args.cores}, load average {load:.2f} "
        f"at start, {datetime.now():%Y-%m-%d %H:%M}"
    )
    # Name -> (source tree, config overrides). The same tree without the forkserver shows
    # what a job's own interpreter start-up costs.
    layouts: dict[str, tuple[Path, dict[str, Any]]] = {"current": (ROOT, {})}
    if not args.no_forkserver_column:
        layouts["current, no forkserver"] = (ROOT, {"forkserver": False})
    tmp_root = Path(tempfile.mkdtemp(prefix="bench-layouts-"))
    try:
        if args.previous != "none":
            layouts[f"previous ({args.previous})"] = (
                previous_worktree(args.previous, tmp_root / "previous"),
                {},
            )
        for config_name in args.configs:
            results = {
                name: benchmark_layout(name, root, config_name, args.cores, overrides)
                for name, (root, overrides) in layouts.items()
            }
            figures = pd.DataFrame({name: r["figures"] for name, r in results.items()})
            for other in list(figures.columns[1:]):
                figures[f"{other} / current"] = figures[other] / figures["current"]
            per_rule = pd.concat(
                {name: r["rules"] for name, r in results.items()}, axis=1
            ).sort_index()
            per_rule.columns = [f"{layout}: {what}" for layout, what in per_rule.columns]
            emit(f"\n## {config_name}\n")
            emit(figures.to_markdown(floatfmt=".2f"))
            emit(f"\nper rule (jobs, summed wall seconds), {config_name}:\n")
            emit(per_rule.to_markdown(floatfmt=".1f"))
            emit()
        emit(f"load average at the end: {os.getloadavg()[0]:.2f}")
        output = Path(args.output or ROOT / "benchmarks" / "results" / "pipeline.md")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("\n".join(report) + "\n")
    finally:
        if (tmp_root / "previous").exists():
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "remove",
                    "--force",
                    str(tmp_root / "previous"),
                ],
                check=False,
            )
        shutil.rmtree(tmp_root, ignore_errors=True)


if __name__ == "__main__":
    main()
