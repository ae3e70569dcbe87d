"""Issue 23, evaluation side: a headline metric that tiny entities cannot swing, a target
with no dynamics flagged, DM verdicts only on an effective sample, informative forecast
figures. Each symptom is reproduced on a small designed panel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_runs import evaluate_frame

from convergence.diagnostics import DATA_CHECKS_KEY
from convergence.errors import ConfigError
from convergence.evaluation.comparisons import dm_tests
from convergence.evaluation.forecast_checks import (
    concentration_limit,
    dm_testable,
    mase_concentration_check,
    persistence_statistics,
    target_series,
    target_without_dynamics_check,
)
from convergence.evaluation.scores import RANKING_METRIC, score_table
from convergence.evaluation.summary import (
    leader_model,
    peer_table,
    target_sentence,
    versus_best_sentence,
)
from convergence.evaluation.target import target_versus_measured
from convergence.plotting.evaluation import choose_forecast_entities, period_axis_values
from convergence.stages.evaluate import run_cross_summary


def _row(model: str, entity: str, fold: int, horizon: int, actual: float, error: float) -> dict:
    origin = 2000 + fold
    return {
        "dataset": "ds",
        "model": model,
        "seed": 0,
        "fold": fold,
        "entity": entity,
        "origin": str(origin),
        "horizon": horizon,
        "period": str(origin + horizon),
        "actual": actual,
        "predicted": actual - error,
        "last_observed": actual,
        "run_id": f"{model}-0",
    }


# --------------------------------------------------------------------------- pooled MASE


def test_pooled_mase_known_value() -> None:
    """sum |e| / sum scale, by hand: A errors 0.10, 0.05 (scale 0.1), B 0.08 (scale 0.04)."""
    rows = [
        _row("m", "A", 0, 1, 0.45, 0.10),
        _row("m", "A", 0, 2, 0.55, -0.05),
        _row("m", "B", 0, 1, 0.21, -0.08),
    ]
    scales = pd.DataFrame(
        {"fold": [0, 0], "entity": ["A", "B"], "origin": ["2000", "2000"], "scale": [0.1, 0.04]}
    )
    row = score_table(pd.DataFrame(rows), scales).set_index("horizon").loc["all"]
    assert row["pooled_MASE"] == pytest.approx(0.23 / 0.24)
    # ... the scale-weighted mean of the per-forecast scaled errors (1.0, 0.5, 2.0)
    assert row["pooled_MASE"] == pytest.approx((0.1 * 1.0 + 0.1 * 0.5 + 0.04 * 2.0) / 0.24)
    assert row["MASE"] == pytest.approx((1.0 + 0.5 + 2.0) / 3)
    assert RANKING_METRIC == "pooled_MASE"


BIG = [f"big{k}" for k in range(6)]


def micro_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six entities with naive scale 0.05 and one micro-entity with scale 0.0006 (above the
    1 % cut-off of ``mase_scale_zero``). cnn_lstm errs by 0.02 on the big ones and 0.01 on
    the micro one; naive errs by 0.04 on the big ones and 0 on the micro one. Mean MASE:
    cnn_lstm (6 x 0.4 + 16.7) / 7 = 2.73 vs naive 0.69; pooled MASE: 0.13 / 0.3006 = 0.43
    vs 0.24 / 0.3006 = 0.80."""
    rows = []
    for fold in range(5):
        for horizon in (1, 2):
            sign = 1.0 if (fold + horizon) % 2 else -1.0
            for k, entity in enumerate([*BIG, "micro"]):
                actual = 0.3 + 0.05 * k + 0.01 * fold
                big = entity != "micro"
                rows.append(
                    _row("cnn_lstm", entity, fold, horizon, actual, sign * (0.02 if big else 0.01))
                )
                rows.append(
                    _row("naive", entity, fold, horizon, actual, sign * (0.04 if big else 0.0))
                )
    frame = pd.DataFrame(rows)
    scales = frame[["fold", "entity", "origin"]].drop_duplicates()
    scales = scales.assign(scale=np.where(scales["entity"] == "micro", 0.0006, 0.05))
    return frame, scales


