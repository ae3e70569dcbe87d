"""Lightning wrapper around a forecasting network: loss, optimiser, per-epoch history."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from convergence.models.networks import NetworkConfig, build_network, weight_penalty


class ConvergenceForecaster(pl.LightningModule):
    """Train a network from :mod:`convergence.models.networks` with ``MSE + R(w)``.

    All constructor arguments are plain values saved as hyperparameters, so
    ``ConvergenceForecaster.load_from_checkpoint(path)`` rebuilds the network by itself.

    Args:
        network: :class:`NetworkConfig` fields (``architecture``, ``n_features``,
            ``window``, ``horizon``, ...).
        penalty: ``"none"``, ``"l1"``, ``"l2"`` or ``"elastic_net"``.
        penalty_lambda: penalty strength.
        penalty_alpha: L1 share of the elastic net.
        learning_rate: Adam learning rate.

    Logged per epoch: ``train_loss`` (MSE + penalty), ``train_mse`` and ``val_loss``
    (MSE only, so it is comparable across penalties). The same values are kept in
    :attr:`history`, one dict per completed training epoch.
    """

    def __init__(
        self,
        network: dict[str, Any],
        penalty: str = "none",
        penalty_lambda: float = 0.0,
        penalty_alpha: float = 0.5,
        learning_rate: float = 1e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network_config = NetworkConfig(**network)
        self.network: nn.Module = build_network(self.network_config)
        # Validate the penalty settings now rather than at the first training step.
        weight_penalty(self.network, penalty, penalty_lambda, penalty_alpha)
        self.history: list[dict[str, float]] = []
        self._train_sums = torch.zeros(3)  # (mse * n, loss * n, n), reset per epoch
        self._val_sums = torch.zeros(2)  # (mse * n, n)
        self._val_loss = float("nan")  # of the last validation run, reduced over ranks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, window, n_features)`` to ``(batch, horizon)``."""
        return self.network(x)

    def _penalty(self) -> torch.Tensor:
        hp = self.hparams
        return weight_penalty(self.network, hp.penalty, hp.penalty_lambda, hp.penalty_alpha)

    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(3, device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        mse = nn.functional.mse_loss(self(x), y)
        # Under DDP the batch is this rank's share of the global batch (see DeviceBatches):
        # scaling makes the rank-averaged gradient that of the global batch's mean loss.
        scaled = mse * batch[2] if len(batch) == 3 else mse
        penalty = self._penalty()
        n = x.shape[0]
        # Accumulated on the device and logged once per epoch: a ``self.log`` per step costs
        # more than the forward pass of these small networks.
        unscaled = (mse + penalty).detach()
        self._train_sums.add_(torch.stack([mse.detach() * n, unscaled * n, mse.new_tensor(n)]))
        return scaled + penalty

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        squared_error = (self(x) - y).pow(2).mean(dim=1).sum()  # per-window MSE, summed
        self._val_sums.add_(torch.stack([squared_error, squared_error.new_tensor(x.shape[0])]))

    def _global_sums(self, sums: torch.Tensor) -> list[float]:
        """Sum ``sums`` over data-parallel ranks (identity on one device)."""
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.clone(), reduce_op="sum")
        return sums.tolist()

    def on_validation_epoch_end(self) -> None:
        val_se, n_val = self._global_sums(self._val_sums)
        self._val_loss = val_se / n_val if n_val else float("nan")
        # Already reduced: sync_dist averages equal values (and silences the DDP warning).
        self.log("val_loss", self._val_loss, prog_bar=True, sync_dist=True)

    def on_train_epoch_end(self) -> None:
        # Validation of this epoch has already run (it runs inside the training epoch).
        train_mse, train_loss, n_train = self._global_sums(self._train_sums)
        row = {
            "train_loss": train_loss / n_train if n_train else float("nan"),
            "train_mse": train_mse / n_train if n_train else float("nan"),
            "val_loss": self._val_loss,
        }
        self.log("train_loss", row["train_loss"], sync_dist=True)
        self.log("train_mse", row["train_mse"], sync_dist=True)
        self.history.append({"epoch": float(self.current_epoch), **row})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    @torch.no_grad()
    def predict_array(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Predict in evaluation mode for a float array ``(n, window, n_features)``."""
        was_training = self.training
        self.eval()
        outputs = []
        inputs = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        for start in range(0, inputs.shape[0], batch_size):
            outputs.append(self(inputs[start : start + batch_size]).cpu())
        self.train(was_training)
        if not outputs:
            return np.zeros((0, self.network_config.horizon), dtype=np.float32)
        return torch.cat(outputs).numpy()
