"""Rolling-origin backtest of one network: train per fold, forecast the fold's test span.

For every fold of :func:`~convergence.evaluation.folds.rolling_origin_folds` over the data
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

from convergence.data.canonical import write_csv_atomic
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.evaluation.folds import Fold, rolling_origin_folds
from convergence.measures.index import MeasurementSpec
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
from convergence.training.windows import FoldWindows, build_fold_windows

log = logging.getLogger(__name__)

PREDICTION_COLUMNS: tuple[str, ...] = (
    "dataset",
    "model",
    "seed",
    "fold",
    "entity",
    "origin",
    "horizon",
    "period",
    "actual",
    "predicted",
    "last_observed",
    "run_id",
)
#: model_cfg keys that configure the loss rather than the network.
PENALTY_KEYS: tuple[str, ...] = ("penalty", "penalty_lambda", "penalty_alpha")
#: model_cfg keys of the Lightning module (loss and input conditioning), not the network.
MODULE_KEYS: tuple[str, ...] = (*PENALTY_KEYS, "input_mode", "scaling")
#: training_cfg keys without a default.
REQUIRED_TRAINING_KEYS: tuple[str, ...] = (
    "window",
    "horizon",
    "n_origins",
    "val_size",
    "min_train",
    "max_epochs",
    "patience",
    "batch_size",
)
TRAINING_DEFAULTS: dict[str, Any] = {
    "step": 1,
    "learning_rate": 1e-3,
    "target": "change",
    "accelerator": "auto",
    "devices": "auto",
    "deterministic": True,
    "refit": False,
}


def covered_periods(wide: pd.DataFrame, min_share: float = 0.5) -> list[str]:
    """Sorted periods, with leading/trailing periods that few entities reach trimmed.

    In unbalanced panels (GGDC: most series end 2010-2012, a few reach 2013) folds built on
    the union of periods would put the last test span where almost no entity has data.
    A period at either end is kept only if at least ``min_share`` of the entities that are
    ever observed have complete rows there; interior periods are always kept.
    """
    complete = wide.notna().all(axis=1)
    per_period = complete.groupby(level="period").sum().sort_index()
    per_period.index = per_period.index.astype(str)
    n_entities = wide.index.get_level_values("entity").nunique()
    enough = (per_period >= min_share * n_entities).to_numpy()
    if not enough.any():
        return list(per_period.index)
    first, last = int(np.argmax(enough)), len(enough) - 1 - int(np.argmax(enough[::-1]))
    return list(per_period.index[first : last + 1])


def training_settings(training_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``training_cfg`` with defaults filled in; raises ConfigError for a missing key."""
    missing = [key for key in REQUIRED_TRAINING_KEYS if key not in training_cfg]
    if missing:
        raise ConfigError(f"training.{missing[0]}", "required key is missing")
    settings = {**TRAINING_DEFAULTS, **training_cfg}
    if int(settings["val_size"]) < 1:
        raise ConfigError(
            "training.val_size", "must be >= 1: early stopping needs validation periods"
        )
    return settings


