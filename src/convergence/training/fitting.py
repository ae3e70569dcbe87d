"""Build a scaled forecaster for a fold, and refit it on training + validation windows.

Equal information (``training.refit``): the baselines see every period up to the fold
origin (ridge refits on training + validation windows, ETS/ARIMA use the whole history),
so after early stopping on the validation windows has chosen the number of epochs
``E`` (the epoch of the lowest validation loss, counted from 1), the network is trained
again from the same seed on training + validation windows for exactly ``E`` epochs,
with the scaling statistics refitted on those windows, and that model forecasts the
test span. Neither step reads a test-period value: the test windows' inputs end at the
origin and their targets are never given to the trainer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from convergence.backtest.windows import FoldWindows
from convergence.settings import TrainingSettings
from convergence.training.callbacks import BestWeights
from convergence.training.datamodule import WindowDataModule
from convergence.training.devices import runs_fit_in_children, trainer_device_kwargs
from convergence.training.module import ConvergenceForecaster
from convergence.training.scaling import fit_scaling


def build_trainer(
    settings: TrainingSettings,
    *,
    max_epochs: int,
    callbacks: list[pl.Callback],
    root_dir: str | Path | None,
    **options: Any,
) -> pl.Trainer:
    """The one ``pl.Trainer`` of every fit (early stopping and refit alike): device,
    determinism and the quiet, logger-free, checkpoint-free set-up come from here, so the
    two fits cannot drift apart. ``options`` adds what one fit needs (e.g.
    ``limit_val_batches=0`` for the refit)."""
    return pl.Trainer(
        **trainer_device_kwargs(settings),
        deterministic=settings.deterministic,
        max_epochs=max_epochs,
        callbacks=callbacks,
        # Per-epoch metrics go to MLflow in one batch per fold (train_and_backtest).
        logger=False,
        enable_checkpointing=False,
        default_root_dir=root_dir,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )


def build_module(
    network: Mapping[str, Any],
    module_kwargs: Mapping[str, Any],
    learning_rate: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    initial_state: Mapping[str, torch.Tensor] | None = None,
) -> ConvergenceForecaster:
    """A forecaster whose scaling statistics are those of ``x_train``/``y_train``.

    ``module_kwargs`` are the module's hyperparameters besides the network and learning
    rate (:meth:`convergence.settings.ModelSettings.module_hparams`). With
    ``initial_state`` (a network ``state_dict``, see ``training.warm_start``) the network
    starts from those weights instead of its seeded initialisation.
    """
    module = ConvergenceForecaster(
        network=dict(network), **module_kwargs, learning_rate=float(learning_rate)
    )
    module.set_scaling(
        fit_scaling(
            x_train,
            y_train,
            input_mode=str(module.hparams.input_mode),
            scaling=str(module.hparams.scaling),
        )
    )
    if initial_state is not None:
        module.network.load_state_dict(initial_state)
    return module


def network_state(module: ConvergenceForecaster) -> dict[str, torch.Tensor]:
    """A detached copy of the network's ``state_dict`` (the ``initial_state`` of a warm start)."""
    return {key: value.detach().clone() for key, value in module.network.state_dict().items()}


def best_epoch_count(history: list[dict[str, float]]) -> int:
    """Epochs trained up to and including the lowest validation loss (at least 1)."""
    losses = [row["val_loss"] for row in history]
    finite = [(loss, i) for i, loss in enumerate(losses) if math.isfinite(loss)]
    if not finite:
        return max(len(history), 1)
    return min(finite)[1] + 1


def refit_windows(windows: FoldWindows) -> FoldWindows:
    """The fold's windows with the validation windows moved into the training set."""
    x_val, y_val = windows.x_val, windows.y_val
    return replace(
        windows,
        x_train=np.concatenate([windows.x_train, x_val]),
        y_train=np.concatenate([windows.y_train, y_val]),
        x_val=x_val[:0],
        y_val=y_val[:0],
    )


def refit_module(
    windows: FoldWindows,
    *,
    network: Mapping[str, Any],
    module_kwargs: Mapping[str, Any],
    settings: TrainingSettings,
    epochs: int,
    seed: int,
    fold_dir: Path,
    root_dir: Path,
    checkpoint_name: str = "best",
    initial_state: Mapping[str, torch.Tensor] | None = None,
) -> tuple[ConvergenceForecaster, str]:
    """Train from ``seed`` (and ``initial_state``, as the early-stopping run did) on
    training + validation windows for ``epochs`` epochs.

    Writes the final model to ``fold_dir/<checkpoint_name>.ckpt`` once and returns it
    with the checkpoint path (reloaded from there when the fit ran in child processes).
    """
    merged = refit_windows(windows)
    pl.seed_everything(seed, workers=True, verbose=False)
    module = build_module(
        network,
        module_kwargs,
        settings.learning_rate,
        merged.x_train,
        merged.y_train,
        initial_state=initial_state,
    )
    path = Path(fold_dir) / f"{checkpoint_name}.ckpt"
    trainer = build_trainer(
        settings,
        max_epochs=int(epochs),
        callbacks=[BestWeights(path, monitor=None)],  # the final weights, written once
        root_dir=root_dir,
        limit_val_batches=0,
    )
    trainer.fit(
        module,
        datamodule=WindowDataModule(merged, batch_size=settings.batch_size, seed=seed),
    )
    if runs_fit_in_children(trainer):
        # The fit ran in workers: the weights come back through the checkpoint.
        module = ConvergenceForecaster.load_from_checkpoint(
            path, map_location=trainer.strategy.root_device
        )
    return module, str(path)
