"""Per-data-set model choices made on validation data only (issue 10).

Which input mode, pooling, skip path and penalty strength suit a data set differs by
orders of magnitude between data sets, so they are chosen per data set by a small fixed
grid search: every candidate (the reference model's configuration with the grid's
overrides) is trained with early stopping on the **first** backtest fold's training
windows and scored by its lowest validation loss (standardised MSE, comparable across
candidates because the target statistics do not depend on them), averaged over the
selection seeds. The lowest mean wins; ties go to the earlier candidate in grid order.

The first fold's validation periods end at the first forecast origin, before every test
period of the backtest, so no test-period value can change a choice
(``test_selection_ignores_test_periods`` checks exactly that). The choice is then
applied to every trained model by :func:`apply_choice`: a model keeps the keys in which
it deliberately differs from the reference (an ablation's switched-off part), and takes
the choice for the others.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl

from convergence.backtest.contract import backtest_folds
from convergence.backtest.windows import build_fold_windows
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.measures.index import MeasurementSpec
from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.backtest import train_fold

log = logging.getLogger(__name__)

#: model keys a grid may search (each changes the network or its inputs, not the scale
#: of the validation loss; ``scaling`` would, so it is not searchable).
SEARCHABLE_KEYS: tuple[str, ...] = (
    "input_mode",
    "pooling",
    "skip",
    "penalty",
    "penalty_lambda",
    "penalty_alpha",
    "dropout",
    "norm",
    "conv_channels",
    "kernel_size",
    "lstm_hidden",
    "dense_hidden",
)

MIN_VALIDATION_WINDOWS = 30
"""Below this many validation windows a choice is flagged (``selection_few_validation_windows``):
the validation losses of the candidates then differ by noise as much as by design."""

TRIAL_COLUMNS: tuple[str, ...] = ("trial", "overrides", "seed", "val_loss", "epochs")
"""Columns of the per-seed trial table of :func:`select_configuration`."""


@dataclass(frozen=True)
class Selection:
    """The outcome of a search: the chosen overrides and every trial's score."""

    choice: dict[str, Any]
    trials: pd.DataFrame  # TRIAL_COLUMNS, one row per candidate and seed
    ranking: pd.DataFrame  # trial, overrides, mean_val_loss, rank (1 = chosen)
    fold_index: int
    validation_periods: tuple[str, str]
    n_validation_windows: int


def candidate_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a fixed order (keys as given).

    Raises:
        ConfigError: a key that may not be searched, or a key without values.
    """
    for key, values in grid.items():
        if key not in SEARCHABLE_KEYS:
            raise ConfigError(
                f"selection.grid.{key}",
                f"not searchable; searchable keys: {', '.join(SEARCHABLE_KEYS)}",
            )
        if len(values) == 0:
            raise ConfigError(f"selection.grid.{key}", "needs at least one value")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def overrides_label(overrides: Mapping[str, Any]) -> str:
    """``key=value`` pairs joined by ``, `` (the candidate's name in tables and runs)."""
    return ", ".join(f"{key}={value}" for key, value in overrides.items()) or "reference"


def select_configuration(
    *,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    reference_cfg: Mapping[str, Any],
    settings: TrainingSettings,
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    work_dir: Path,
    on_trial: Callable[[int, dict[str, Any], int, float, int], None] | None = None,
) -> Selection:
    """Search ``grid`` around ``reference_cfg`` on the first fold's validation windows.

    ``on_trial(trial, overrides, seed, val_loss, epochs)`` is called after every training
    (the stage logs an MLflow child run there). Checkpoints go to ``work_dir``.

    Raises:
        SeriesTooShortError: the first fold has no validation window.
    """
    candidates = candidate_grid(grid)
    fold = backtest_folds(wide, settings)[0]
    windows = build_fold_windows(
        wide,
        mspec,
        fold,
        window=settings.window,
        horizon=settings.horizon,
        target=settings.target,
    )
    if windows.x_val.shape[0] == 0:
        raise SeriesTooShortError(
            f"selection fold {fold.index}: no validation window; lower window or horizon"
        )
    # Early stopping only: the refit would not change the validation loss.
    search_settings = replace(settings, refit=False)
    rows = []
    for trial, overrides in enumerate(candidates):
        model = ModelSettings.from_mapping({**reference_cfg, **overrides})
        network = model.network_fields(windows.n_features, settings.window, settings.horizon)
        for seed in seeds:
            pl.seed_everything(int(seed), workers=True, verbose=False)
            best, _, best_val, _ = train_fold(
                windows,
                network=network,
                model=model,
                settings=search_settings,
                fold_dir=Path(work_dir) / f"trial{trial}-seed{seed}",
                root_dir=Path(work_dir),
                seed=int(seed),
            )
            val_loss = float("nan") if best_val is None else float(best_val)
            epochs = len(best.history)
            rows.append(
                {
                    "trial": trial,
                    "overrides": overrides_label(overrides),
                    "seed": int(seed),
                    "val_loss": val_loss,
                    "epochs": epochs,
                }
            )
            log.info(
                "selection trial %d/%d (%s) seed %d: val loss %.6g after %d epochs",
                trial + 1,
                len(candidates),
                overrides_label(overrides),
                seed,
                val_loss,
                epochs,
            )
            if on_trial is not None:
                on_trial(trial, overrides, int(seed), val_loss, epochs)
    trials = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    ranking = (
        trials.groupby(["trial", "overrides"], sort=True)["val_loss"]
        .mean()
        .rename("mean_val_loss")
        .reset_index()
    )
    # NaN (diverged) candidates rank last; stable sort keeps grid order on ties.
    order = ranking["mean_val_loss"].fillna(math.inf).argsort(kind="stable")
    ranking = ranking.iloc[order.to_numpy()].reset_index(drop=True)
    ranking["rank"] = range(1, len(ranking) + 1)
    chosen = candidates[int(ranking.loc[0, "trial"])]
    return Selection(
        choice=dict(chosen),
        trials=trials,
        ranking=ranking,
        fold_index=fold.index,
        validation_periods=(fold.val_periods[0], fold.val_periods[-1]),
        n_validation_windows=int(windows.x_val.shape[0]),
    )


def apply_choice(
    model_cfg: Mapping[str, Any], reference_cfg: Mapping[str, Any], choice: Mapping[str, Any]
) -> dict[str, Any]:
    """``model_cfg`` with the chosen values for every key it shares with the reference.

    A key whose value in ``model_cfg`` differs from the reference's (after schema
    defaults) is the model's own design (``cnn_lstm_no_skip``'s ``skip: false``) and is
    kept; the other chosen keys replace the model's values. The reference itself thus
    becomes ``{**reference_cfg, **choice}``.
    """
    model_full = ModelSettings.from_mapping(model_cfg)
    reference_full = ModelSettings.from_mapping(reference_cfg)
    model_values = {**model_full.network, **model_full.module_hparams()}
    reference_values = {**reference_full.network, **reference_full.module_hparams()}
    effective = dict(model_cfg)
    for key, value in choice.items():
        if model_values.get(key) == reference_values.get(key):
            effective[key] = value
    return effective
