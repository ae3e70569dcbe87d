"""Known-value tests of beta, sigma and Phillips-Sul club convergence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.filters.hp_filter import hpfilter

from convergence.analysis.beta import BETA_COLUMNS, BetaSettings, beta_convergence
from convergence.analysis.convergence_tests import ConvergenceTestSettings, convergence_tests
from convergence.analysis.panel import balance_panel, to_entity_period, to_long
from convergence.analysis.phillips_sul import (
    CLUB_COLUMNS,
    LOG_T_COLUMNS,
    PhillipsSulSettings,
    find_clubs,
    hp_trend,
    log_t_test,
    merge_clubs,
    phillips_sul,
    prepare_series,
    regression_start,
)
from convergence.analysis.sigma import SIGMA_TREND_COLUMNS, gini, sigma_table, sigma_trend
from convergence.errors import ConfigError, InputError

N_PERIODS = 60
T_INDEX = np.arange(1, N_PERIODS + 1, dtype=float)
YEARS = [str(1950 + i) for i in range(N_PERIODS)]


def _matrix(values: np.ndarray, prefix: str = "e") -> pd.DataFrame:
    names = [f"{prefix}{i:02d}" for i in range(values.shape[0])]
    return pd.DataFrame(values, index=names, columns=YEARS[: values.shape[1]])


def _transition_design(
    offsets: np.ndarray, limit: float, alpha: float, *, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """delta_it = limit + c_i / (L(t) t^alpha), L(t) = log t (1 at t = 1): Phillips-Sul's model."""
    log_t = np.where(T_INDEX > 1, np.log(T_INDEX), 1.0)
    loadings = limit + np.asarray(offsets, dtype=float)[:, None] / (log_t * T_INDEX**alpha)
    shocks = np.random.default_rng(seed).standard_normal(loadings.shape)
    return loadings * np.exp(noise * shocks)


# --------------------------------------------------------------------------- beta


def _ar1_panel(rho: float, n_entities: int = 120, n_periods: int = 11, noise: float = 1e-4):
    rng = np.random.default_rng(1)
    start = rng.standard_normal(n_entities)
    steps = np.arange(n_periods)
    logs = rho ** steps[None, :] * start[:, None] + noise * rng.standard_normal(
        (n_entities, n_periods)
    )
    return _matrix(np.exp(logs))


def test_absolute_beta_of_ar1_in_logs_is_rho_power_t_minus_one_over_t():
    rho, horizon = 0.9, 10
    result = beta_convergence(_ar1_panel(rho), BetaSettings(spell_length=5), series="x")
    row = result.table.set_index("kind").loc["absolute"]
    assert row["beta"] == pytest.approx((rho**horizon - 1) / horizon, abs=2e-5)
    assert row["speed"] == pytest.approx(-math.log(rho), abs=2e-4)
    assert row["half_life"] == pytest.approx(math.log(2) / -math.log(rho), rel=1e-3)
    assert row["T"] == horizon and row["n"] == 120 and row["series"] == "x"
    assert row["r2"] > 0.999 and row["p"] < 1e-10
    assert list(result.table.columns) == list(BETA_COLUMNS)
    assert list(result.points.columns) == ["entity", "initial", "growth"]


def test_conditional_beta_over_spells_recovers_rho():
    rho, k = 0.8, 5
    result = beta_convergence(_ar1_panel(rho), BetaSettings(spell_length=k))
    row = result.table.set_index("kind").loc["conditional"]
    assert row["beta"] == pytest.approx((rho**k - 1) / k, abs=1e-4)
    assert row["speed"] == pytest.approx(-math.log(rho), abs=1e-3)
    assert row["n"] == 2 * 120 and row["n_entities"] == 120 and row["T"] == k


def test_beta_speed_undefined_when_one_plus_beta_t_not_positive():
    # ln x_iT = -ln x_i0 exactly: beta T = -2, so 1 + beta T < 0.
    start = np.linspace(-1, 1, 7)
    logs = np.column_stack([start, np.zeros_like(start), -start])
    row = beta_convergence(_matrix(np.exp(logs))).table.iloc[0]
    assert row["beta"] == pytest.approx(-1.0)
    assert math.isnan(row["speed"]) and math.isnan(row["half_life"])
    assert "1 + beta*T <= 0" in row["note"]


