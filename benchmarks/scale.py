"""Scale benchmark: the reduced pipeline on synthetic panels of N entities x 40 periods.

For each N (default 100, 300, 1,000, 3,000) Snakemake runs, in a fresh folder, the
default config cut to the synthetic data set with ``n_entities = N`` and
``n_periods = 40``: measures (with the structure indicators), convergence tests,
selection, one CNN-LSTM seed, the naive, ETS and ridge baselines, evaluation, scenarios
and figures. ``forkserver: false``, so every job is its own process and Snakemake's
``benchmark:`` files hold that job's wall time and peak RSS. Printed per rule: summed wall
seconds, the largest peak RSS of its jobs, the bytes its outputs take, and the growth
exponent ``log(t_b / t_a) / log(N_b / N_a)`` between the two largest N. Wall seconds of a
job include its interpreter start and imports (a few seconds each).

    .venv/bin/python benchmarks/scale.py                          # 100 300 1000 3000
    .venv/bin/python benchmarks/scale.py --sizes 100 300 --output /tmp/scale.md
    .venv/bin/python benchmarks/scale.py --ref 53d4a2e --sizes 100 300   # an older commit

``--ref`` runs an earlier commit from a temporary git worktree, with the same
``benchmark:`` lines added to its rule files, so both tables measure the same thing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SIZES = (100, 300, 1000, 3000)
N_PERIODS = 40
MODEL = "cnn_lstm"
BASELINES = ["naive", "ets", "ridge"]
#: Where each rule's outputs live under results/synthetic (figures: one folder for all).
RULE_FOLDERS = {
    "ingest": "ingest",
    "normalize": "normalize",
    "measure": "measure",
    "convergence": "convergence",
    "select": "selection",
    "train": "models",
    "baselines": "baselines",
    "evaluate": "evaluation",
    "scenarios": "scenarios",
    "figures": "figures",
}


def scale_config(layout_root: Path, n_entities: int, results_dir: Path) -> dict[str, Any]:
    """The default config cut to the synthetic data set at ``n_entities`` x 40 periods."""
    config = yaml.safe_load((layout_root / "config.yaml").read_text())
    synthetic = config["datasets"]["synthetic"]
    synthetic["options"] = {
        **synthetic["options"],
        "n_entities": n_entities,
        "n_periods": N_PERIODS,
    }
    # 20 + 4 + 3 + 2 * (3 - 1) = 31 <= 40 periods.
    synthetic["forecast"] = {
        "window": 8,
        "horizon": 3,
        "n_origins": 3,
        "step": 2,
        "val_size": 4,
        "min_train": 20,
    }
    config["datasets"] = {"synthetic": synthetic}
    config["models"] = {MODEL: config["models"][MODEL]}
    config["train_models"] = [MODEL]
    config["seeds"] = [0]
    evaluation = config.setdefault("evaluation", {})
    evaluation["reference"] = MODEL
    evaluation["ablations"] = []
    evaluation["baselines"] = list(BASELINES)
    scenarios = evaluation.get("scenarios") or {}
    evaluation["scenarios"] = {k: v for k, v in scenarios.items() if k == "synthetic"}
    config["forkserver"] = False
    config["results_dir"] = str(results_dir)
    return config


def add_benchmark_lines(rules_dir: Path) -> None:
    """Give every rule with a ``log:`` path a ``benchmark:`` path beside it (for ``--ref``
    layouts that predate them)."""
    for path in sorted(rules_dir.glob("*.smk")):
        blocks = re.split(r"(?m)^(?=rule )", path.read_text())
        out = []
        for block in blocks:
            found = re.search(r"    log:\n        (f\"[^\n]*\"),\n", block)
            if block.startswith("rule ") and "    benchmark:" not in block and found:
                bench = found.group(1).replace("/logs/", "/benchmarks/").replace('.log"', '.tsv"')
                block = (
                    block[: found.end()]
                    + f"    benchmark:\n        {bench}\n"
                    + block[found.end() :]
                )
            out.append(block)
        path.write_text("".join(out))


def rule_of(tsv: Path, benchmarks: Path) -> str:
    """Rule name of a benchmark file: its folder, ``figures`` for every figure rule."""
    parts = tsv.relative_to(benchmarks).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def run_size(
    layout_root: Path, n_entities: int, cores: int, timeout: float, keep: bool = False
) -> dict[str, Any]:
    """Run the reduced pipeline at one N; per-rule wall seconds, peak RSS and bytes."""
    workdir = Path(tempfile.mkdtemp(prefix=f"scale{n_entities}-"))
    results = workdir / "results"
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(scale_config(layout_root, n_entities, results)))
    command = [
        SNAKEMAKE,
        "-s",
        str(layout_root / "Snakefile"),
        "--directory",
        str(layout_root),
        "--cores",
        str(cores),
        "--quiet",
    ]
    started = time.perf_counter()
    try:
        # The Snakefile's own configfile would merge the default data sets back in.
        env = {**os.environ, "CONVERGENCE_CONFIG": str(config_path)}
        # The jobs import `convergence`: from the layout's own src, not the installed tree.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(layout_root / "src"), os.environ.get("PYTHONPATH")])
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        status = "ok" if done.returncode == 0 else f"failed ({done.returncode})"
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s"
    wall = time.perf_counter() - started
    record = collect(results, n_entities, cores, status, wall)
    if keep:
        (workdir / "scale_run.json").write_text(
            json.dumps({"n": n_entities, "cores": cores, "status": status, "wall": wall})
        )
        print(f"N = {n_entities}: results kept in {results}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return record


def training_epochs(results: Path) -> int:
    """Epochs trained by the train rule (rows of every seed's ``history.csv``: each fold's
    early-stopped search plus its refit), so that its seconds can be read per epoch."""
    models = results / "synthetic" / "models"
    found = models.rglob("history.csv") if models.exists() else []
    return sum(len(pd.read_csv(path)) for path in found)


def collect(results: Path, n_entities: int, cores: int, status: str, wall: float) -> dict[str, Any]:
    """Per-rule wall seconds, peak RSS and bytes of one finished (or stopped) run."""
    rows = []
    benchmarks = results / "benchmarks"
    for tsv in sorted(benchmarks.rglob("*.tsv")) if benchmarks.exists() else []:
        table = pd.read_csv(tsv, sep="\t")
        rows.append(
            {
                "rule": rule_of(tsv, benchmarks),
                "s": float(table["s"].iloc[0]),
                "max_rss_mb": float(pd.to_numeric(table["max_rss"], errors="coerce").iloc[0]),
            }
        )
    per_rule = (
        pd.DataFrame(rows).groupby("rule").agg(s=("s", "sum"), rss=("max_rss_mb", "max"))
        if rows
        else pd.DataFrame(columns=["s", "rss"])
    )
    data_root = results / "synthetic"
    per_rule["bytes"] = [folder_bytes(data_root / RULE_FOLDERS.get(r, r)) for r in per_rule.index]
    record = {
        "n": n_entities,
        "cores": cores,
        "status": status,
        "wall": wall,
        "bytes": folder_bytes(results),
        "peak_rss": float(per_rule["rss"].max()) if len(per_rule) else float("nan"),
        "rules": per_rule,
        "train_epochs": training_epochs(results),
    }
    return record


def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    if not (small > 0 and large > 0):
        return float("nan")
    return math.log(large / small) / math.log(n_large / n_small)


def markdown(records: list[dict[str, Any]], title: str) -> str:
    """Per-rule table (seconds | peak RSS MB | MB written per N) and the growth exponent."""
    sizes = [r["n"] for r in records]
    rules = sorted({rule for r in records for rule in r["rules"].index})
    order = [r for r in RULE_FOLDERS if r in rules] + [r for r in rules if r not in RULE_FOLDERS]
    header = ["rule"] + [f"N={n}: s / RSS MB / out MB" for n in sizes]
    if len(sizes) >= 2:
        header.append(f"exponent {sizes[-2]}->{sizes[-1]}")
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rule in order:
        cells = []
        for record in records:
            table = record["rules"]
            if rule in table.index:
                row = table.loc[rule]
                cells.append(f"{row['s']:.1f} / {row['rss']:.0f} / {row['bytes'] / 1e6:.1f}")
            else:
                cells.append("—")
        if len(sizes) >= 2:
            a, b = records[-2]["rules"], records[-1]["rules"]
            if rule in a.index and rule in b.index:
                cells.append(
                    f"{exponent(a.loc[rule, 's'], b.loc[rule, 's'], sizes[-2], sizes[-1]):.2f}"
                )
            else:
                cells.append("—")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    if all(r.get("train_epochs") and "train" in r["rules"].index for r in records):
        per_epoch = [r["rules"].loc["train", "s"] / r["train_epochs"] for r in records]
        cells = [
            f"{s:.2f} s x {r['train_epochs']} epochs"
            for s, r in zip(per_epoch, records, strict=True)
        ]
        if len(sizes) >= 2:
            cells.append(f"{exponent(per_epoch[-2], per_epoch[-1], sizes[-2], sizes[-1]):.2f}")
        lines.append("| train per epoch | " + " | ".join(cells) + " |")
    totals = [
        f"{r['wall']:.0f} s, peak {r['peak_rss']:.0f} MB, {r['bytes'] / 1e6:.1f} MB ({r['status']})"
        for r in records
    ]
    lines.append(
        "| **whole run** | " + " | ".join(totals) + (" | " if len(sizes) >= 2 else "") + " |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep each run's results folder")
    parser.add_argument("--ref", default=None, help="run this git commit instead of the tree")
    parser.add_argument("--output", type=Path, default=None, help="append the table here")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="replace the scale block of this Markdown file with it (docs/performance.md)",
    )
    parser.add_argument(
        "--from-kept",
        type=Path,
        nargs="+",
        default=None,
        help="tabulate folders kept by an earlier --keep run (their scale_run.json) instead of running",
    )
    args = parser.parse_args()
    if args.from_kept:
        records = []
        for folder in args.from_kept:
            run = json.loads((folder / "scale_run.json").read_text())
            records.append(
                collect(folder / "results", run["n"], run["cores"], run["status"], run["wall"])
            )
        records.sort(key=lambda record: record["n"])
        report(records, args.ref or "kept runs", args)
        return

    layout = ROOT
    worktree = None
    if args.ref:
        worktree = Path(tempfile.mkdtemp(prefix="scale-ref-"))
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.ref],
            check=True,
            capture_output=True,
        )
        add_benchmark_lines(worktree / "workflow" / "rules")
        layout = worktree
    records = []
    try:
        for n in args.sizes:
            print(f"N = {n} ...", flush=True)
            record = run_size(layout, n, args.cores, args.timeout, args.keep)
            print(f"N = {n}: {record['wall']:.0f} s, {record['status']}", flush=True)
            records.append(record)
            # A long run that is stopped later still leaves the sizes it finished.
            print(markdown([record], f"N = {n} alone"), flush=True)
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                capture_output=True,
            )
    revision = (
        args.ref
        or subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        + " (working tree)"
    )
    report(records, revision, args)


def report(records: list[dict[str, Any]], revision: str, args: argparse.Namespace) -> None:
    """Print the table; append it to ``--output``, put it in ``--readme``'s block."""
    title = f"{revision}, {args.cores} cores, {N_PERIODS} periods, {MODEL} seed 0, baselines {', '.join(BASELINES)}"
    text = markdown(records, title)
    print(text)
    if args.output:
        with args.output.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    if args.readme:
        replace_block(args.readme, per_thousand(records) + "\n" + text)


def per_thousand(records: list[dict[str, Any]]) -> str:
    """One sentence per run: seconds and peak memory per 1,000 entities at the largest N."""
    largest = records[-1]
    return (
        f"At N = {largest['n']} the whole reduced run took {largest['wall']:.0f} s on "
        f"{largest.get('cores', 2)} cores ({largest['wall'] / largest['n'] * 1000:.0f} s per "
        f"1,000 entities), peak RSS of a job {largest['peak_rss']:.0f} MB, "
        f"{largest['bytes'] / 1e6:.0f} MB of results ({largest['status']}).\n"
    )


def replace_block(readme: Path, text: str) -> None:
    """Put ``text`` between ``<!-- scale:start -->`` and ``<!-- scale:end -->`` of ``readme``."""
    content = readme.read_text(encoding="utf-8")
    start, end = "<!-- scale:start -->", "<!-- scale:end -->"
    if start not in content or end not in content:
        raise SystemExit(f"{readme}: no {start} ... {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
