"""Supervised windows for one backtest fold, built without look-ahead.

For a fold the measurement model (min-max bounds and entropy weights) is fitted on the
rows of the fold's *training* periods only, never on its validation or test periods, and
then applied to every row. Each entity-period gets a feature vector::

    [normalized indicators ..., U_<subsystem> ..., D]

all in [0, 1] (the normalization clips). Entities are processed separately. A period
counts as *complete* for an entity when the entity has a row there and every feature is
finite; windows only use contiguous runs of complete periods (consecutive positions in
the data set's sorted period list), so a gap in an entity's series splits it.

A window ending at period position ``t`` has input ``features[t-L+1 .. t]`` (shape
``(L, F)``) and target ``D[t+1 .. t+H]``; with ``target="change"`` the target is
``D[t+h] - D[t]`` (the forecast is added back to the last observed ``D``).

* train windows: every ``t`` whose targets all lie in the training periods (so their
  inputs do too);
* validation windows: targets all in training or validation periods, at least one in
  validation periods;
* test windows: one per entity, ending at the fold origin (the last validation period),
  with targets in the test periods. Entities without a complete window there are
  skipped and counted.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from convergence.backtest.folds import Fold
from convergence.config import schema_default
from convergence.errors import InputError, SeriesTooShortError
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    apply_measurement,
    fit_measurement,
)
from convergence.measures.normalize import apply_minmax

Target = Literal["change", "level"]
TARGETS: tuple[str, ...] = ("change", "level")
TARGET_COLUMN = "D"


@dataclass
class FoldWindows:
    """Windows of one fold as float32 arrays, plus what is needed to score the test windows.

    Attributes:
        x_train, x_val, x_test: inputs, shape ``(n, window, n_features)``.
        y_train, y_val, y_test: targets, shape ``(n, horizon)`` (``D`` changes from the
            last input period for ``target="change"``, ``D`` levels otherwise).
        feature_names: names of the ``n_features`` feature columns.
        test_entities: entity of each test window.
        test_origin: period label of the last input period (the fold origin).
        test_periods: the ``horizon`` target periods of every test window.
        test_last_observed: ``D`` at the origin per test window, shape ``(n_test,)``.
        test_actual: actual ``D`` at the target periods, shape ``(n_test, horizon)``.
        n_test_skipped: entities without a complete test window.
        measurement_model: the model fitted on the fold's training periods.
        target: ``"change"`` or ``"level"``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    test_entities: list[str]
    test_origin: str
    test_periods: list[str]
    test_last_observed: np.ndarray
    test_actual: np.ndarray
    n_test_skipped: int
    measurement_model: MeasurementModel
    target: str
    window: int = field(default=0)
    horizon: int = field(default=0)

    @property
    def n_features(self) -> int:
        """Features per period."""
        return int(self.x_train.shape[2])


def features_with_model(wide: pd.DataFrame, model: MeasurementModel) -> pd.DataFrame:
    """Feature frame of ``wide`` under an already fitted measurement ``model`` (no refit):
    normalized indicators (clipped), ``U_<subsystem>`` columns, then ``D``."""
    mspec = model.spec
    measured = apply_measurement(model, wide)
    normalized = apply_minmax(wide[mspec.indicators], model.bounds, mspec.directions, clip=True)
    subsystem_columns = [f"U_{sub}" for sub in mspec.subsystems]
    # U and D are weighted means / geometric forms of clipped values: already in [0, 1];
    # clipping again only guards against rounding just outside the interval.
    levels = measured[[*subsystem_columns, TARGET_COLUMN]].clip(0.0, 1.0)
    return pd.concat([normalized, levels], axis=1)


def fold_feature_frame(
    wide: pd.DataFrame, mspec: MeasurementSpec, train_periods: Sequence[str]
) -> tuple[pd.DataFrame, MeasurementModel]:
    """Fit the measurement model on ``train_periods`` rows and build every row's features.

    Returns the feature frame (:func:`features_with_model`, same index as ``wide``) and
    the fitted model.
    """
    periods = wide.index.get_level_values("period").astype(str)
    fit_mask = pd.Series(periods.isin(list(train_periods)), index=wide.index)
    if not fit_mask.any():
        raise InputError("no rows fall in the fold's training periods")
    model = fit_measurement(wide, mspec, fit_mask=fit_mask)
    return features_with_model(wide, model), model


