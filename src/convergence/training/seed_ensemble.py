"""Fit the seeds of one fold as one vectorised ensemble (``training.vectorise_seeds``).

The sequential path fits one :class:`~convergence.training.module.ConvergenceForecaster`
per seed through a Lightning ``Trainer``. Here the S seeds of a fold are S members of
one :class:`~convergence.models.seed_ensemble.SeedEnsemble`, trained in the same kernels,
and each member keeps everything that makes it that seed's model:

* **initial weights**: member ``m`` is built exactly as the sequential seed is
  (``seed_everything(seed)`` then :func:`~convergence.training.fitting.build_module`,
  :func:`build_members`), so its initial weights are the sequential seed's;
* **batch order**: its own :class:`~convergence.training.datamodule.EpochShuffle`
  (generator ``seed + epoch``), the sequential seed's order;
* **dropout**: its own generator, seeded from its seed (:func:`member_generators`);
  the masks are drawn more cheaply than ``torch.nn.Dropout`` draws them
  (:meth:`SeedEnsemble._dropout`), so they are not the sequential seed's masks;
* **loss and optimiser**: the objective is the *sum* of the members' ``MSE + R(w)``, so
  member ``m``'s gradient is that of its own loss, and Adam, elementwise, over the
  stacked tensors is one Adam per member (one step count for all: every member takes
  the same number of steps per epoch);
* **early stopping and checkpoint**: per member, with the rules of Lightning's
  ``EarlyStopping(patience)`` (a strictly lower validation loss resets the wait, a
  non-finite one stops) and of :class:`~convergence.training.callbacks.BestWeights`
  (the weights of the lowest finite validation loss are kept); the refit trains member
  ``m`` for exactly its own epoch count.

A member that has stopped leaves the ensemble: its kept weights are copied out, and the
remaining members' parameters and Adam moments are re-stacked without it
(:meth:`SeedEnsemble.keep_members`, :func:`keep_adam_members`), so later epochs cost only
what the remaining members need and a stopped member is frozen.

Without dropout the members therefore follow the sequentially trained seeds up to the
order of floating-point sums (batched matrix products, the fused penalty), which makes
them drift apart over many epochs like a rerun on other hardware would; with dropout
their masks differ too. Either way they are the same training in distribution, not bit
for bit (``convergence.evaluation.seed_sameness`` compares the two paths' scores).

Why a plain loop and not one LightningModule: members leave mid-fit, which changes the
shapes of the parameters and optimiser state, something Lightning's fit loop does not
expect; Lightning's per-step hooks also cost about 1 ms a step
(``benchmarks/results/training_overhead.md``), and the loop is short (device placement
is :func:`ensemble_device`; no host synchronisation inside an epoch).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from convergence.errors import ConfigError
from convergence.models.seed_ensemble import SeedEnsemble
from convergence.settings import TrainingSettings
from convergence.training.datamodule import EpochShuffle, batch_bounds
from convergence.training.fitting import build_module
from convergence.training.module import ConvergenceForecaster

#: Adam over the stacked tensors: the ``foreach`` implementation (one kernel per
#: operation for all tensors) is the cheapest on CPU and CUDA for this many small tensors.
ADAM_OPTIONS: dict[str, Any] = {"foreach": True}


def ensemble_device(settings: TrainingSettings) -> torch.device:
    """The one device the ensemble trains on: ``cuda:0`` when the accelerator allows it
    and one is present, else the CPU.

    Raises:
        ConfigError: several devices, nodes or a data-parallel strategy were asked for
            (``training.vectorise_seeds`` trains on one device).
    """
    devices = settings.devices
    if (
        int(settings.num_nodes) != 1
        or str(settings.strategy) != "auto"
        or (str(devices) not in ("auto", "1") and devices != [0])
    ):
        raise ConfigError(
            "training.vectorise_seeds",
            "trains every seed on one device: it needs training.strategy auto, "
            f"devices auto or 1 and num_nodes 1 (got {settings.strategy!r}, {devices!r}, "
            f"{settings.num_nodes!r}); set vectorise_seeds to false for data parallelism",
        )
    accelerator = str(settings.accelerator)
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    if accelerator in ("gpu", "cuda"):
        raise ConfigError("training.accelerator", f"{accelerator!r} but no CUDA device is present")
    if accelerator not in ("auto", "cpu"):
        raise ConfigError(
            "training.vectorise_seeds",
            f"supports accelerator auto, cpu or gpu, not {accelerator!r}",
        )
    return torch.device("cpu")


def set_determinism(deterministic: bool) -> None:
    """The torch flags that Lightning's ``Trainer(deterministic=...)`` sets."""
    torch.use_deterministic_algorithms(bool(deterministic))
    if deterministic:
        torch.backends.cudnn.benchmark = False
        # https://docs.nvidia.com/cuda/cublas/index.html#cublasApi_reproducibility
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"


