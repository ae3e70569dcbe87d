"""Tests for convergence.evaluation.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convergence.errors import InputError, SeriesTooShortError
from convergence.evaluation.metrics import (
    grade_accuracy,
    mae,
    mase,
    naive_scale,
    rmse,
    smape,
)

# Hand example: A = [1, 2, 3, 4], F = [2, 2, 1, 5], e = A - F = [-1, 0, 2, -1]
ACTUAL = [1.0, 2.0, 3.0, 4.0]
PREDICTED = [2.0, 2.0, 1.0, 5.0]


def test_mae_hand_value() -> None:
    # (1 + 0 + 2 + 1) / 4 = 1
    assert mae(ACTUAL, PREDICTED) == pytest.approx(1.0)


def test_rmse_hand_value() -> None:
    # sqrt((1 + 0 + 4 + 1) / 4) = sqrt(1.5)
    assert rmse(ACTUAL, PREDICTED) == pytest.approx(math.sqrt(1.5))


def test_smape_hand_value() -> None:
    # 200/4 * (1/3 + 0/4 + 2/4 + 1/9) = 50 * 17/18 = 47.2222...
    assert smape(ACTUAL, PREDICTED) == pytest.approx(50 * 17 / 18)


def test_smape_zero_over_zero_is_zero() -> None:
    # terms: 0/0 -> 0, 200*1/1 = 200 -> mean 100
    assert smape([0.0, 0.0], [0.0, 1.0]) == pytest.approx(100.0)
    assert smape([0.0], [0.0]) == 0.0


def test_mase_hand_value_nonseasonal() -> None:
    # insample [1, 3, 2, 5, 4]: |3-1|, |2-3|, |5-2|, |4-5| = 2, 1, 3, 1 -> Q = 7/4
    # MASE = MAE / Q = 1 / 1.75 = 4/7
    insample = [1.0, 3.0, 2.0, 5.0, 4.0]
    assert naive_scale(insample) == pytest.approx(1.75)
    assert mase(ACTUAL, PREDICTED, insample) == pytest.approx(4 / 7)


def test_mase_hand_value_seasonal() -> None:
    # season 2: |2-1|, |5-3|, |4-2| = 1, 2, 2 -> Q = 5/3; MASE = 1 / (5/3) = 0.6
    insample = [1.0, 3.0, 2.0, 5.0, 4.0]
    assert mase(ACTUAL, PREDICTED, insample, season=2) == pytest.approx(0.6)


def test_mase_zero_scale_is_nan() -> None:
    assert math.isnan(mase([1.0], [2.0], [3.0, 3.0, 3.0]))


def test_mase_needs_insample_longer_than_season() -> None:
    with pytest.raises(SeriesTooShortError, match="season"):
        mase([1.0], [1.0], [1.0, 2.0], season=2)
    with pytest.raises(InputError, match="season"):
        mase([1.0], [1.0], [1.0, 2.0], season=0)


def test_shape_mismatch_and_empty_inputs_raise() -> None:
    with pytest.raises(InputError, match="same shape"):
        mae([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="empty"):
        rmse([], [])


def test_nan_propagates() -> None:
    assert math.isnan(mae([1.0, np.nan], [1.0, 1.0]))
    assert math.isnan(smape([1.0, np.nan], [1.0, 1.0]))


def test_grade_accuracy() -> None:
    assert grade_accuracy(["low", "mid", "high", "mid"], ["low", "high", "high", "low"]) == 0.5
    assert grade_accuracy([1, 2, 3], [1, 2, 3]) == 1.0
    with pytest.raises(InputError, match="length"):
        grade_accuracy([1, 2], [1])
    with pytest.raises(InputError):
        grade_accuracy([], [])


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def paired_arrays(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=1, max_value=30))
    a = draw(arrays(np.float64, n, elements=finite))
    f = draw(arrays(np.float64, n, elements=finite))
    return a, f


@settings(max_examples=200, deadline=None)
@given(paired_arrays())
def test_mae_le_rmse_and_smape_bounded(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, f = pair
    assert mae(a, f) <= rmse(a, f) * (1 + 1e-12) + 1e-12
    assert 0.0 <= smape(a, f) <= 200.0 + 1e-9


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(2, 30), elements=finite))
def test_perfect_forecast_scores_zero(a: np.ndarray) -> None:
    assert mae(a, a) == 0.0
    assert rmse(a, a) == 0.0
    assert smape(a, a) == 0.0
    insample = np.arange(5.0)
    assert mase(a, a, insample) == 0.0
    assert grade_accuracy(list(a), list(a)) == 1.0