def test_beta_drops_non_positive_entities_with_a_warning_and_skips_short_panels():
    values = np.exp(np.random.default_rng(2).standard_normal((5, 3)))
    values[1, 2] = 0.0
    result = beta_convergence(_matrix(values), BetaSettings(spell_length=1))
    assert any("e01" in warning and "non-positive" in warning for warning in result.warnings)
    assert result.table.iloc[0]["n"] == 4
    short = beta_convergence(_matrix(values[[0, 2, 3, 4]]), BetaSettings(spell_length=5))
    conditional = short.table.set_index("kind").loc["conditional"]
    assert math.isnan(conditional["beta"]) and "at least 2 spells" in conditional["note"]


# --------------------------------------------------------------------------- sigma


def test_sigma_trend_of_ln_std_of_logs_is_ln_rho_exactly():
    rho, mu = 0.93, 5.0
    z = np.random.default_rng(3).standard_normal(12)
    steps = np.arange(20)
    panel = _matrix(mu * np.exp(rho ** steps[None, :] * z[:, None]))
    table, warnings = sigma_table(panel)
    assert warnings == []
    std_log = table[table["measure"] == "std_log"]["value"].to_numpy()
    np.testing.assert_allclose(std_log, rho**steps * np.std(z, ddof=1), rtol=1e-12)
    trend = sigma_trend(table).set_index("measure")
    assert list(sigma_trend(table).columns) == list(SIGMA_TREND_COLUMNS)
    assert abs(trend.loc["ln_std_log", "slope"] - math.log(rho)) < 1e-10
    assert trend.loc["ln_std_log", "converges"]
    assert trend.loc["std_log", "converges"]


def test_gini_and_cv_known_values():
    assert gini([1.0, 1.0, 1.0]) == 0.0
    assert gini([0.0, 0.0, 0.0, 4.0]) == pytest.approx(0.75)  # (n - 1) / n
    assert gini([1.0, 3.0]) == pytest.approx(0.25)  # |1-3| * 2 / (2 * 4 * 2)
    panel = _matrix(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    table, _ = sigma_table(panel)
    cv = table[table["measure"] == "cv"].set_index("period")["value"]
    assert cv["1950"] == pytest.approx(np.std([1, 3], ddof=1) / 2)
    assert cv["1951"] == 0.0


# --------------------------------------------------------------------------- HP filter


def test_hp_filter_leaves_a_line_and_solves_the_normal_equations():
    line = _matrix(np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.5, 0.25, 0.0, -0.25, -0.5, -0.75]]))
    np.testing.assert_allclose(hp_trend(line, 400.0).to_numpy(), line.to_numpy(), atol=1e-9)

    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])
    lamb = 10.0
    second = np.zeros((4, 6))
    for row in range(4):
        second[row, row : row + 3] = [1.0, -2.0, 1.0]
    expected = np.linalg.solve(np.eye(6) + lamb * second.T @ second, y)
    got = hp_trend(_matrix(y[None, :]), lamb).to_numpy()[0]
    np.testing.assert_allclose(got, expected, atol=1e-10)
    np.testing.assert_allclose(got, hpfilter(y, lamb=lamb)[1], atol=1e-12)


# --------------------------------------------------------------------------- log-t


def test_log_t_slope_is_two_alpha_for_the_phillips_sul_design():
    alpha = 0.3
    offsets = np.linspace(-0.5, 0.5, 10)  # mean zero: the cross-section mean is exactly 2
    common = 1.02**T_INDEX
    panel = _matrix(_transition_design(offsets, 2.0, alpha) * common)
    exact = log_t_test(panel, PhillipsSulSettings(hp_filter=False))
    assert exact.b == pytest.approx(2 * alpha, abs=1e-10)
    assert exact.converges and exact.n == 10
    assert exact.t0 == 21 and exact.n_points == 40  # discard round(60 / 3) = 20 periods

    many = np.linspace(-0.5, 0.5, 40)
    noisy = _matrix(_transition_design(many, 2.0, alpha, noise=0.002) * common)
    estimate = log_t_test(noisy, PhillipsSulSettings(hp_filter=False))
    assert estimate.b == pytest.approx(2 * alpha, abs=0.07)  # 0.554 with this seed
    assert estimate.t > -1.65
    filtered = log_t_test(noisy)  # HP (lambda 400) smooths the fast early transition: b lower
    assert filtered.t > -1.65 and 0.3 < filtered.b < 2 * alpha


