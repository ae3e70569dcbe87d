"""Tests for convergence.measures.coupling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convergence.errors import InputError
from convergence.measures.coupling import (
    DEFAULT_GRADE_SCALE,
    adjusted_coupling_degree,
    composite_index,
    comprehensive_index,
    coordination_grade,
    coupling_coordination_degree,
    coupling_degree,
    validate_grade_scale,
)

FAST = settings(max_examples=80, deadline=None)

levels = arrays(
    dtype=float,
    shape=st.tuples(st.integers(1, 6), st.integers(2, 5)),
    elements=st.floats(0.0, 1.0, allow_nan=False),
)


# ---------------------------------------------------------------- composite index


def test_composite_index_known_values():
    table = pd.DataFrame({"a": [0.2, 1.0, np.nan], "b": [0.6, 0.0, 0.5], "extra": [9.0, 9, 9]})
    weights = pd.Series({"a": 0.25, "b": 0.75})
    # row 0: 0.25*0.2 + 0.75*0.6 = 0.05 + 0.45 = 0.5; row 1: 0.25; row 2: NaN (a missing)
    np.testing.assert_allclose(composite_index(table, weights).to_numpy(), [0.5, 0.25, np.nan])


def test_composite_index_rejects_bad_weights():
    table = pd.DataFrame({"a": [0.2], "b": [0.6]})
    with pytest.raises(InputError, match="sum to 1"):
        composite_index(table, pd.Series({"a": 0.5, "b": 0.6}))
    with pytest.raises(InputError, match="'c'"):
        composite_index(table, pd.Series({"a": 0.5, "c": 0.5}))


# ---------------------------------------------------------------- coupling degrees


def test_two_subsystem_known_values():
    U = np.array([[0.4, 0.6]])
    # classical: 2 sqrt(0.24) / 1.0 = 2 * 0.489898 = 0.979796
    np.testing.assert_allclose(coupling_degree(U), [0.979796], atol=1e-6)
    # adjusted: sqrt((1 - 0.2) * 0.4 / 0.6) = sqrt(0.533333) = 0.730297
    np.testing.assert_allclose(adjusted_coupling_degree(U), [0.730297], atol=1e-6)


def test_three_subsystem_known_values():
    U = np.array([[0.2, 0.4, 0.8]])
    # classical: prod = 0.064, cube root = 0.4, sum = 1.4 -> 3 * 0.4 / 1.4 = 0.857143
    np.testing.assert_allclose(coupling_degree(U), [0.857143], atol=1e-6)
    # adjusted: gaps 0.2 + 0.6 + 0.4 = 1.2, sum_{m=1}^{2} m = 3 -> 1 - 0.4 = 0.6
    #           ratios to max (0.25, 0.5, 1), product 0.125, power 1/(n-1) = 1/2 -> 0.353553
    #           C = sqrt(0.6 * 0.353553) = sqrt(0.212132) = 0.460578
    np.testing.assert_allclose(adjusted_coupling_degree(U), [0.460578], atol=1e-6)


def test_zero_and_nan_rows():
    U = np.array([[0.0, 0.0], [0.0, 0.5], [np.nan, 0.5]])
    # all zero -> defined 0; one zero -> geometric mean 0 -> 0; NaN -> NaN
    np.testing.assert_array_equal(coupling_degree(U), [0.0, 0.0, np.nan])
    np.testing.assert_array_equal(adjusted_coupling_degree(U), [0.0, 0.0, np.nan])


def test_adjusted_is_below_classical_for_unequal_levels():
    U = np.array([[0.1, 0.9], [0.45, 0.55]])
    assert np.all(adjusted_coupling_degree(U) < coupling_degree(U))


@pytest.mark.parametrize("function", [coupling_degree, adjusted_coupling_degree])
def test_coupling_needs_two_subsystems(function):
    with pytest.raises(InputError, match="at least 2"):
        function(np.array([[0.5]]))


@pytest.mark.parametrize("bad", [np.array([0.5, 0.5]), np.array([[-0.1, 0.5]])])
def test_coupling_rejects_bad_shapes_and_values(bad):
    with pytest.raises(InputError):
        coupling_degree(bad)


@FAST
@given(U=levels)
def test_coupling_degrees_in_unit_interval(U):
    for degree in (coupling_degree(U), adjusted_coupling_degree(U)):
        assert degree.shape == (U.shape[0],)
        assert np.all((degree >= 0) & (degree <= 1))


@FAST
@given(level=st.floats(1e-3, 1.0), n=st.integers(2, 6))
def test_equal_levels_couple_fully(level, n):
    U = np.full((1, n), level)
    np.testing.assert_allclose(coupling_degree(U), [1.0])
    np.testing.assert_allclose(adjusted_coupling_degree(U), [1.0])


@FAST
@given(U=levels, seed=st.integers(0, 2**16))
def test_invariant_to_subsystem_order(U, seed):
    permuted = U[:, np.random.default_rng(seed).permutation(U.shape[1])]
    np.testing.assert_allclose(coupling_degree(permuted), coupling_degree(U), atol=1e-12)
    np.testing.assert_allclose(
        adjusted_coupling_degree(permuted), adjusted_coupling_degree(U), atol=1e-12
    )


@FAST
@given(
    # Away from subnormal levels, which scaling could round to zero.
    U=arrays(
        float,
        st.tuples(st.integers(1, 6), st.integers(2, 5)),
        elements=st.just(0.0) | st.floats(1e-6, 1.0),
    ),
    factor=st.floats(0.01, 1.0),
)
def test_classical_degree_is_scale_invariant(U, factor):
    # n * GM / (n * AM) is homogeneous of degree 0.
    np.testing.assert_allclose(coupling_degree(U * factor), coupling_degree(U), atol=1e-9)


@FAST
@given(U=levels)
def test_rows_are_independent(U):
    stacked = coupling_degree(U)
    one_by_one = [coupling_degree(U[i : i + 1])[0] for i in range(U.shape[0])]
    np.testing.assert_allclose(stacked, one_by_one)


# ---------------------------------------------------------------- T and D


def test_comprehensive_index_and_coordination_known_values():
    U = np.array([[0.4, 0.6], [0.0, 1.0]])
    # equal weights: T = (0.5, 0.5); weights (0.25, 0.75): T = (0.55, 0.75)
    np.testing.assert_allclose(comprehensive_index(U), [0.5, 0.5])
    np.testing.assert_allclose(comprehensive_index(U, [0.25, 0.75]), [0.55, 0.75])
    # D = sqrt(0.979796 * 0.5) = sqrt(0.489898) = 0.699927
    D = coupling_coordination_degree(coupling_degree(U), comprehensive_index(U))
    np.testing.assert_allclose(D, [0.699927, 0.0], atol=1e-6)


@pytest.mark.parametrize("weights", [[0.5, 0.6], [1.0], [1.5, -0.5]])
def test_comprehensive_index_rejects_bad_weights(weights):
    with pytest.raises(InputError, match="subsystem weights"):
        comprehensive_index(np.array([[0.4, 0.6]]), weights)


def test_coordination_degree_rejects_negative():
    with pytest.raises(InputError):
        coupling_coordination_degree(np.array([-0.1]), np.array([0.5]))


@FAST
@given(U=levels)
def test_t_and_d_in_unit_interval(U):
    T = comprehensive_index(U)
    D = coupling_coordination_degree(coupling_degree(U), T)
    assert np.all((T >= 0) & (T <= 1 + 1e-12))
    assert np.all((D >= 0) & (D <= 1 + 1e-12))


# ---------------------------------------------------------------- grades


def test_default_grades_at_boundaries():
    D = np.array([0.0, 0.05, 0.1, 0.45, 0.5, 0.699, 0.9, 1.0, np.nan])
    # [0, 0.1) extreme; 0.1 starts severe; 0.45 verge; 0.5 starts barely; 0.699 primary;
    # 0.9 starts high-quality; 1.0 is the last label; NaN -> None
    assert coordination_grade(D, DEFAULT_GRADE_SCALE).tolist() == [
        "extreme disorder",
        "extreme disorder",
        "severe disorder",
        "on the verge of disorder",
        "barely coordinated",
        "primary coordination",
        "high-quality coordination",
        "high-quality coordination",
        None,
    ]


def test_custom_scale():
    scale = [{"upper": 0.5, "label": "low"}, {"upper": 1.0, "label": "high"}]
    assert coordination_grade([0.2, 0.5, 1.0], scale).tolist() == ["low", "high", "high"]


def test_default_scale_has_ten_levels_and_serialises():
    uppers, labels = validate_grade_scale(DEFAULT_GRADE_SCALE)
    np.testing.assert_allclose(uppers, np.arange(1, 11) / 10)
    assert labels[0] == "extreme disorder" and labels[-1] == "high-quality coordination"
    assert json.loads(json.dumps(DEFAULT_GRADE_SCALE))[4] == {
        "upper": 0.5,
        "label": "on the verge of disorder",
    }


@pytest.mark.parametrize(
    "scale",
    [
        [],
        [{"upper": 0.5, "label": "a"}],  # does not end at 1
        [{"upper": 0.6, "label": "a"}, {"upper": 0.5, "label": "b"}, {"upper": 1.0, "label": "c"}],
        [{"upper": 1.0}],
        [{"upper": "1.0", "label": "a"}],
    ],
)
def test_invalid_scale_names_config_key(scale):
    with pytest.raises(InputError, match=r"measures\.grades"):
        coordination_grade([0.5], scale)


def test_grade_rejects_out_of_range_d():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        coordination_grade([1.2])


@FAST
@given(D=arrays(float, st.integers(1, 20), elements=st.floats(0.0, 1.0)))
def test_grades_are_monotone_in_d(D):
    order = {entry["label"]: k for k, entry in enumerate(DEFAULT_GRADE_SCALE)}
    ranks = np.array([order[label] for label in coordination_grade(np.sort(D))])
    assert np.all(np.diff(ranks) >= 0)
    # Each value lies inside its grade's interval.
    uppers = np.arange(1, 11) / 10
    for value, rank in zip(np.sort(D), ranks, strict=True):
        assert value <= uppers[rank] and (rank == 0 or value >= uppers[rank - 1])
