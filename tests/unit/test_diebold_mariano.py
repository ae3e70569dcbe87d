"""Tests for convergence.evaluation.diebold_mariano."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from convergence.errors import ConfigError, InputError
from convergence.evaluation.diebold_mariano import (
    DMResult,
    diebold_mariano,
    holm_bonferroni,
    long_run_variance,
)

# Hand example, squared loss:
#   e_a = [1, -2, 3, -1, 2]  -> e_a^2 = [1, 4, 9, 1, 4]
#   e_b = [1,  1, -1, 1, 1]  -> e_b^2 = [1, 1, 1, 1, 1]
#   d = [0, 3, 8, 0, 3], n = 5, d_bar = 14/5 = 2.8
#   d - d_bar = [-2.8, 0.2, 5.2, -2.8, 0.2]
#   gamma_0 = (7.84 + 0.04 + 27.04 + 7.84 + 0.04) / 5 = 42.8 / 5 = 8.56
#   gamma_1 = (0.2*-2.8 + 5.2*0.2 + -2.8*5.2 + 0.2*-2.8) / 5
#           = (-0.56 + 1.04 - 14.56 - 0.56) / 5 = -14.64 / 5 = -2.928
# h = 1: V = 8.56,                      DM = 2.8 / sqrt(8.56/5)  = 2.8 / sqrt(1.712)
#        HLN factor sqrt((5 + 1 - 2 + 0) / 5)     = sqrt(0.8)
# h = 2: V = 8.56 + 2*(-2.928) = 2.704, DM = 2.8 / sqrt(2.704/5) = 2.8 / sqrt(0.5408)
#        HLN factor sqrt((5 + 1 - 4 + 2/5) / 5)   = sqrt(0.48)
ERRORS_A = [1.0, -2.0, 3.0, -1.0, 2.0]
ERRORS_B = [1.0, 1.0, -1.0, 1.0, 1.0]


def test_long_run_variance_hand_values() -> None:
    d = [0.0, 3.0, 8.0, 0.0, 3.0]
    assert long_run_variance(d, 1) == pytest.approx(8.56)
    assert long_run_variance(d, 2) == pytest.approx(2.704)


@pytest.mark.parametrize(
    ("horizon", "variance_of_mean", "hln_factor"),
    [(1, 1.712, math.sqrt(0.8)), (2, 0.5408, math.sqrt(0.48))],
)
def test_hand_example(horizon: int, variance_of_mean: float, hln_factor: float) -> None:
    dm = 2.8 / math.sqrt(variance_of_mean)  # h=1: 2.13996, h=2: 3.80750

    raw = diebold_mariano(ERRORS_A, ERRORS_B, horizon=horizon, hln=False)
    assert raw.n == 5
    assert raw.mean_loss_diff == pytest.approx(2.8)
    assert raw.statistic == pytest.approx(dm)
    assert raw.p_value == pytest.approx(2 * stats.norm.sf(dm))

    corrected = diebold_mariano(ERRORS_A, ERRORS_B, horizon=horizon)
    # h=1: 1.91404, p = 0.12815; h=2: 2.63791, p = 0.05771 (t, 4 df)
    assert corrected.statistic == pytest.approx(dm * hln_factor)
    assert corrected.p_value == pytest.approx(2 * stats.t.sf(dm * hln_factor, df=4))


def test_hand_values_pinned() -> None:
    h1 = diebold_mariano(ERRORS_A, ERRORS_B, horizon=1)
    h2 = diebold_mariano(ERRORS_A, ERRORS_B, horizon=2)
    assert (h1.statistic, h1.p_value) == pytest.approx((1.914041, 0.128148), abs=1e-6)
    assert (h2.statistic, h2.p_value) == pytest.approx((2.637912, 0.057706), abs=1e-6)


def test_absolute_loss() -> None:
    # |e_a| = [1, 2, 3, 1, 2], |e_b| = 1 -> d = [0, 1, 2, 0, 1], d_bar = 0.8
    # d - d_bar = [-0.8, 0.2, 1.2, -0.8, 0.2]; gamma_0 = (0.64+0.04+1.44+0.64+0.04)/5 = 0.56
    # DM = 0.8 / sqrt(0.56/5)
    result = diebold_mariano(ERRORS_A, ERRORS_B, horizon=1, loss="absolute", hln=False)
    assert result.mean_loss_diff == pytest.approx(0.8)
    assert result.statistic == pytest.approx(0.8 / math.sqrt(0.112))


def test_non_positive_variance_falls_back_to_lag_zero() -> None:
    # absolute loss, d = [2, 0, 2, 0, 2, 0]: d_bar = 1, gamma_0 = 1, gamma_1 = -5/6
    # V = 1 - 5/3 < 0 -> V = gamma_0 = 1; DM = 1 / sqrt(1/6) = sqrt(6)
    # HLN (h=2, n=6): sqrt((6 + 1 - 4 + 2/6) / 6) = sqrt(5/9)
    errors_a = [2.0, 0.0, 2.0, 0.0, 2.0, 0.0]
    assert long_run_variance(errors_a, 2) < 0
    result = diebold_mariano(errors_a, [0.0] * 6, horizon=2, loss="absolute")
    assert result.statistic == pytest.approx(math.sqrt(6) * math.sqrt(5 / 9))


def test_swapping_forecasts_flips_sign_keeps_p() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=40), rng.normal(scale=1.2, size=40)
    for horizon in (1, 3):
        ab = diebold_mariano(a, b, horizon=horizon)
        ba = diebold_mariano(b, a, horizon=horizon)
        assert ab.statistic == pytest.approx(-ba.statistic)
        assert ab.p_value == pytest.approx(ba.p_value)
        assert ab.mean_loss_diff == pytest.approx(-ba.mean_loss_diff)


def test_identical_errors_give_zero_statistic_and_p_one() -> None:
    errors = [0.5, -1.0, 2.0, 0.1]
    assert diebold_mariano(errors, errors, horizon=1) == DMResult(0.0, 1.0, 4, 0.0)


def test_constant_nonzero_loss_difference_is_undefined() -> None:
    result = diebold_mariano([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0], horizon=1)
    assert math.isnan(result.statistic) and math.isnan(result.p_value)
    assert result.mean_loss_diff == pytest.approx(3.0)


def test_too_few_observations_give_nan() -> None:
    short = diebold_mariano([1.0, 2.0], [0.0, 0.0], horizon=1)
    assert short.n == 2 and math.isnan(short.statistic) and math.isnan(short.p_value)
    # h >= n: the HLN factor (n-h)(n-h+1)/n^2 is not positive
    wide = diebold_mariano([1.0, 2.0, 3.0], [0.0, 0.5, 0.0], horizon=3)
    assert math.isnan(wide.statistic)


def test_clearly_better_forecast_is_detected() -> None:
    rng = np.random.default_rng(42)
    n = 200
    worse = rng.normal(scale=1.0, size=n)
    better = rng.normal(scale=0.5, size=n)
    result = diebold_mariano(worse, better, horizon=1)
    assert result.statistic > 0
    assert result.p_value < 0.01
    # MA(1) errors of 2-step forecasts, tested with h = 2
    shocks = rng.normal(size=(2, n + 1))
    worse_ma = shocks[0, 1:] + 0.5 * shocks[0, :-1]
    better_ma = 0.4 * (shocks[1, 1:] + 0.5 * shocks[1, :-1])
    assert diebold_mariano(worse_ma, better_ma, horizon=2).p_value < 0.01


def test_equal_accuracy_is_not_rejected_too_often() -> None:
    rng = np.random.default_rng(7)
    p_values = [
        diebold_mariano(rng.normal(size=60), rng.normal(size=60), horizon=1).p_value
        for _ in range(400)
    ]
    assert np.mean(np.array(p_values) < 0.05) < 0.1


def test_input_validation() -> None:
    with pytest.raises(InputError, match="same shape"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0], horizon=1)
    with pytest.raises(InputError, match="finite"):
        diebold_mariano([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], horizon=1)
    with pytest.raises(ConfigError, match="evaluation.horizon"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], horizon=0)
    with pytest.raises(ConfigError, match="evaluation.dm_loss"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], horizon=1, loss="huber")  # type: ignore[arg-type]


def test_holm_known_values() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, max(0.06, 1*0.04) = 0.06
    np.testing.assert_allclose(holm_bonferroni([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_holm_caps_at_one_and_is_monotone() -> None:
    # sorted 0.2, 0.3, 0.5, 0.9 -> 0.8, 0.9, max(0.9, 1.0) = 1.0, 1.0
    np.testing.assert_allclose(holm_bonferroni([0.5, 0.2, 0.9, 0.3]), [1.0, 0.8, 1.0, 0.9])
    raw = np.random.default_rng(0).uniform(size=25)
    adjusted = holm_bonferroni(raw)
    order = np.argsort(raw)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= raw) and np.all(adjusted <= 1.0)


def test_holm_keeps_nan_and_excludes_it_from_m() -> None:
    adjusted = holm_bonferroni([0.01, np.nan, 0.04])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.04])
    assert holm_bonferroni([]).shape == (0,)


def test_holm_rejects_out_of_range() -> None:
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        holm_bonferroni([0.5, 1.5])