def test_log_t_rejects_a_diverging_panel():
    rates = np.linspace(-0.02, 0.02, 10)
    shocks = np.random.default_rng(4).standard_normal((10, N_PERIODS))
    panel = _matrix(np.exp(rates[:, None] * T_INDEX) * (1 + 0.01 * shocks))
    result = log_t_test(panel)
    assert result.b < 0 and result.t < -1.65 and not result.converges


def test_regression_start_conventions():
    assert regression_start(60, PhillipsSulSettings()) == 21
    assert regression_start(60, PhillipsSulSettings(trim_rule="paper_floor")) == 20
    assert regression_start(50, PhillipsSulSettings(trim_fraction=0.3)) == 16  # psecta kq
    assert regression_start(3, PhillipsSulSettings(trim_rule="paper_floor")) == 2


# --------------------------------------------------------------------------- clubs


def _three_clubs() -> pd.DataFrame:
    blocks = [
        _transition_design(limit * np.linspace(-0.5, 0.5, 6), limit, 0.5, noise=0.002, seed=seed)
        for seed, limit in enumerate((3.0, 2.0, 1.0))
    ]
    names = [f"{group}{i}" for group in "abc" for i in range(6)]
    frame = pd.DataFrame(np.vstack(blocks), index=names, columns=YEARS)
    return frame.sample(frac=1.0, random_state=0)  # order must not matter


def _partition(groups) -> set[frozenset]:
    return {frozenset(group) for group in groups}


def test_planted_clubs_are_recovered_exactly():
    panel = _three_clubs()
    result = phillips_sul(panel)
    expected = _partition([[f"{g}{i}" for i in range(6)] for g in "abc"])
    assert _partition(result.clubs) == expected
    assert _partition(result.initial_clubs) == expected
    assert result.divergent == []
    assert not result.overall.converges
    assert [set(club) for club in result.clubs][0] == {f"a{i}" for i in range(6)}  # highest first
    assert list(result.log_t["group"]) == ["all", "club 1", "club 2", "club 3"]
    assert result.log_t["converges"].tolist() == [False, True, True, True]
    table = result.club_table.set_index("entity")
    assert table.loc["c3", "club"] == 3 and table.loc["a0", "club_size"] == 6
    assert sorted(table["final_rank"].tolist()) == list(range(1, 19))


def test_merging_joins_adjacent_clubs_with_the_same_limit():
    upper = _transition_design(np.linspace(0.2, 1.0, 5), 2.0, 0.5, noise=0.002, seed=5)
    lower = _transition_design(-np.linspace(0.2, 1.0, 5), 2.0, 0.5, noise=0.002, seed=6)
    apart = _transition_design(np.linspace(-0.5, 0.5, 5), 1.0, 0.5, noise=0.002, seed=7)
    panel = _matrix(np.vstack([upper, lower, apart]))
    prepared, _ = prepare_series(panel)
    names = list(panel.index)
    clubs = [names[0:5], names[5:10], names[10:15]]
    merged = merge_clubs(prepared, clubs)
    assert _partition(merged) == _partition([names[0:10], names[10:15]])
    assert merged[0] == names[0:10]  # order kept: the merged club comes first


def test_a_diverging_panel_forms_no_club():
    rates = np.linspace(-0.03, 0.03, 8)
    panel = _matrix(np.exp(rates[:, None] * T_INDEX))
    clubs, divergent, order = find_clubs(prepare_series(panel)[0])
    assert clubs == [] and sorted(divergent) == sorted(panel.index)
    assert order[0] == "e07"  # the fastest grower is highest in the last period


# --------------------------------------------------------------------------- top level


def test_convergence_tests_tables_and_verdict():
    panel = _three_clubs()
    # Non-positive in mid-panel twice: no span of half the periods avoids both, so a0 is
    # dropped (with its reason) rather than the panel cut to 19 periods.
    panel.loc["a0", ["1970", "1990"]] = -1.0
    result = convergence_tests(panel, series="x")
    assert result.n_entities == 17 and result.n_periods == N_PERIODS
    assert result.sample.dropped_entities == {"a0": "non-positive in 1970, 1990"}
    assert any("a0" in warning for warning in result.sample.warnings)
    assert result.verdict.startswith(
        "17 of 18 entities and all 60 periods (1950-2009): no overall convergence (log-t b = "
    )
    assert result.verdict.endswith("3 clubs of sizes 5, 6, 6 and 0 divergent")
    assert list(result.clubs.columns) == list(CLUB_COLUMNS)
    assert list(result.log_t.columns) == list(LOG_T_COLUMNS)
    dropped = result.clubs.set_index("entity").loc["a0"]
    assert pd.isna(dropped["club"]) and pd.isna(dropped["final_rank"])
    assert set(result.tables()) == {
        "beta.csv",
        "beta_points.csv",
        "sigma.csv",
        "sigma_trend.csv",
        "log_t.csv",
        "clubs.csv",
        "transition.csv",
    }
    assert result.conventions["phillips_sul.hp_lambda"] == 400.0
    assert result.conventions["beta.spell_length"] == 5
    assert result.conventions["balance"] == "entities_first"
    assert result.conventions["min_period_share"] == 0.5


