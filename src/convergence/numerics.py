"""The numeric environment every computing job runs in: the same numbers on any x86-64 CPU.

oneDNN, MKL, ATen's vectorised kernels, OpenBLAS and NumPy each pick their kernels by the
CPU's instruction set at run time. An AVX-512 machine and an AVX2 machine therefore sum
in different orders and train different networks from the same seed; one early-stopping
epoch or one selection decision later the difference is a different model (issue 22).
With ``numerics.isa: avx2`` (the default) every library is capped at AVX2, which every
x86-64 CPU of the last decade offers, so that they compute the same numbers (checked on
one host at every level it offers above AVX2 and on emulated Intel and AMD AVX2 CPUs, see
``benchmarks/results/numerics_pin.md``; two real CPU models, an AMD EPYC and an Intel
Xeon, still differed in some predictions: README, Reproducibility):

=========================  ================  ================================================
variable                   pinned value      what it caps
=========================  ================  ================================================
``ATEN_CPU_CAPABILITY``    ``avx2``          PyTorch's own vectorised CPU kernels
``ONEDNN_MAX_CPU_ISA``     ``AVX2``          oneDNN (convolutions, LSTM, matmul on CPU)
``DNNL_MAX_CPU_ISA``       ``AVX2``          the same, older name
``MKL_CBWR``               ``COMPATIBLE``    MKL's code path: the one MKL runs alike on
                                             Intel and AMD CPUs (``AVX2`` still
                                             dispatches by vendor)
``OPENBLAS_CORETYPE``      ``Haswell``       OpenBLAS kernels of NumPy and SciPy
``NPY_DISABLE_CPU_FEATURES``  ``X86_V4 ...`` NumPy's AVX-512 ufunc loops
``CUBLAS_WORKSPACE_CONFIG``  ``:4096:8``     deterministic cuBLAS (GPU path)
=========================  ================  ================================================

The variables are read once, when each library initialises, so they must be in the
environment before the job's process (or the forkserver that forks it) imports torch or
NumPy: :func:`apply_environment` puts them into the Snakemake process's environment at
start-up, before any job or the forkserver starts, and every job inherits them. Inside a
job :func:`enter_job` caps the thread pools at the job's threads, fixes the GPU flags
(cuDNN deterministic and not benchmarking, no TF32, ``float32_matmul_precision``
``highest``), checks that torch runs at the pinned capability, and returns the record
that goes to ``run.json`` and MLflow. ``numerics.isa: native`` lets every library use the
host's best instruction set (faster on AVX-512 hosts, numbers that differ by machine).

On a host without AVX2, or on another architecture, the pin cannot hold: the job runs
and its record says ``pin_holds: false``. GPU results are reproducible on the same GPU
model and driver, not across GPU models.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from convergence.errors import ConfigError

log = logging.getLogger(__name__)

#: ``numerics.isa`` values: the pin, or every library's own choice.
ISA_CHOICES: tuple[str, ...] = ("avx2", "native")

#: The environment of ``numerics.isa: avx2``.
PINNED_ENVIRONMENT: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    # AVX2 (or AVX2,STRICT) still picks kernels by CPU vendor: Intel and AMD CPU models
    # disagree under emulation; COMPATIBLE makes them agree.
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    # NumPy 2.x feature groups above AVX2 (X86_V3); names NumPy does not know are ignored.
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}

#: Variables recorded whatever the mode (the pin's and the thread pools').
RECORDED_VARIABLES: tuple[str, ...] = (
    *PINNED_ENVIRONMENT,
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)

#: torch's name of the pinned capability (``torch.backends.cpu.get_cpu_capability()``).
PINNED_TORCH_CAPABILITY = "AVX2"

#: float32 matmul precision of every job (``torch.set_float32_matmul_precision``).
MATMUL_PRECISION = "highest"


def check_isa(isa: str) -> str:
    """``isa`` if it is one of :data:`ISA_CHOICES`, else :class:`ConfigError`."""
    if isa not in ISA_CHOICES:
        raise ConfigError("numerics.isa", f"must be one of {', '.join(ISA_CHOICES)}; got {isa!r}")
    return isa


def numeric_environment(isa: str) -> dict[str, str]:
    """The variables ``numerics.isa`` sets (none for ``native``)."""
    return dict(PINNED_ENVIRONMENT) if check_isa(isa) == "avx2" else {}


def apply_environment(
    isa: str, environ: MutableMapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Put the environment of ``isa`` into ``environ`` (``os.environ``); the jobs inherit it.

    Returns the variables whose earlier value it replaced, ``{name: (old, new)}``; the pin
    wins over a value the user set, and the replacement is logged.
    """
    target = os.environ if environ is None else environ
    replaced = {}
    for name, value in numeric_environment(isa).items():
        old = target.get(name)
        if old is not None and old != value:
            replaced[name] = (old, value)
            log.warning("numerics.isa=%s: %s=%s replaced by %s", isa, name, old, value)
        target[name] = value
    return replaced


