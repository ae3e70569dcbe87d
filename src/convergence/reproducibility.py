"""Digests of a run's results, ``make verify``, and ``benchmarks/results/reproducibility.md``.

A referee reruns the pipeline and compares. What is compared is what a run computes, not
what identifies it: ``summary.md``, the cross-data-set table, every model's and baseline's
predictions (without the ``run_id`` column: MLflow run ids are random per run) and every
selection ranking. :func:`results_digest` hashes those files; :func:`compare_digests`
names each file that differs, is missing or is extra.

``python -m convergence.reproducibility verify`` (``make verify``) reruns the quick config
(``tests/integration/config.yaml``) into a fresh folder and compares its digest with the
one committed in ``benchmarks/results/quick_digest.json``; ``record`` writes that file and
``benchmarks/results/reproducibility.md`` (the host's CPU, the numeric pin, library
versions, the sha256 of ``summary.md`` of the quick and the default config). Both expect
the numeric pin (``numerics.isa: avx2``); under ``native`` only the same machine repeats.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from convergence.atomic import write_text_atomic
from convergence.numerics import PINNED_ENVIRONMENT, host_cpu
from convergence.provenance import PROJECT_ROOT, git_state

#: Files of a results folder that a digest covers (glob patterns, relative to it).
DIGEST_PATTERNS: tuple[str, ...] = (
    "summary.md",
    "evaluation/cross_dataset.csv",
    "*/models/*/seed*/predictions.csv",
    "*/baselines/predictions.csv",
    "*/evaluation/leader_tests.csv",
    "*/selection/ranking.csv",
)
#: Columns that identify a run rather than what it computed.
VOLATILE_COLUMNS: tuple[str, ...] = ("run_id",)

QUICK_CONFIG = "tests/integration/config.yaml"
QUICK_DIGEST = "benchmarks/results/quick_digest.json"
RECORD = "benchmarks/results/reproducibility.md"

#: Libraries whose versions the record lists.
LIBRARIES: tuple[str, ...] = (
    "torch",
    "pytorch-lightning",
    "numpy",
    "scipy",
    "pandas",
    "statsforecast",
    "neuralforecast",
    "mlflow",
    "snakemake",
)


def file_digest(path: Path) -> str:
    """sha256 of a file; of a CSV, of its content without :data:`VOLATILE_COLUMNS`."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame = frame.drop(columns=[c for c in VOLATILE_COLUMNS if c in frame.columns])
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return hashlib.sha256(buffer.getvalue().encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results_digest(results_dir: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of :data:`DIGEST_PATTERNS` in a run."""
    root = Path(results_dir)
    paths = sorted({p for pattern in DIGEST_PATTERNS for p in root.glob(pattern) if p.is_file()})
    return {p.relative_to(root).as_posix(): file_digest(p) for p in paths}


def compare_digests(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """One line per file that differs, is missing from ``actual`` or is not expected."""
    lines = []
    for path in sorted(expected.keys() | actual.keys()):
        if path not in actual:
            lines.append(f"missing: {path}")
        elif path not in expected:
            lines.append(f"not expected: {path}")
        elif expected[path] != actual[path]:
            lines.append(f"differs: {path} ({expected[path][:12]} expected, {actual[path][:12]})")
    return lines


def run_pipeline(
    config: str,
    results_dir: str | Path,
    cores: int,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> None:
    """Run the whole pipeline on ``config`` into ``results_dir`` (Snakemake, this Python);
    ``overrides`` are more ``--config`` items, ``environ`` replaces this process's
    environment."""
    env = {**(os.environ if environ is None else environ), "CONVERGENCE_CONFIG": config}
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "--cores",
        str(cores),
        "--profile",
        "profiles/local",
        "--config",
        f"results_dir={results_dir}",
        *overrides,
    ]
    output = subprocess.DEVNULL if quiet else None
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, stdout=output, stderr=output)


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES`, and the MKL and oneDNN builds in torch."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        for line in torch.__config__.show().splitlines():
            line = line.strip(" -")
            if "Math Kernel Library Version" in line:
                versions["MKL (in torch)"] = line.split("Version", 1)[1].split(" for ")[0].strip()
            elif "MKL-DNN" in line or "oneDNN" in line:
                versions["oneDNN (in torch)"] = line.split("(Git")[0].split()[-1]
    except ImportError:
        pass
    return versions


def reproducibility_markdown(
    *,
    quick_digest: Mapping[str, str],
    default_summary_sha256: str | None,
    default_source: str | None,
) -> str:
    """The text of ``benchmarks/results/reproducibility.md``."""
    cpu = host_cpu()
    state = git_state()
    lines = [
        "# Reproducibility record (generated by `python -m convergence.reproducibility record`)",
        "",
        f"Written {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} at commit "
        f"{state['git_commit']}{' (uncommitted changes)' if state['git_dirty'] else ''}.",
        "",
        "Compare in one line: `sha256sum results/summary.md` after `make run`, or "
        "`make verify` for the quick config. Under the numeric pin below, with the lock "
        "file's libraries, this host gives these digests at every instruction-set level "
        "it offers above AVX2, and emulated Intel and AMD AVX2 CPUs agree with each other "
        "(`tests/unit/test_numerics.py`, `benchmarks/results/numerics_pin.md`). Two real "
        "CPU models need not: digests made on an AMD EPYC host differed on an Intel Xeon "
        "host in the synthetic data set's predictions (README, Reproducibility). If yours "
        "differs, `make verify` names the files; the differences are of seed-noise size.",
        "",
        "| config | `summary.md` sha256 |",
        "|---|---|",
        f"| quick (`{QUICK_CONFIG}`, `make verify`) | `{quick_digest.get('summary.md', 'n/a')}` |",
        f"| default (`config.yaml`, `make run`; {default_source or 'n/a'}) "
        f"| `{default_summary_sha256 or 'n/a'}` |",
        "",
        "## Host",
        "",
        f"- CPU: {cpu['model']} ({cpu['machine']}), {os.cpu_count()} logical CPUs",
        f"- SIMD flags: {' '.join(cpu['simd_flags']) or 'none found'}",
        "",
        "## Numeric pin (`numerics.isa: avx2`, `convergence.numerics`)",
        "",
        "| variable | value |",
        "|---|---|",
        *[f"| `{name}` | `{value}` |" for name, value in PINNED_ENVIRONMENT.items()],
        "",
        "Every job also runs with torch and the BLAS/OpenMP pools at `training.threads` "
        "threads, `float32_matmul_precision` highest, cuDNN deterministic, no TF32.",
        "",
        "## Library versions",
        "",
        "| library | version |",
        "|---|---|",
        *[f"| {name} | {version} |" for name, version in library_versions().items()],
        f"| python | {sys.version.split()[0]} |",
        "",
        f"## Quick config digest (`{QUICK_DIGEST}`: {len(quick_digest)} files)",
        "",
        "| file | sha256 (CSV without run_id) |",
        "|---|---|",
        *[f"| `{path}` | `{digest[:16]}` |" for path, digest in sorted(quick_digest.items())],
        "",
    ]
    return "\n".join(lines)


def run_commit(results_dir: str | Path) -> str:
    """The git commit a results folder was computed at (from its first seed's run.json)."""
    for path in sorted(Path(results_dir).glob("*/models/*/seed*/run.json")):
        commit = json.loads(path.read_text(encoding="utf-8")).get("git_commit")
        if commit:
            return str(commit)[:12]
    return "unknown"


def verify(cores: int, expected_path: str | Path = QUICK_DIGEST) -> int:
    """Rerun the quick config into a fresh folder; 0 when its digest matches, else 1."""
    expected = json.loads((PROJECT_ROOT / expected_path).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="verify-", dir=PROJECT_ROOT / "results") as folder:
        print(f"verify: running {QUICK_CONFIG} into {folder} ...", flush=True)
        run_pipeline(QUICK_CONFIG, folder, cores)
        actual = results_digest(folder)
    problems = compare_digests(expected, actual)
    if problems:
        print(f"verify: {len(problems)} of {len(expected)} files differ from {expected_path}:")
        for line in problems:
            print(f"  {line}")
        print(
            "verify: see benchmarks/results/reproducibility.md for the host, numeric pin "
            "and library versions the digest was made with"
        )
        return 1
    print(f"verify: all {len(expected)} files match {expected_path}")
    return 0


def record(cores: int, default_results: str | None) -> None:
    """Rerun the quick config, write its digest and the reproducibility record."""
    with tempfile.TemporaryDirectory(prefix="record-", dir=PROJECT_ROOT / "results") as folder:
        run_pipeline(QUICK_CONFIG, folder, cores)
        quick = results_digest(folder)
    write_text_atomic(
        json.dumps(quick, indent=2, sort_keys=True) + "\n", PROJECT_ROOT / QUICK_DIGEST
    )
    default_sha, default_source = None, None
    if default_results:
        summary = Path(default_results) / "summary.md"
        default_sha = hashlib.sha256(summary.read_bytes()).hexdigest()
        default_source = f"run at commit {run_commit(default_results)}"
    text = reproducibility_markdown(
        quick_digest=quick,
        default_summary_sha256=default_sha,
        default_source=default_source,
    )
    write_text_atomic(text, PROJECT_ROOT / RECORD)
    print(f"wrote {QUICK_DIGEST} ({len(quick)} files) and {RECORD}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="rerun the quick config and compare with the digest")
    check.add_argument("--cores", type=int, default=2)
    write = sub.add_parser("record", help="write the quick digest and reproducibility.md")
    write.add_argument("--cores", type=int, default=2)
    write.add_argument(
        "--default-results", default=None, help="results folder of a default run (make run)"
    )
    digest = sub.add_parser("digest", help="print the digest of a results folder")
    digest.add_argument("results_dir")
    args = parser.parse_args(argv)
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    if args.command == "verify":
        return verify(args.cores)
    if args.command == "record":
        record(args.cores, args.default_results)
        return 0
    print(json.dumps(results_digest(args.results_dir), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
