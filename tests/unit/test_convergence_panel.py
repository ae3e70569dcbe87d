"""Convergence tests keep the panel (issue 23): balancing loses periods before entities, the
verdict says on what it rests, and sigma-convergence is one computation with small-sample p."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from convergence.analysis.convergence_tests import (
    ConvergenceTestSettings,
    block_min_periods,
    convergence_tests,
)
from convergence.analysis.panel import balance_panel
from convergence.analysis.phillips_sul import PhillipsSulSettings, min_periods
from convergence.analysis.sigma import SIGMA_TREND_MEASURES, SigmaSettings, sigma_trend
from convergence.atomic import write_csv_atomic
from convergence.diagnostics import DATA_CHECKS_KEY
from convergence.evaluation.summary import convergence_sentence, p_text, sigma_section
from convergence.stages.convergence import run as run_convergence
from convergence.stages.measure import run as run_measure
from convergence.stages.normalize import run as run_normalize

YEARS = [str(2001 + k) for k in range(17)]


def _states(seed: int = 0, n_entities: int = 48) -> pd.DataFrame:
    """A positive 48 x 17 panel of D-like values (0.2-0.8) with a common upward drift."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.2, 0.6, size=(n_entities, 1))
    drift = np.linspace(0.0, 0.15, len(YEARS))[None, :]
    values = level + drift + 0.01 * rng.standard_normal((n_entities, len(YEARS)))
    names = [f"s{i:02d}" for i in range(n_entities)]
    return pd.DataFrame(values, index=names, columns=YEARS)


def _early_zeros() -> pd.DataFrame:
    """The issue's symptom: most entities have D <= 0 in the first year or two."""
    panel = _states()
    panel.iloc[:43, 0] = 0.0  # 43 of 48 at zero in 2001
    panel.iloc[:10, 1] = -0.01  # 10 of them still non-positive in 2002
    return panel


# --------------------------------------------------------------------------- balancing


def test_early_zeros_cost_periods_not_entities() -> None:
    result = convergence_tests(_early_zeros())
    sample = result.sample
    assert sample.n_entities == 48 >= 0.9 * sample.n_entities_total
    assert (sample.n_periods, sample.n_periods_total) == (15, 17)
    assert sample.dropped_periods == ["2001", "2002"] and sample.dropped_entities == {}
    assert result.verdict.startswith("all 48 entities and 15 of 17 periods (2003-2017): ")


def test_old_rule_dropped_most_entities_on_the_same_panel() -> None:
    """Before: a cell-count block (and, before that, dropping every entity with a
    non-positive value) lost entities; the default rule keeps them all."""
    panel = _early_zeros()
    old = panel.loc[~(panel <= 0).any(axis=1)]  # the former drop_nonpositive step
    assert old.shape[0] == 5  # 5 of 48: the "verdict on 5 of 48"
    product = balance_panel(panel, "largest_block", min_periods=9)
    entities_first = balance_panel(panel, "entities_first", min_periods=9)
    assert product.n_entities <= entities_first.n_entities == 48


def test_entity_non_positive_throughout_is_dropped_and_named(tmp_path: Path) -> None:
    panel = _early_zeros()
    panel.loc["s47"] = -0.2  # never positive
    result = convergence_tests(panel)
    assert result.sample.dropped_entities == {
        "s47": "no positive value: non-positive in 17 of 17 periods"
    }
    assert result.n_entities == 47 and result.n_periods == 15
    assert result.verdict.startswith("47 of 48 entities and 15 of 17 periods (2003-2017): ")
    clubs = result.clubs.set_index("entity")
    assert pd.isna(clubs.loc["s47", "club"])

    record = _run_stage(panel, tmp_path)
    checks = {c["code"]: c for c in record[DATA_CHECKS_KEY]}
    check = checks["convergence_panel_trimmed"]
    assert check["details"]["entities"] == ["s47"]
    assert check["details"]["periods"] == ["2001", "2002"]
    assert "47 of 48 entities and 15 of 17 periods (2003-2017)" in check["message"]
    assert "s47 (no positive value" in check["message"]
    assert record["sample"] == {
        "basis": "47 of 48 entities and 15 of 17 periods (2003-2017)",
        "rule": "entities_first",
        "min_periods": 9,
        "n_entities": 47,
        "n_entities_total": 48,
        "n_periods": 15,
        "n_periods_total": 17,
        "first_period": "2003",
        "last_period": "2017",
        "dropped_entities": {"s47": "no positive value: non-positive in 17 of 17 periods"},
        "dropped_periods": ["2001", "2002"],
    }
    sentence = convergence_sentence(record)
    assert sentence is not None
    assert sentence.startswith(
        "Convergence tests of D (beta, sigma, Phillips-Sul; `convergence/`) on 47 of 48 "
        "entities and 15 of 17 periods (2003-2017): "
    )


