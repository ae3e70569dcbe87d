"""Tests for convergence.measures.index (the fitted measurement model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convergence.errors import InputError
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    apply_measurement,
    fit_measurement,
    measure_columns,
)

FAST = settings(max_examples=40, deadline=None)

TWO_BY_ONE = MeasurementSpec(subsystems={"industry": {"a": "benefit"}, "ecology": {"b": "cost"}})


def known_panel() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(
        [("E1", "2000"), ("E1", "2001"), ("E2", "2000"), ("E2", "2001")],
        names=["entity", "period"],
    )
    return pd.DataFrame(
        {"a": [0.0, 2.0, 4.0, 1.0], "b": [10.0, 5.0, 0.0, 2.0], "c": [0.0, 0.0, 4.0, 0.0]},
        index=index,
    )


# ---------------------------------------------------------------- known values


def test_known_measures_one_indicator_per_subsystem():
    wide = known_panel()
    out = apply_measurement(fit_measurement(wide, TWO_BY_ONE), wide)
    assert list(out.columns) == measure_columns(TWO_BY_ONE)
    assert out.index.equals(wide.index)
    # bounds a [0, 4] benefit -> U_industry = a / 4; b [0, 10] cost -> U_ecology = (10 - b) / 10
    # E1 2000: U (0, 0)     -> T 0, C 0 (defined), C* 0, D 0
    # E1 2001: U (0.5, 0.5) -> T 0.5, C = C* = 1, D = sqrt(0.5) = 0.707107
    # E2 2000: U (1, 1)     -> T 1, C = C* = 1, D 1
    # E2 2001: U (0.25, 0.8)-> T 0.525, C = 2 sqrt(0.2) / 1.05 = 0.851835,
    #          C* = sqrt((1 - 0.55) * 0.25 / 0.8) = sqrt(0.140625) = 0.375,
    #          D = sqrt(0.851835 * 0.525) = 0.668740, D* = sqrt(0.375 * 0.525) = 0.443706
    expected = {
        "U_industry": [0.0, 0.5, 1.0, 0.25],
        "U_ecology": [0.0, 0.5, 1.0, 0.8],
        "T": [0.0, 0.5, 1.0, 0.525],
        "C": [0.0, 1.0, 1.0, 0.851835],
        "C_adjusted": [0.0, 1.0, 1.0, 0.375],
        "D": [0.0, 0.707107, 1.0, 0.668740],
        "D_adjusted": [0.0, 0.707107, 1.0, 0.443706],
    }
    for column, values in expected.items():
        np.testing.assert_allclose(out[column].to_numpy(), values, atol=1e-6, err_msg=column)
    assert out["grade"].tolist() == [
        "extreme disorder",
        "intermediate coordination",
        "high-quality coordination",
        "primary coordination",
    ]
    assert out["grade_adjusted"].tolist()[3] == "on the verge of disorder"


def test_known_entropy_weights_inside_subsystem():
    spec = MeasurementSpec(
        subsystems={"industry": {"a": "benefit", "c": "benefit"}, "ecology": {"b": "cost"}}
    )
    wide = known_panel()
    model = fit_measurement(wide, spec)
    # normalized a = (0, 0.5, 1, 0.25), sum 1.75, p = (0, 2/7, 4/7, 1/7)
    #   e_a = (0.357932 + 0.319780 + 0.277987) / ln 4 = 0.955699 / 1.386294 = 0.689392
    #   d_a = 0.310608
    # normalized c = (0, 0, 1, 0), p = (0, 0, 1, 0), e_c = 0, d_c = 1
    # w = (0.310608, 1) / 1.310608 = (0.236995, 0.763005)
    weights = model.indicator_weights["industry"]
    np.testing.assert_allclose(weights[["a", "c"]].to_numpy(), [0.236995, 0.763005], atol=1e-6)
    assert model.indicator_weights["ecology"].to_dict() == {"b": 1.0}
    out = apply_measurement(model, wide)
    # E1 2001: U_industry = 0.236995 * 0.5 + 0.763005 * 0 = 0.118498
    assert out.loc[("E1", "2001"), "U_industry"] == pytest.approx(0.118498, abs=1e-6)


def test_subsystem_weights_change_t():
    spec = MeasurementSpec(
        subsystems=TWO_BY_ONE.subsystems, subsystem_weights={"industry": 0.2, "ecology": 0.8}
    )
    wide = known_panel()
    out = apply_measurement(fit_measurement(wide, spec), wide)
    # E2 2001: T = 0.2 * 0.25 + 0.8 * 0.8 = 0.05 + 0.64 = 0.69
    assert out.loc[("E2", "2001"), "T"] == pytest.approx(0.69)


def test_fit_mask_selects_fit_rows():
    wide = known_panel()
    mask = pd.Series(wide.index.get_level_values("period") == "2000", index=wide.index)
    model = fit_measurement(wide, TWO_BY_ONE, mask)
    # fit rows: a (0, 4), b (10, 0) -> same ranges as before
    assert model.bounds.lower.to_dict() == {"a": 0.0, "b": 0.0}
    assert model.bounds.upper.to_dict() == {"a": 4.0, "b": 10.0}
    only_2001 = pd.Series(~mask.to_numpy(), index=wide.index)
    # fit rows 2001: a (2, 1), b (5, 2)
    model_2001 = fit_measurement(wide, TWO_BY_ONE, only_2001)
    assert model_2001.bounds.upper.to_dict() == {"a": 2.0, "b": 5.0}


# ---------------------------------------------------------------- errors


def test_missing_indicator_is_named():
    with pytest.raises(InputError, match="'b'"):
        fit_measurement(known_panel().drop(columns="b"), TWO_BY_ONE)
    model = fit_measurement(known_panel(), TWO_BY_ONE)
    with pytest.raises(InputError, match="'a'"):
        apply_measurement(model, known_panel().drop(columns="a"))


def test_bad_fit_masks():
    wide = known_panel()
    with pytest.raises(InputError, match="no rows"):
        fit_measurement(wide, TWO_BY_ONE, pd.Series(False, index=wide.index))
    with pytest.raises(InputError, match="boolean"):
        fit_measurement(wide, TWO_BY_ONE, pd.Series(1.0, index=wide.index))
    with pytest.raises(InputError, match="cover"):
        fit_measurement(wide, TWO_BY_ONE, pd.Series(True, index=wide.index[:2]))


def test_per_entity_model_rejects_unseen_entity():
    spec = MeasurementSpec(subsystems=TWO_BY_ONE.subsystems, scope="per_entity")
    wide = known_panel()
    model = fit_measurement(wide, spec)
    unseen = wide.rename(index={"E2": "E3"}, level=0)
    with pytest.raises(InputError, match="'E3'"):
        apply_measurement(model, unseen)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subsystems": {"only": {"a": "benefit"}}}, "at least 2"),
        ({"subsystems": {"x": {"a": "benefit"}, "y": {"a": "cost"}}}, "'a'"),
        ({"subsystems": {"x": {"a": "up"}, "y": {"b": "cost"}}}, r"measures\.subsystems\.x\.a"),
        ({"subsystems": {"x": {}, "y": {"b": "cost"}}}, r"measures\.subsystems\.x"),
        ({"subsystem_weights": {"industry": 0.5, "ecology": 0.6}}, "sum to 1"),
        ({"subsystem_weights": {"industry": 1.0}}, "keys"),
        ({"scope": "global"}, r"measures\.normalization\.scope"),
        ({"headroom": -1.0}, r"measures\.normalization\.headroom"),
        ({"grade_scale": [{"upper": 0.5, "label": "x"}]}, r"measures\.grades"),
    ],
)
def test_spec_validation(kwargs, match):
    arguments = {"subsystems": TWO_BY_ONE.subsystems, **kwargs}
    with pytest.raises(InputError, match=match):
        MeasurementSpec(**arguments)


# ---------------------------------------------------------------- provenance


@pytest.mark.parametrize("scope", ["pooled", "per_entity"])
def test_to_dict_is_json_and_round_trips(scope):
    spec = MeasurementSpec(
        subsystems={"industry": {"a": "benefit", "c": "benefit"}, "ecology": {"b": "cost"}},
        scope=scope,
        headroom=0.1,
    )
    wide = known_panel()
    model = fit_measurement(wide, spec)
    record = json.loads(json.dumps(model.to_dict()))
    assert record["spec"]["scope"] == scope
    assert record["spec"]["grade_scale"][0] == {"upper": 0.1, "label": "extreme disorder"}
    rebuilt = MeasurementModel.from_dict(record)
    pd.testing.assert_frame_equal(apply_measurement(rebuilt, wide), apply_measurement(model, wide))


# ---------------------------------------------------------------- properties

SPEC_4 = {"industry": {"i1": "benefit", "i2": "cost"}, "service": {"s1": "benefit", "s2": "cost"}}
ENTITIES, PERIODS = ["A", "B", "C", "D"], ["2000", "2001", "2002", "2003", "2004"]
PANEL_INDEX = pd.MultiIndex.from_product([ENTITIES, PERIODS], names=["entity", "period"])
FIT_MASK = pd.Series(PANEL_INDEX.get_level_values("period") <= "2002", index=PANEL_INDEX)

panel_values = arrays(float, (len(PANEL_INDEX), 4), elements=st.floats(-100.0, 100.0))
new_values = arrays(
    float, (int((~FIT_MASK).sum()), 4), elements=st.floats(-1e4, 1e4) | st.just(np.nan)
)
spec_options = st.builds(
    MeasurementSpec,
    subsystems=st.just(SPEC_4),
    scope=st.sampled_from(["pooled", "per_entity"]),
    headroom=st.floats(0.0, 0.5),
)


def as_panel(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, index=PANEL_INDEX, columns=["i1", "i2", "s1", "s2"])


@FAST
@given(values=panel_values, replacement=new_values, spec=spec_options)
def test_rows_outside_fit_mask_do_not_leak(values, replacement, spec):
    original = as_panel(values)
    changed = original.copy()
    changed.loc[~FIT_MASK.to_numpy()] = replacement

    model = fit_measurement(original, spec, FIT_MASK)
    model_changed = fit_measurement(changed, spec, FIT_MASK)
    if spec.scope == "pooled":
        pd.testing.assert_series_equal(model.bounds.lower, model_changed.bounds.lower)
        pd.testing.assert_series_equal(model.bounds.upper, model_changed.bounds.upper)
    else:
        pd.testing.assert_frame_equal(model.bounds.lower, model_changed.bounds.lower)
        pd.testing.assert_frame_equal(model.bounds.upper, model_changed.bounds.upper)
    for name in spec.subsystems:
        pd.testing.assert_series_equal(
            model.indicator_weights[name], model_changed.indicator_weights[name]
        )
    fit_rows = FIT_MASK.to_numpy()
    pd.testing.assert_frame_equal(
        apply_measurement(model, original).loc[fit_rows],
        apply_measurement(model_changed, changed).loc[fit_rows],
    )


@FAST
@given(values=panel_values, spec=spec_options)
def test_measures_in_unit_interval(values, spec):
    wide = as_panel(values)
    # Fitted on the early periods, applied to all: later rows leave the fit range.
    out = apply_measurement(fit_measurement(wide, spec, FIT_MASK), wide)
    # Per-entity rule: an entity whose every indicator of a subsystem is constant in the
    # fit rows has no index for it (NaN); every other row is measured.
    no_index = pd.Series(False, index=wide.index)
    if spec.scope == "per_entity":
        fit = wide.loc[FIT_MASK.to_numpy()]
        span = fit.groupby(level=0).max() - fit.groupby(level=0).min()
        for members in spec.subsystems.values():
            constant = (span[list(members)] == 0).all(axis=1)
            no_index |= wide.index.get_level_values(0).map(constant).to_numpy(dtype=bool)
    assert out.loc[no_index, "D"].isna().all()
    out = out.loc[~no_index]
    for column in ["U_industry", "U_service", "T", "C", "C_adjusted", "D", "D_adjusted"]:
        assert out[column].between(0.0, 1.0).all(), column
    # For two subsystems a >= b: C*^2 = (1 - a + b) b / a <= 4ab / (a + b)^2 = C^2, because
    # with b = a - delta, (1 - delta)(2a - delta)^2 <= 4a^2. So C* <= C.
    assert (out["C_adjusted"] <= out["C"] + 1e-12).all()
    assert out["grade"].notna().all() and out["grade_adjusted"].notna().all()
