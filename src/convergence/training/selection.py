"""Per-data-set model choices made on validation data only (issue 10).

Which input mode, pooling, skip path and penalty strength suit a data set differs by
orders of magnitude between data sets, so they are chosen per data set by a small fixed
grid search: every candidate (the reference model's configuration with the grid's
overrides) is trained with early stopping on the training windows of each *selection
fold* and scored by its lowest validation loss (standardised MSE, comparable across
candidates because the target statistics do not depend on them). A candidate's score is
the validation loss pooled over the selection folds' windows (window-weighted mean) and
averaged over the selection seeds (two by default, so that no choice rests on one
seed's initialisation). A candidate wins only by a stated margin
(:func:`choose_within_margin`): every candidate whose score is within ``margin`` (5 % by
default) of the lowest is a *near tie*, and among those the one that departs from the
reference configuration (the model as written in the config) in the fewest keys is chosen,
then the earlier in grid order. The data must beat the configuration as written by more
than seed noise to change it; ``choice.json`` and ``summary.md`` say when a choice was a
near tie.

The selection folds (:func:`selection_folds`) are the first backtest fold and, on short
series, earlier folds whose validation spans end ``val_size`` periods apart, added until
the validation windows reach ``min_validation_windows`` or ``max_folds`` folds (or the
training span would fall below ``min_train``). On China (one entity, 3 validation windows
per fold) this multiplies the windows a choice rests on; data sets with enough windows in
the first fold use that fold only. Every selection fold's validation span ends at or
before the first forecast origin, before every test period of the backtest, so no
test-period value can change a choice (``test_selection_ignores_test_periods`` checks
exactly that).

On panels of many entities (more than ``selection.max_entities``, 200 by default) the
candidates are trained and scored on the windows of a deterministic sample of that many
entities (:func:`selection_entities`: seeded with :data:`ENTITY_SAMPLE_SEED`, sorted),
so the search costs about as much as on a 200-entity panel; the measurement model
(feature scaling) is still fitted on every entity's training rows. Panels with at most
``max_entities`` entities (every default data set) take the unchanged path: every
entity's windows. ``choice.json`` records the sample. The choice is then
applied to every trained model by :func:`~convergence.training.choice.apply_choice`: a model keeps the keys in which
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

import numpy as np
import pandas as pd
import pytorch_lightning as pl

from convergence.backtest.contract import backtest_folds, covered_periods
from convergence.backtest.folds import Fold
from convergence.backtest.windows import FoldWindows, build_fold_windows
from convergence.errors import ConfigError, SeriesTooShortError
from convergence.measures.index import MeasurementSpec
from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.backtest import train_fold
from convergence.training.choice import model_values
from convergence.training.fitting import network_state

log = logging.getLogger(__name__)

#: seed of the entity sample of :func:`selection_entities` (fixed: the sample depends
#: only on the entity labels and ``max_entities``).
ENTITY_SAMPLE_SEED = 0

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

TRIAL_COLUMNS: tuple[str, ...] = (
    "trial",
    "overrides",
    "fold",
    "val_windows",
    "seed",
    "val_loss",
    "epochs",
)
"""Columns of the trial table of :func:`select_configuration` (one row per candidate,
selection fold and seed)."""


@dataclass(frozen=True)
class Selection:
    """The outcome of a search: the chosen overrides and every trial's score."""

    choice: dict[str, Any]
    trials: pd.DataFrame  # TRIAL_COLUMNS, one row per candidate and seed
    # trial, overrides, mean_val_loss, rank (1 = lowest loss), departures (keys that
    # differ from the reference), within_margin, chosen
    ranking: pd.DataFrame
    fold_indices: tuple[int, ...]  # 0 = the first backtest fold, -j = j folds earlier
    validation_periods: tuple[str, str]  # first and last validation period used
    n_validation_windows: int  # over all selection folds
    chosen_trial: int = 0
    near_tie: tuple[str, ...] = ()  # the other candidates within the margin of the lowest
    n_entities: int = 0  # entities in the data set
    # the entity sample the candidates were scored on (None: every entity)
    entities: tuple[str, ...] | None = None