def test_complete_panel_has_no_data_check_and_says_all(tmp_path: Path) -> None:
    record = _run_stage(_states(1, n_entities=6), tmp_path)
    assert [c["code"] for c in record[DATA_CHECKS_KEY]] == []
    assert record["verdict"].startswith("all 6 entities and all 17 periods (2001-2017): ")


def test_mid_panel_zero_of_one_entity_costs_that_entity_not_half_the_panel() -> None:
    panel = _states(2, n_entities=10)
    panel.loc["s03", ["2006", "2012"]] = 0.0  # no span of 9 periods avoids both
    result = convergence_tests(panel)
    assert result.sample.dropped_entities == {"s03": "non-positive in 2006, 2012"}
    assert result.n_periods == 17


def test_block_minimum_comes_from_the_log_t_trimming_and_the_share() -> None:
    assert min_periods(PhillipsSulSettings()) == 4  # r = 1/3: t0 = 2, 3 points
    assert min_periods(PhillipsSulSettings(trim_fraction=0.5)) == 6
    settings = ConvergenceTestSettings()
    assert block_min_periods(17, settings) == 9  # ceil(0.5 * 17)
    assert block_min_periods(5, settings) == 4  # the log-t minimum wins
    assert block_min_periods(17, ConvergenceTestSettings(min_period_share=0.0)) == 4


# --------------------------------------------------------------------------- sigma


def _sigma_table(values: list[float]) -> pd.DataFrame:
    periods = [str(2000 + k) for k in range(len(values))]
    return pd.concat(
        [
            pd.DataFrame({"period": periods, "measure": measure, "value": values, "n": 3})
            for measure in ("std", "cv", "std_log", "gini")
        ],
        ignore_index=True,
    )


def test_sigma_trend_known_values_with_student_t() -> None:
    y = np.array([0.5, 0.4, 0.35, 0.3, 0.2])
    trend = sigma_trend(_sigma_table(list(y)), SigmaSettings(hac_maxlags=1)).set_index("measure")
    assert list(trend.index) == list(SIGMA_TREND_MEASURES)
    row = trend.loc["std"]
    # x = 0..4, centred -2..2, Sxx = 10; sum xc (y - 0.35) = -0.7
    assert row["slope"] == pytest.approx(-0.07, abs=1e-12)
    assert row["intercept"] == pytest.approx(0.35 + 0.07 * 2, abs=1e-12)
    xc = np.arange(5.0) - 2.0
    e = y - (0.49 - 0.07 * np.arange(5.0))
    score = xc * e
    # Bartlett, 1 lag: weight 1 - 1/2; then the small-sample factor n / (n - 2)
    long_run = np.sum(score**2) + 2 * 0.5 * np.sum(score[1:] * score[:-1])
    se = np.sqrt(long_run / 10.0**2 * 5 / 3)
    assert row["se"] == pytest.approx(se, rel=1e-10)
    assert row["t"] == pytest.approx(-0.07 / se, rel=1e-10)
    assert row["df"] == 3 and row["n"] == 5 and row["n_entities"] == 3 and row["hac_lags"] == 1
    assert row["p"] == pytest.approx(2 * stats.t.sf(0.07 / se, 3), rel=1e-10)
    assert row["p"] > 2 * stats.norm.sf(0.07 / se)  # not the normal p-value
    assert bool(row["converges"]) == bool(row["p"] < 0.05)


