"""Rolling-origin backtest of every seed of one network at once (``training.vectorise_seeds``).

The same backtest as :func:`~convergence.training.backtest.train_and_backtest`, fold by
fold, with the seeds trained as one vectorised ensemble
(:mod:`convergence.training.seed_ensemble`) instead of one after another. The fold's
windows are built once for all seeds. Every seed still gets exactly what the sequential
path writes for it: per fold a child run of its own parent run (same params, tags,
per-epoch losses, test metrics and artifacts, plus the tag ``ensemble_members``),
``fold<k>/best.ckpt`` (and ``early_stopping.ckpt`` with ``training.refit``) holding a
single network, ``fold<k>/predictions.csv`` and ``history.csv``. Early stopping, the
refit epoch count and the warm start between folds are per seed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from convergence.backtest.contract import backtest_folds, forecast_frame
from convergence.backtest.windows import build_fold_windows
from convergence.data.canonical import write_csv_atomic
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.measures.index import MeasurementSpec
from convergence.settings import ModelSettings, TrainingSettings
from convergence.tracking.mlflow_tracking import TrackingContext, create_child_run, log_artifacts
from convergence.training.backtest import (
    _fold_metrics,
    _fold_params,
    fold_description,
    history_frame,
)
from convergence.training.fitting import best_epoch_count, network_state, refit_windows
from convergence.training.seed_ensemble import (
    build_members,
    ensemble_device,
    fit_members,
    member_module,
    save_member_checkpoint,
    set_determinism,
)

log = logging.getLogger(__name__)


def train_and_backtest_ensemble(
    *,
    dataset: str,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    model_name: str,
    model: ModelSettings,
    settings: TrainingSettings,
    seeds: Sequence[int],
    out_dirs: Sequence[Path],
    trackings: Sequence[TrackingContext | None],
) -> list[pd.DataFrame]:
    """Backtest one model over all folds for every seed; one predictions table per seed.

    ``out_dirs`` and ``trackings`` hold one entry per seed (its checkpoint folder and its
    parent run); the files and runs are those of
    :func:`~convergence.training.backtest.train_and_backtest` for that seed.
    """
    seeds = [int(seed) for seed in seeds]
    if not len(seeds) == len(out_dirs) == len(trackings):
        raise ValueError("seeds, out_dirs and trackings differ in length")
    if model.input_mode != "levels" and settings.target != "change":
        raise ConfigError(
            "models.input_mode",
            f"{model.input_mode!r} drops the level of D: it needs training.target "
            f"'change', not {settings.target!r}",
        )
    out_dirs = [Path(folder) for folder in out_dirs]
    for folder in out_dirs:
        folder.mkdir(parents=True, exist_ok=True)
    device = ensemble_device(settings)
    set_determinism(settings.deterministic)
    count = len(seeds)
    window, horizon = settings.window, settings.horizon
    folds = backtest_folds(wide, settings)
    frames: list[list[pd.DataFrame]] = [[] for _ in seeds]
    histories: list[dict[int, list[dict[str, float]]]] = [{} for _ in seeds]
    # training.warm_start, per seed: the previous fold's early-stopping weights.
    warm_states: list[dict[str, torch.Tensor] | None] = [None] * count
    for fold in folds:
        log.info(
            "%s %s seeds %s (one ensemble on %s): %s",
            dataset,
            model_name,
            seeds,
            device,
            fold_description(fold, len(folds)),
        )
        windows = build_fold_windows(
            wide, mspec, fold, window=window, horizon=horizon, target=settings.target
        )
        if windows.x_val.shape[0] == 0:
            raise SeriesTooShortError(
                f"fold {fold.index}: no validation window (no entity has window ({window}) "
                f"+ horizon ({horizon}) contiguous complete periods reaching the "
                "validation periods); lower window or horizon"
            )
        n_train, n_val = windows.x_train.shape[0], windows.x_val.shape[0]
        log.info(
            "fold %d: %d train, %d val, %d test windows (%d entities skipped), %d features",
            fold.index,
            n_train,
            n_val,
            windows.x_test.shape[0],
            windows.n_test_skipped,
            windows.n_features,
        )
        network = model.network_fields(windows.n_features, window, horizon)
        fold_dirs = [folder / f"fold{fold.index}" for folder in out_dirs]
        run_ids = [
            create_child_run(
                tracking,
                run_name=f"{model_name}-seed{seed}-fold{fold.index}",
                params=_fold_params(fold, network, model, settings, seed),
                tags={"dataset": dataset, "model": model_name, "seed": seed, "fold": fold.index},
            )
            if tracking is not None
            else ""
            for seed, tracking in zip(seeds, trackings, strict=True)
        ]
        fit_started = time.perf_counter()
        try:
            for fold_dir in fold_dirs:
                # Stale files from an earlier run must not be mistaken for this run's.
                shutil.rmtree(fold_dir, ignore_errors=True)
            start_states = warm_states
            members = build_members(
                network,
                model.module_hparams(),
                settings.learning_rate,
                windows.x_train,
                windows.y_train,
                seeds,
                start_states,
            )
            fits = fit_members(
                members,
                seeds,
                windows.x_train,
                windows.y_train,
                windows.x_val,
                windows.y_val,
                batch_size=settings.batch_size,
                epochs=[settings.max_epochs] * count,
                patience=settings.patience,
                device=device,
            )
            name = "early_stopping" if settings.refit else "best"
            finals, best_paths = [], []
            for member, fit, fold_dir in zip(members, fits, fold_dirs, strict=True):
                module = member_module(member, fit.state)
                best_paths.append(
                    save_member_checkpoint(
                        module,
                        fold_dir / f"{name}.ckpt",
                        best_score=fit.best_score,
                        best_epoch=fit.best_epoch,
                        epochs=len(fit.history),
                        steps=fit.steps,
                    )
                )
                finals.append(module)
            if settings.warm_start:
                warm_states = [network_state(module) for module in finals]
            log.info(
                "fold %d: epochs %s, best val loss %s",
                fold.index,
                [len(fit.history) for fit in fits],
                ", ".join(f"{fit.best_score:.6g}" for fit in fits if fit.best_score is not None),
            )
            refit_epochs = [0] * count
            if settings.refit:
                refit_epochs = [best_epoch_count(fit.history) for fit in fits]
                merged = refit_windows(windows)
                refit_members = build_members(
                    network,
                    model.module_hparams(),
                    settings.learning_rate,
                    merged.x_train,
                    merged.y_train,
                    seeds,
                    start_states,
                )
                refits = fit_members(
                    refit_members,
                    seeds,
                    merged.x_train,
                    merged.y_train,
                    None,
                    None,
                    batch_size=settings.batch_size,
                    epochs=refit_epochs,
                    patience=None,
                    device=device,
                )
                finals, best_paths = [], []
                for member, fit, fold_dir, epochs in zip(
                    refit_members, refits, fold_dirs, refit_epochs, strict=True
                ):
                    module = member_module(member, fit.state)
                    best_paths.append(
                        save_member_checkpoint(
                            module,
                            fold_dir / "best.ckpt",
                            best_score=None,
                            best_epoch=None,
                            epochs=epochs,
                            steps=fit.steps,
                        )
                    )
                    finals.append(module)
                log.info("fold %d: refitted on train + val for %s epochs", fold.index, refit_epochs)
            predictions = [
                forecast_frame(
                    windows,
                    module.predict_array(windows.x_test),
                    dataset=dataset,
                    model_name=model_name,
                    seed=seed,
                    fold=fold.index,
                    run_id=run_id,
                )
                for module, seed, run_id in zip(finals, seeds, run_ids, strict=True)
            ]
        except BaseException:
            for run_id, tracking in zip(run_ids, trackings, strict=True):
                if run_id and tracking is not None:
                    MlflowClient(tracking.uri).set_terminated(run_id, "FAILED")
            raise
        fit_seconds = time.perf_counter() - fit_started
        samples = sum(
            len(fit.history) * n_train + epochs * (n_train + n_val)
            for fit, epochs in zip(fits, refit_epochs, strict=True)
        )
        log.info(
            "fold %d: %d training samples (%d seeds) in %.2f s (%.0f samples/s)",
            fold.index,
            samples,
            count,
            fit_seconds,
            samples / fit_seconds if fit_seconds > 0 else float("nan"),
        )
        for position in range(count):
            fit, frame, fold_dir = fits[position], predictions[position], fold_dirs[position]
            frames[position].append(frame)
            histories[position][fold.index] = fit.history  # the curve that chose the epochs
            predictions_path = fold_dir / "predictions.csv"
            write_csv_atomic(frame, predictions_path)
            tracking, run_id = trackings[position], run_ids[position]
            if not run_id or tracking is None:
                continue
            client = MlflowClient(tracking.uri)
            summary = {
                "best_val_loss": float("nan") if fit.best_score is None else fit.best_score,
                "epochs": float(len(fit.history)),
                "refit_epochs": float(refit_epochs[position]),
                "test_windows": float(windows.x_test.shape[0]),
            }
            client.log_batch(
                run_id,
                metrics=_fold_metrics(fit.history, frame, summary),
                tags=[RunTag("device", str(device)), RunTag("ensemble_members", str(count))],
            )
            log_artifacts(client, run_id, [predictions_path])
            log_artifacts(client, run_id, [best_paths[position]], artifact_path="checkpoint")
            client.set_terminated(run_id, "FINISHED")
    for position, out_dir in enumerate(out_dirs):
        history_path = out_dir / "history.csv"
        write_csv_atomic(history_frame(histories[position]), history_path)
        tracking = trackings[position]
        if tracking is not None:
            log_artifacts(MlflowClient(tracking.uri), tracking.parent_run_id, [history_path])
    return [pd.concat(frame, ignore_index=True) for frame in frames]