def choose_within_margin(
    scores: Sequence[float], departures: Sequence[int], margin: float
) -> tuple[int, tuple[int, ...]]:
    """The chosen candidate and every candidate within ``margin`` of the lowest score.

    A candidate is within the margin when its score is at most ``best + margin * |best|``
    (``margin`` relative to the lowest finite score). Among those the one with the fewest
    ``departures`` (keys in which it differs from the reference configuration) wins, then
    the earliest. NaN scores (diverged) are never within the margin; when every score is
    NaN the first candidate is returned alone.

    Raises:
        ConfigError: a negative margin (``selection.margin``).
    """
    if not margin >= 0.0:
        raise ConfigError("selection.margin", f"must be >= 0, got {margin!r}")
    finite = [i for i, score in enumerate(scores) if math.isfinite(score)]
    if not finite:
        return 0, (0,)
    best = min(scores[i] for i in finite)
    bound = best + margin * abs(best)
    tied = tuple(i for i in finite if scores[i] <= bound)
    chosen = min(tied, key=lambda i: (departures[i], i))
    return chosen, tied


def departures_from(reference_cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> int:
    """How many keys of ``overrides`` change the reference configuration's value."""
    reference = model_values(reference_cfg)
    return sum(1 for key, value in overrides.items() if reference.get(key) != value)


def selection_entities(
    entities: Sequence[str], max_entities: int | None, seed: int = ENTITY_SAMPLE_SEED
) -> tuple[str, ...] | None:
    """A deterministic sample of ``max_entities`` of ``entities``, sorted; None (use
    every entity) when there are at most ``max_entities`` or ``max_entities`` is None.

    The sample is drawn from the sorted distinct labels with ``numpy``'s
    ``default_rng(seed)`` without replacement, so it depends only on the labels,
    ``max_entities`` and ``seed``, not on their order.

    Raises:
        ConfigError: ``max_entities`` below 1 (``selection.max_entities``).
    """
    if max_entities is None:
        return None
    if int(max_entities) < 1:
        raise ConfigError("selection.max_entities", f"must be >= 1, got {max_entities!r}")
    labels = sorted({str(entity) for entity in entities})
    if len(labels) <= int(max_entities):
        return None
    rng = np.random.default_rng(int(seed))
    picked = rng.choice(len(labels), size=int(max_entities), replace=False)
    return tuple(labels[i] for i in sorted(picked))


def _earlier_fold(
    periods: Sequence[str], origin: int, settings: TrainingSettings, index: int
) -> Fold | None:
    """The fold whose origin is ``periods[origin]``, or None if it keeps fewer than
    ``min_train`` training periods."""
    val_start = origin + 1 - settings.val_size
    if val_start < settings.min_train:
        return None
    return Fold(
        index=index,
        origin=origin,
        train_periods=list(periods[:val_start]),
        val_periods=list(periods[val_start : origin + 1]),
        test_periods=list(periods[origin + 1 : origin + 1 + settings.horizon]),
    )


def _search_fit(
    windows: FoldWindows,
    model: ModelSettings,
    settings: TrainingSettings,
    fold_dir: Path,
    seed: int,
    initial_state: Mapping[str, Any] | None = None,
) -> tuple[Any, float]:
    """Early stopping only (no refit: it would not change the validation loss) from
    ``seed``; the best module and its validation loss (NaN if none)."""
    pl.seed_everything(int(seed), workers=True, verbose=False)
    best, _, best_val, _ = train_fold(
        windows,
        network=model.network_fields(windows.n_features, settings.window, settings.horizon),
        model=model,
        settings=replace(settings, refit=False),
        fold_dir=fold_dir,
        root_dir=fold_dir.parent,
        seed=int(seed),
        initial_state=initial_state,
    )
    return best, float("nan") if best_val is None else float(best_val)


def selection_folds(wide: pd.DataFrame, settings: TrainingSettings, max_folds: int) -> list[Fold]:
    """The first backtest fold, then up to ``max_folds - 1`` earlier folds, newest first.

    Fold ``-j`` has its origin ``j * val_size`` periods before the first fold's origin, so
    the validation spans do not overlap; a fold is added only while its training span
    keeps ``min_train`` periods. Test spans of the earlier folds are never used.
    """
    first = backtest_folds(wide, settings)[0]
    periods = covered_periods(wide)
    folds = [first]
    for j in range(1, max(int(max_folds), 1)):
        fold = _earlier_fold(periods, first.origin - j * settings.val_size, settings, -j)
        if settings.val_size < 1 or fold is None:
            break
        folds.append(fold)
    return folds


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
    min_validation_windows: int,
    max_folds: int,
    margin: float,
    on_trial: Callable[[int, dict[str, Any], int, int, float, int], None] | None = None,
    max_entities: int | None = None,
) -> Selection:
    """Search ``grid`` around ``reference_cfg`` on the selection folds' validation windows.

    Selection folds (:func:`selection_folds`) are added, newest first, until their
    validation windows number at least ``min_validation_windows`` or ``max_folds`` are
    used. ``on_trial(trial, overrides, fold, seed, val_loss, epochs)`` is called after
    every training (the stage logs an MLflow child run there). Checkpoints go to
    ``work_dir`` and are thrown away with it. With more than ``max_entities`` entities
    only the windows of :func:`selection_entities`' sample are used (training and
    validation); with fewer, or ``max_entities=None``, every entity's.

    Raises:
        SeriesTooShortError: the first fold has no validation window.
    """
    candidates = candidate_grid(grid)
    all_entities = wide.index.get_level_values("entity").unique()
    sample = selection_entities(all_entities, max_entities)
    if sample is not None:
        log.info(
            "selection on %d of %d entities (selection.max_entities; seeded sample %d)",
            len(sample),
            len(all_entities),
            ENTITY_SAMPLE_SEED,
        )
    fold_windows: list[tuple[Fold, FoldWindows]] = []
    for fold in selection_folds(wide, settings, max_folds):
        windows = build_fold_windows(
            wide,
            mspec,
            fold,
            window=settings.window,
            horizon=settings.horizon,
            target=settings.target,
            only_entities=sample,
        )
        if windows.x_val.shape[0] == 0:
            if not fold_windows:
                raise SeriesTooShortError(
                    f"selection fold {fold.index}: no validation window; lower window or horizon"
                )
            break
        fold_windows.append((fold, windows))
        if sum(w.x_val.shape[0] for _, w in fold_windows) >= min_validation_windows:
            break
    rows = []
    for trial, overrides in enumerate(candidates):
        model = ModelSettings.from_mapping({**reference_cfg, **overrides})
        for fold, windows in fold_windows:
            for seed in seeds:
                best, val_loss = _search_fit(
                    windows,
                    model,
                    settings,
                    Path(work_dir) / f"trial{trial}-fold{fold.index}-seed{seed}",
                    seed,
                )
                epochs = len(best.history)
                rows.append(
                    {
                        "trial": trial,
                        "overrides": overrides_label(overrides),
                        "fold": fold.index,
                        "val_windows": int(windows.x_val.shape[0]),
                        "seed": int(seed),
                        "val_loss": val_loss,
                        "epochs": epochs,
                    }
                )
                log.info(
                    "selection trial %d/%d (%s) fold %d seed %d: val loss %.6g after %d epochs",
                    trial + 1,
                    len(candidates),
                    overrides_label(overrides),
                    fold.index,
                    seed,
                    val_loss,
                    epochs,
                )
                if on_trial is not None:
                    on_trial(trial, overrides, fold.index, int(seed), val_loss, epochs)
    trials = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    ranking = (
        trials.groupby(["trial", "overrides"], sort=True)[["val_loss", "val_windows"]]
        .apply(_pooled_val_loss)
        .rename("mean_val_loss")
        .reset_index()
    )
    # NaN (diverged) candidates rank last; stable sort keeps grid order on ties.
    order = ranking["mean_val_loss"].fillna(math.inf).argsort(kind="stable")
    ranking = ranking.iloc[order.to_numpy()].reset_index(drop=True)
    ranking["rank"] = range(1, len(ranking) + 1)
    ranking["departures"] = [
        departures_from(reference_cfg, candidates[int(trial)]) for trial in ranking["trial"]
    ]
    position, tied = choose_within_margin(
        ranking["mean_val_loss"].astype(float).tolist(), ranking["departures"].tolist(), margin
    )
    ranking["within_margin"] = [i in tied for i in range(len(ranking))]
    ranking["chosen"] = [i == position for i in range(len(ranking))]
    chosen_trial = int(ranking.loc[position, "trial"])
    chosen = candidates[chosen_trial]
    if len(tied) > 1:
        log.info(
            "near tie: %d candidates within %.1f %% of the lowest validation loss; chose %s "
            "(fewest departures from the reference, then grid order)",
            len(tied),
            100 * margin,
            overrides_label(chosen),
        )
    return Selection(
        choice=dict(chosen),
        chosen_trial=chosen_trial,
        near_tie=tuple(str(ranking.loc[i, "overrides"]) for i in tied if i != position),
        trials=trials,
        ranking=ranking,
        fold_indices=tuple(fold.index for fold, _ in fold_windows),
        validation_periods=(fold_windows[-1][0].val_periods[0], fold_windows[0][0].val_periods[-1]),
        n_validation_windows=sum(int(w.x_val.shape[0]) for _, w in fold_windows),
        n_entities=len(all_entities),
        entities=sample,
    )


