"""What the numeric pin costs in speed, and which of its settings change the numbers.

Side by side in one run on this machine (issue 22):

1. **Training steps**: the project's CNN-LSTM (``convergence.numerics_check.probe_training``:
   Adam steps with the elastic-net penalty, one thread) at batch 64 and 512, under the pin
   (``numerics.isa: avx2``) and natively (each library's own choice), repeats interleaved;
   seconds per step and the ratio pinned / native.
2. **Pipeline**: the quick config (``tests/integration/config.yaml``) end to end under
   both settings (``--config numerics={isa: ...}``), repeats interleaved; Snakemake wall
   seconds and summed ``train`` / ``select`` / ``baselines`` seconds from its benchmark
   files, with the ratio.
3. **Which settings matter**: the probe's weight digest under the pin with one setting
   at a time put back to the host's native choice (and, with ``qemu-x86_64``, under
   emulated Intel and AMD AVX2 CPUs with and without the pin).

    .venv/bin/python benchmarks/numerics_pin.py --output benchmarks/results/numerics_pin.md
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from convergence.numerics import PINNED_ENVIRONMENT, host_cpu
from convergence.numerics_check import probe_in_subprocess
from convergence.reproducibility import compare_digests, results_digest, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
QUICK_CONFIG = "tests/integration/config.yaml"
RULES = ("train", "select", "baselines")


def step_rows(repeats: int, steps: int) -> list[str]:
    lines = [
        "| batch | steps | native s/step | pinned s/step | pinned / native |",
        "|---:|---:|---:|---:|---:|",
    ]
    for batch in (64, 512):
        times: dict[str, list[float]] = {"native": [], "pinned": []}
        for _ in range(repeats):
            for label, env in (("native", {}), ("pinned", PINNED_ENVIRONMENT)):
                result = probe_in_subprocess(env, steps=steps, batch_size=batch)
                times[label].append(result["seconds"] / steps)
        native, pinned = statistics.median(times["native"]), statistics.median(times["pinned"])
        lines.append(
            f"| {batch} | {steps} | {native * 1e3:.2f} ms | {pinned * 1e3:.2f} ms "
            f"| {pinned / native:.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


def run_quick(isa: str, cores: int) -> tuple[dict[str, float], dict[str, str]]:
    """The quick config into a fresh folder under ``numerics.isa = isa``: wall and rule
    seconds, and the results digest (``convergence.reproducibility``)."""
    folder = tempfile.mkdtemp(prefix=f"numerics-{isa}-", dir=ROOT / "results")
    # Start from an environment without the pin, so that native really is native.
    environ = {k: v for k, v in os.environ.items() if k not in PINNED_ENVIRONMENT}
    started = time.perf_counter()
    run_pipeline(
        QUICK_CONFIG,
        folder,
        cores,
        overrides=[f"numerics={{isa: {isa}}}"],
        environ=environ,
        quiet=True,
    )
    figures = {"wall": time.perf_counter() - started}
    for rule in RULES:
        total = 0.0
        for path in Path(folder, "benchmarks", rule).glob("*.tsv"):
            with open(path, encoding="utf-8") as handle:
                total += sum(float(row["s"]) for row in csv.DictReader(handle, delimiter="\t"))
        figures[rule] = total
    digest = results_digest(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return figures, digest


def pipeline_rows(repeats: int, cores: int) -> list[str]:
    runs: dict[str, list[dict[str, float]]] = {"native": [], "avx2": []}
    digests: dict[str, list[dict[str, str]]] = {"native": [], "avx2": []}
    for _ in range(repeats):
        for isa in ("native", "avx2"):
            figures, digest = run_quick(isa, cores)
            runs[isa].append(figures)
            digests[isa].append(digest)
            print(f"quick config, {isa}: {figures}", flush=True)
    lines = [
        "| seconds (median) | native | pinned (avx2) | pinned / native |",
        "|---|---:|---:|---:|",
    ]
    for key in ("wall", *RULES):
        native = statistics.median(run[key] for run in runs["native"])
        pinned = statistics.median(run[key] for run in runs["avx2"])
        ratio = f"{pinned / native:.2f}" if native else "n/a"
        lines.append(f"| {key} | {native:.1f} | {pinned:.1f} | {ratio} |")
    first = digests["avx2"][0]
    lines += [
        "",
        f"Results digest ({len(first)} files: summary.md, tables, predictions without run ids): "
        f"pinned reruns differ from the first pinned run in "
        f"{', '.join(str(len(compare_digests(first, d))) for d in digests['avx2'][1:]) or 'n/a'} "
        f"files; native runs differ from it in "
        f"{', '.join(str(len(compare_digests(first, d))) for d in digests['native'])} files.",
    ]
    return lines


def setting_rows(steps: int) -> list[str]:
    pinned = probe_in_subprocess(PINNED_ENVIRONMENT, steps=steps)
    native = probe_in_subprocess({}, steps=steps)
    lines = [
        "| environment | weights sha256 | same as pinned on this host |",
        "|---|---|---|",
        f"| pinned | `{pinned['weights_sha256'][:12]}` | yes |",
        f"| native (nothing set) | `{native['weights_sha256'][:12]}` "
        f"| {'yes' if native['weights_sha256'] == pinned['weights_sha256'] else 'no'} |",
    ]
    groups = {
        "ATen native": ("ATEN_CPU_CAPABILITY",),
        "oneDNN native": ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"),
        "MKL native": ("MKL_CBWR",),
        "MKL_CBWR=AVX2 instead of COMPATIBLE": (),
        "OpenBLAS / NumPy native": ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES"),
    }
    for label, removed in groups.items():
        env = {k: v for k, v in PINNED_ENVIRONMENT.items() if k not in removed}
        if not removed:
            env["MKL_CBWR"] = "AVX2"
        result = probe_in_subprocess(env, steps=steps)
        same = result["weights_sha256"] == pinned["weights_sha256"]
        lines.append(
            f"| pin, {label} | `{result['weights_sha256'][:12]}` | {'yes' if same else 'no'} |"
        )
    if shutil.which("qemu-x86_64"):
        qemu_pinned = []
        for cpu in ("Haswell", "EPYC-Rome"):
            for label, env in (
                ("native", {}),
                ("MKL_CBWR=AVX2", {**PINNED_ENVIRONMENT, "MKL_CBWR": "AVX2"}),
                ("pinned", PINNED_ENVIRONMENT),
            ):
                result = probe_in_subprocess(env, steps=steps, emulate_cpu=cpu)
                if label == "pinned":
                    qemu_pinned.append(result["weights_sha256"])
                lines.append(
                    f"| qemu -cpu {cpu}, {label} | `{result['weights_sha256'][:12]}` | "
                    f"{'yes' if result['weights_sha256'] == pinned['weights_sha256'] else 'no'} |"
                )
        agree = len(set(qemu_pinned)) == 1
        lines += [
            "",
            "Under qemu user-mode emulation the process sees an Intel Haswell or an AMD EPYC "
            "Rome (AVX2, no AVX-512). Pinned, the two emulated CPUs "
            f"{'agree with each other' if agree else 'DISAGREE'}; without the pin, or with "
            "MKL_CBWR=AVX2, they differ (MKL dispatches by vendor). Emulated and real "
            "hardware are compared only with each other's kind: the emulated digests differ "
            "from this host's, also with ATen at its scalar capability and oneDNN off, so "
            "the remaining difference lies below the caps (emulation of scalar or SSE code, "
            "libm); only a second real AVX2 machine can settle whether real CPUs show it.",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline-repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    (ROOT / "results").mkdir(exist_ok=True)
    cpu = host_cpu()
    load = os.getloadavg()[0]
    text = [
        "# benchmarks/numerics_pin.py: the numeric pin's speed cost and which settings matter",
        "",
        f"machine: {cpu['model']} ({cpu['machine']}), {os.cpu_count()} CPUs, "
        f"SIMD {' '.join(f for f in cpu['simd_flags'] if f.startswith('avx'))}; "
        f"load1 {load:.2f} at the start",
        "",
        f"## Training steps (median of {args.repeats}, interleaved)",
        "",
        *step_rows(args.repeats, args.steps),
        "",
        f"## Quick config end to end (median of {args.pipeline_repeats}, interleaved)",
        "",
        *pipeline_rows(args.pipeline_repeats, args.cores),
        "",
        "## Which settings change the numbers (200 steps, batch 64)",
        "",
        *setting_rows(200),
        "",
    ]
    output = "\n".join(text)
    print(output)
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
