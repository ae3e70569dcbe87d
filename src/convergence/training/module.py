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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, window, n_features)`` to ``(batch, horizon)``."""
        return self.network(x)

    def _penalty(self) -> torch.Tensor:
        hp = self.hparams
        return weight_penalty(self.network, hp.penalty, hp.penalty_lambda, hp.penalty_alpha)

    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(3, device=self.device)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        mse = nn.functional.mse_loss(self(x), y)
        loss = mse + self._penalty()
        n = x.shape[0]
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=n)
        self.log("train_mse", mse, on_step=False, on_epoch=True, batch_size=n)
        # Accumulate on the device; one host sync per epoch instead of per step.
        self._train_sums += torch.stack([mse.detach() * n, loss.detach() * n, mse.new_tensor(n)])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        mse = nn.functional.mse_loss(self(x), y)
        n = x.shape[0]
        self.log("val_loss", mse, on_step=False, on_epoch=True, batch_size=n, prog_bar=True)
        self._val_sums += torch.stack([mse.detach() * n, mse.new_tensor(n)])

    def on_train_epoch_end(self) -> None:
        # Validation of this epoch has already run (it runs inside the training epoch).
        train_mse, train_loss, n_train = self._train_sums.tolist()
        val_mse, n_val = self._val_sums.tolist()
        self.history.append(
            {
                "epoch": float(self.current_epoch),
                "train_loss": train_loss / n_train if n_train else float("nan"),
                "train_mse": train_mse / n_train if n_train else float("nan"),
                "val_loss": val_mse / n_val if n_val else float("nan"),
            }
        )

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
