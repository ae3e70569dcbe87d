"""A checkpoint callback that writes once per fit instead of on every improvement.

Lightning's ``ModelCheckpoint`` serialises the whole module each time the monitored
loss improves (dozens of times per fold for these small networks, a large share of a
fold's training time). :class:`BestWeights` keeps the best weights in memory, loads them
back into the module when fitting ends and writes one checkpoint then. The same holds
under DDP and in spawned/forked workers: every rank reaches ``on_fit_end`` and
``trainer.save_checkpoint`` writes from rank 0 only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


class BestWeights(pl.Callback):
    """Write ``path`` once at the end of ``fit``: the weights of the lowest ``monitor``.

    With ``monitor=None`` the final weights are written (the refit, which has no
    validation windows). ``best_score`` is the lowest monitored value (None without a
    monitor or before the first validation); it is saved in the checkpoint's callback
    state, so :func:`best_score_in_checkpoint` reads it back in the parent process when
    the fit ran in child processes.
    """

    def __init__(self, path: str | Path, monitor: str | None = "val_loss") -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    @property
    def state_key(self) -> str:
        return "BestWeights"

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.monitor is None or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        score = float(value)
        if math.isfinite(score) and (self.best_score is None or score < self.best_score):
            self.best_score = score
            self.best_epoch = int(trainer.current_epoch)
            self._best_state = {
                key: tensor.detach().clone() for key, tensor in pl_module.state_dict().items()
            }

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._best_state is not None:
            pl_module.load_state_dict(self._best_state)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict.get("best_score")
        self.best_epoch = state_dict.get("best_epoch")


def best_score_in_checkpoint(path: str | Path) -> float | None:
    """The ``best_score`` that :class:`BestWeights` stored in its checkpoint file."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    value = state.get("callbacks", {}).get("BestWeights", {}).get("best_score")
    return None if value is None else float(value)