@dataclass(frozen=True)
class WarmStartComparison:
    """Fresh vs warm-started training of the chosen configuration on the first fold.

    ``warm_val_loss`` is the first fold's lowest validation loss when training starts
    from the early-stopping weights of the fold ``step`` periods earlier (what
    ``training.warm_start`` does between backtest folds); ``fresh_val_loss`` is the same
    configuration's loss from its seeded initialisation (from the search). Both are
    means over the selection seeds. ``warm_start`` is True only when warm is lower than
    fresh by more than ``margin`` (relative to the lower of the two); within the margin
    (``near_tie``) the simpler fresh start is kept.
    """

    warm_start: bool
    fresh_val_loss: float
    warm_val_loss: float
    previous_origin: str
    near_tie: bool = False


def compare_warm_start(
    *,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    reference_cfg: Mapping[str, Any],
    settings: TrainingSettings,
    selection: Selection,
    seeds: Sequence[int],
    work_dir: Path,
    margin: float,
) -> WarmStartComparison | None:
    """Decide ``training.warm_start`` for a data set on the first fold's validation windows.

    The chosen configuration is trained with early stopping on the fold ``step`` periods
    before the first backtest fold, and the first fold is trained again starting from
    those weights; its validation loss is compared with the fresh start's from the search.
    Every period involved ends at or before the first forecast origin. Returns None when
    the series is too short for the earlier fold (``min_train`` training periods).
    """
    first = backtest_folds(wide, settings)[0]
    periods = covered_periods(wide)
    origin = first.origin - settings.step
    previous = _earlier_fold(periods, origin, settings, -1)
    if previous is None:
        return None
    model = ModelSettings.from_mapping({**reference_cfg, **selection.choice})
    chosen_trial = selection.chosen_trial
    fresh_rows = selection.trials[
        (selection.trials["trial"] == chosen_trial) & (selection.trials["fold"] == first.index)
    ]
    fresh = float(fresh_rows["val_loss"].mean())
    build = {
        "window": settings.window,
        "horizon": settings.horizon,
        "target": settings.target,
        "only_entities": selection.entities,
    }
    previous_windows = build_fold_windows(wide, mspec, previous, **build)
    first_windows = build_fold_windows(wide, mspec, first, **build)
    if previous_windows.x_val.shape[0] == 0:
        return None
    warm_losses = []
    for seed in seeds:
        state = None
        for fold, windows in ((previous, previous_windows), (first, first_windows)):
            best, val_loss = _search_fit(
                windows,
                model,
                settings,
                Path(work_dir) / f"warm-start-fold{fold.index}-seed{seed}",
                seed,
                initial_state=state,
            )
            state = network_state(best)
        warm_losses.append(val_loss)
    warm = float(sum(warm_losses) / len(warm_losses))
    if math.isfinite(warm) and math.isfinite(fresh):
        near_tie = abs(warm - fresh) <= margin * min(abs(warm), abs(fresh))
        chosen = warm < fresh and not near_tie
    else:
        near_tie, chosen = False, math.isfinite(warm)
    log.info(
        "warm start on fold %d from fold -1 (origin %s): val loss %.6g vs fresh %.6g -> %s%s",
        first.index,
        periods[origin],
        warm,
        fresh,
        "warm start" if chosen else "fresh start",
        f" (near tie: within {100 * margin:.1f} %)" if near_tie else "",
    )
    return WarmStartComparison(
        warm_start=bool(chosen),
        fresh_val_loss=fresh,
        warm_val_loss=warm,
        previous_origin=periods[origin],
        near_tie=bool(near_tie),
    )


def _pooled_val_loss(trials: pd.DataFrame) -> float:
    """Window-weighted mean validation loss over folds and seeds (NaN if any trial is NaN).

    Every seed sees the same windows, so this is the seeds' mean of the pooled MSE.
    """
    if trials["val_loss"].isna().any():
        return math.nan
    weights = trials["val_windows"].astype(float)
    return float((trials["val_loss"] * weights).sum() / weights.sum())
