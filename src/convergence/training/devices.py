"""Trainer device settings that hold inside a SLURM job and across DDP worker processes.

A Snakemake SLURM job runs each rule under ``srun -n1``, so Lightning detects
``SLURMEnvironment`` and takes the world size from ``SLURM_NTASKS`` (1): ``devices=2``
then silently trains with one rank, and a ``SIGUSR1`` auto-requeue handler is installed.
On one node the job is a single task that starts its own ranks, so the trainer gets
:class:`LightningEnvironment` and uses exactly the devices it was given. With
``num_nodes > 1`` the ranks must be started by ``srun`` (``ntasks = devices * nodes``) and
Lightning's SLURM detection is kept.

With a launcher that runs ``fit`` in child processes (``ddp_spawn``, ``ddp_fork``) the
parent gets back the weights and the best checkpoint path only; :class:`HistoryRelay`
hands the per-epoch history back through a file written by rank 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import LightningEnvironment
from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher

from convergence.settings import TrainingSettings


def trainer_device_kwargs(settings: TrainingSettings) -> dict[str, Any]:
    """``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and ``plugins`` for Trainer.

    One node: :class:`LightningEnvironment` (no SLURM world size, no auto-requeue).
    Several nodes: no plugin, so Lightning's SLURM/torchrun detection wires the ranks.
    """
    num_nodes = int(settings.num_nodes)
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    kwargs: dict[str, Any] = {
        "accelerator": settings.accelerator,
        "devices": settings.devices,
        "strategy": settings.strategy,
        "num_nodes": num_nodes,
    }
    if num_nodes == 1:
        kwargs["plugins"] = [LightningEnvironment()]
    return kwargs


def runs_fit_in_children(trainer: pl.Trainer) -> bool:
    """True when ``fit`` runs in spawned/forked workers and the parent only gets results."""
    return isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)


class HistoryRelay(pl.Callback):
    """Rank 0 writes ``pl_module.history`` to ``path`` when fitting ends."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(getattr(pl_module, "history", [])))

    def read(self) -> list[dict[str, float]]:
        """The relayed history (the file is removed after reading)."""
        if not self.path.is_file():
            return []
        history = json.loads(self.path.read_text())
        self.path.unlink()
        return history