def _window_starts(complete: np.ndarray, span: int) -> np.ndarray:
    """Boolean per start position: are ``span`` consecutive positions from it all complete."""
    n = complete.shape[0]
    if n < span:
        return np.zeros(0, dtype=bool)
    counts = np.convolve(complete.astype(int), np.ones(span, dtype=int), mode="valid")
    return counts == span


def _longest_run(complete: np.ndarray) -> int:
    """Length of the longest run of ``True`` in a boolean vector."""
    best = current = 0
    for flag in complete:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def entity_period_cube(
    frame: pd.DataFrame, periods: Sequence[str]
) -> tuple[list[object], np.ndarray]:
    """Dense ``(entity, period position, column)`` array of ``frame`` (NaN where missing).

    ``frame`` has a MultiIndex ``(entity, period)``; entities come sorted (as
    ``groupby(level="entity", sort=True)`` yields them), positions follow ``periods``.
    Returns the entity labels and the float64 array.
    """
    entity_codes, entity_labels = pd.factorize(frame.index.get_level_values("entity"), sort=True)
    labels = frame.index.get_level_values("period").astype(str)
    positions = pd.Index(list(periods)).get_indexer(labels)
    if (positions < 0).any():
        raise InputError("a row's period is not among the data set's periods")
    cube = np.full((len(entity_labels), len(periods), frame.shape[1]), np.nan)
    cube[entity_codes, positions] = frame.to_numpy(dtype=float)
    return list(entity_labels), cube


