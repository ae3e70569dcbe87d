"""Tests for convergence.evaluation.folds."""

from __future__ import annotations

import pytest

from convergence.backtest.folds import Fold, periods_needed, rolling_origin_folds
from convergence.errors import ConfigError, InputError, SeriesTooShortError

PERIODS = [f"p{i:02d}" for i in range(20)]


def _labels(start: int, stop: int) -> list[str]:
    return [f"p{i:02d}" for i in range(start, stop)]


def test_hand_worked_example() -> None:
    # N = 20, K = 3, h = 2, step = 2, val = 3, min_train = 5 (needs 5+3+2+2*2 = 14)
    # last origin = 20 - 1 - 2 = 17; origins 13, 15, 17
    #   fold 0: train p00..p10, val p11..p13, test p14..p15
    #   fold 1: train p00..p12, val p13..p15, test p16..p17
    #   fold 2: train p00..p14, val p15..p17, test p18..p19
    folds = rolling_origin_folds(PERIODS, n_origins=3, horizon=2, step=2, val_size=3, min_train=5)
    assert folds == [
        Fold(0, 13, _labels(0, 11), _labels(11, 14), _labels(14, 16)),
        Fold(1, 15, _labels(0, 13), _labels(13, 16), _labels(16, 18)),
        Fold(2, 17, _labels(0, 15), _labels(15, 18), _labels(18, 20)),
    ]


@pytest.mark.parametrize(
    ("n_origins", "horizon", "step", "val_size", "min_train"),
    [(3, 2, 2, 3, 5), (1, 1, 1, 0, 1), (5, 3, 1, 2, 4), (4, 1, 3, 1, 2)],
)
def test_fold_invariants(
    n_origins: int, horizon: int, step: int, val_size: int, min_train: int
) -> None:
    folds = rolling_origin_folds(
        PERIODS,
        n_origins=n_origins,
        horizon=horizon,
        step=step,
        val_size=val_size,
        min_train=min_train,
    )
    position = {p: i for i, p in enumerate(PERIODS)}
    assert len(folds) == n_origins
    assert folds[-1].test_periods[-1] == PERIODS[-1]
    for k, fold in enumerate(folds):
        assert fold.index == k
        train, val, test = set(fold.train_periods), set(fold.val_periods), set(fold.test_periods)
        assert not (train & val or train & test or val & test)
        assert len(fold.train_periods) >= min_train
        assert len(fold.val_periods) == val_size
        assert len(fold.test_periods) == horizon
        # contiguous and ordered: train | val | test
        joined = fold.train_periods + fold.val_periods + fold.test_periods
        assert joined == PERIODS[: len(joined)]
        assert position[fold.test_periods[0]] == fold.origin + 1
        assert max(position[p] for p in train | val) < min(position[p] for p in test)
        if k > 0:
            assert fold.origin - folds[k - 1].origin == step


def test_exact_minimum_length_works_and_one_less_fails() -> None:
    needed = periods_needed(n_origins=3, horizon=2, step=2, val_size=3, min_train=5)
    assert needed == 14
    folds = rolling_origin_folds(
        PERIODS[:needed], n_origins=3, horizon=2, step=2, val_size=3, min_train=5
    )
    assert len(folds[0].train_periods) == 5
    with pytest.raises(SeriesTooShortError):
        rolling_origin_folds(
            PERIODS[: needed - 1], n_origins=3, horizon=2, step=2, val_size=3, min_train=5
        )


def test_too_short_message_says_have_need_and_knobs() -> None:
    with pytest.raises(SeriesTooShortError) as excinfo:
        rolling_origin_folds(PERIODS[:10], n_origins=3, horizon=2, step=2, val_size=3, min_train=5)
    message = str(excinfo.value)
    assert "10 periods" in message
    assert "needs 14" in message
    for knob in ("n_origins", "step", "val_size", "min_train", "horizon"):
        assert knob in message


def test_duplicate_periods_are_rejected() -> None:
    with pytest.raises(InputError, match="duplicates"):
        rolling_origin_folds(
            ["a", "b", "b", "c", "d"], n_origins=1, horizon=1, val_size=0, min_train=1
        )


@pytest.mark.parametrize(
    ("knob", "value"),
    [("n_origins", 0), ("horizon", 0), ("step", 0), ("val_size", -1), ("min_train", 0)],
)
def test_invalid_knobs_raise_config_error(knob: str, value: int) -> None:
    kwargs = {"n_origins": 2, "horizon": 1, "step": 1, "val_size": 1, "min_train": 2}
    kwargs[knob] = value
    with pytest.raises(ConfigError, match=f"evaluation.{knob}"):
        rolling_origin_folds(PERIODS, **kwargs)