def build_members(
    network: Mapping[str, Any],
    module_kwargs: Mapping[str, Any],
    learning_rate: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    seeds: Sequence[int],
    initial_states: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
) -> list[ConvergenceForecaster]:
    """One forecaster per seed, built as the sequential path builds it: initial weights
    (or ``initial_states``) and the scaling statistics of ``x_train``/``y_train``."""
    states = list(initial_states) if initial_states is not None else [None] * len(seeds)
    if len(states) != len(seeds):
        raise ValueError(f"{len(states)} initial states for {len(seeds)} seeds")
    members = []
    for seed, state in zip(seeds, states, strict=True):
        pl.seed_everything(int(seed), workers=True, verbose=False)
        members.append(
            build_module(
                network, module_kwargs, learning_rate, x_train, y_train, initial_state=state
            )
        )
    return members


#: Second entropy word of a member's dropout stream (the first is its seed), so that the
#: stream differs from the batch-order generators (seeded ``seed + epoch``).
DROPOUT_STREAM = 0xD50


def member_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """Each member's dropout generator on ``device``, seeded from its seed alone."""
    generators = []
    for seed in seeds:
        words = np.random.SeedSequence([int(seed), DROPOUT_STREAM]).generate_state(2)
        generator = torch.Generator(device=device)
        generator.manual_seed(int(words[0]) << 32 | int(words[1]))
        generators.append(generator)
    return generators


def keep_adam_members(
    optimizer: torch.optim.Adam,
    pairs: Sequence[tuple[torch.nn.Parameter, torch.nn.Parameter]],
    positions: torch.Tensor,
) -> torch.optim.Adam:
    """A new Adam over the re-stacked parameters ``pairs`` (old, new), carrying over the
    step count and the kept members' moments (rows ``positions``)."""
    group = optimizer.param_groups[0]
    options = {key: value for key, value in group.items() if key != "params"}
    fresh = torch.optim.Adam([new for _, new in pairs], **options)
    for old, new in pairs:
        state = optimizer.state.get(old)
        if not state:
            continue
        fresh.state[new] = {
            key: value.clone() if key == "step" else value.index_select(0, positions).clone()
            for key, value in state.items()
        }
    return fresh


@dataclass
class MemberFit:
    """What one member's fit leaves: what the sequential seed's fit leaves.

    Attributes:
        seed: the member's seed.
        history: per-epoch rows (``epoch``, ``train_loss``, ``train_mse``, ``val_loss``),
            as :attr:`ConvergenceForecaster.history`.
        state: the network ``state_dict`` kept (best validation loss, else the last).
        best_score: lowest finite validation loss (None without validation).
        best_epoch: its epoch (0-based; None without validation).
        steps: optimiser steps taken.
    """

    seed: int
    history: list[dict[str, float]] = field(default_factory=list)
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    best_score: float | None = None
    best_epoch: int | None = None
    steps: int = 0