def test_micro_entity_swings_mean_mase_but_not_the_ranking(tmp_path: Path) -> None:
    frame, scales = micro_panel()
    out = evaluate_frame(tmp_path, frame, scales)
    summary = pd.read_csv(out / "summary.csv", dtype={"horizon": str})
    pooled = summary[summary["horizon"] == "all"].set_index("model")
    # Mean MASE ranks naive first; pooled MASE, the ranking metric, ranks cnn_lstm first.
    assert pooled.loc["naive", "MASE_mean"] < pooled.loc["cnn_lstm", "MASE_mean"]
    assert pooled.loc["cnn_lstm", "MASE_mean"] == pytest.approx((6 * 0.4 + 0.01 / 0.0006) / 7)
    assert pooled.loc["cnn_lstm", "pooled_MASE_mean"] == pytest.approx(0.13 / 0.3006)
    assert pooled.loc["naive", "pooled_MASE_mean"] == pytest.approx(0.24 / 0.3006)
    assert leader_model(summary) == "cnn_lstm"
    assert set(pd.read_csv(out / "leader_tests.csv")["reference"]) == {"cnn_lstm"}

    # The concentration check names the micro-entity and its share.
    record = json.loads((out / "provenance.json").read_text())
    found = {c["code"]: c for c in record[DATA_CHECKS_KEY]}["mase_concentration"]
    assert found["details"]["entities"] == ["micro"]
    assert found["details"]["model"] == "cnn_lstm"
    share = (0.01 / 0.0006) / (6 * 0.4 + 0.01 / 0.0006)
    assert found["details"]["share"] == pytest.approx(share)
    assert f"1 of 7 entities carry {share:.0%}" in found["message"]

    run_cross_summary(
        summary_paths=[out / "summary.csv"],
        dm_paths=[out / "dm_tests.csv"],
        leader_paths=[out / "leader_tests.csv"],
        reference="cnn_lstm",
        table_path=tmp_path / "cross.csv",
        table_md_path=tmp_path / "cross.md",
        table_tex_path=tmp_path / "cross.tex",
        summary_md_path=tmp_path / "summary.md",
        data_check_paths={"ds": {"evaluate": out / "provenance.json"}},
    )
    text = (tmp_path / "summary.md").read_text()
    assert "Models are ranked by pooled MASE" in text
    assert f"the lowest pooled MASE on ds is {0.13 / 0.3006:.3f}, from cnn_lstm" in text.replace(
        "The lowest", "the lowest"
    )
    assert "cnn_lstm ranks 1st of 2 with pooled MASE" in text
    assert "`mase_concentration`" in text.split("### Data checks: ds")[1]
    cross = pd.read_csv(tmp_path / "cross.csv")
    assert list(cross.columns) == ["model", "ds", "ds (mean MASE)"]
    assert "**0.432**" in (tmp_path / "cross.md").read_text()  # pooled MASE marked best


def test_concentration_limit_and_an_even_panel_is_quiet() -> None:
    assert [concentration_limit(n) for n in (3, 4, 7, 12, 48, 210)] == [0, 1, 1, 3, 4, 21]
    frame, scales = micro_panel()
    even = frame[frame["entity"] != "micro"]
    assert mase_concentration_check(even, scales) is None


# --------------------------------------------------------------------------- persistence


def single_series(values: np.ndarray, entity: str = "A") -> pd.DataFrame:
    """One-step forecasts of one series from every origin: actual y[t+1], last y[t]."""
    rows = []
    for t in range(len(values) - 1):
        for model, predicted in (("cnn_lstm", values[t]), ("naive", values[t])):
            rows.append(
                {
                    "dataset": "ds",
                    "model": model,
                    "seed": 0,
                    "fold": 0,
                    "entity": entity,
                    "origin": str(1990 + t),
                    "horizon": 1,
                    "period": str(1991 + t),
                    "actual": float(values[t + 1]),
                    "predicted": float(predicted) + (0.01 if model == "cnn_lstm" else 0.0),
                    "last_observed": float(values[t]),
                    "run_id": "",
                }
            )
    return pd.DataFrame(rows)