def test_convergence_tests_accepts_a_long_series():
    panel = _three_clubs()
    from_long = convergence_tests(to_long(panel))
    assert from_long.verdict == convergence_tests(panel).verdict
    assert to_entity_period(to_long(panel)).shape == panel.shape


def test_one_entity_or_too_few_periods_raise_value_error():
    with pytest.raises(ValueError, match="at least 2 entities, got 1"):
        convergence_tests(_matrix(np.ones((1, 30))))
    with pytest.raises(ValueError, match="too few periods"):
        convergence_tests(_matrix(np.exp(np.random.default_rng(8).standard_normal((5, 3)))))
    all_but_one = _matrix(np.exp(np.random.default_rng(9).standard_normal((2, 30))))
    all_but_one.iloc[0, 3] = 0.0  # an early zero costs periods 1950..1953, not the entity
    assert convergence_tests(all_but_one).sample.basis() == (
        "all 2 entities and 26 of 30 periods (1954-1979)"
    )
    all_but_one.iloc[0, 15] = 0.0  # a second zero in mid-panel: no span of 15 avoids both
    with pytest.raises(ValueError, match="at least 2 entities with positive values"):
        convergence_tests(all_but_one)


def test_balance_largest_block_and_drop_entities():
    values = np.ones((5, 10))
    values[0, :3] = np.nan  # 4 entities x 10 periods (40) beat 5 x 7 (35)
    panel = _matrix(values)
    balanced = balance_panel(panel, "largest_block")
    assert balanced.panel.shape == (4, 10) and "e00" not in balanced.panel.index
    assert balanced.warnings and balanced.dropped_entities == {"e00": "missing in 1950, 1951, 1952"}
    # entities_first keeps all 5 entities over the 7 complete periods instead
    assert balance_panel(panel).panel.shape == (5, 7)
    values[1:, 8:] = np.nan  # 4 entities x 8 periods (32) beat 5 x 5 (1953..1957, 25)
    assert balance_panel(_matrix(values), "largest_block").panel.shape == (4, 8)
    with pytest.raises(InputError, match="at least 2 entities"):
        balance_panel(_matrix(values), "drop_entities")
    with pytest.raises(InputError, match="missing or non-positive"):
        balance_panel(_matrix(values), "none")


def test_settings_from_mapping_and_validation():
    settings = ConvergenceTestSettings.from_mapping(
        {"balance": "drop_entities", "phillips_sul": {"trim_fraction": 0.3}, "beta": {}}
    )
    assert settings.phillips_sul.trim_fraction == 0.3 and settings.balance == "drop_entities"
    with pytest.raises(ConfigError, match="min_period_share"):
        ConvergenceTestSettings.from_mapping({"min_period_share": 1.5})
    with pytest.raises(ConfigError, match="phillips_sul.kq"):
        ConvergenceTestSettings.from_mapping({"phillips_sul": {"kq": 0.3}})
    with pytest.raises(ConfigError, match="trim_rule"):
        ConvergenceTestSettings.from_mapping({"phillips_sul": {"trim_rule": "ceil"}})
    with pytest.raises(InputError):
        BetaSettings(spell_length=0)


def test_figures_are_written_as_png_and_pdf(tmp_path):
    from convergence.plotting.convergence_tests import plot_beta_scatter, plot_transition_paths

    result = convergence_tests(_three_clubs())
    plot_transition_paths(result.transition, tmp_path / "paths.png", tmp_path / "paths.pdf", "t")
    result.beta.to_csv(tmp_path / "beta.csv", index=False)
    result.beta_points.to_csv(tmp_path / "points.csv", index=False)
    plot_beta_scatter(tmp_path / "points.csv", tmp_path / "beta.csv", tmp_path / "beta.png")
    for name in ("paths.png", "paths.pdf", "beta.png"):
        assert (tmp_path / name).stat().st_size > 1000
