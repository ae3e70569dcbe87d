"""Fold windows: shapes, no look-ahead into validation/test periods, too-short data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import TRENDING_SPEC, trending_panel_by_row

from convergence.backtest.folds import rolling_origin_folds
from convergence.backtest.windows import build_fold_windows
from convergence.errors import SeriesTooShortError

SPEC = TRENDING_SPEC
WINDOW, HORIZON = 5, 2


def make_panel(n_entities: int = 6, n_periods: int = 30, seed: int = 0) -> pd.DataFrame:
    """Wide panel of trending, noisy indicators with annual periods from 1990."""
    return trending_panel_by_row(n_entities, n_periods, seed)


def last_fold(wide: pd.DataFrame):
    periods = sorted(set(wide.index.get_level_values("period")))
    return rolling_origin_folds(
        periods, n_origins=2, horizon=HORIZON, step=1, val_size=3, min_train=15
    )[-1]


def test_shapes_and_test_windows() -> None:
    wide = make_panel()
    fold = last_fold(wide)
    windows = build_fold_windows(wide, SPEC, fold, window=WINDOW, horizon=HORIZON)
    n_features = 4 + 2 + 1  # normalized indicators, U per subsystem, D
    n_train_periods = len(fold.train_periods)
    # per entity: t from WINDOW-1 to n_train - 1 - HORIZON
    assert windows.x_train.shape == (6 * (n_train_periods - WINDOW - HORIZON + 1), WINDOW, 7)
    assert windows.y_train.shape == (windows.x_train.shape[0], HORIZON)
    # val windows: last target in one of the 3 val periods
    assert windows.x_val.shape == (6 * 3, WINDOW, n_features)
    assert windows.x_test.shape == (6, WINDOW, n_features)
    assert windows.x_train.dtype == np.float32
    assert windows.feature_names[-1] == "D"
    assert windows.test_origin == fold.val_periods[-1]
    assert windows.test_periods == fold.test_periods
    assert windows.n_test_skipped == 0
    for x in (windows.x_train, windows.x_val, windows.x_test):
        assert np.all((x >= 0.0) & (x <= 1.0))
    # change target = actual D minus last observed D
    np.testing.assert_allclose(
        windows.y_test,
        windows.test_actual - windows.test_last_observed[:, None],
        rtol=1e-5,
        atol=1e-6,
    )
    # the last input period's D is the last observed D
    np.testing.assert_allclose(windows.x_test[:, -1, -1], windows.test_last_observed, rtol=1e-6)


def test_level_target() -> None:
    wide = make_panel()
    windows = build_fold_windows(
        wide, SPEC, last_fold(wide), window=WINDOW, horizon=HORIZON, target="level"
    )
    np.testing.assert_allclose(windows.y_test, windows.test_actual, rtol=1e-6)


def test_no_leakage_from_validation_and_test_periods() -> None:
    wide = make_panel()
    fold = last_fold(wide)
    before = build_fold_windows(wide, SPEC, fold, window=WINDOW, horizon=HORIZON)

    changed = wide.copy()
    periods = changed.index.get_level_values("period")
    held_out = periods.isin([*fold.val_periods, *fold.test_periods])
    rng = np.random.default_rng(99)
    changed.loc[held_out] = rng.uniform(-50.0, 50.0, size=(int(held_out.sum()), wide.shape[1]))
    after = build_fold_windows(changed, SPEC, fold, window=WINDOW, horizon=HORIZON)

    np.testing.assert_array_equal(before.x_train, after.x_train)
    np.testing.assert_array_equal(before.y_train, after.y_train)
    assert before.measurement_model.to_dict() == after.measurement_model.to_dict()
    # sanity: the change did reach the held-out windows
    assert not np.array_equal(before.x_test, after.x_test)


def test_gap_splits_runs_and_skips_test_entity() -> None:
    wide = make_panel()
    fold = last_fold(wide)
    # e0 loses the origin period: no test window for it, fewer val windows
    gappy = wide.drop(index=("e0", fold.val_periods[-1]))
    windows = build_fold_windows(gappy, SPEC, fold, window=WINDOW, horizon=HORIZON)
    assert windows.n_test_skipped == 1
    assert "e0" not in windows.test_entities
    assert windows.x_test.shape[0] == 5


def test_too_short_names_counts() -> None:
    wide = make_panel(n_periods=30)
    fold = last_fold(wide)  # 25 training periods
    with pytest.raises(
        SeriesTooShortError,
        match=r"longest entity has 25 contiguous.*needs window \(24\) \+ horizon \(2\) = 26",
    ):
        build_fold_windows(wide, SPEC, fold, window=24, horizon=HORIZON)
