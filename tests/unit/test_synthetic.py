"""Synthetic coupled industries: shapes, determinism, documented equations, coupling signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from convergence.data.synthetic import (
    CAPACITY_X,
    CAPACITY_Y,
    SYNTHETIC_INDICATORS,
    coupling_recovery,
    simulate_coupled_industries,
)
from convergence.errors import InputError


def wide(panel: pd.DataFrame) -> pd.DataFrame:
    """Panel as (entity, period) x indicator."""
    return panel.pivot(index=["entity", "period"], columns="indicator", values="value")


def test_shapes_labels_and_truth() -> None:
    panel, truth = simulate_coupled_industries(5, 7, seed=3, coupling_min=0.1, coupling_max=0.3)
    assert list(panel.columns) == ["entity", "period", "indicator", "value"]
    assert len(panel) == 5 * 7 * 4
    assert sorted(panel["entity"].unique()) == ["s0000", "s0001", "s0002", "s0003", "s0004"]
    assert sorted(panel["period"].unique()) == [str(year) for year in range(1950, 1957)]
    assert tuple(panel["indicator"].iloc[:4]) == SYNTHETIC_INDICATORS
    keys = list(zip(panel["entity"], panel["period"], panel["indicator"], strict=True))
    assert keys == sorted(keys)
    assert list(truth.columns) == ["entity", "coupling", "r_x", "r_y"]
    np.testing.assert_allclose(truth["coupling"], [0.1, 0.15, 0.2, 0.25, 0.3])


def test_values_positive_and_shares_consistent() -> None:
    panel, _ = simulate_coupled_industries(50, 40, seed=11, noise=0.05)
    table = wide(panel)
    assert (table[["x_output", "y_output"]] > 0).all().all()
    np.testing.assert_allclose(
        table["x_share"], table["x_output"] / (table["x_output"] + table["y_output"])
    )
    np.testing.assert_allclose(table["x_share"] + table["y_share"], 1.0)


def test_same_seed_same_output_different_seed_differs() -> None:
    first, first_truth = simulate_coupled_industries(20, 15, seed=42)
    again, again_truth = simulate_coupled_industries(20, 15, seed=42)
    other, _ = simulate_coupled_industries(20, 15, seed=43)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first_truth, again_truth)
    assert not np.allclose(first["value"], other["value"])


def test_first_step_follows_documented_equations() -> None:
    panel, truth = simulate_coupled_industries(6, 3, seed=5, noise=0.0, coupling_max=0.4)
    table = wide(panel)
    x0 = table.xs("1950", level="period")["x_output"].to_numpy()
    y0 = table.xs("1950", level="period")["y_output"].to_numpy()
    x1 = table.xs("1951", level="period")["x_output"].to_numpy()
    y1 = table.xs("1951", level="period")["y_output"].to_numpy()
    kappa, r_x, r_y = (truth[c].to_numpy() for c in ("coupling", "r_x", "r_y"))
    np.testing.assert_allclose(x1, x0 + r_x * x0 * (1 - x0 / CAPACITY_X) + kappa * (y0 - x0))
    np.testing.assert_allclose(y1, y0 + r_y * y0 * (1 - y0 / CAPACITY_Y) + kappa * (x0 - y0))


def test_larger_coupling_gives_smaller_final_gap() -> None:
    panel, truth = simulate_coupled_industries(400, 60, seed=2021, coupling_max=0.5)
    final = wide(panel).xs("2009", level="period")
    gap = (final["x_output"] - final["y_output"]).abs().to_numpy()
    coupling = truth["coupling"].to_numpy()
    weak, strong = gap[coupling < 0.25].mean(), gap[coupling >= 0.25].mean()
    assert strong < 0.7 * weak
    # The coupling is recoverable from the gap: strong negative rank correlation.
    rank_correlation = pd.Series(coupling).corr(pd.Series(gap), method="spearman")
    assert rank_correlation < -0.8


def test_invalid_parameters_name_the_parameter() -> None:
    with pytest.raises(InputError, match="coupling_max"):
        simulate_coupled_industries(3, 5, seed=1, coupling_max=0.9)
    with pytest.raises(InputError, match="n_periods"):
        simulate_coupled_industries(3, 1, seed=1)
    with pytest.raises(InputError, match="noise"):
        simulate_coupled_industries(3, 5, seed=1, noise=-0.1)


def test_ten_thousand_entities_have_every_row() -> None:
    panel, truth = simulate_coupled_industries(10_000, 60, seed=0)
    assert len(panel) == 10_000 * 60 * 4 and len(truth) == 10_000
    assert panel["value"].notna().all() and (panel["value"] > 0).all()


def coupling_table(gaps: list[float], c_values: list[float]) -> pd.DataFrame:
    """Two periods; the last one carries the given gaps (U_a - U_b) and C values."""
    rows = []
    for i, (gap, c) in enumerate(zip(gaps, c_values, strict=True)):
        rows.append({"entity": f"s{i}", "period": "2000", "U_a": 0.5, "U_b": 0.5, "C": 0.0})
        rows.append({"entity": f"s{i}", "period": "2001", "U_a": 0.2 + gap, "U_b": 0.2, "C": c})
    return pd.DataFrame(rows)


def test_coupling_recovery_hand_computed() -> None:
    truth = pd.DataFrame({"entity": ["s0", "s1", "s2", "s3"], "coupling": [0.0, 0.1, 0.2, 0.3]})
    # Gaps fall with coupling except one swap: ranks 4, 2, 3, 1 against 1, 2, 3, 4,
    # so rho = 1 - 6 * (9 + 0 + 0 + 9) / (4 * 15) = -0.8. C rises perfectly: rho = 1.
    table = coupling_table([0.5, 0.2, 0.3, 0.1], [0.6, 0.7, 0.8, 0.9])
    result = coupling_recovery(table, truth)
    assert result["spearman_coupling_gap"] == pytest.approx(-0.8)
    assert result["spearman_coupling_C"] == pytest.approx(1.0)
    assert result["n_entities"] == 4 and result["final_period"] == "2001"


def test_coupling_recovery_needs_truth_for_every_entity() -> None:
    truth = pd.DataFrame({"entity": ["s0"], "coupling": [0.1]})
    with pytest.raises(InputError, match="without ground truth"):
        coupling_recovery(coupling_table([0.1, 0.2], [0.5, 0.6]), truth)