class StoppingRule:
    """Lightning's ``EarlyStopping(mode="min", min_delta=0, check_finite=True)`` rule."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best = math.inf
        self.wait = 0

    def should_stop(self, value: float) -> bool:
        if self.patience is None:
            return False
        if not math.isfinite(value):
            return True
        if value < self.best:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


def _scaled(module: ConvergenceForecaster, x: np.ndarray, y: np.ndarray, device: torch.device):
    """Inputs and targets on the standardised scale, on ``device``, once per fit (the
    sequential path scales every batch with the same elementwise operations)."""
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_t = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    with torch.no_grad():
        return module.scale_inputs(x_t).to(device), module.scale_targets(y_t).to(device)


def fit_members(
    members: Sequence[ConvergenceForecaster],
    seeds: Sequence[int],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    batch_size: int,
    epochs: Sequence[int],
    patience: int | None,
    device: torch.device,
) -> list[MemberFit]:
    """Train the members as one ensemble; member ``m`` for at most ``epochs[m]`` epochs.

    With validation windows (``x_val``) and ``patience``, each member stops early on its
    own validation loss and keeps its best weights (the early-stopping fit); without,
    member ``m`` trains exactly ``epochs[m]`` epochs and keeps its final weights (the
    refit). The members must share the network configuration, loss settings and scaling
    statistics (those of one fold's windows), as :func:`build_members` makes them.
    """
    count = len(members)
    if not len(seeds) == len(epochs) == count:
        raise ValueError("members, seeds and epochs differ in length")
    first = members[0]
    hp = first.hparams
    ensemble = SeedEnsemble(
        first.network_config, [member.network.state_dict() for member in members]
    ).to(device)
    ensemble.train()
    generators = member_generators(seeds, device)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=float(hp.learning_rate), **ADAM_OPTIONS)
    penalty = (str(hp.penalty), float(hp.penalty_lambda), float(hp.penalty_alpha))
    x, y = _scaled(first, x_train, y_train, device)
    validate = x_val is not None and len(x_val) > 0 and patience is not None
    if validate:
        xv, yv = _scaled(first, x_val, y_val, device)
    n = x.shape[0]
    bounds = batch_bounds(n, int(batch_size))
    fits = [MemberFit(seed=int(seed)) for seed in seeds]
    stopping = [StoppingRule(patience if validate else None) for _ in members]
    active = list(range(count))  # member ids, in the ensemble's order
    for epoch in range(max(int(e) for e in epochs)):
        if not active:
            break
        orders = []
        for member in active:
            shuffle = EpochShuffle(int(seeds[member]))
            shuffle.set_epoch(epoch)
            orders.append(shuffle.permutation(n, device))
        order = torch.stack(orders)
        member_generators_now = [generators[member] for member in active]
        sums = torch.zeros(len(active), 3, device=device)  # (mse * b, loss * b, b)
        for start, stop in bounds:
            index = order[:, start:stop]
            mse, objective = train_step(
                ensemble, optimizer, x[index], y[index], member_generators_now, penalty
            )
            b = float(stop - start)
            sums += torch.stack([mse * b, objective * b, mse.new_full(mse.shape, b)], 1)
        val = _validation_losses(ensemble, xv, yv, 4 * int(batch_size)) if validate else None
        rows = sums.tolist()  # one host synchronisation per epoch
        val_losses = val.tolist() if val is not None else [float("nan")] * len(active)
        stopped: list[int] = []
        for position, member in enumerate(active):
            fit = fits[member]
            mse_sum, loss_sum, total = rows[position]
            value = float(val_losses[position])
            fit.history.append(
                {
                    "epoch": float(epoch),
                    "train_loss": loss_sum / total if total else float("nan"),
                    "train_mse": mse_sum / total if total else float("nan"),
                    "val_loss": value,
                }
            )
            fit.steps += len(bounds)
            if (
                validate
                and math.isfinite(value)
                and (fit.best_score is None or value < fit.best_score)
            ):
                fit.best_score, fit.best_epoch = value, epoch
                fit.state = ensemble.member_state_dict(position)
            if stopping[member].should_stop(value) or epoch + 1 >= int(epochs[member]):
                if not validate or fit.best_score is None:
                    fit.state = ensemble.member_state_dict(position)  # the final weights
                stopped.append(position)
        if stopped:
            kept = [position for position in range(len(active)) if position not in stopped]
            active = [active[position] for position in kept]
            if active:
                positions = torch.as_tensor(kept, dtype=torch.long, device=device)
                pairs = ensemble.keep_members(kept)
                optimizer = keep_adam_members(optimizer, pairs, positions)
    return fits


def train_step(
    ensemble: SeedEnsemble,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    generators: Sequence[torch.Generator] | None,
    penalty: tuple[str, float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step of every member on its own batch ``x`` ``(S, b, L, F)``,
    ``y`` ``(S, b, H)`` (standardised). The loss is the *sum* over members of
    ``MSE + R(w)``; returns each member's MSE and objective (detached, no host sync)."""
    mse = (ensemble(x, generators) - y).pow(2).mean(dim=(1, 2))
    objective = mse + ensemble.penalty(*penalty)
    optimizer.zero_grad(set_to_none=True)
    objective.sum().backward()
    optimizer.step()
    return mse.detach(), objective.detach()


@torch.no_grad()
def _validation_losses(
    ensemble: SeedEnsemble, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Each member's mean (over windows) of the per-window MSE, in evaluation mode."""
    ensemble.eval()
    members = ensemble.members
    total = torch.zeros(members, device=x.device)
    for start, stop in batch_bounds(x.shape[0], batch_size):
        chunk = x[start:stop]
        prediction = ensemble(chunk.unsqueeze(0).expand(members, *chunk.shape))
        total += (prediction - y[start:stop]).pow(2).mean(dim=2).sum(dim=1)
    ensemble.train()
    return total / x.shape[0]


def member_module(
    template: ConvergenceForecaster, state: Mapping[str, torch.Tensor]
) -> ConvergenceForecaster:
    """``template`` (a member's forecaster: hyperparameters and scaling) with the network
    weights ``state``, on the CPU, ready to predict and be saved."""
    template.network.load_state_dict({key: value.cpu() for key, value in state.items()})
    return template


def save_member_checkpoint(
    module: ConvergenceForecaster,
    path: str | Path,
    *,
    best_score: float | None,
    best_epoch: int | None,
    epochs: int,
    steps: int,
) -> Path:
    """Write ``module`` as a Lightning checkpoint that
    ``ConvergenceForecaster.load_from_checkpoint`` rebuilds (a single network), with the
    :class:`~convergence.training.callbacks.BestWeights` record the sequential path's
    checkpoint carries (``best_score``, ``best_epoch``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "epoch": max(int(epochs) - 1, 0),
        "global_step": int(steps),
        "pytorch-lightning_version": pl.__version__,
        "state_dict": {key: value.detach().cpu() for key, value in module.state_dict().items()},
        "hyper_parameters": dict(module.hparams),
        "callbacks": {"BestWeights": {"best_score": best_score, "best_epoch": best_epoch}},
        "loops": {},
        "optimizer_states": [],
        "lr_schedulers": [],
    }
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(checkpoint, temporary)
    temporary.replace(path)
    return path
