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
import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.utilities import rank_zero_only

from convergence.backtest.contract import backtest_folds, forecast_frame
from convergence.backtest.folds import Fold
from convergence.backtest.windows import FoldWindows, build_fold_windows
from convergence.data.canonical import write_csv_atomic
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.measures.index import MeasurementSpec
from convergence.settings import ModelSettings, TrainingSettings
from convergence.tracking.mlflow_tracking import TrackingContext, create_child_run, log_artifacts
from convergence.training.callbacks import BestWeights, best_score_in_checkpoint
from convergence.training.datamodule import WindowDataModule
from convergence.training.devices import HistoryRelay, runs_fit_in_children
from convergence.training.fitting import (
    best_epoch_count,
    build_module,
    build_trainer,
    network_state,
    refit_module,
)
from convergence.training.module import ConvergenceForecaster

log = logging.getLogger(__name__)


HISTORY_COLUMNS = ("fold", "epoch", "train_loss", "train_mse", "val_loss")


def fold_description(fold: Fold, n_folds: int) -> str:
    """``fold i/n, origin o, train a..b, val c..d, test e..f`` for the training logs."""
    return (
        f"fold {fold.index + 1}/{n_folds}, origin {fold.val_periods[-1]}, "
        f"train {fold.train_periods[0]}..{fold.train_periods[-1]}, "
        f"val {fold.val_periods[0]}..{fold.val_periods[-1]}, "
        f"test {fold.test_periods[0]}..{fold.test_periods[-1]}"
    )


def history_frame(histories: Mapping[int, list[dict[str, float]]]) -> pd.DataFrame:
    """Per-epoch losses of every fold as one table (:data:`HISTORY_COLUMNS`)."""
    rows = [
        {"fold": fold, **{key: row.get(key, float("nan")) for key in HISTORY_COLUMNS[1:]}}
        for fold, history in sorted(histories.items())
        for row in history
    ]
    frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return frame.astype({"fold": int, "epoch": int})


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
    seed: int,
    checkpoint_name: str = "best",
    initial_state: Mapping[str, torch.Tensor] | None = None,
) -> tuple[ConvergenceForecaster, str, float | None, pl.Trainer]:
    """Train on one fold's windows with early stopping on the validation windows.

    With ``initial_state`` the network starts from those weights (``training.warm_start``).
    Returns the model with the weights of the lowest validation loss, the path of its
    checkpoint (``fold_dir/<checkpoint_name>.ckpt``, written once), that loss and the
    trainer.
    """
    if model.input_mode != "levels" and windows.target != "change":
        raise ConfigError(
            "models.input_mode",
            f"{model.input_mode!r} drops the level of D: it needs training.target "
            f"'change', not {windows.target!r}",
        )
    module = build_module(
        network,
        model.module_hparams(),
        settings.learning_rate,
        windows.x_train,
        windows.y_train,
        initial_state=initial_state,
    )
    data = WindowDataModule(windows, batch_size=settings.batch_size, seed=seed)
    # Stale files from an earlier run must not be mistaken for this run's.
    shutil.rmtree(fold_dir, ignore_errors=True)
    best_weights = BestWeights(fold_dir / f"{checkpoint_name}.ckpt", monitor="val_loss")
    trainer = build_trainer(
        settings,
        max_epochs=settings.max_epochs,
        callbacks=[
            EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience),
            best_weights,
        ],
        root_dir=root_dir,
    )
    # ddp_spawn/ddp_fork fit in child processes: rank 0 hands the history back in a file.
    relay = HistoryRelay(fold_dir / "history.json") if runs_fit_in_children(trainer) else None
    if relay is not None:
        trainer.callbacks.append(relay)
    trainer.fit(module, datamodule=data)
    best_path = str(best_weights.path)
    if relay is None:
        # One process: the module already holds the best weights (loaded at fit end).
        return module, best_path, best_weights.best_score, trainer
    best = ConvergenceForecaster.load_from_checkpoint(
        best_path, map_location=trainer.strategy.root_device
    )
    best.history = relay.read()
    return best, best_path, best_score_in_checkpoint(best_path), trainer


