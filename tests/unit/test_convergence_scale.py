"""Convergence tests at regional scale: the incremental clustering, the within beta and the
banded figures give what the direct computations give."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
import pytest

from convergence.analysis import beta as beta_module
from convergence.analysis.beta import BetaSettings, beta_convergence
from convergence.analysis.phillips_sul import (
    HAC_METHODS,
    LogTResult,
    PhillipsSulSettings,
    _add_entity,
    _dispersion,
    _log_t,
    _log_t_many,
    _ordering,
    find_clubs,
    prepare_series,
)
from convergence.plotting import convergence_tests as plots


def _planted(n_entities: int, seed: int, n_periods: int = 40) -> pd.DataFrame:
    """Positive panel with 3 planted clubs, a few divergent entities and noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(1, n_periods + 1, dtype=float)
    club = rng.integers(0, 3, size=n_entities)
    shock = rng.normal(0, 0.15, size=(n_entities, 1)) / (np.log(time + 1) * time**0.3)
    delta = np.array([0.3, 0.55, 0.8])[club][:, None] * (1 + shock)
    delta += rng.normal(0, 0.004, size=(n_entities, n_periods))
    divergent = rng.random(n_entities) < 0.05
    delta[divergent] *= np.exp(rng.normal(0, 0.01, size=(int(divergent.sum()), 1)) * time)
    values = np.clip(delta * (1.0 + 0.01 * time), 1e-3, None)
    return pd.DataFrame(
        values,
        index=[f"e{i:03d}" for i in range(n_entities)],
        columns=[str(2000 + k) for k in range(n_periods)],
    )


def _reference_clubs(
    prepared: pd.DataFrame, settings: PhillipsSulSettings
) -> tuple[list[list[Hashable]], list[Hashable]]:
    """The direct clustering (before the incremental one): every group refitted in full."""
    values = prepared.to_numpy(dtype=float)
    row = {entity: position for position, entity in enumerate(prepared.index)}

    def test(group: Sequence[Hashable]) -> LogTResult:
        return _log_t(values[[row[entity] for entity in group]], settings)

    def core_of(candidates: list[Hashable]) -> list[Hashable] | None:
        for start in range(len(candidates) - 1):
            best_t, best_size, size = -math.inf, 0, 2
            while start + size <= len(candidates):
                t_value = test(candidates[start : start + size]).t
                if not t_value > settings.critical_t:
                    break
                if settings.core_criterion == "max_abs_t":
                    t_value = abs(t_value)
                if t_value > best_t:
                    best_t, best_size = t_value, size
                size += 1
            if best_size >= 2:
                return candidates[start : start + best_size]
        return None

    def sieve(core: list[Hashable], candidates: list[Hashable]) -> list[Hashable]:
        others = [entity for entity in candidates if entity not in set(core)]
        t_values = {entity: test([*core, entity]).t for entity in others}
        cstar = settings.sieve_cstar
        while cstar <= settings.sieve_max:
            joined = [entity for entity in others if t_values[entity] > cstar]
            if not joined:
                return list(core)
            club = [entity for entity in candidates if entity in set(core) | set(joined)]
            if test(club).converges:
                return club
            cstar += settings.sieve_increment
        return list(core)

    remaining = _ordering(prepared, settings)
    clubs: list[list[Hashable]] = []
    while len(remaining) >= 2:
        if test(remaining).converges:
            return [*clubs, list(remaining)], []
        core = core_of(remaining)
        if core is None:
            break
        club = sieve(core, remaining)
        clubs.append(club)
        remaining = [entity for entity in remaining if entity not in set(club)]
    return clubs, remaining


@pytest.mark.parametrize(
    ("hac", "core_criterion"),
    [("qs_andrews", "max_t"), ("newey_west", "max_t"), ("qs_andrews", "max_abs_t")],
)
@pytest.mark.parametrize(("n_entities", "seed"), [(50, 0), (120, 1), (200, 2), (300, 3)])
def test_incremental_clustering_matches_direct(
    n_entities: int, seed: int, hac: str, core_criterion: str
) -> None:
    settings = PhillipsSulSettings(hac=hac, core_criterion=core_criterion)
    prepared, _ = prepare_series(_planted(n_entities, seed), settings)
    clubs, divergent, _ = find_clubs(prepared, settings)
    expected_clubs, expected_divergent = _reference_clubs(prepared, settings)
    assert clubs == expected_clubs
    assert divergent == expected_divergent
    assert len(clubs) >= 2


@pytest.mark.parametrize("hac", HAC_METHODS)
def test_running_dispersion_and_batched_log_t_match_direct(hac: str) -> None:
    settings = PhillipsSulSettings(hac=hac)
    prepared = prepare_series(_planted(80, 4), settings)[0].to_numpy()
    rng = np.random.default_rng(5)
    for size in (2, 3, 10, 40, 80):
        rows = prepared[rng.choice(80, size, replace=False)]
        mean, m2 = rows[0].copy(), np.zeros(rows.shape[1])
        for count, row in enumerate(rows[1:], start=1):
            mean, m2 = _add_entity(count, mean, m2, row)
        direct = np.mean((rows / rows.mean(axis=0) - 1.0) ** 2, axis=0)
        np.testing.assert_allclose(_dispersion(size, mean, m2), direct, rtol=1e-12, atol=0)
        expected = _log_t(rows, settings).t
        fast = _log_t_many(_dispersion(size, mean, m2)[None, :], settings)[0]
        assert fast == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("hac", HAC_METHODS)
def test_batched_log_t_special_cases(hac: str) -> None:
    settings = PhillipsSulSettings(hac=hac)
    identical = np.zeros((1, 12))
    assert _log_t_many(identical, settings)[0] == math.inf
    broken = np.ones((1, 12))
    broken[0, -1] = 0.0  # log(H_1 / 0): not finite -> NaN, as _log_t
    assert math.isnan(_log_t_many(broken, settings)[0])


@pytest.mark.parametrize("time_effects", [False, True])
def test_within_beta_matches_dummy_regression(
    time_effects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = _planted(60, 6)
    matrix.iloc[3, 7] = np.nan  # an unbalanced spell panel
    settings = BetaSettings(time_effects=time_effects)
    dummies = beta_convergence(matrix, settings).table.set_index("kind")
    monkeypatch.setattr(beta_module, "LSDV_MAX_ENTITIES", 1)
    within = beta_convergence(matrix, settings).table.set_index("kind")
    columns = ["beta", "se", "t", "p", "n", "r2", "speed", "half_life"]
    np.testing.assert_allclose(
        within.loc["conditional", columns].astype(float),
        dummies.loc["conditional", columns].astype(float),
        rtol=1e-9,
    )


def _transition_table(n_entities: int) -> pd.DataFrame:
    matrix = _planted(n_entities, 7, n_periods=12)
    table = matrix.rename_axis(index="entity", columns="period").stack().rename("h").reset_index()
    table["club"] = [int(entity[1:]) % 3 for entity in table["entity"]]
    return table


def test_transition_figure_bands_above_threshold(tmp_path, monkeypatch) -> None:
    drawn: list[str] = []
    original = plots._draw_bands

    def spy(*args: object) -> None:
        drawn.append("bands")
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(plots, "_draw_bands", spy)
    plots.plot_transition_paths(_transition_table(20), tmp_path / "few.png")
    assert drawn == []
    plots.plot_transition_paths(_transition_table(plots.BAND_THRESHOLD + 1), tmp_path / "many.png")
    assert drawn == ["bands"]
    assert (tmp_path / "few.png").stat().st_size > 0
    assert (tmp_path / "many.png").stat().st_size > 0