def host_cpu() -> dict[str, Any]:
    """The host's CPU model, architecture and the SIMD flags that decide kernels."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("unknown", ""):
                    model = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
    return {"machine": platform.machine(), "model": model, "simd_flags": simd}


def host_supports_pin(cpu: Mapping[str, Any] | None = None) -> bool:
    """Whether the pin can hold here: an x86-64 CPU with AVX2 and FMA."""
    cpu = host_cpu() if cpu is None else cpu
    flags = set(cpu.get("simd_flags", ()))
    return cpu.get("machine") in ("x86_64", "AMD64") and {"avx2", "fma"} <= flags


def environment_record(isa: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the process runs under, without importing torch: the mode, whether the
    environment carries the pin, and every recorded variable (``None`` when unset)."""
    environ = os.environ if environ is None else environ
    wanted = numeric_environment(isa)
    return {
        "isa": isa,
        "environment_pinned": all(environ.get(k) == v for k, v in wanted.items()),
        "variables": {name: environ.get(name) for name in RECORDED_VARIABLES},
    }


def enter_job(isa: str, threads: int) -> dict[str, Any]:
    """Set a computing job's numerics and return its record (for ``run.json`` and MLflow).

    Caps torch's and the BLAS/OpenMP thread pools at ``threads``, sets the float32 matmul
    precision and the cuDNN/TF32 flags, and checks torch's CPU capability. With the pin,
    a process whose environment lacks it (a job started outside the pipeline, before
    torch was imported) gets it now; one that imported torch already under another
    environment raises :class:`ConfigError`, since its numbers would differ from the
    pipeline's.
    """
    check_isa(isa)
    if "torch" not in sys.modules:
        apply_environment(isa)
    import threadpoolctl
    import torch

    record = environment_record(isa)
    capability = torch.backends.cpu.get_cpu_capability()
    cpu = host_cpu()
    supported = host_supports_pin(cpu)
    if isa == "avx2" and supported and capability != PINNED_TORCH_CAPABILITY:
        raise ConfigError(
            "numerics.isa",
            f"torch runs at CPU capability {capability}, not {PINNED_TORCH_CAPABILITY}: this "
            "process imported torch before the pinned environment was set (start jobs "
            "through Snakemake, or export the variables of convergence.numerics first)",
        )
    if isa == "avx2" and not supported:
        log.warning(
            "numerics.isa=avx2 cannot hold on this host (%s, no AVX2/FMA): its numbers "
            "may differ from the pipeline's reference runs",
            platform.machine(),
        )
    torch.set_num_threads(int(threads))
    threadpoolctl.threadpool_limits(int(threads))
    torch.set_float32_matmul_precision(MATMUL_PRECISION)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    record.update(
        pin_holds=bool(isa == "avx2" and supported and record["environment_pinned"]),
        torch_cpu_capability=capability,
        torch_threads=torch.get_num_threads(),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        cudnn_deterministic=True,
        cuda_device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        host=cpu,
    )
    return record


def mlflow_tags(record: Mapping[str, Any]) -> dict[str, str]:
    """The numerics record as flat MLflow tags (``numerics.<key>``)."""
    tags = {
        f"numerics.{key}": str(record[key])
        for key in ("isa", "pin_holds", "torch_cpu_capability", "torch_threads")
        if key in record
    }
    tags["numerics.cpu"] = str(record.get("host", {}).get("model"))
    return tags
