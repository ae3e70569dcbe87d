"""Rolling-origin backtest of one network: train per fold, forecast the fold's test span.

For every fold of :func:`~convergence.backtest.contract.backtest_folds` over the data
set's periods: seed everything, build the fold's windows (measurement model fitted on the
fold's training periods), train on the standardised scale (statistics of the training
windows, :mod:`convergence.training.scaling`) with early stopping on the validation
windows, reload the best checkpoint and forecast ``D`` for the ``horizon`` test periods
of each entity. With ``training.refit`` the forecasting model is instead retrained from
the same seed on training + validation windows for the chosen number of epochs
(:mod:`convergence.training.fitting`); ``fold<k>/best.ckpt`` is always the model that
forecast the test span (the early-stopping one is kept as ``early_stopping.ckpt``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.utilities import rank_zero_only

from convergence.backtest.contract import backtest_folds, forecast_frame
from convergence.backtest.folds import Fold
from convergence.backtest.windows import FoldWindows, build_fold_windows
from convergence.data.canonical import write_csv_atomic
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.measures.index import MeasurementSpec
from convergence.settings import ModelSettings, TrainingSettings
from convergence.tracking.mlflow_tracking import TrackingContext, create_child_run, log_artifacts
from convergence.training.datamodule import WindowDataModule
from convergence.training.devices import (
    HistoryRelay,
    best_score_from_checkpoint,
    runs_fit_in_children,
    trainer_device_kwargs,
)
from convergence.training.fitting import best_epoch_count, build_module, refit_module
from convergence.training.module import ConvergenceForecaster

log = logging.getLogger(__name__)


def write_training_curve(history: list[dict[str, float]], title: str, path: Path) -> None:
    """Plot training and validation loss per epoch to a PNG."""
    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    epochs = [row["epoch"] for row in history]
    axes.plot(epochs, [row["train_loss"] for row in history], label="train loss (MSE + penalty)")
    axes.plot(epochs, [row["train_mse"] for row in history], label="train MSE", linestyle=":")
    axes.plot(epochs, [row["val_loss"] for row in history], label="validation MSE")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (standardised unless scaling: none)")
    axes.set_yscale("log")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def _fold_params(
    fold: Fold,
    network: Mapping[str, Any],
    model: ModelSettings,
    settings: TrainingSettings,
    seed: int,
) -> dict[str, Any]:
    return {
        "network": dict(network),
        **model.module_hparams(),
        "training": settings.to_dict(),
        "fold.index": fold.index,
        "fold.train_periods": f"{fold.train_periods[0]}..{fold.train_periods[-1]}",
        "fold.val_periods": f"{fold.val_periods[0]}..{fold.val_periods[-1]}",
        "fold.test_periods": f"{fold.test_periods[0]}..{fold.test_periods[-1]}",
        "seed": seed,
    }


def _test_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    error = predictions["predicted"] - predictions["actual"]
    if error.empty:
        return {}
    return {
        "test_mae": float(error.abs().mean()),
        "test_rmse": float(np.sqrt((error**2).mean())),
    }


def train_fold(
    windows: FoldWindows,
    *,
    network: Mapping[str, Any],
    model: ModelSettings,
    settings: TrainingSettings,
    fold_dir: Path,
    root_dir: Path,
    logger: MLFlowLogger | bool,
    seed: int,
) -> tuple[ConvergenceForecaster, str, pl.Trainer]:
    """Train on one fold's windows; return the best-checkpoint model and its path."""
    if model.input_mode != "levels" and windows.target != "change":
        raise ConfigError(
            "models.input_mode",
            f"{model.input_mode!r} drops the level of D: it needs training.target "
            f"'change', not {windows.target!r}",
        )
    module = build_module(
        network, model.module_hparams(), settings.learning_rate, windows.x_train, windows.y_train
    )
    data = WindowDataModule(windows, batch_size=settings.batch_size, seed=seed)
    # Stale checkpoints from an earlier run would make ModelCheckpoint write best-v1.ckpt.
    shutil.rmtree(fold_dir, ignore_errors=True)
    checkpoint = ModelCheckpoint(
        dirpath=fold_dir, filename="best", monitor="val_loss", mode="min", save_top_k=1
    )
    trainer = pl.Trainer(
        **trainer_device_kwargs(settings),
        deterministic=settings.deterministic,
        max_epochs=settings.max_epochs,
        callbacks=[
            EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience),
            checkpoint,
        ],
        logger=logger,
        default_root_dir=root_dir,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )
    # ddp_spawn/ddp_fork fit in child processes: rank 0 hands the history back in a file.
    relay = HistoryRelay(fold_dir / "history.json") if runs_fit_in_children(trainer) else None
    if relay is not None:
        trainer.callbacks.append(relay)
    trainer.fit(module, datamodule=data)
    best_path = checkpoint.best_model_path
    if relay is not None:
        module.history = relay.read()
        # Only the best path comes back from the workers, not the score.
        checkpoint.best_model_score = best_score_from_checkpoint(best_path)
    best = ConvergenceForecaster.load_from_checkpoint(
        best_path, map_location=trainer.strategy.root_device
    )
    # The reloaded module has no history; keep the one recorded while training.
    best.history = module.history
    return best, best_path, trainer


