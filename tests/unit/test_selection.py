"""Per-data-set selection: on validation data only, applied to every model consistently."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from panels import TINY_CNN_LSTM, TRENDING_SPEC, trending_panel

from convergence.backtest.contract import backtest_folds
from convergence.errors import ConfigError
from convergence.settings import TrainingSettings
from convergence.training.choice import apply_choice, may_equal_reference, model_values
from convergence.training.selection import (
    candidate_grid,
    choose_within_margin,
    departures_from,
    overrides_label,
    select_configuration,
    selection_folds,
)

SPEC = TRENDING_SPEC
REFERENCE = dict(TINY_CNN_LSTM)
SETTINGS = TrainingSettings.from_mapping(
    {
        "window": 5,
        "horizon": 2,
        "n_origins": 3,
        "step": 2,
        "val_size": 3,
        "min_train": 15,
        "max_epochs": 4,
        "patience": 2,
        "batch_size": 16,
        "learning_rate": 1e-2,
        "accelerator": "cpu",
        "devices": 1,
    }
)
GRID = {"input_mode": ["levels", "relative_last"], "skip": [True, False]}


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_candidate_grid_is_the_product_in_key_order() -> None:
    grid = candidate_grid({"pooling": ["max", "none"], "penalty_lambda": [1e-4, 1e-2, 0.1]})
    assert len(grid) == 6
    assert grid[0] == {"pooling": "max", "penalty_lambda": 1e-4}
    assert grid[-1] == {"pooling": "none", "penalty_lambda": 0.1}
    assert overrides_label(grid[1]) == "pooling=max, penalty_lambda=0.01"


def test_candidate_grid_rejects_scaling_and_empty_lists() -> None:
    with pytest.raises(ConfigError, match=r"selection\.grid\.scaling"):
        candidate_grid({"scaling": ["standard", "none"]})
    with pytest.raises(ConfigError, match=r"selection\.grid\.skip"):
        candidate_grid({"skip": []})


def test_apply_choice_keeps_what_a_model_changes_on_purpose() -> None:
    choice = {"pooling": "none", "skip": False, "penalty_lambda": 0.01}
    assert apply_choice(REFERENCE, REFERENCE, choice) == {**REFERENCE, **choice}
    # An ablation keeps its own switched-off part and takes the rest of the choice.
    no_skip = {**REFERENCE, "skip": False}
    assert apply_choice(no_skip, REFERENCE, {"skip": True, "pooling": "none"}) == {
        **no_skip,
        "pooling": "none",
    }
    no_penalty = {**REFERENCE, "penalty": "none", "penalty_lambda": 0.0}
    assert apply_choice(no_penalty, REFERENCE, choice)["penalty_lambda"] == 0.0
    # Another architecture takes the choice of every key it shares with the reference.
    lstm = {**REFERENCE, "architecture": "lstm"}
    assert apply_choice(lstm, REFERENCE, choice) == {**lstm, **choice}


def test_may_equal_reference_only_when_every_difference_is_searched() -> None:
    grid = {"pooling": ["max", "none"], "skip": [True, False]}
    no_skip = {**REFERENCE, "skip": False}
    no_norm = {**REFERENCE, "norm": "none"}
    assert may_equal_reference(no_skip, REFERENCE, grid)
    # A part the grid never sets (norm) keeps the model apart from the reference.
    assert not may_equal_reference(no_norm, REFERENCE, grid)
    assert not may_equal_reference({**no_skip, "norm": "none"}, REFERENCE, grid)
    # The reference itself is not a candidate for reuse.
    assert not may_equal_reference(REFERENCE, REFERENCE, grid)
    # When the choice is skip=False the ablation and the reference are the same network.
    choice = {"skip": False, "pooling": "none"}
    assert model_values(apply_choice(no_skip, REFERENCE, choice)) == model_values(
        apply_choice(REFERENCE, REFERENCE, choice)
    )
    assert model_values(apply_choice(no_skip, REFERENCE, {"skip": True})) != model_values(
        apply_choice(REFERENCE, REFERENCE, {"skip": True})
    )


def test_selection_ignores_test_periods(tmp_path: Path) -> None:
    """Perturbing every value after the first fold's validation periods changes no
    validation loss and so no choice: the search never sees a test period."""
    wide = trending_panel(6, 30, 0)
    fold = backtest_folds(wide, SETTINGS)[0]
    periods = wide.index.get_level_values("period").astype(str)
    later = periods > fold.val_periods[-1]
    assert later.any() and (periods <= fold.val_periods[-1]).any()
    perturbed = wide.copy()
    rng = np.random.default_rng(1)
    perturbed.loc[later] = perturbed.loc[later] * rng.uniform(
        0.2, 5.0, size=perturbed.loc[later].shape
    )

    def search(panel, folder):
        return select_configuration(
            wide=panel,
            mspec=SPEC,
            reference_cfg=REFERENCE,
            settings=SETTINGS,
            grid=GRID,
            seeds=[0],
            work_dir=tmp_path / folder,
            min_validation_windows=1,
            max_folds=1,
            margin=0.0,
        )

    original = search(wide, "a")
    changed = search(perturbed, "b")
    assert len(original.trials) == 4 and original.trials["val_loss"].notna().all()
    assert original.choice == changed.choice
    np.testing.assert_array_equal(
        original.trials["val_loss"].to_numpy(), changed.trials["val_loss"].to_numpy()
    )
    assert original.validation_periods == (fold.val_periods[0], fold.val_periods[-1])
    # The chosen candidate is the one with the lowest validation loss.
    best = original.trials.loc[original.trials["val_loss"].idxmin(), "overrides"]
    assert overrides_label(original.choice) == best
    assert list(original.ranking["rank"]) == [1, 2, 3, 4]
    # 6 entities x 3 validation periods, each the end of one validation window.
    assert original.n_validation_windows == 18


def test_selection_folds_step_back_by_val_size_and_keep_min_train() -> None:
    wide = trending_panel(2, 30, 0)
    first = backtest_folds(wide, SETTINGS)[0]
    folds = selection_folds(wide, SETTINGS, max_folds=10)
    assert folds[0] == first
    assert [fold.index for fold in folds] == list(range(0, -len(folds), -1))
    for previous, fold in zip(folds, folds[1:], strict=False):
        assert fold.origin == previous.origin - SETTINGS.val_size
        assert fold.val_periods[-1] < previous.val_periods[0]  # no overlap
    assert all(len(fold.train_periods) >= SETTINGS.min_train for fold in folds)
    # One more would leave fewer than min_train training periods.
    assert len(folds[-1].train_periods) - SETTINGS.val_size < SETTINGS.min_train
    assert selection_folds(wide, SETTINGS, max_folds=1) == [first]


def test_short_series_pool_earlier_folds_until_enough_windows(tmp_path: Path) -> None:
    """Two entities give 6 validation windows per fold: asking for 10 adds fold -1, and the
    candidate's score is the window-weighted validation loss of both folds; test periods
    still change nothing."""
    wide = trending_panel(2, 30, 0)
    settings = replace(SETTINGS, min_train=8)

    def search(panel, folder):
        return select_configuration(
            wide=panel,
            mspec=SPEC,
            reference_cfg=REFERENCE,
            settings=settings,
            grid={"skip": [True, False]},
            seeds=[0],
            work_dir=tmp_path / folder,
            min_validation_windows=10,
            max_folds=6,
            margin=0.0,
        )

    selection = search(wide, "a")
    assert selection.fold_indices == (0, -1)
    assert selection.n_validation_windows == 12
    assert list(selection.trials["fold"]) == [0, -1, 0, -1]
    assert list(selection.trials["val_windows"]) == [6, 6, 6, 6]
    for trial, rows in selection.trials.groupby("trial"):
        expected = np.average(rows["val_loss"], weights=rows["val_windows"])
        got = selection.ranking.set_index("trial").loc[trial, "mean_val_loss"]
        assert got == pytest.approx(expected)
    folds = selection_folds(wide, settings, max_folds=2)
    assert selection.validation_periods == (folds[1].val_periods[0], folds[0].val_periods[-1])
    periods = wide.index.get_level_values("period").astype(str)
    later = periods > folds[0].val_periods[-1]
    perturbed = wide.copy()
    perturbed.loc[later] = perturbed.loc[later] * 3.0
    changed = search(perturbed, "b")
    np.testing.assert_array_equal(
        selection.trials["val_loss"].to_numpy(), changed.trials["val_loss"].to_numpy()
    )


def test_warm_start_comparison_uses_periods_before_the_first_origin(tmp_path: Path) -> None:
    from convergence.training.selection import compare_warm_start

    wide = trending_panel(6, 30, 0)

    def decide(panel, folder):
        selection = select_configuration(
            wide=panel,
            mspec=SPEC,
            reference_cfg=REFERENCE,
            settings=SETTINGS,
            grid={"skip": [True, False]},
            seeds=[0],
            work_dir=tmp_path / folder,
            min_validation_windows=1,
            max_folds=1,
            margin=0.0,
        )
        return selection, compare_warm_start(
            wide=panel,
            mspec=SPEC,
            reference_cfg=REFERENCE,
            settings=SETTINGS,
            selection=selection,
            seeds=[0],
            work_dir=tmp_path / folder,
            margin=0.0,
        )

    selection, comparison = decide(wide, "a")
    assert comparison is not None
    fresh = selection.trials.query("trial == @selection.ranking.trial[0] and fold == 0")
    assert comparison.fresh_val_loss == pytest.approx(float(fresh["val_loss"].mean()))
    assert np.isfinite(comparison.warm_val_loss)
    assert comparison.warm_start == (comparison.warm_val_loss < comparison.fresh_val_loss)
    assert comparison.near_tie == (comparison.warm_val_loss == comparison.fresh_val_loss)
    first = backtest_folds(wide, SETTINGS)[0]
    periods = sorted(set(wide.index.get_level_values("period").astype(str)))
    assert comparison.previous_origin == periods[first.origin - SETTINGS.step]
    # Values after the first origin change nothing.
    later = wide.index.get_level_values("period").astype(str) > first.val_periods[-1]
    perturbed = wide.copy()
    perturbed.loc[later] = perturbed.loc[later] * 4.0
    assert decide(perturbed, "b")[1] == comparison
    # Too short for an earlier fold with min_train training periods: no decision.
    short = replace(SETTINGS, min_train=30 - 2 - 3 - 2 * 2)  # the first fold has exactly min_train
    assert backtest_folds(wide, short)[0].train_periods.__len__() == short.min_train
    assert (
        compare_warm_start(
            wide=wide,
            mspec=SPEC,
            reference_cfg=REFERENCE,
            settings=short,
            selection=selection,
            seeds=[0],
            work_dir=tmp_path / "c",
            margin=0.0,
        )
        is None
    )


def test_choose_within_margin_keeps_the_configuration_as_written_on_near_ties() -> None:
    """Known values: best 1.0, margin 5 % -> bound 1.05; among 1.0, 1.04 (tied) the one
    with fewer departures wins; 1.06 is outside; NaN never ties."""
    scores = [1.0, 1.04, 1.06, float("nan")]
    assert choose_within_margin(scores, [2, 1, 0, 0], 0.05) == (1, (0, 1))
    # Equal departures: the earlier (grid order) wins.
    assert choose_within_margin(scores, [1, 1, 0, 0], 0.05) == (0, (0, 1))
    # No margin: the lowest wins whatever its departures.
    assert choose_within_margin(scores, [2, 1, 0, 0], 0.0) == (0, (0,))
    # A wide margin takes in every finite score, and then the reference itself wins.
    assert choose_within_margin(scores, [2, 1, 0, 0], 0.10) == (2, (0, 1, 2))
    assert choose_within_margin([float("nan")] * 2, [1, 0], 0.05) == (0, (0,))
    with pytest.raises(ConfigError, match="selection.margin"):
        choose_within_margin(scores, [0, 0, 0, 0], -0.1)


def test_departures_count_only_keys_that_change_the_reference() -> None:
    assert departures_from(REFERENCE, {"skip": True, "input_mode": "levels"}) == 0
    assert departures_from(REFERENCE, {"skip": False, "input_mode": "relative_last"}) == 2


def test_selection_reports_near_ties_and_keeps_the_reference_within_the_margin(
    tmp_path: Path,
) -> None:
    """With a margin wider than every gap, the candidate equal to the reference wins and
    every other candidate is named as a near tie; the ranking still orders by loss."""
    wide = trending_panel(6, 30, 0)
    kwargs = dict(
        wide=wide,
        mspec=SPEC,
        reference_cfg=REFERENCE,
        settings=SETTINGS,
        grid=GRID,
        seeds=[0],
        min_validation_windows=1,
        max_folds=1,
    )
    strict = select_configuration(**kwargs, work_dir=tmp_path / "a", margin=0.0)
    wide_margin = select_configuration(**kwargs, work_dir=tmp_path / "b", margin=1e6)
    assert wide_margin.choice == {"input_mode": "levels", "skip": True}  # the reference
    assert len(wide_margin.near_tie) == 3
    assert wide_margin.ranking["within_margin"].all()
    assert int(wide_margin.ranking["chosen"].sum()) == 1
    assert wide_margin.ranking["mean_val_loss"].is_monotonic_increasing
    # Without a margin the lowest loss wins and nothing is a near tie (distinct losses).
    best = strict.ranking.loc[strict.ranking["mean_val_loss"].idxmin(), "overrides"]
    assert overrides_label(strict.choice) == best and strict.near_tie == ()
