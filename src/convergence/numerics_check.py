"""Checks of the numeric pin (:mod:`convergence.numerics`) that train a small network.

:func:`probe_training` trains the default CNN-LSTM for a few hundred steps and returns a
bit-exact digest; :func:`probe_in_subprocess` runs it in a fresh interpreter under a
given environment (the libraries read their instruction-set caps when they load), and
optionally under ``qemu-x86_64 -cpu <model>``, which makes the process see another CPU
(an AVX2-only Intel or AMD model, say). The capability test and
``benchmarks/numerics_pin.py`` use them; no pipeline stage imports this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from convergence.numerics import PINNED_ENVIRONMENT


def probe_training(steps: int = 200, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Train the default CNN-LSTM (elastic-net penalty, batch norm, dropout) for ``steps``
    Adam steps of ``batch_size`` windows on fixed random data from ``seed``, on one
    thread; return the final loss (exact, as a hex float), a digest of the weights and
    the seconds the steps took.

    The unit of :func:`probe_in_subprocess`: two environments that give the same digest
    trained the same network bit for bit.
    """
    import torch

    from convergence.models.networks import NetworkConfig, build_network, weight_penalty

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    n_windows = max(256, 4 * int(batch_size))
    x = torch.randn(n_windows, 8, 8, generator=generator)
    y = x[:, -1, :3].cumsum(dim=1) * 0.5 + 0.1 * torch.randn(n_windows, 3, generator=generator)
    network = build_network(
        NetworkConfig(architecture="cnn_lstm", n_features=8, window=8, horizon=3, skip=True)
    )
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01)
    network.train()
    loss = torch.zeros(())
    started = time.perf_counter()
    for step in range(steps):
        index = torch.randint(0, n_windows, (int(batch_size),), generator=generator)
        optimiser.zero_grad()
        prediction = network(x[index])
        loss = torch.nn.functional.mse_loss(prediction, y[index])
        loss = loss + weight_penalty(network, "elastic_net", 1e-4, 0.5)
        loss.backward()
        optimiser.step()
        del step
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return {
        "loss": float(loss.detach()).hex(),
        "weights_sha256": digest.hexdigest(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "seconds": seconds,
    }


def probe_in_subprocess(
    environment: Mapping[str, str],
    steps: int = 200,
    seed: int = 0,
    batch_size: int = 64,
    timeout: float = 600,
    emulate_cpu: str | None = None,
) -> dict[str, Any]:
    """:func:`probe_training` in a fresh interpreter whose environment is this process's
    with the pin's variables removed and ``environment`` added (the variables are read
    when the libraries load, so each setting needs its own process). With
    ``emulate_cpu`` the interpreter runs under ``qemu-x86_64 -cpu <emulate_cpu>``."""
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENVIRONMENT}
    env.update(environment)
    code = (
        "import json; from convergence.numerics_check import probe_training; "
        f"print(json.dumps(probe_training({int(steps)}, {int(seed)}, {int(batch_size)})))"
    )
    prefix: Sequence[str] = ("qemu-x86_64", "-cpu", emulate_cpu) if emulate_cpu else ()
    result = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"probe failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