def test_sigma_trend_default_lags_and_classical_limit() -> None:
    y = np.array([1.0, 1.3, 1.1, 1.6, 1.5, 1.9, 2.2])
    row = sigma_trend(_sigma_table(list(y)), SigmaSettings(hac_maxlags=0)).iloc[0]
    x = np.arange(7.0)
    fit = stats.linregress(x, y)
    assert row["slope"] == pytest.approx(fit.slope)
    xc, e = x - x.mean(), y - (fit.intercept + fit.slope * x)
    hc1 = np.sqrt(np.sum(xc**2 * e**2) / np.sum(xc**2) ** 2 * 7 / 5)
    assert row["se"] == pytest.approx(hc1)
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(fit.slope / hc1), 5))
    default = sigma_trend(_sigma_table(list(y))).iloc[0]
    assert default["hac_lags"] == 2  # floor(4 (7/100)^(2/9))


def test_p_text_has_two_digits_and_a_floor() -> None:
    assert p_text(0.012345) == "p = 0.012"
    assert p_text(1.9e-86) == "p < 1e-6"
    assert p_text(float("nan")) == "p undefined"


# --------------------------------------------------------------------------- one sigma


def _run_stage(panel: pd.DataFrame, tmp_path: Path) -> dict:
    long = panel.stack().rename("D").reset_index()
    long.columns = ["entity", "period", "D"]
    write_csv_atomic(long, tmp_path / "coupling.csv")
    (tmp_path / "measure.json").write_text(json.dumps({"data_sha256": None}))
    outputs = ("beta", "points", "sigma", "sigma_trend", "log_t", "clubs", "transition")
    run_convergence(
        dataset="toy",
        coupling_path=tmp_path / "coupling.csv",
        measure_provenance_path=tmp_path / "measure.json",
        settings={},
        provenance_path=tmp_path / "convergence.json",
        **{f"{name}_path": tmp_path / f"{name}.csv" for name in outputs},
    )
    return json.loads((tmp_path / "convergence.json").read_text())


def test_measure_provenance_and_sigma_trend_agree(tmp_path: Path) -> None:
    """One sigma computation: the measure stage tests no trend of its own, its descriptive
    std and CV equal the convergence stage's in every period the block keeps, and the
    convergence provenance (what summary.md reads) copies sigma_trend.csv."""
    rng = np.random.default_rng(5)
    rows = []
    for e, entity in enumerate(["A", "B", "C", "D", "E", "F"]):
        for k in range(10):
            for indicator in ("a", "b", "c", "d"):
                value = 1.0 + e + 0.3 * k + rng.uniform(0, 0.5) + (indicator in "bd") * e * 0.2
                rows.append((entity, str(2000 + k), "first" if indicator in "ab" else "second"))
                rows[-1] += (indicator, value)
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    write_csv_atomic(canonical, tmp_path / "canonical.csv")
    (tmp_path / "ingest.json").write_text(json.dumps({"dataset": "toy", "sha256": None}))
    spec = {
        "subsystems": {
            "first": {"a": "benefit", "b": "benefit"},
            "second": {"c": "benefit", "d": "benefit"},
        }
    }
    run_normalize(tmp_path / "canonical.csv", spec, {}, tmp_path / "n.csv", tmp_path / "m.json")
    names = ("coupling", "grades", "sigma", "pairs", "structure", "provenance")
    measured = {name: tmp_path / f"measure_{name}.out" for name in names}
    run_measure(
        tmp_path / "canonical.csv",
        tmp_path / "m.json",
        tmp_path / "ingest.json",
        spec,
        {},
        **{f"{key}_path": path for key, path in measured.items()},
    )
    measure_record = json.loads(measured["provenance"].read_text())
    assert "sigma_D_std" not in measure_record["trends"]  # no second, competing verdict
    coupling = pd.read_csv(measured["coupling"], dtype={"period": str})
    # Entity A is lowest in every indicator in 2000: pooled min-max gives it D = 0 there.
    assert coupling.loc[coupling["D"] <= 0, ["entity", "period"]].values.tolist() == [["A", "2000"]]
    panel = coupling.set_index(["entity", "period"])["D"].unstack()

    record = _run_stage(panel, tmp_path)
    assert record["sample"]["n_entities"] == 6 and record["sample"]["n_periods"] == 9
    assert record["sample"]["dropped_periods"] == ["2000"]
    descriptive = pd.read_csv(measured["sigma"], dtype={"period": str}).set_index("period")
    tested = pd.read_csv(tmp_path / "sigma.csv", dtype={"period": str})
    for measure in ("std", "cv"):
        values = tested[tested["measure"] == measure].set_index("period")["value"]
        np.testing.assert_allclose(values, descriptive.loc[values.index, measure], rtol=1e-12)
    trend = pd.read_csv(tmp_path / "sigma_trend.csv")
    copied = pd.DataFrame(record["sigma_trend"])
    pd.testing.assert_frame_equal(copied[trend.columns], trend, check_dtype=False)

    section = sigma_section(record)
    assert section is not None
    std = trend.set_index("measure").loc["std"]
    assert f"slope {std['slope']:+.2g} per period, {p_text(std['p'])}" in section
    assert "all 6 entities and 9 of 10 periods (2001-2009)" in section
    assert "Student t with 7 degrees of freedom" in section


