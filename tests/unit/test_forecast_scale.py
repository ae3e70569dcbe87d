"""Forecasting on panels of many entities (issue 24): same numbers on small panels,
bounded work on large ones (selection's entity sample, vectorised windows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from panels import TINY_CNN_LSTM, TRENDING_SPEC, trending_panel

from convergence.backtest.contract import backtest_folds
from convergence.backtest.windows import FoldWindows, build_fold_windows, entity_period_cube
from convergence.errors import ConfigError
from convergence.models.baselines import d_grid, per_series_forecasts
from convergence.settings import TrainingSettings
from convergence.training import selection as selection_module
from convergence.training.selection import select_configuration, selection_entities

REFERENCE = dict(TINY_CNN_LSTM)
SETTINGS = TrainingSettings.from_mapping(
    {
        "window": 5,
        "horizon": 2,
        "n_origins": 3,
        "step": 2,
        "val_size": 3,
        "min_train": 15,
        "max_epochs": 2,
        "patience": 1,
        "batch_size": 16,
        "learning_rate": 1e-2,
        "accelerator": "cpu",
        "devices": 1,
    }
)
GRID = {"skip": [True, False]}


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _select(wide: pd.DataFrame, tmp_path: Path, **kwargs: Any) -> Any:
    return select_configuration(
        wide=wide,
        mspec=TRENDING_SPEC,
        reference_cfg=REFERENCE,
        settings=SETTINGS,
        grid=GRID,
        seeds=[0],
        work_dir=tmp_path,
        min_validation_windows=1,
        max_folds=1,
        margin=0.05,
        **kwargs,
    )


def _recording_fit(seen: list[FoldWindows]) -> Any:
    """A stand-in for training: records the windows and scores them without a network."""

    class Best:
        history: list[int] = [0]

    def fit(windows: FoldWindows, model: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
        seen.append(windows)
        return Best(), float(np.mean(windows.y_val**2)) * (
            2.0 if model.network.get("skip") else 1.0
        )

    return fit


def test_sample_is_deterministic_sorted_and_bounded() -> None:
    labels = [f"r{i:04d}" for i in range(1000)]
    sample = selection_entities(labels, 200)
    assert sample is not None and len(sample) == 200
    assert list(sample) == sorted(sample) and len(set(sample)) == 200
    assert selection_entities(list(reversed(labels)), 200) == sample  # order-free
    assert selection_entities(labels, 200, seed=1) != sample
    assert selection_entities(labels[:200], 200) is None  # at the threshold: every entity
    assert selection_entities(labels, None) is None
    with pytest.raises(ConfigError, match=r"selection\.max_entities"):
        selection_entities(labels, 0)


def test_below_threshold_the_search_sees_the_old_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default data sets (1..42 entities) are below max_entities: identical windows."""
    wide = trending_panel(n_entities=6, n_periods=26)
    seen: list[FoldWindows] = []
    monkeypatch.setattr(selection_module, "_search_fit", _recording_fit(seen))
    result = _select(wide, tmp_path / "a", max_entities=200)
    assert result.entities is None and result.n_entities == 6
    fold = backtest_folds(wide, SETTINGS)[0]
    old = build_fold_windows(wide, TRENDING_SPEC, fold, window=5, horizon=2)
    assert len(seen) == 2
    for windows in seen:
        for name in ("x_train", "y_train", "x_val", "y_val"):
            np.testing.assert_array_equal(getattr(windows, name), getattr(old, name))
    legacy = _select(wide, tmp_path / "b")  # max_entities not given: the former call
    pd.testing.assert_frame_equal(result.trials, legacy.trials)


def test_below_threshold_candidate_losses_are_unchanged(tmp_path: Path) -> None:
    """Real (two-epoch) training: the same losses with and without the threshold."""
    wide = trending_panel(n_entities=4, n_periods=26)
    with_threshold = _select(wide, tmp_path / "a", max_entities=200)
    without = _select(wide, tmp_path / "b")
    pd.testing.assert_frame_equal(with_threshold.trials, without.trials, check_exact=True)
    assert with_threshold.choice == without.choice


def test_above_threshold_only_the_sample_windows_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = trending_panel(n_entities=12, n_periods=26)
    seen: list[FoldWindows] = []
    monkeypatch.setattr(selection_module, "_search_fit", _recording_fit(seen))
    first = _select(wide, tmp_path / "a", max_entities=5)
    again = _select(wide, tmp_path / "b", max_entities=5)
    assert first.entities == again.entities and first.entities is not None
    assert len(first.entities) == 5 and first.n_entities == 12
    fold = backtest_folds(wide, SETTINGS)[0]
    full = build_fold_windows(wide, TRENDING_SPEC, fold, window=5, horizon=2)
    only = build_fold_windows(
        wide, TRENDING_SPEC, fold, window=5, horizon=2, only_entities=first.entities
    )
    assert only.test_entities == list(first.entities)
    # every entity has the same number of windows in this balanced panel
    assert only.x_train.shape[0] * 12 == full.x_train.shape[0] * 5
    np.testing.assert_array_equal(seen[0].x_train, only.x_train)
    np.testing.assert_array_equal(seen[0].y_val, only.y_val)
    # the sample's windows are the full panel's windows of those entities (same scaling)
    per_entity = full.x_train.shape[0] // 12
    rows = [
        i * per_entity + k
        for i, entity in enumerate(sorted(full.test_entities))
        if entity in first.entities
        for k in range(per_entity)
    ]
    np.testing.assert_array_equal(full.x_train[rows], only.x_train)
    pd.testing.assert_frame_equal(first.trials, again.trials)


def test_entity_period_cube_places_rows_and_leaves_gaps() -> None:
    wide = trending_panel(n_entities=3, n_periods=5).drop(("e1", "1992"))
    periods = sorted(set(wide.index.get_level_values("period")))
    entities, cube = entity_period_cube(wide, periods)
    assert entities == ["e0", "e1", "e2"] and cube.shape == (3, 5, 4)
    assert np.isnan(cube[1, 2]).all() and np.isfinite(np.delete(cube[1], 2, axis=0)).all()
    np.testing.assert_array_equal(cube[2, 4], wide.loc[("e2", "1994")].to_numpy())
    grids = d_grid(wide.rename(columns={"ict_share": "D"}), periods)
    np.testing.assert_array_equal(grids["e2"], cube[2, :, 3])


def test_statsforecast_jobs_do_not_change_forecasts() -> None:
    rng = np.random.default_rng(0)
    histories = {f"e{i}": 0.5 + np.cumsum(rng.normal(0, 0.01, 20)) for i in range(4)}
    one, fb_one = per_series_forecasts("ets", histories, 3, 1, n_jobs=1)
    two, fb_two = per_series_forecasts("ets", histories, 3, 1, n_jobs=2)
    assert fb_one == fb_two
    for entity in histories:
        np.testing.assert_array_equal(one[entity], two[entity])
