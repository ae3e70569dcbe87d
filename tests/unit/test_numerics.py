"""The numeric pin (issue 22): environment, job record, and trainings that are identical
whatever instruction sets the host offers above AVX2."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from convergence.errors import ConfigError
from convergence.numerics import (
    PINNED_ENVIRONMENT,
    apply_environment,
    environment_record,
    host_cpu,
    host_supports_pin,
    mlflow_tags,
    numeric_environment,
)
from convergence.numerics_check import probe_in_subprocess

#: Host capabilities above the pin, by the CPU flag that offers them: the caps that make
#: this host behave like a host whose best instruction set is that level.
LEVELS_ABOVE_PIN: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "avx512f",
        "AVX-512 core",
        {
            "ATEN_CPU_CAPABILITY": "avx512",
            "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
            "DNNL_MAX_CPU_ISA": "AVX512_CORE",
        },
    ),
    (
        "avx512_vnni",
        "AVX-512 VNNI",
        {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI", "DNNL_MAX_CPU_ISA": "AVX512_CORE_VNNI"},
    ),
    (
        "avx512_bf16",
        "AVX-512 BF16",
        {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"},
    ),
    (
        "amx_tile",
        "AMX",
        {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX", "DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"},
    ),
)

STEPS = 200


def test_pinned_environment_caps_every_library_and_native_sets_nothing() -> None:
    pinned = numeric_environment("avx2")
    assert pinned["ATEN_CPU_CAPABILITY"] == "avx2"
    assert pinned["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert pinned["MKL_CBWR"] == "COMPATIBLE"
    assert pinned["OPENBLAS_CORETYPE"] == "Haswell"
    assert "X86_V4" in pinned["NPY_DISABLE_CPU_FEATURES"].split()
    assert numeric_environment("native") == {}
    with pytest.raises(ConfigError, match="numerics.isa"):
        numeric_environment("avx512")


def test_apply_environment_overrides_the_users_values_and_says_which() -> None:
    environ = {"ATEN_CPU_CAPABILITY": "avx512", "HOME": "/home/a"}
    replaced = apply_environment("avx2", environ)
    assert replaced == {"ATEN_CPU_CAPABILITY": ("avx512", "avx2")}
    assert {k: environ[k] for k in PINNED_ENVIRONMENT} == PINNED_ENVIRONMENT
    assert environ["HOME"] == "/home/a"
    native = {"ATEN_CPU_CAPABILITY": "avx512"}
    assert apply_environment("native", native) == {} and native == {"ATEN_CPU_CAPABILITY": "avx512"}
    record = environment_record("avx2", environ)
    assert record["environment_pinned"] is True
    assert record["variables"]["MKL_CBWR"] == "COMPATIBLE"
    assert environment_record("avx2", {})["environment_pinned"] is False


def test_job_record_becomes_flat_mlflow_tags() -> None:
    tags = mlflow_tags(
        {
            "isa": "avx2",
            "pin_holds": True,
            "torch_cpu_capability": "AVX2",
            "torch_threads": 1,
            "host": {"model": "AMD EPYC"},
        }
    )
    assert tags == {
        "numerics.isa": "avx2",
        "numerics.pin_holds": "True",
        "numerics.torch_cpu_capability": "AVX2",
        "numerics.torch_threads": "1",
        "numerics.cpu": "AMD EPYC",
    }


def test_host_supports_pin_needs_x86_64_with_avx2_and_fma() -> None:
    assert host_supports_pin({"machine": "x86_64", "simd_flags": ["avx2", "fma"]})
    assert not host_supports_pin({"machine": "x86_64", "simd_flags": ["avx", "fma"]})
    assert not host_supports_pin({"machine": "aarch64", "simd_flags": []})


def test_pinned_training_is_identical_whatever_the_hosts_best_instruction_set() -> None:
    """For each capability this host offers above AVX2, train under the caps of a host
    whose best it is: without the pin the numbers may differ, with the pin applied over
    that environment they are the pinned numbers bit for bit."""
    cpu = host_cpu()
    if not host_supports_pin(cpu):
        pytest.skip(f"host {cpu['machine']} without AVX2/FMA: the pin cannot hold here")
    flags = set(cpu["simd_flags"])
    levels = [(name, caps) for flag, name, caps in LEVELS_ABOVE_PIN if flag in flags]
    if not levels:
        pytest.skip("the host offers nothing above AVX2: this test cannot tell")
    cumulative: dict[str, str] = {}
    hosts = []
    for name, caps in levels:
        cumulative = {**cumulative, **caps}
        hosts.append((name, dict(cumulative)))
    jobs = [("pinned", dict(PINNED_ENVIRONMENT)), ("best of host", {})]
    for name, caps in hosts:
        pinned_over = dict(caps)
        apply_environment("avx2", pinned_over)
        jobs += [(f"{name} unpinned", caps), (f"{name} pinned", pinned_over)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(
            zip(
                [label for label, _ in jobs],
                pool.map(lambda job: probe_in_subprocess(job[1], steps=STEPS), jobs),
                strict=True,
            )
        )
    for result in results.values():
        result.pop("seconds")
    reference = results["pinned"]
    assert reference["torch_cpu_capability"] == "AVX2"
    for name, _ in hosts:
        assert results[f"{name} pinned"] == reference, name
    differing = [
        label
        for label in ("best of host", *(f"{name} unpinned" for name, _ in hosts))
        if results[label]["weights_sha256"] != reference["weights_sha256"]
    ]
    if not differing:
        pytest.skip(
            "pinned results are identical, but so are the unpinned ones on this host: "
            "its higher instruction sets do not change this training, so it cannot tell"
        )


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs qemu-x86_64 (qemu-user)")
def test_pinned_training_is_identical_on_emulated_intel_and_amd_cpus() -> None:
    """Under qemu user-mode emulation the process sees an Intel Haswell or an AMD EPYC
    Rome (both AVX2, no AVX-512): with the pin they train the same network bit for bit.
    (Without it they need not: MKL dispatches by vendor; see benchmarks/numerics_pin.py.)
    Emulation is not bit-faithful to real hardware in every instruction, so the emulated
    digests are compared with each other, not with the host's."""
    cpus = ("Haswell", "EPYC-Rome")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda cpu: probe_in_subprocess(PINNED_ENVIRONMENT, steps=STEPS, emulate_cpu=cpu),
                cpus,
            )
        )
    for result in results:
        result.pop("seconds")
    assert all(result["torch_cpu_capability"] == "AVX2" for result in results)
    assert results[0] == results[1], dict(zip(cpus, results, strict=True))


def test_a_job_that_loaded_torch_natively_refuses_the_pin() -> None:
    """In this test process torch was imported without the pin: a pinned job here would
    compute other numbers than the pipeline's, so enter_job says so instead of running;
    native mode runs and records the host's capability."""
    import torch

    from convergence.numerics import enter_job

    threads = torch.get_num_threads()
    try:
        record = enter_job("native", 1)
        assert record["isa"] == "native" and record["pin_holds"] is False
        assert record["torch_threads"] == 1
        assert record["float32_matmul_precision"] == "highest"
        if record["torch_cpu_capability"] == "AVX2" or not host_supports_pin():
            pytest.skip("torch runs at AVX2 here anyway: nothing to refuse")
        with pytest.raises(ConfigError, match=r"numerics\.isa.*CPU capability"):
            enter_job("avx2", 1)
    finally:
        torch.set_num_threads(threads)