def loss_settings(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Penalty settings of ``model_cfg`` with defaults, as the module's typed hyperparameters.

    The same values go to the module and to the child run's params: Lightning's logger
    logs the module's hyperparameters too, and MLflow rejects a param logged twice with
    different text (``0`` vs ``0.0``).
    """
    return {
        "penalty": str(model_cfg.get("penalty", "none")),
        "penalty_lambda": float(model_cfg.get("penalty_lambda", 0.0)),
        "penalty_alpha": float(model_cfg.get("penalty_alpha", 0.5)),
        "input_mode": str(model_cfg.get("input_mode", "levels")),
        "scaling": str(model_cfg.get("scaling", "standard")),
    }


def network_settings(
    model_cfg: Mapping[str, Any], n_features: int, window: int, horizon: int
) -> dict[str, Any]:
    """NetworkConfig fields from ``model_cfg`` (module keys removed) plus the data shape."""
    network = {k: v for k, v in model_cfg.items() if k not in MODULE_KEYS}
    network.update(n_features=n_features, window=window, horizon=horizon)
    return network


def forecast_frame(
    windows: FoldWindows,
    predicted_target: np.ndarray,
    *,
    dataset: str,
    model_name: str,
    seed: int,
    fold: int,
    run_id: str,
) -> pd.DataFrame:
    """Long predictions table of one fold: one row per entity and horizon step.

    A predicted change is added to the last observed ``D``; levels are clipped to [0, 1],
    the range of ``D``.
    """
    n_test, horizon = windows.test_actual.shape
    predicted = predicted_target.astype(np.float64)
    if windows.target == "change":
        predicted = windows.test_last_observed[:, None] + predicted
    predicted = np.clip(predicted, 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "dataset": dataset,
            "model": model_name,
            "seed": seed,
            "fold": fold,
            "entity": np.repeat(windows.test_entities, horizon),
            "origin": windows.test_origin,
            "horizon": np.tile(np.arange(1, horizon + 1), n_test),
            "period": np.tile(windows.test_periods, n_test),
            "actual": windows.test_actual.reshape(-1),
            "predicted": predicted.reshape(-1),
            "last_observed": np.repeat(windows.test_last_observed, horizon),
            "run_id": run_id,
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return frame


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
    model_cfg: Mapping[str, Any],
    settings: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    return {
        "network": dict(network),
        **loss_settings(model_cfg),
        "training": dict(settings),
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
    model_cfg: Mapping[str, Any],
    settings: Mapping[str, Any],
    fold_dir: Path,
    root_dir: Path,
    logger: MLFlowLogger | bool,
    seed: int,
) -> tuple[ConvergenceForecaster, str, pl.Trainer]:
    """Train on one fold's windows; return the best-checkpoint model and its path."""
    module_kwargs = loss_settings(model_cfg)
    if module_kwargs["input_mode"] != "levels" and windows.target != "change":
        raise ConfigError(
            "models.input_mode",
            f"{module_kwargs['input_mode']!r} drops the level of D: it needs training.target "
            f"'change', not {windows.target!r}",
        )
    module = build_module(
        network, module_kwargs, settings["learning_rate"], windows.x_train, windows.y_train
    )
    data = WindowDataModule(windows, batch_size=int(settings["batch_size"]), seed=seed)
    # Stale checkpoints from an earlier run would make ModelCheckpoint write best-v1.ckpt.
    shutil.rmtree(fold_dir, ignore_errors=True)
    checkpoint = ModelCheckpoint(
        dirpath=fold_dir, filename="best", monitor="val_loss", mode="min", save_top_k=1
    )
    trainer = pl.Trainer(
        **trainer_device_kwargs(settings),
        deterministic=bool(settings["deterministic"]),
        max_epochs=int(settings["max_epochs"]),
        callbacks=[
            EarlyStopping(monitor="val_loss", mode="min", patience=int(settings["patience"])),
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


def backtest_folds(wide: pd.DataFrame, settings: Mapping[str, Any]) -> list[Fold]:
    """Rolling-origin folds over the periods every entity covers.

    The one place folds are built: the neural backtest, the baselines and the scenario
    analysis all call it, so they forecast the same origins and targets.
    ``settings`` are :func:`training_settings`.
    """
    return rolling_origin_folds(
        covered_periods(wide),
        n_origins=int(settings["n_origins"]),
        horizon=int(settings["horizon"]),
        step=int(settings["step"]),
        val_size=int(settings["val_size"]),
        min_train=int(settings["min_train"]),
    )


def train_and_backtest(
    *,
    dataset: str,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    model_name: str,
    model_cfg: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
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
    settings = training_settings(training_cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    window, horizon = int(settings["window"]), int(settings["horizon"])
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
            wide, mspec, fold, window=window, horizon=horizon, target=settings["target"]
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
        network = network_settings(model_cfg, windows.n_features, window, horizon)
        fold_dir = out_dir / f"fold{fold.index}"
        run_id = ""
        logger: MLFlowLogger | bool = False
        # Under strategy="ddp" every rank re-runs this loop; only rank 0 tracks and writes.
        if tracking is not None and rank_zero_only.rank == 0:
            run_id = create_child_run(
                tracking,
                run_name=f"{model_name}-seed{seed}-fold{fold.index}",
                params=_fold_params(fold, network, model_cfg, settings, seed),
                tags={"dataset": dataset, "model": model_name, "seed": seed, "fold": fold.index},
            )
            logger = MLFlowLogger(tracking_uri=tracking.uri, run_id=run_id)
        try:
            best, best_path, trainer = train_fold(
                windows,
                network=network,
                model_cfg=model_cfg,
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
        if settings["refit"]:
            refit_epochs = best_epoch_count(best.history)
            early_history = best.history
            early_path = Path(best_path).with_name("early_stopping.ckpt")
            if trainer.is_global_zero:
                Path(best_path).replace(early_path)
            best, best_path = refit_module(
                windows,
                network=network,
                module_kwargs=loss_settings(model_cfg),
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