def train_and_backtest(
    *,
    dataset: str,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    model_name: str,
    model: ModelSettings,
    settings: TrainingSettings,
    seed: int,
    out_dir: Path,
    tracking: TrackingContext | None,
) -> pd.DataFrame:
    """Backtest one model over all folds; return the predictions (:data:`PREDICTION_COLUMNS`).

    Writes per fold into ``out_dir``: ``fold<k>/best.ckpt``, ``fold<k>/predictions.csv``
    and ``fold<k>_training_curve.png``. With ``tracking`` each fold is a child run of
    ``tracking.parent_run_id`` with params, tags, per-epoch metrics, test metrics and
    those files as artifacts.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    window, horizon = settings.window, settings.horizon
    folds = backtest_folds(wide, settings)
    fold_frames: list[pd.DataFrame] = []
    for fold in folds:
        log.info(
            "%s %s seed %d: fold %d/%d, origin %s, train %s..%s, val %s..%s, test %s..%s",
            dataset,
            model_name,
            seed,
            fold.index + 1,
            len(folds),
            fold.val_periods[-1],
            fold.train_periods[0],
            fold.train_periods[-1],
            fold.val_periods[0],
            fold.val_periods[-1],
            fold.test_periods[0],
            fold.test_periods[-1],
        )
        pl.seed_everything(seed, workers=True, verbose=False)
        windows = build_fold_windows(
            wide, mspec, fold, window=window, horizon=horizon, target=settings.target
        )
        if windows.x_val.shape[0] == 0:
            raise SeriesTooShortError(
                f"fold {fold.index}: no validation window (no entity has window ({window}) "
                f"+ horizon ({horizon}) contiguous complete periods reaching the "
                "validation periods); lower window or horizon"
            )
        log.info(
            "fold %d: %d train, %d val, %d test windows (%d entities skipped), %d features",
            fold.index,
            windows.x_train.shape[0],
            windows.x_val.shape[0],
            windows.x_test.shape[0],
            windows.n_test_skipped,
            windows.n_features,
        )
        network = model.network_fields(windows.n_features, window, horizon)
        fold_dir = out_dir / f"fold{fold.index}"
        run_id = ""
        logger: MLFlowLogger | bool = False
        # Under strategy="ddp" every rank re-runs this loop; only rank 0 tracks and writes.
        if tracking is not None and rank_zero_only.rank == 0:
            run_id = create_child_run(
                tracking,
                run_name=f"{model_name}-seed{seed}-fold{fold.index}",
                params=_fold_params(fold, network, model, settings, seed),
                tags={"dataset": dataset, "model": model_name, "seed": seed, "fold": fold.index},
            )
            logger = MLFlowLogger(tracking_uri=tracking.uri, run_id=run_id)
        try:
            best, best_path, trainer = train_fold(
                windows,
                network=network,
                model=model,
                settings=settings,
                fold_dir=fold_dir,
                root_dir=out_dir,
                logger=logger,
                seed=seed,
            )
        except BaseException:
            if tracking is not None and run_id:
                MlflowClient(tracking.uri).set_terminated(run_id, "FAILED")
            raise
        best_val = float(trainer.checkpoint_callback.best_model_score)
        log.info("fold %d: %d epochs, best val loss %.6g", fold.index, len(best.history), best_val)
        refit_epochs = 0
        if settings.refit:
            refit_epochs = best_epoch_count(best.history)
            early_history = best.history
            early_path = Path(best_path).with_name("early_stopping.ckpt")
            if trainer.is_global_zero:
                Path(best_path).replace(early_path)
            best, best_path = refit_module(
                windows,
                network=network,
                module_kwargs=model.module_hparams(),
                settings=settings,
                epochs=refit_epochs,
                seed=seed,
                fold_dir=fold_dir,
                root_dir=out_dir,
            )
            best.history = early_history  # the curve that chose the epochs
            log.info("fold %d: refitted on train + val for %d epochs", fold.index, refit_epochs)
        predictions = forecast_frame(
            windows,
            best.predict_array(windows.x_test),
            dataset=dataset,
            model_name=model_name,
            seed=seed,
            fold=fold.index,
            run_id=run_id,
        )
        fold_frames.append(predictions)
        if not trainer.is_global_zero:
            continue
        predictions_path = fold_dir / "predictions.csv"
        write_csv_atomic(predictions, predictions_path)
        curve_path = out_dir / f"fold{fold.index}_training_curve.png"
        write_training_curve(
            best.history, f"{dataset} {model_name} seed {seed} fold {fold.index}", curve_path
        )
        if tracking is not None and run_id:
            client = MlflowClient(tracking.uri)
            client.set_tag(run_id, "device", str(trainer.strategy.root_device))
            metrics = {**_test_metrics(predictions), "best_val_loss": best_val}
            metrics["epochs"] = float(len(best.history))
            metrics["refit_epochs"] = float(refit_epochs)
            metrics["test_windows"] = float(windows.x_test.shape[0])
            for key, value in metrics.items():
                client.log_metric(run_id, key, value)
            log_artifacts(client, run_id, [predictions_path, curve_path])
            log_artifacts(client, run_id, [best_path], artifact_path="checkpoint")
            client.set_terminated(run_id, "FINISHED")
    return pd.concat(fold_frames, ignore_index=True)
