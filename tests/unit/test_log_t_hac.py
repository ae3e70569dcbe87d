"""Known-value tests of the log-t regression's standard errors: the quadratic-spectral
long-run variance with Andrews' AR(1) bandwidth (``qs_andrews``, psecta / ConvergenceClubs)
and the Newey-West sandwich (``newey_west``); planted clubs recovered under both."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from unit.test_convergence_tests import _matrix, _partition, _three_clubs, _transition_design

from convergence.analysis._regression import (
    QS_BANDWIDTH_CONSTANT,
    ols_qs_andrews,
    qs_andrews_lrv,
    qs_kernel,
)
from convergence.analysis.phillips_sul import (
    HAC_METHODS,
    LOG_T_COLUMNS,
    PhillipsSulSettings,
    log_t_test,
    phillips_sul,
    regression_start,
)
from convergence.errors import InputError


def _qs_by_spectral_window(x: float) -> float:
    """QS kernel as the Fourier transform of its spectral window (Andrews 1991):
    ``k(x) = int_{-m}^{m} 3 / (4 m) (1 - (l / m)^2) cos(l x) dl`` with ``m = 6 pi / 5``."""
    m = 6.0 * math.pi / 5.0
    value, _ = integrate.quad(
        lambda lam: 3.0 / (4.0 * m) * (1 - (lam / m) ** 2) * math.cos(lam * x), -m, m
    )
    return value


@pytest.mark.parametrize("x", [0.0, 0.1, 0.5, 1.0, 1.7, 3.0, 10.0])
def test_qs_kernel_equals_the_transform_of_its_spectral_window(x: float) -> None:
    assert qs_kernel(x) == pytest.approx(_qs_by_spectral_window(x), abs=1e-10)
    assert qs_kernel(-x) == qs_kernel(x)


def test_qs_kernel_limits() -> None:
    assert qs_kernel(0.0) == 1.0
    assert qs_kernel(math.inf) == 0.0
    small = 1e-4  # k(x) = 1 - (6 pi x / 5)^2 / 10 + O(x^4), no cancellation error
    assert qs_kernel(small) == pytest.approx(1 - (1.2 * math.pi * small) ** 2 / 10, abs=1e-15)
    assert qs_kernel(0.0083) == pytest.approx(_qs_by_spectral_window(0.0083), abs=1e-12)


def test_lrv_and_bandwidth_of_a_short_series_by_hand() -> None:
    e = np.array([1.0, -1.0, 2.0, 0.0, -2.0])
    # rho = (1*-1 + -1*2 + 2*0 + 0*-2) / (1 + 1 + 4 + 0) = -3 / 6
    rho = -0.5
    alpha = 4 * rho**2 / (1 - rho) ** 4  # 1 / 5.0625
    bandwidth = 1.3221 * (alpha * 5) ** 0.2
    # over the first n - 1 = 4 residuals: lag 1: 1*-1 + -1*2 + 2*0 = -3; lag 2: 1*2 + -1*0 = 2;
    # lag 3: 1*0 = 0; sum of all five squares 10; divided by n - 1 = 4
    weights = [_qs_by_spectral_window(j / bandwidth) for j in (1, 2, 3)]
    expected = (10 + 2 * (weights[0] * -3 + weights[1] * 2 + weights[2] * 0)) / 4
    lrv, got_bandwidth, got_rho = qs_andrews_lrv(e)
    assert float(got_rho) == pytest.approx(rho, abs=1e-15)
    assert float(got_bandwidth) == pytest.approx(bandwidth, rel=1e-14)
    assert QS_BANDWIDTH_CONSTANT == 1.3221
    assert float(lrv) == pytest.approx(expected, rel=1e-10)


def test_lrv_limits_uncorrelated_and_zero_residuals() -> None:
    # rho = 0: bandwidth 0, every lag weight 0, the variance over n - 1
    lrv, bandwidth, rho = qs_andrews_lrv(np.array([1.0, 0.0, -1.0, 0.0]))
    assert float(rho) == 0.0 and float(bandwidth) == 0.0 and float(lrv) == pytest.approx(2 / 3)
    lrv, _, _ = qs_andrews_lrv(np.zeros(6))
    assert float(lrv) == 0.0
    # rho = 1 (a constant run): bandwidth inf, every weight 1
    lrv, bandwidth, rho = qs_andrews_lrv(np.ones(4))
    assert float(rho) == 1.0 and math.isinf(float(bandwidth))
    # 4 squares + 2 * (lag1 over 3 first: 2 + lag2: 1) = 4 + 6 = 10, over 3
    assert float(lrv) == pytest.approx(10 / 3)
    with pytest.raises(InputError, match="at least 3"):
        qs_andrews_lrv(np.ones(2))


def test_lrv_is_vectorised_over_rows() -> None:
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((5, 14)).cumsum(axis=1)
    together = qs_andrews_lrv(rows)
    for position, row in enumerate(rows):
        alone = qs_andrews_lrv(row)
        for got, expected in zip(together, alone, strict=True):
            assert got[position] == pytest.approx(float(expected), rel=1e-13)


def test_ols_qs_andrews_slope_and_standard_error_from_the_formula() -> None:
    rng = np.random.default_rng(7)
    x = np.log(np.arange(8, 31, dtype=float))
    y = 0.4 + 0.3 * x + 0.05 * np.cumsum(rng.standard_normal(x.size))  # persistent errors
    fit = ols_qs_andrews(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    # [(X'X)^-1]_bb = 1 / sum (x - mean x)^2
    se = math.sqrt(float(qs_andrews_lrv(residuals)[0]) / np.sum((x - x.mean()) ** 2))
    assert fit["b"] == pytest.approx(slope, rel=1e-12)
    assert fit["a"] == pytest.approx(intercept, rel=1e-12)
    assert fit["se"] == pytest.approx(se, rel=1e-10)
    assert fit["t"] == pytest.approx(slope / se, rel=1e-10)
    assert fit["rho"] > 0.3  # the persistence that makes the two HAC choices differ


def test_exact_fit_gives_infinite_t() -> None:
    x = np.arange(10, dtype=float)  # residuals exactly 0
    fit = ols_qs_andrews(x, 1.0 + 2.0 * x)
    assert fit["se"] == 0.0 and fit["t"] == math.inf


def test_hac_choice_changes_only_the_standard_error() -> None:
    offsets = np.linspace(-0.5, 0.5, 12)
    panel = _matrix(_transition_design(offsets, 2.0, 0.2, noise=0.01, seed=3))
    qs = log_t_test(panel, PhillipsSulSettings(hac="qs_andrews"))
    nw = log_t_test(panel, PhillipsSulSettings(hac="newey_west"))
    assert qs.b == pytest.approx(nw.b, rel=1e-12) and qs.a == pytest.approx(nw.a, rel=1e-12)
    assert qs.se != pytest.approx(nw.se, rel=0.05)
    assert qs.hac == "qs_andrews" and nw.hac == "newey_west"
    assert qs.hac_lags == qs.n_points - 2 and qs.hac_bandwidth > 0
    assert nw.hac_lags == 3 and nw.hac_bandwidth == 4.0  # floor(4 (40 / 100)^(2/9)) = 3


def test_default_is_the_packages_convention_and_bad_values_are_refused() -> None:
    assert PhillipsSulSettings().hac == "qs_andrews" == HAC_METHODS[0]
    with pytest.raises(InputError, match="phillips_sul.hac"):
        PhillipsSulSettings(hac="bartlett")
    assert {"hac", "hac_lags", "hac_bandwidth"} <= set(LOG_T_COLUMNS)


def test_rounding_of_r_t_halves() -> None:
    # r T = 0.3 * 15 = 4.5: Stata rounds up (discard 5), R to even (discard 4)
    up = PhillipsSulSettings(trim_fraction=0.3, trim_rule="discard_round")
    even = PhillipsSulSettings(trim_fraction=0.3, trim_rule="discard_round_even")
    assert regression_start(15, up) == 6 and regression_start(15, even) == 5
    assert regression_start(35, up) == 12 and regression_start(35, even) == 11
    assert regression_start(25, up) == regression_start(25, even) == 9  # 7.5 -> 8 both ways
    assert regression_start(40, up) == regression_start(40, even) == 13  # 12, not a half


@pytest.mark.parametrize("hac", HAC_METHODS)
def test_planted_clubs_are_recovered_under_both_standard_errors(hac: str) -> None:
    panel = _three_clubs()
    result = phillips_sul(panel, PhillipsSulSettings(hac=hac))
    expected = _partition([[f"{g}{i}" for i in range(6)] for g in "abc"])
    assert _partition(result.clubs) == expected
    assert result.divergent == []
    assert set(result.log_t["hac"]) == {hac}
