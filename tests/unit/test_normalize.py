"""Tests for convergence.measures.normalize."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convergence.errors import InputError
from convergence.measures.normalize import (
    MinMaxBounds,
    apply_minmax,
    apply_zscore,
    fit_minmax,
    fit_zscore,
    invert_zscore,
)

FAST = settings(max_examples=60, deadline=None)


def make_wide(rows: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["entity", "period"])
    return pd.DataFrame(list(rows.values()), index=index, dtype=float)


def simple_panel() -> pd.DataFrame:
    return make_wide(
        {
            ("A", "2000"): {"x": 1.0, "y": 10.0},
            ("A", "2001"): {"x": 3.0, "y": 20.0},
            ("B", "2000"): {"x": 5.0, "y": 30.0},
            ("B", "2001"): {"x": np.nan, "y": 40.0},
        }
    )


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def column_panel(values: list[float]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(
        [(f"E{i % 3}", str(2000 + i)) for i in range(len(values))], names=["entity", "period"]
    )
    return pd.DataFrame({"x": values}, index=index)


# ---------------------------------------------------------------- fit_minmax


def test_fit_minmax_pooled_ignores_nan():
    bounds = fit_minmax(simple_panel())
    # x: min over {1, 3, 5} = 1, max = 5 (NaN ignored); y: 10 .. 40
    assert bounds.scope == "pooled"
    assert bounds.lower.to_dict() == {"x": 1.0, "y": 10.0}
    assert bounds.upper.to_dict() == {"x": 5.0, "y": 40.0}


def test_fit_minmax_headroom_widens_both_sides():
    bounds = fit_minmax(simple_panel(), headroom=0.5)
    # x: range 5 - 1 = 4, widened by 0.5 * 4 = 2 -> [-1, 7]; y: range 30 -> [-5, 55]
    assert bounds.lower.to_dict() == {"x": -1.0, "y": -5.0}
    assert bounds.upper.to_dict() == {"x": 7.0, "y": 55.0}


def test_fit_minmax_per_entity():
    bounds = fit_minmax(simple_panel(), scope="per_entity")
    # A: x in {1, 3}, y in {10, 20}; B: x in {5}, y in {30, 40}
    assert bounds.lower.loc["A"].to_dict() == {"x": 1.0, "y": 10.0}
    assert bounds.upper.loc["A"].to_dict() == {"x": 3.0, "y": 20.0}
    assert bounds.lower.loc["B"].to_dict() == {"x": 5.0, "y": 30.0}
    assert bounds.upper.loc["B"].to_dict() == {"x": 5.0, "y": 40.0}


def test_fit_minmax_all_nan_names_indicator():
    wide = simple_panel().assign(z=np.nan)
    with pytest.raises(InputError, match="'z'"):
        fit_minmax(wide)


def test_fit_minmax_per_entity_all_nan_names_entity_and_indicator():
    wide = simple_panel()
    wide.loc[("A", "2000"), "y"] = np.nan
    wide.loc[("A", "2001"), "y"] = np.nan
    with pytest.raises(InputError, match=r"'y'.*'A'"):
        fit_minmax(wide, scope="per_entity")


@pytest.mark.parametrize("kwargs", [{"scope": "global"}, {"headroom": -0.1}])
def test_fit_minmax_rejects_bad_arguments(kwargs):
    with pytest.raises(InputError):
        fit_minmax(simple_panel(), **kwargs)


def test_fit_minmax_needs_multiindex():
    with pytest.raises(InputError, match="MultiIndex"):
        fit_minmax(pd.DataFrame({"x": [1.0, 2.0]}))


# ---------------------------------------------------------------- apply_minmax


def test_apply_minmax_benefit_and_cost():
    wide = simple_panel()
    bounds = fit_minmax(wide)
    out = apply_minmax(wide, bounds, {"x": "benefit", "y": "cost"})
    # x benefit: (x - 1) / 4 -> 0, 0.5, 1, NaN
    np.testing.assert_allclose(out["x"].to_numpy(), [0.0, 0.5, 1.0, np.nan])
    # y cost: (40 - y) / 30 -> 1, 2/3, 1/3, 0
    np.testing.assert_allclose(out["y"].to_numpy(), [1.0, 2 / 3, 1 / 3, 0.0])
    assert out.index.equals(wide.index)


def test_apply_minmax_clip_and_no_clip():
    bounds = MinMaxBounds(lower=pd.Series({"x": 1.0}), upper=pd.Series({"x": 5.0}), scope="pooled")
    wide = make_wide({("A", "2002"): {"x": 7.0}, ("B", "2002"): {"x": -1.0}})
    # (7 - 1) / 4 = 1.5 and (-1 - 1) / 4 = -0.5 unclipped
    raw = apply_minmax(wide, bounds, {"x": "benefit"}, clip=False)
    np.testing.assert_allclose(raw["x"].to_numpy(), [1.5, -0.5])
    clipped = apply_minmax(wide, bounds, {"x": "benefit"})
    np.testing.assert_allclose(clipped["x"].to_numpy(), [1.0, 0.0])


def test_apply_minmax_zero_range_is_half():
    wide = make_wide({("A", "2000"): {"x": 2.0}, ("B", "2000"): {"x": 2.0}})
    bounds = fit_minmax(wide)
    out = apply_minmax(wide, bounds, {"x": "cost"})
    assert out["x"].tolist() == [0.5, 0.5]


def test_apply_minmax_per_entity():
    wide = simple_panel()
    bounds = fit_minmax(wide, scope="per_entity")
    out = apply_minmax(wide, bounds, {"x": "benefit", "y": "benefit"})
    # A: x (1, 3) -> 0, 1; y (10, 20) -> 0, 1. B: x zero range -> 0.5, NaN; y (30, 40) -> 0, 1
    np.testing.assert_allclose(out["x"].to_numpy(), [0.0, 1.0, 0.5, np.nan])
    np.testing.assert_allclose(out["y"].to_numpy(), [0.0, 1.0, 0.0, 1.0])


def test_apply_minmax_unknown_entity_named():
    bounds = fit_minmax(simple_panel(), scope="per_entity")
    other = make_wide({("C", "2000"): {"x": 1.0, "y": 1.0}})
    with pytest.raises(InputError, match="'C'"):
        apply_minmax(other, bounds, {"x": "benefit", "y": "benefit"})


def test_apply_minmax_unknown_direction_named():
    wide = simple_panel()
    bounds = fit_minmax(wide)
    with pytest.raises(InputError, match="'y'"):
        apply_minmax(wide, bounds, {"x": "benefit", "y": "larger"})
    with pytest.raises(InputError, match="'y'"):
        apply_minmax(wide, bounds, {"x": "benefit"})


def test_apply_minmax_indicator_without_bounds():
    wide = simple_panel()
    bounds = fit_minmax(wide[["x"]])
    with pytest.raises(InputError, match="'y'"):
        apply_minmax(wide, bounds, {"x": "benefit", "y": "benefit"})


@FAST
@given(values=st.lists(finite, min_size=2, max_size=12), headroom=st.floats(0, 2))
def test_fit_rows_land_in_unit_interval_without_clip(values, headroom):
    wide = column_panel(values)
    out = apply_minmax(wide, fit_minmax(wide, headroom=headroom), {"x": "benefit"}, clip=False)
    assert out["x"].between(-1e-12, 1 + 1e-12).all()


@FAST
@given(values=st.lists(finite, min_size=2, max_size=12))
def test_benefit_plus_cost_is_one(values):
    wide = column_panel(values)
    bounds = fit_minmax(wide)
    benefit = apply_minmax(wide, bounds, {"x": "benefit"})["x"]
    cost = apply_minmax(wide, bounds, {"x": "cost"})["x"]
    np.testing.assert_allclose((benefit + cost).to_numpy(), 1.0, atol=1e-9)


@FAST
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=12),
    scale=st.floats(1e-2, 1e2),
    shift=st.floats(-1e3, 1e3),
)
def test_minmax_invariant_to_positive_affine_map(values, scale, shift):
    # Away from a near-zero range, where rounding of the shift would dominate.
    assume(max(values) - min(values) >= 1.0)
    wide = column_panel(values)
    moved = wide * scale + shift
    direct = apply_minmax(wide, fit_minmax(wide), {"x": "benefit"})["x"].to_numpy()
    mapped = apply_minmax(moved, fit_minmax(moved), {"x": "benefit"})["x"].to_numpy()
    np.testing.assert_allclose(mapped, direct, atol=1e-6)


@FAST
@given(
    fit_values=st.lists(finite, min_size=2, max_size=8),
    new_values=st.lists(finite, min_size=1, max_size=8),
)
def test_clipped_output_in_unit_interval_for_unseen_rows(fit_values, new_values):
    bounds = fit_minmax(column_panel(fit_values))
    out = apply_minmax(column_panel(new_values), bounds, {"x": "cost"})
    assert out["x"].between(0.0, 1.0).all()


# ---------------------------------------------------------------- z-score


def test_zscore_known_values():
    wide = make_wide({("A", "2000"): {"x": 1.0, "c": 4.0}, ("A", "2001"): {"x": 3.0, "c": 4.0}})
    params = fit_zscore(wide)
    # x: mean 2, population std sqrt(((1-2)^2 + (3-2)^2) / 2) = 1; c: std 0 -> 1
    assert params.mean.to_dict() == {"x": 2.0, "c": 4.0}
    assert params.std.to_dict() == {"x": 1.0, "c": 1.0}
    z = apply_zscore(wide, params)
    assert z["x"].tolist() == [-1.0, 1.0]
    assert z["c"].tolist() == [0.0, 0.0]


def test_zscore_all_nan_and_missing_params():
    wide = simple_panel()
    with pytest.raises(InputError, match="'z'"):
        fit_zscore(wide.assign(z=np.nan))
    params = fit_zscore(wide[["x"]])
    with pytest.raises(InputError, match="'y'"):
        apply_zscore(wide, params)


def test_invert_zscore_series_by_name():
    params = fit_zscore(simple_panel())
    # y: mean 25, population std sqrt((225 + 25 + 25 + 225) / 4) = sqrt(125)
    series = pd.Series([0.0, 1.0], name="y")
    np.testing.assert_allclose(invert_zscore(series, params), [25.0, 25.0 + np.sqrt(125.0)])


@FAST
@given(values=st.lists(finite, min_size=1, max_size=12))
def test_zscore_round_trip(values):
    wide = column_panel(values)
    params = fit_zscore(wide)
    back = invert_zscore(apply_zscore(wide, params), params)
    np.testing.assert_allclose(back["x"].to_numpy(), wide["x"].to_numpy(), rtol=1e-9, atol=1e-6)