def _gather(
    cube: np.ndarray,
    rows_starts: tuple[np.ndarray, np.ndarray],
    window: int,
    horizon: int,
    d_position: int,
    change: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n, window, F)`` and targets ``(n, horizon)`` of the windows starting at
    ``rows_starts`` (entity row, start position) in ``cube``; targets are ``D`` changes
    from the last input period when ``change``, levels otherwise."""
    rows, starts = rows_starts
    inputs = cube[rows[:, None], starts[:, None] + np.arange(window)[None, :]]
    end_input = starts + window - 1
    targets = cube[
        rows[:, None], end_input[:, None] + np.arange(1, horizon + 1)[None, :], d_position
    ]
    if change:
        targets = targets - cube[rows, end_input, d_position][:, None]
    return inputs, targets


def build_fold_windows(
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    fold: Fold,
    *,
    window: int,
    horizon: int,
    target: Target | None = None,
    only_entities: Collection[str] | None = None,
) -> FoldWindows:
    """Build train, validation and test windows of one fold (see the module docstring).

    Args:
        wide: raw indicator panel, MultiIndex ``(entity, period)``, one column per
            indicator of ``mspec``.
        mspec: measurement spec; its model is fitted on the fold's training periods.
        fold: the backtest fold; its period labels must occur in ``wide``.
        window: input periods ``L`` per window.
        horizon: forecast periods ``H``; must equal ``len(fold.test_periods)``.
        target: ``"change"`` (``D[t+h] - D[t]``) or ``"level"`` (``D[t+h]``); None: the
            schema default of ``training.target``.
        only_entities: when given, windows (train, validation and test) are built for
            these entities only; the measurement model is still fitted on every entity's
            training rows, so the features are those of the full panel (the selection
            stage's entity subsample, :func:`~convergence.training.selection.selection_entities`).

    Raises:
        InputError: bad ``target`` or ``horizon`` inconsistent with the fold.
        SeriesTooShortError: no entity has a complete run of ``window + horizon``
            periods inside the training periods.
    """
    if target is None:
        target = schema_default("training.target")
    if target not in TARGETS:
        raise InputError(f"target must be one of {TARGETS}, got {target!r}")
    if window < 1 or horizon < 1:
        raise InputError(f"window and horizon must be >= 1, got {window} and {horizon}")
    if len(fold.test_periods) != horizon:
        raise InputError(
            f"fold {fold.index} has {len(fold.test_periods)} test periods, horizon is {horizon}"
        )
    features, model = fold_feature_frame(wide, mspec, fold.train_periods)
    feature_names = list(features.columns)
    n_features = len(feature_names)
    d_position = feature_names.index(TARGET_COLUMN)

    all_periods = sorted(set(wide.index.get_level_values("period").astype(str)))
    position_of = {period: i for i, period in enumerate(all_periods)}
    n_periods = len(all_periods)
    train_end = max(position_of[p] for p in fold.train_periods)  # last train position
    val_end = max(position_of[p] for p in [*fold.train_periods, *fold.val_periods])
    origin = val_end
    test_positions = [position_of[p] for p in fold.test_periods]
    if test_positions != list(range(origin + 1, origin + 1 + horizon)):
        raise InputError(f"fold {fold.index}: test periods do not follow the origin directly")

    span = window + horizon
    entities, cube = entity_period_cube(features, all_periods)
    if only_entities is not None:
        keep = {str(entity) for entity in only_entities}
        kept = np.array([str(entity) in keep for entity in entities], dtype=bool)
        entities, cube = [e for e, k in zip(entities, kept, strict=True) if k], cube[kept]
    complete = np.isfinite(cube).all(axis=2)  # (entity, period position)
    if n_periods >= span:
        # full_span[e, s]: positions s .. s+span-1 are all complete for entity e
        full_span = np.lib.stride_tricks.sliding_window_view(complete, span, axis=1).all(axis=2)
    else:
        full_span = np.zeros((len(entities), 0), dtype=bool)
    starts = np.arange(full_span.shape[1])
    last_target = starts + window - 1 + horizon
    # Windows whose targets touch test periods are left out (only the origin window may).
    usable = full_span & (last_target <= val_end)[None, :]
    is_train = (last_target <= train_end)[None, :]
    # np.nonzero walks row-major: entity by entity (sorted), starts ascending, as the
    # former per-entity loop did.
    change = target == "change"
    x_train, y_train = _gather(
        cube, np.nonzero(usable & is_train), window, horizon, d_position, change
    )
    x_val, y_val = _gather(
        cube, np.nonzero(usable & ~is_train), window, horizon, d_position, change
    )

    test_start = origin - window + 1
    if test_start >= 0 and origin + horizon < n_periods:
        has_test = full_span[:, test_start]
    else:
        has_test = np.zeros(len(entities), dtype=bool)
    test_rows = np.flatnonzero(has_test)
    x_test_arr = cube[test_rows, test_start : origin + 1] if test_rows.size else None
    levels = cube[test_rows, origin + 1 : origin + 1 + horizon, d_position]
    last_d = cube[test_rows, origin, d_position]
    test_entities = [str(entities[i]) for i in test_rows]
    n_skipped = len(entities) - int(test_rows.size)

    if x_train.shape[0] == 0:
        longest_train_run = max((_longest_run(row[: train_end + 1]) for row in complete), default=0)
        raise SeriesTooShortError(
            f"fold {fold.index}: the longest entity has {longest_train_run} contiguous "
            f"complete periods within the {len(fold.train_periods)} training periods "
            f"({fold.train_periods[0]}..{fold.train_periods[-1]}), but a training window "
            f"needs window ({window}) + horizon ({horizon}) = {span}; lower the window or "
            "horizon, or use fewer/earlier-spaced backtest origins"
        )

    def stack(arrays: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        if arrays is None or arrays.shape[0] == 0:
            return np.zeros((0, *shape), dtype=np.float32)
        return arrays.astype(np.float32)

    y_test_arr = (
        (levels - last_d[:, None] if target == "change" else levels) if test_rows.size else None
    )
    return FoldWindows(
        x_train=stack(x_train, (window, n_features)),
        y_train=stack(y_train, (horizon,)),
        x_val=stack(x_val, (window, n_features)),
        y_val=stack(y_val, (horizon,)),
        x_test=stack(x_test_arr, (window, n_features)),
        y_test=stack(y_test_arr, (horizon,)),
        feature_names=feature_names,
        test_entities=test_entities,
        test_origin=all_periods[origin],
        test_periods=list(fold.test_periods),
        test_last_observed=np.asarray(last_d, dtype=np.float64),
        test_actual=levels if test_rows.size else np.zeros((0, horizon)),
        n_test_skipped=n_skipped,
        measurement_model=model,
        target=target,
        window=window,
        horizon=horizon,
    )