def _fold_metrics(
    history: list[dict[str, float]], predictions: pd.DataFrame, summary: Mapping[str, float]
) -> list[Metric]:
    """Per-epoch losses (step = epoch) and the fold's summary metrics, for one log_batch."""
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(key, float(row[key]), stamp, int(row["epoch"]))
        for row in history
        for key in ("train_loss", "train_mse", "val_loss")
        if key in row and math.isfinite(float(row[key]))
    ]
    for key, value in {**_test_metrics(predictions), **summary}.items():
        metrics.append(Metric(key, float(value), stamp, 0))
    return metrics


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

    Writes into ``out_dir``: ``fold<k>/best.ckpt`` (the model that forecast the fold's
    test span), with ``training.refit`` also ``fold<k>/early_stopping.ckpt``,
    ``fold<k>/predictions.csv`` and ``history.csv`` (per-epoch losses of every fold,
    :func:`history_frame`; the train stage draws them for all seeds at once). With
    ``tracking`` each fold is a child run of ``tracking.parent_run_id`` with params, tags,
    per-epoch losses and test metrics (one batch per fold), the fold's predictions and
    checkpoint as artifacts; ``history.csv`` goes to the parent run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    window, horizon = settings.window, settings.horizon
    folds = backtest_folds(wide, settings)
    fold_frames: list[pd.DataFrame] = []
    histories: dict[int, list[dict[str, float]]] = {}
    is_global_zero = True
    # training.warm_start: the previous fold's early-stopping weights. They were fitted on
    # that fold's training periods, a subset of this fold's; their epoch was picked on the
    # previous fold's validation periods (which overlap this fold's when step < val_size).
    # No test period of this fold has been seen.
    warm_state: dict[str, torch.Tensor] | None = None
    for fold in folds:
        log.info("%s %s seed %d: %s", dataset, model_name, seed, fold_description(fold, len(folds)))
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
        # Under strategy="ddp" every rank re-runs this loop; only rank 0 tracks and writes.
        if tracking is not None and rank_zero_only.rank == 0:
            run_id = create_child_run(
                tracking,
                run_name=f"{model_name}-seed{seed}-fold{fold.index}",
                params=_fold_params(fold, network, model, settings, seed),
                tags={"dataset": dataset, "model": model_name, "seed": seed, "fold": fold.index},
            )
        fit_started = time.perf_counter()
        try:
            best, best_path, best_val, trainer = train_fold(
                windows,
                network=network,
                model=model,
                settings=settings,
                fold_dir=fold_dir,
                root_dir=out_dir,
                seed=seed,
                checkpoint_name="early_stopping" if settings.refit else "best",
                initial_state=warm_state,
            )
            history = best.history
            start_state = warm_state
            if settings.warm_start:
                warm_state = network_state(best)
            log.info("fold %d: %d epochs, best val loss %.6g", fold.index, len(history), best_val)
            refit_epochs = 0
            if settings.refit:
                refit_epochs = best_epoch_count(history)
                best, best_path = refit_module(
                    windows,
                    network=network,
                    module_kwargs=model.module_hparams(),
                    settings=settings,
                    epochs=refit_epochs,
                    seed=seed,
                    fold_dir=fold_dir,
                    root_dir=out_dir,
                    initial_state=start_state,
                )
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
        except BaseException:
            if run_id:
                MlflowClient(tracking.uri).set_terminated(run_id, "FAILED")
            raise
        fit_seconds = time.perf_counter() - fit_started
        samples = len(history) * windows.x_train.shape[0] + refit_epochs * (
            windows.x_train.shape[0] + windows.x_val.shape[0]
        )
        log.info(
            "fold %d: %d training samples in %.2f s (%.0f samples/s)",
            fold.index,
            samples,
            fit_seconds,
            samples / fit_seconds if fit_seconds > 0 else float("nan"),
        )
        fold_frames.append(predictions)
        histories[fold.index] = history  # the curve that chose the epochs
        is_global_zero = trainer.is_global_zero
        if not is_global_zero:
            continue
        predictions_path = fold_dir / "predictions.csv"
        write_csv_atomic(predictions, predictions_path)
        if run_id:
            client = MlflowClient(tracking.uri)
            summary = {
                "best_val_loss": float("nan") if best_val is None else best_val,
                "epochs": float(len(history)),
                "refit_epochs": float(refit_epochs),
                "test_windows": float(windows.x_test.shape[0]),
            }
            client.log_batch(
                run_id,
                metrics=_fold_metrics(history, predictions, summary),
                tags=[RunTag("device", str(trainer.strategy.root_device))],
            )
            log_artifacts(client, run_id, [predictions_path])
            log_artifacts(client, run_id, [best_path], artifact_path="checkpoint")
            client.set_terminated(run_id, "FINISHED")
    if is_global_zero:
        history_path = out_dir / "history.csv"
        write_csv_atomic(history_frame(histories), history_path)
        if tracking is not None:
            log_artifacts(MlflowClient(tracking.uri), tracking.parent_run_id, [history_path])
    return pd.concat(fold_frames, ignore_index=True)
