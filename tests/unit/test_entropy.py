"""Tests for convergence.measures.entropy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convergence.errors import InputError
from convergence.measures.entropy import entropy_weights

FAST = settings(max_examples=60, deadline=None)


def test_known_weights_two_rows():
    table = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 3.0], "c": [1.0, 1.0]})
    # n = 2, ln n = ln 2 = 0.693147
    # a: p = (0, 1)       -> e = 0 (0 ln 0 = 0)                     -> d = 1
    # b: p = (1/4, 3/4)   -> e = (0.25*1.386294 + 0.75*0.287682) / 0.693147
    #                          = 0.562335 / 0.693147 = 0.811278    -> d = 0.188722
    # c: p = (1/2, 1/2)   -> e = 1                                  -> d = 0
    # w = d / 1.188722 = (0.841240, 0.158760, 0)
    weights = entropy_weights(table)
    np.testing.assert_allclose(weights.to_numpy(), [0.841240, 0.158760, 0.0], atol=1e-6)
    assert list(weights.index) == ["a", "b", "c"]


def test_nan_rows_dropped_per_column():
    table = pd.DataFrame({"a": [0.0, 1.0, np.nan], "b": [1.0, 3.0, np.nan]})
    # Same as the first two columns above: d = (1, 0.188722) -> w = (0.841240, 0.158760)
    np.testing.assert_allclose(entropy_weights(table).to_numpy(), [0.841240, 0.158760], atol=1e-6)


def test_eps_shifts_values():
    table = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 3.0]})
    # eps = 1: a -> (1, 2), p = (1/3, 2/3), e = (0.366204 + 0.270310) / 0.693147 = 0.918296,
    # d_a = 0.081704; b -> (2, 4), same p, d_b = 0.081704 -> equal weights
    np.testing.assert_allclose(entropy_weights(table, eps=1.0).to_numpy(), [0.5, 0.5])


def test_no_dispersion_gives_equal_weights():
    table = pd.DataFrame({"a": [0.3, 0.3, 0.3], "b": [0.0, 0.0, 0.0], "c": [1.0, 1.0, 1.0]})
    np.testing.assert_allclose(entropy_weights(table).to_numpy(), [1 / 3, 1 / 3, 1 / 3])


def test_single_indicator_weight_one():
    weights = entropy_weights(pd.DataFrame({"a": [0.1, 0.7, 0.4]}))
    assert weights.to_dict() == {"a": 1.0}


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (pd.DataFrame({"a": [0.5]}), "at least 2"),
        (pd.DataFrame({"a": [0.5, np.nan, np.nan]}), "at least 2"),
        (pd.DataFrame({"a": [0.5, -0.1]}), "non-negative"),
        (pd.DataFrame({"a": [0.5, np.inf]}), "non-negative"),
        (pd.DataFrame(index=[0, 1]), "at least one"),
    ],
)
def test_bad_input_raises(table, match):
    with pytest.raises(InputError, match=match):
        entropy_weights(table)


def test_negative_eps_raises():
    with pytest.raises(InputError, match="eps"):
        entropy_weights(pd.DataFrame({"a": [0.1, 0.2]}), eps=-1e-3)


tables = arrays(
    dtype=float,
    shape=st.tuples(st.integers(2, 12), st.integers(1, 5)),
    elements=st.floats(0.0, 1.0, allow_nan=False),
)


def as_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, columns=[f"i{j}" for j in range(values.shape[1])])


@FAST
@given(values=tables)
def test_weights_form_a_distribution(values):
    weights = entropy_weights(as_frame(values))
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0)


@FAST
@given(values=tables, seed=st.integers(0, 2**16))
def test_invariant_to_row_order(values, seed):
    shuffled = np.random.default_rng(seed).permutation(values, axis=0)
    np.testing.assert_allclose(
        entropy_weights(as_frame(shuffled)).to_numpy(),
        entropy_weights(as_frame(values)).to_numpy(),
        atol=1e-9,
    )


@FAST
@given(values=tables, factor=st.floats(0.1, 10.0))
def test_invariant_to_column_scaling(values, factor):
    # p_ij = x_ij / sum_i x_ij does not change when a column is multiplied by a constant.
    assume(values[:, 0].sum() > 1e-3)
    scaled = values.copy()
    scaled[:, 0] *= factor
    np.testing.assert_allclose(
        entropy_weights(as_frame(scaled)).to_numpy(),
        entropy_weights(as_frame(values)).to_numpy(),
        atol=1e-7,
    )


@FAST
@given(values=tables)
def test_more_dispersed_column_gets_no_less_weight(values):
    # A constant column has d = 0, so it never outweighs any other column.
    table = as_frame(values).assign(constant=0.5)
    weights = entropy_weights(table)
    others = weights.drop("constant")
    assert weights["constant"] <= others.min() + 1e-12