def test_white_noise_target_is_flagged_and_summary_says_rankings_mean_little(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    noise = 0.5 + 0.1 * rng.standard_normal(40)
    frame = pd.concat([single_series(noise, "A"), single_series(noise[::-1], "B")])
    series = target_series(frame)
    assert len(series) == 2 * 40
    stats = persistence_statistics(series).set_index("entity")
    assert stats.loc["A", "variance_ratio"] > 1.5 and abs(stats.loc["A", "r1"]) < 0.25
    found = target_without_dynamics_check(frame)
    assert found is not None and found["code"] == "target_without_dynamics"
    assert "accuracy rankings compare ways of predicting noise" in found["message"]

    scales = frame[["fold", "entity", "origin"]].drop_duplicates().assign(scale=0.1)
    out = evaluate_frame(tmp_path, frame, scales)
    run_cross_summary(
        summary_paths=[out / "summary.csv"],
        dm_paths=[out / "dm_tests.csv"],
        reference="cnn_lstm",
        table_path=tmp_path / "cross.csv",
        table_md_path=tmp_path / "cross.md",
        table_tex_path=tmp_path / "cross.tex",
        summary_md_path=tmp_path / "summary.md",
        data_check_paths={"ds": {"evaluate": out / "provenance.json"}},
    )
    text = (tmp_path / "summary.md").read_text()
    assert "**Accuracy rankings mean little here**" in text
    assert "`target_without_dynamics`" in text.split("### Data checks: ds")[1]


@pytest.mark.parametrize("kind", ["random_walk", "trend"])
def test_persistent_targets_are_not_flagged(kind: str) -> None:
    rng = np.random.default_rng(2)
    steps = 0.02 * rng.standard_normal(40)
    values = 0.3 + (np.cumsum(steps) if kind == "random_walk" else 0.01 * np.arange(40) + steps)
    frame = single_series(values)
    assert target_without_dynamics_check(frame) is None
    assert persistence_statistics(target_series(frame))["variance_ratio"].iloc[0] < 1.0


# --------------------------------------------------------------------------- DM sample rule


def test_dm_on_a_single_short_series_is_not_testable() -> None:
    # 12 forecasts of one series at h = 2, one model far better: still not testable.
    rng = np.random.default_rng(3)
    rows = []
    for t in range(12):
        for model, noise in (("cnn_lstm", 0.01), ("naive", 0.3)):
            rows.append(
                {
                    **_row(model, "A", 0, 2, 0.5, float(noise * rng.standard_normal())),
                    "origin": str(1990 + t),
                    "period": str(1992 + t),
                }
            )
    dm = dm_tests(pd.DataFrame(rows), reference="cnn_lstm")
    row = dm.iloc[0]
    assert (row["n"], row["n_origins"], bool(row["testable"])) == (12, 12, False)
    assert pd.isna(row["p_holm"]) and row["better"] == "neither"
    assert pd.notna(row["p_value"])  # the raw p-value is kept, it just decides nothing
    sentence = versus_best_sentence(dm, reference="cnn_lstm", best_model="naive")
    assert "not testable" in sentence and "significant" not in sentence
    summary = pd.DataFrame(
        {"model": ["cnn_lstm", "naive"], "horizon": "all", "pooled_MASE_mean": [0.1, 0.9]}
    )
    table = peer_table(summary, dm, reference="cnn_lstm", baselines=["naive"])
    assert "h2 not testable (n=12, 12 origins)" in table
    # The rule: enough differentials and enough origins, both.
    assert not dm_testable(200, 2) and not dm_testable(19, 19) and dm_testable(20, 5)


# --------------------------------------------------------------------------- figure


def test_forecast_entities_are_the_largest_median_and_worst() -> None:
    rows = []
    # level (mean actual) and reference error per entity
    design = {
        "big": (0.9, 0.01),
        "a": (0.3, 0.02),
        "b": (0.2, 0.05),
        "c": (0.4, 0.08),
        "bad": (0.1, 0.3),
    }
    for entity, (level, error) in design.items():
        for fold in range(3):
            rows.append(_row("cnn_lstm", entity, fold, 1, level, error))
            rows.append(_row("naive", entity, fold, 1, level, 0.0))
    averaged = pd.DataFrame(rows)
    chosen = choose_forecast_entities(averaged, reference="cnn_lstm")
    assert [entity for entity, _ in chosen] == ["big", "b", "bad"]
    assert chosen[0][1] == "largest mean D"
    assert chosen[1][1].startswith("median cnn_lstm MAE 0.050")
    assert chosen[2][1].startswith("worst cnn_lstm MAE 0.300")
    picked = choose_forecast_entities(averaged, reference="cnn_lstm", entities=["c", "a"])
    assert picked == [("c", "configured"), ("a", "configured")]
    with pytest.raises(ConfigError, match=r"datasets\.ds\.figure_entities.*\['nowhere'\]"):
        choose_forecast_entities(
            averaged, reference="cnn_lstm", entities=["a", "nowhere"], dataset="ds"
        )


def test_period_axis_values_are_dates_for_monthly_and_quarterly() -> None:
    monthly = period_axis_values(["1939-02", "1939-03"])
    assert monthly.dtype.kind == "M"
    assert str(pd.Timestamp(monthly[0]).date()) == "1939-02-01"
    quarterly = period_axis_values(pd.Series(["1939Q2", "1939Q3"]))
    assert [str(pd.Timestamp(v).date()) for v in quarterly] == ["1939-04-01", "1939-07-01"]
    annual = period_axis_values(["1952", "1953"])
    assert annual.dtype.kind == "f" and list(annual) == [1952.0, 1953.0]


def test_forecast_figure_draws_configured_entities_and_names_the_key(tmp_path: Path) -> None:
    from convergence.stages.figures_evaluation import run as run_figure

    frame, _ = micro_panel()
    frame["origin"] = frame["origin"].str.cat(["-01"] * len(frame))  # monthly labels
    frame["period"] = frame["period"].str.cat(["-01"] * len(frame))
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    png = tmp_path / "forecasts.png"
    spec = {"figure_entities": ["micro", "big0"]}
    run_figure(
        figure="forecasts",
        source=[path],
        png=png,
        pdf=tmp_path / "forecasts.pdf",
        title="ds",
        options={"reference": "cnn_lstm"},
        spec=spec,
    )
    assert png.stat().st_size > 5_000
    with pytest.raises(ConfigError, match=r"datasets\.ds\.figure_entities"):
        run_figure(
            figure="forecasts",
            source=[path],
            png=png,
            pdf=tmp_path / "forecasts.pdf",
            title="ds",
            options={"reference": "cnn_lstm"},
            spec={"figure_entities": ["XX"]},
        )


# --------------------------------------------------------------------------- what is forecast


def test_target_is_compared_with_coupling_csv() -> None:
    frame = pd.DataFrame(
        [
            _row("m", "none", 0, 1, 0.408, 0.0),  # no generation: target 0.408, coupling 0
            _row("m", "some", 0, 1, 0.5, 0.0),
        ]
    )
    coupling = pd.DataFrame(
        {"entity": ["none", "some"], "period": ["2001", "2001"], "D": [0.0, 0.45]}
    )
    record = target_versus_measured(frame, coupling, 0.25)
    assert record["n_compared"] == 2
    assert record["mean_abs_diff"] == pytest.approx((0.408 + 0.05) / 2)
    assert (record["entity"], record["period"], record["max_abs_diff"]) == ("none", "2001", 0.408)
    text = target_sentence(record)
    assert text.startswith("Forecast target: D recomputed in every backtest fold")
    assert "widened by the target headroom (0.25 of the fitted range" in text
    assert "(none, 2001: target 0.408, coupling.csv 0.000)" in text
    assert target_versus_measured(frame, None, 0.25)["n_compared"] == 0