def test_sigma_section_says_when_absolute_and_relative_disagree() -> None:
    def row(measure: str, slope: float, p: float) -> dict:
        return {
            "measure": measure,
            "slope": slope,
            "p": p,
            "n": 15,
            "n_entities": 46,
            "df": 13,
            "hac_lags": 2,
        }

    record = {
        "series": "D",
        "conventions": {"sigma.alpha": 0.05},
        "sample": {"basis": "46 of 48 entities and 15 of 17 periods (2003-2017)"},
        "sigma_trend": [row("std", 0.0021, 2e-14), row("cv", -0.0113, 0.0042)],
    }
    section = sigma_section(record)
    assert section is not None
    assert section.startswith("On 46 of 48 entities and 15 of 17 periods (2003-2017)")
    assert (
        "- Absolute dispersion (standard deviation of D): rising, slope +0.0021 per period, "
        "p < 1e-6 (15 periods, 46 entities): sigma-divergence." in section
    )
    assert "- Relative dispersion (coefficient of variation of D): falling" in section
    assert "p = 0.0042" in section and "sigma-convergence." in section
    assert "The two disagree (both significant)" in section
    record["sigma_trend"][1]["slope"] = 0.004
    assert "disagree" not in (sigma_section(record) or "")
    assert sigma_section({"verdict": "not tested: one entity"}) is None


def test_summary_markdown_has_one_sigma_section_per_data_set(tmp_path: Path) -> None:
    from convergence.evaluation.summary import write_summary_markdown

    cross = pd.DataFrame({"model": ["m"], "toy": [1.0]})
    cross.attrs["best"] = {"toy": 0}
    info = {
        "best_model": "m",
        "reference_rank": 1,
        "notes": ["Convergence tests of D (...) on all 6 entities and 9 of 10 periods."],
        "sigma": "On all 6 entities ...\n\n- Absolute dispersion ...",
        "data_checks": "- none\n",
    }
    write_summary_markdown(tmp_path / "summary.md", cross, {"toy": info}, reference="m")
    text = (tmp_path / "summary.md").read_text()
    assert text.count("### Sigma-convergence: toy") == 1
    sigma_at = text.index("### Sigma-convergence: toy\n\nOn all 6 entities ...")
    assert text.index("- Convergence tests of D") < sigma_at < text.index("### Data checks: toy")
