"""Tests for convergence.measures.similarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convergence.errors import InputError
from convergence.measures.similarity import (
    cosine_similarity,
    krugman_index,
    normalise_shares,
    pairwise_structure,
    sigma_convergence,
    structure_convergence,
    trend_slope,
)

FAST = settings(max_examples=80, deadline=None)


def make_wide(rows: dict[tuple[str, str], list[float]], columns: list[str]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["entity", "period"])
    return pd.DataFrame(list(rows.values()), index=index, columns=columns, dtype=float)


def share_vector(n_sectors: int):
    return arrays(float, n_sectors, elements=st.floats(0.0, 1.0)).filter(lambda v: v.sum() > 1e-3)


# ---------------------------------------------------------------- pair indices


def test_known_pair_values():
    a, b = [0.5, 0.5], [1.0, 0.0]
    # cosine: 0.5 / sqrt(0.5 * 1) = 0.707107; Krugman: 0.5 + 0.5 = 1
    assert cosine_similarity(a, b) == pytest.approx(0.707107, abs=1e-6)
    assert krugman_index(a, b) == pytest.approx(1.0)
    # identical -> (1, 0); disjoint -> (0, 2)
    assert cosine_similarity([0.2, 0.8], [0.2, 0.8]) == pytest.approx(1.0)
    assert krugman_index([0.2, 0.8], [0.2, 0.8]) == 0.0
    assert cosine_similarity([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert krugman_index([1.0, 0.0], [0.0, 1.0]) == 2.0


def test_pair_functions_vectorise_over_leading_axes():
    a = np.array([[0.5, 0.5], [1.0, 0.0]])
    b = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine_similarity(a, b), [0.707107, 1.0], atol=1e-6)
    np.testing.assert_allclose(krugman_index(a, b), [1.0, 0.0])


def test_pair_functions_reject_bad_input():
    with pytest.raises(InputError, match="non-negative"):
        cosine_similarity([-0.1, 1.1], [0.5, 0.5])
    with pytest.raises(InputError, match="sectors"):
        krugman_index([0.5, 0.5], [0.2, 0.3, 0.5])


def test_cosine_of_zero_vector_is_nan():
    assert np.isnan(cosine_similarity([0.0, 0.0], [0.5, 0.5]))


@FAST
@given(data=st.data(), n_sectors=st.integers(1, 6))
def test_pair_ranges_and_symmetry(data, n_sectors):
    a = data.draw(share_vector(n_sectors))
    b = data.draw(share_vector(n_sectors))
    a, b = a / a.sum(), b / b.sum()
    cosine, krugman = cosine_similarity(a, b), krugman_index(a, b)
    assert 0.0 <= cosine <= 1.0
    assert 0.0 <= krugman <= 2.0 + 1e-12
    assert cosine == pytest.approx(cosine_similarity(b, a))
    assert krugman == pytest.approx(krugman_index(b, a))


@FAST
@given(data=st.data(), n_sectors=st.integers(1, 6), factor=st.floats(0.01, 100.0))
def test_cosine_is_scale_invariant(data, n_sectors, factor):
    a = data.draw(share_vector(n_sectors))
    b = data.draw(share_vector(n_sectors))
    assert cosine_similarity(a * factor, b) == pytest.approx(cosine_similarity(a, b), abs=1e-9)


# ---------------------------------------------------------------- shares and pairs


def test_normalise_shares():
    wide = make_wide(
        {("A", "2000"): [1.0, 3.0], ("B", "2000"): [0.0, 0.0], ("C", "2000"): [np.nan, 1.0]},
        ["s1", "s2"],
    )
    out = normalise_shares(wide)
    # A: (1, 3) / 4 = (0.25, 0.75); B: sum 0 -> NaN row; C: NaN -> NaN row
    assert out.loc[("A", "2000")].tolist() == [0.25, 0.75]
    assert out.loc[[("B", "2000"), ("C", "2000")]].isna().all().all()
    with pytest.raises(InputError):
        normalise_shares(wide.assign(s1=-1.0))


@FAST
@given(
    values=arrays(
        float, st.tuples(st.integers(1, 6), st.integers(1, 5)), elements=st.floats(0, 1e6)
    )
)
def test_shares_sum_to_one(values):
    shares = normalise_shares(pd.DataFrame(values))
    sums = shares.sum(axis=1, min_count=1)
    defined = values.sum(axis=1) > 0
    np.testing.assert_allclose(sums[defined], 1.0)
    assert shares[~defined].isna().all().all()


def sector_panel() -> pd.DataFrame:
    return make_wide(
        {
            ("A", "2000"): [0.5, 0.5],
            ("B", "2000"): [1.0, 0.0],
            ("C", "2000"): [0.0, 1.0],
            ("A", "2001"): [0.5, 0.5],
            ("B", "2001"): [0.6, 0.4],
            ("C", "2001"): [np.nan, np.nan],
        },
        ["s1", "s2"],
    )


def test_pairwise_structure_known_pairs():
    pairs = pairwise_structure(sector_panel())
    assert list(pairs.columns) == ["period", "entity_a", "entity_b", "cosine", "krugman"]
    # 2000: 3 entities -> 3 pairs; 2001: C is missing -> 1 pair
    assert pairs[["period", "entity_a", "entity_b"]].values.tolist() == [
        ["2000", "A", "B"],
        ["2000", "A", "C"],
        ["2000", "B", "C"],
        ["2001", "A", "B"],
    ]
    # A-B 2000: cos 0.5/sqrt(0.5) = 0.707107, K = 1; A-C same; B-C: cos 0, K 2
    # A-B 2001: cos (0.3 + 0.2) / sqrt(0.5 * 0.52) = 0.5 / 0.509902 = 0.980581, K 0.2
    np.testing.assert_allclose(pairs["cosine"], [0.707107, 0.707107, 0.0, 0.980581], atol=1e-6)
    np.testing.assert_allclose(pairs["krugman"], [1.0, 1.0, 2.0, 0.2], atol=1e-12)


def test_pairwise_structure_empty_when_no_pairs():
    one = make_wide({("A", "2000"): [0.5, 0.5]}, ["s1", "s2"])
    pairs = pairwise_structure(one)
    assert pairs.empty
    assert list(pairs.columns) == ["period", "entity_a", "entity_b", "cosine", "krugman"]


def test_structure_convergence_known_values():
    summary = structure_convergence(pairwise_structure(sector_panel()))
    # 2000: cosine (0.707107, 0.707107, 0) mean 0.471405, std(ddof=1) 0.408248
    #       Krugman (1, 1, 2) mean 4/3, std sqrt(((1/3)^2 * 2 + (2/3)^2) / 2) = 0.577350
    # 2001: one pair -> std NaN
    assert summary["n_pairs"].to_dict() == {"2000": 3, "2001": 1}
    row = summary.loc["2000"]
    assert row["cosine_mean"] == pytest.approx(0.471405, abs=1e-6)
    assert row["cosine_std"] == pytest.approx(0.408248, abs=1e-6)
    assert row["krugman_mean"] == pytest.approx(4 / 3)
    assert row["krugman_std"] == pytest.approx(0.577350, abs=1e-6)
    assert np.isnan(summary.loc["2001", "cosine_std"])
    assert summary.loc["2001", "krugman_mean"] == pytest.approx(0.2)


@FAST
@given(
    values=arrays(float, (5, 3), elements=st.floats(0.0, 1.0)),
    seed=st.integers(0, 2**16),
)
def test_pairwise_structure_ignores_row_order(values, seed):
    assume(np.all(values.sum(axis=1) > 1e-3))
    index = pd.MultiIndex.from_tuples(
        [(f"E{i}", "2000") for i in range(5)], names=["entity", "period"]
    )
    shares = normalise_shares(pd.DataFrame(values, index=index))
    shuffled = shares.iloc[np.random.default_rng(seed).permutation(5)]
    first, second = pairwise_structure(shares), pairwise_structure(shuffled)
    assert len(first) == 10  # 5 choose 2
    pd.testing.assert_frame_equal(first, second)
    assert first["cosine"].between(0, 1).all() and first["krugman"].between(0, 2 + 1e-12).all()


# ---------------------------------------------------------------- sigma convergence


def test_sigma_convergence_known_values():
    index = pd.MultiIndex.from_tuples(
        [("A", "2000"), ("B", "2000"), ("C", "2000"), ("A", "2001"), ("B", "2001")],
        names=["entity", "period"],
    )
    values = pd.Series([1.0, 3.0, np.nan, 2.0, np.nan], index=index)
    summary = sigma_convergence(values)
    # 2000: (1, 3) -> n 2, mean 2, std sqrt(2) = 1.414214, cv 0.707107; 2001: n 1 -> std NaN
    assert summary.loc["2000", "n"] == 2
    assert summary.loc["2000", "mean"] == 2.0
    assert summary.loc["2000", "std"] == pytest.approx(1.414214, abs=1e-6)
    assert summary.loc["2000", "cv"] == pytest.approx(0.707107, abs=1e-6)
    assert summary.loc["2001", "n"] == 1
    assert np.isnan(summary.loc["2001", "std"]) and np.isnan(summary.loc["2001", "cv"])


def test_sigma_convergence_zero_mean_cv_is_nan():
    index = pd.MultiIndex.from_tuples([("A", "2000"), ("B", "2000")])
    summary = sigma_convergence(pd.Series([-1.0, 1.0], index=index))
    assert np.isnan(summary.loc["2000", "cv"])
    with pytest.raises(InputError):
        sigma_convergence(pd.Series([1.0, 2.0]))


@FAST
@given(
    values=arrays(float, 6, elements=st.floats(0.1, 100.0)),
    factor=st.floats(0.1, 10.0),
)
def test_cv_is_scale_invariant(values, factor):
    index = pd.MultiIndex.from_tuples([(f"E{i}", "2000") for i in range(6)])
    base = sigma_convergence(pd.Series(values, index=index))
    scaled = sigma_convergence(pd.Series(values * factor, index=index))
    assert base["std"].iloc[0] >= 0
    assert scaled["cv"].iloc[0] == pytest.approx(base["cv"].iloc[0], rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- trend slope


def test_trend_slope_known_values():
    result = trend_slope([0, 1, 2, 3], [3.0, 2.5, 2.5, 1.5])
    # xbar 1.5, ybar 2.375, Sxy = -2.25, Sxx = 5 -> slope -0.45, intercept 3.05
    # residuals (-0.05, -0.1, 0.35, -0.2), SSE 0.175, s^2 = 0.0875, se = sqrt(0.0875/5)=0.132288
    # t = -3.401680, t^2 = 11.571429; with 2 df the two-sided p = 1 - |t| / sqrt(2 + t^2)
    #   = 1 - 3.401680 / 3.683942 = 0.076619
    assert result["n"] == 4
    assert result["slope"] == pytest.approx(-0.45)
    assert result["intercept"] == pytest.approx(3.05)
    assert result["stderr"] == pytest.approx(0.132288, abs=1e-6)
    assert result["t"] == pytest.approx(-3.401680, abs=1e-5)
    assert result["p_value"] == pytest.approx(0.076619, abs=1e-6)


def test_trend_slope_drops_nan_and_handles_perfect_fit():
    result = trend_slope([2000, 2001, 2002, 2003], [1.0, 0.5, np.nan, -0.5])
    # y = 1 - 0.5 (x - 2000) exactly on the 3 usable points
    assert result["n"] == 3
    assert result["slope"] == pytest.approx(-0.5)
    assert result["stderr"] == pytest.approx(0.0, abs=1e-12)
    assert result["t"] < -1e6 and result["p_value"] < 1e-6


def test_trend_slope_constant_values_show_no_trend():
    result = trend_slope([1, 2, 3, 4], [0.25, 0.25, 0.25, 0.25])
    assert result["slope"] == 0.0
    assert result["t"] == 0.0 and result["p_value"] == 1.0


@pytest.mark.parametrize(
    ("x", "y"),
    [([1, 2], [1.0, 2.0]), ([1, 1, 1], [1.0, 2.0, 3.0]), ([1, 2, 3], [1.0, 2.0])],
)
def test_trend_slope_rejects_bad_input(x, y):
    with pytest.raises(InputError):
        trend_slope(x, y)


@FAST
@given(
    slope=st.floats(-5, 5),
    intercept=st.floats(-5, 5),
    noise=arrays(float, 8, elements=st.floats(-0.1, 0.1)),
)
def test_trend_slope_recovers_linear_trend(slope, intercept, noise):
    x = np.arange(8, dtype=float)
    result = trend_slope(x, intercept + slope * x + noise)
    # Noise of at most 0.1 moves the OLS slope by at most
    # sum|x - xbar| * 0.1 / Sxx = 16 * 0.1 / 42 = 0.0381.
    assert abs(result["slope"] - slope) <= 0.05
    assert 0.0 <= result["p_value"] <= 1.0
