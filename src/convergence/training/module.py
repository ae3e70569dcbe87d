"""Lightning wrapper around a forecasting network: loss, optimiser, per-epoch history."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from convergence.errors import ConfigError
from convergence.models.networks import NetworkConfig, build_network, weight_penalty
from convergence.training.scaling import (
    INPUT_MODES,
    SCALINGS,
    ScalingStats,
    apply_input_mode,
)


class ConvergenceForecaster(pl.LightningModule):
    """Train a network from :mod:`convergence.models.networks` with ``MSE + R(w)``.

    The MSE is taken on the *standardised* scale (:mod:`convergence.training.scaling`):
    targets per horizon with the fold's training mean and standard deviation, inputs
    (after the ``input_mode`` transform) per feature likewise. The penalty is added to
    that standardised MSE, so ``penalty_lambda`` means the same on every data set.
    The statistics are registered buffers (``x_mean``, ``x_std``, ``y_mean``,
    ``y_std``) set by :meth:`set_scaling` before training; they are saved in the
    checkpoint. :meth:`forward` maps raw windows to standardised outputs;
    :meth:`predict_array` returns targets on the original (unscaled) scale.

    All constructor arguments are plain values saved as hyperparameters, so
    ``ConvergenceForecaster.load_from_checkpoint(path)`` rebuilds the network by itself.

    Args:
        network: :class:`NetworkConfig` fields (``architecture``, ``n_features``,
            ``window``, ``horizon``, ...).
        penalty: ``"none"``, ``"l1"``, ``"l2"`` or ``"elastic_net"``.
        penalty_lambda: penalty strength.
        penalty_alpha: L1 share of the elastic net.
        learning_rate: Adam learning rate.
        input_mode: ``"levels"``, ``"relative_last"`` or ``"revin"`` (see
            :func:`~convergence.training.scaling.apply_input_mode`).
        scaling: ``"standard"`` (statistics from :meth:`set_scaling`) or ``"none"``
            (the buffers stay at mean 0, std 1: the unscaled training of earlier versions).

    Kept per completed training epoch in :attr:`history`: ``train_loss`` (MSE + penalty),
    ``train_mse`` and ``val_loss`` (MSE only, so it is comparable across penalties), all on
    the standardised scale. Only ``val_loss`` is also logged to Lightning (early stopping
    and :class:`~convergence.training.callbacks.BestWeights` monitor it).
    """

    def __init__(
        self,
        network: dict[str, Any],
        penalty: str = "none",
        penalty_lambda: float = 0.0,
        penalty_alpha: float = 0.5,
        learning_rate: float = 1e-3,
        input_mode: str = "levels",
        scaling: str = "standard",
    ) -> None:
        super().__init__()
        if input_mode not in INPUT_MODES:
            raise ConfigError(
                "models.input_mode", f"must be one of {', '.join(INPUT_MODES)}; got {input_mode!r}"
            )
        if scaling not in SCALINGS:
            raise ConfigError(
                "models.scaling", f"must be one of {', '.join(SCALINGS)}; got {scaling!r}"
            )
        self.save_hyperparameters()
        self.network_config = NetworkConfig(**network)
        self.network: nn.Module = build_network(self.network_config)
        identity = ScalingStats.identity(
            self.network_config.n_features, self.network_config.horizon
        )
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            values = torch.as_tensor(getattr(identity, name), dtype=torch.float32)
            self.register_buffer(name, values)
        # Validate the penalty settings now rather than at the first training step.
        weight_penalty(self.network, penalty, penalty_lambda, penalty_alpha)
        self.history: list[dict[str, float]] = []
        self._train_sums = torch.zeros(3)  # (mse * n, loss * n, n), reset per epoch
        self._val_sums = torch.zeros(2)  # (mse * n, n)
        self._val_loss = float("nan")  # of the last validation run, reduced over ranks

    def set_scaling(self, stats: ScalingStats) -> None:
        """Copy standardisation statistics (of the training windows) into the buffers.

        Ignored (identity kept) when the module was built with ``scaling="none"``.
        """
        if self.hparams.scaling == "none":
            return
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            buffer = getattr(self, name)
            values = torch.as_tensor(getattr(stats, name), dtype=buffer.dtype)
            if values.shape != buffer.shape:
                raise ValueError(
                    f"{name}: shape {tuple(values.shape)}, expected {tuple(buffer.shape)}"
                )
            buffer.copy_(values.to(buffer.device))

    def scaling_stats(self) -> ScalingStats:
        """The statistics in the buffers, as float64 arrays."""
        arrays = {
            name: getattr(self, name).detach().cpu().double().numpy()
            for name in ("x_mean", "x_std", "y_mean", "y_std")
        }
        return ScalingStats(**arrays)

    def scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw windows -> the network's input: input mode, then per-feature standardising."""
        return (apply_input_mode(x, self.hparams.input_mode) - self.x_mean) / self.x_std

    def scale_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Raw targets ``(batch, horizon)`` -> standardised targets."""
        return (y - self.y_mean) / self.y_std

    def unscale_targets(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised outputs -> targets on the original scale."""
        return z * self.y_std + self.y_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw windows ``(batch, window, n_features)`` to standardised ``(batch, horizon)``."""
        return self.network(self.scale_inputs(x))

    def _penalty(self) -> torch.Tensor:
        hp = self.hparams
        return weight_penalty(self.network, hp.penalty, hp.penalty_lambda, hp.penalty_alpha)

    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(3, device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y = batch[0], self.scale_targets(batch[1])
        mse = nn.functional.mse_loss(self(x), y)
        # Under DDP the batch is this rank's share of the global batch (see DeviceBatches):
        # scaling makes the rank-averaged gradient that of the global batch's mean loss.
        rank_weighted = mse * batch[2] if len(batch) == 3 else mse
        penalty = self._penalty()
        n = x.shape[0]
        # Accumulated on the device and logged once per epoch: a ``self.log`` per step costs
        # more than the forward pass of these small networks.
        objective = (mse + penalty).detach()
        self._train_sums.add_(torch.stack([mse.detach() * n, objective * n, mse.new_tensor(n)]))
        return rank_weighted + penalty

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0], self.scale_targets(batch[1])
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
        # Kept in ``history`` only: ``self.log`` costs about a millisecond a call, as much
        # as a training step of the small data sets, and only ``val_loss`` is monitored.
        self.history.append({"epoch": float(self.current_epoch), **row})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    @torch.no_grad()
    def predict_array(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Predict unscaled targets ``(n, horizon)`` in evaluation mode for raw windows
        ``(n, window, n_features)``."""
        was_training = self.training
        self.eval()
        outputs = []
        inputs = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        for start in range(0, inputs.shape[0], batch_size):
            batch = inputs[start : start + batch_size]
            outputs.append(self.unscale_targets(self(batch)).cpu())
        self.train(was_training)
        if not outputs:
            return np.zeros((0, self.network_config.horizon), dtype=np.float32)
        return torch.cat(outputs).numpy()
