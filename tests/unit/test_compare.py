"""Tests of the evaluation/comparison stage (small hand-built prediction frames)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from evaluation_runs import evaluate_frame

from convergence.backtest.contract import PREDICTION_COLUMNS
from convergence.errors import DataFileError
from convergence.evaluation.comparisons import dm_tests
from convergence.evaluation.scores import load_predictions, score_table, summarise_seeds
from convergence.evaluation.summary import cross_dataset_summary
from convergence.evaluation.tables import write_tables
from convergence.stages.evaluate import run_cross_summary


def _rows(model, seed, actual, predicted, *, entity="A", fold=0, origin="2000", horizon=1):
    return pd.DataFrame(
        {
            "dataset": "ds",
            "model": model,
            "seed": seed,
            "fold": fold,
            "entity": entity,
            "origin": origin,
            "horizon": horizon,
            "period": [str(2001 + i) for i in range(len(actual))],
            "actual": actual,
            "predicted": predicted,
            "last_observed": 0.5,
            "run_id": f"{model}-{seed}",
        }
    )


def test_score_values_by_hand():
    a = _rows("m", 0, [0.45, 0.55], [0.35, 0.60], entity="A")
    b = _rows("m", 0, [0.21], [0.29], entity="B")
    predictions = pd.concat([a, b], ignore_index=True)
    scales = pd.DataFrame(
        {"fold": [0, 0], "entity": ["A", "B"], "origin": ["2000", "2000"], "scale": [0.1, 0.04]}
    )
    scores = score_table(predictions, scales, None)
    row = scores[scores["horizon"] == "all"].iloc[0]
    assert row["n"] == 3
    errors = np.array([0.10, 0.05, 0.08])
    assert row["MAE"] == pytest.approx(errors.mean())
    assert row["RMSE"] == pytest.approx(math.sqrt((errors**2).mean()))
    # per-forecast scaling: 0.1/0.1, 0.05/0.1, 0.08/0.04
    assert row["MASE"] == pytest.approx((1.0 + 0.5 + 2.0) / 3)
    # grades: 0.45 vs 0.35 differ ([0.4, 0.5) vs [0.3, 0.4)), 0.55 vs 0.60
    # differ (0.5-0.6 vs 0.6-0.7), 0.21 vs 0.29 equal (0.2-0.3)
    assert row["grade_accuracy"] == pytest.approx(1 / 3)
    assert row["run_ids"] == "m-0"
    assert set(scores["horizon"]) == {"1", "all"}


def test_missing_scale_raises():
    predictions = _rows("m", 0, [0.4], [0.5])
    scales = pd.DataFrame({"fold": [1], "entity": ["A"], "origin": ["2000"], "scale": [0.1]})
    with pytest.raises(ValueError, match="no MASE scale"):
        score_table(predictions, scales, None)


def test_seed_mean_and_std_by_hand():
    scores = pd.DataFrame(
        {
            "dataset": "ds",
            "model": "m",
            "seed": [0, 1, 2],
            "horizon": "all",
            "n": 10,
            "MAE": [1.0, 2.0, 4.0],
            "RMSE": 1.0,
            "sMAPE": 1.0,
            "MASE": [0.5, 0.7, 0.9],
            "pooled_MASE": [0.4, 0.6, 0.8],
            "grade_accuracy": 1.0,
            "run_ids": ["r0", "r1", "r2"],
        }
    )
    summary = summarise_seeds(scores)
    row = summary.iloc[0]
    assert row["n_seeds"] == 3
    assert row["MAE_mean"] == pytest.approx(7 / 3)
    assert row["MAE_std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert row["MASE_mean"] == pytest.approx(0.7)
    assert row["MASE_std"] == pytest.approx(0.2)
    assert row["run_ids"] == "r0;r1;r2"


def _dm_frame():
    rng = np.random.default_rng(0)
    frames = []
    entities = [f"E{i}" for i in range(30)]
    actual = rng.uniform(0.3, 0.7, size=len(entities))
    for model, noise, seeds in (
        ("cnn_lstm", 0.01, (0, 1)),
        ("bad", 0.2, (0,)),
        ("twin", 0.01, (0,)),
    ):
        for seed in seeds:
            for e, entity in enumerate(entities):
                for horizon in (1, 2):
                    frames.append(
                        _rows(
                            model,
                            seed,
                            [actual[e]],
                            [actual[e] + rng.normal(0, noise)],
                            entity=entity,
                            origin=str(1990 + e % 10),  # 10 distinct origins
                            horizon=horizon,
                        )
                    )
    return pd.concat(frames, ignore_index=True)


def test_dm_tests_flag_worse_model_and_apply_holm():
    dm = dm_tests(_dm_frame(), reference="cnn_lstm")
    assert list(dm.columns[:2]) == ["dataset", "horizon"]
    assert set(dm["model"]) == {"bad", "twin"}
    assert len(dm) == 4
    bad = dm[dm["model"] == "bad"]
    assert (bad["better"] == "reference").all()
    assert (bad["p_value"] < 0.01).all()
    assert (bad["mean_loss_diff"] < 0).all()
    assert (bad["n"] == 30).all()
    assert (dm["p_holm"] >= dm["p_value"] - 1e-15).all()
    assert (dm["p_holm"] > dm["p_value"]).any()


def test_write_tables_bold_best(tmp_path):
    frame = pd.DataFrame({"model": ["a", "b"], "ds1": [0.5, 0.3], "ds2": [0.2, 0.9]})
    write_tables(
        frame,
        "caption",
        csv_path=tmp_path / "t.csv",
        md_path=tmp_path / "t.md",
        tex_path=tmp_path / "t.tex",
        best_marks={"ds1": 1, "ds2": 0},
    )
    md = (tmp_path / "t.md").read_text()
    assert "**0.300**" in md and "**0.200**" in md and "**0.500**" not in md
    assert r"\textbf{0.300}" in (tmp_path / "t.tex").read_text()
    back = pd.read_csv(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(back, frame)
    assert not list(tmp_path.glob("*.tmp"))


def test_cross_summary_picks_lowest():
    summary = pd.DataFrame(
        {
            "dataset": ["x", "x", "y", "y", "x"],
            "model": ["a", "b", "a", "b", "a"],
            "horizon": ["all", "all", "all", "all", "1"],
            "pooled_MASE_mean": [0.9, 0.4, 0.2, 0.8, 0.0],
            # mean MASE ranks the other way: shown beside, never marked best
            "MASE_mean": [0.1, 0.5, 0.9, 0.3, 0.0],
        }
    )
    cross = cross_dataset_summary(summary)
    assert list(cross.columns) == ["model", "x", "y", "x (mean MASE)", "y (mean MASE)"]
    best = cross.attrs["best"]
    assert set(best) == {"x", "y"}
    assert cross.loc[best["x"], "model"] == "b"
    assert cross.loc[best["y"], "model"] == "a"
    assert cross.set_index("model").loc["a", "x (mean MASE)"] == pytest.approx(0.1)


def test_load_predictions_names_file_with_missing_column(tmp_path):
    path = tmp_path / "predictions.csv"
    _rows("m", 0, [0.4], [0.5]).drop(columns="last_observed").to_csv(path, index=False)
    with pytest.raises(DataFileError, match="predictions.csv.*last_observed"):
        load_predictions([path])
    good = tmp_path / "good.csv"
    _rows("m", 0, [0.4], [0.5], origin="1999Q4").to_csv(good, index=False)
    loaded = load_predictions([good])
    assert list(loaded.columns) == [*PREDICTION_COLUMNS, "fallback"]
    assert loaded["period"].iloc[0] == "2001" and loaded["origin"].iloc[0] == "1999Q4"


def test_stages_and_figures(tmp_path, monkeypatch):
    from convergence.plotting import evaluation as plots

    monkeypatch.setattr(
        "convergence.stages.evaluate.base_record", lambda **fields: {"stage": "test", **fields}
    )
    frame = _dm_frame()
    frame["period"] = frame["origin"].astype(int).add(frame["horizon"]).astype(str)
    naive = frame[(frame["model"] == "twin")].assign(model="naive", run_id="")
    ablation = frame[(frame["model"] == "bad")].assign(model="cnn_lstm_no_penalty")
    frame = pd.concat([frame, naive, ablation], ignore_index=True)
    scales = frame[["fold", "entity", "origin"]].drop_duplicates().assign(scale=0.05)
    out = evaluate_frame(tmp_path, frame, scales)
    for name in (
        "scores.csv",
        "summary.csv",
        "summary.md",
        "summary.tex",
        "dm_tests.csv",
        "intervals.csv",
    ):
        assert (out / name).is_file(), name
    assert "run_ids" in (out / "provenance.json").read_text()
    run_cross_summary(
        summary_paths=[out / "summary.csv"],
        dm_paths=[out / "dm_tests.csv"],
        reference="cnn_lstm",
        table_path=tmp_path / "cross" / "cross_dataset.csv",
        table_md_path=tmp_path / "cross" / "cross_dataset.md",
        table_tex_path=tmp_path / "cross" / "cross_dataset.tex",
        summary_md_path=tmp_path / "summary.md",
    )
    text = (tmp_path / "summary.md").read_text()
    assert "## ds" in text and "cnn_lstm ranks" in text

    calls = {
        "forecasts": (
            plots.plot_forecasts,
            sorted((tmp_path / "in").glob("*/seed*/predictions.csv")),
        ),
        "error_by_horizon": (plots.plot_error_by_horizon, out / "summary.csv"),
        "model_comparison": (plots.plot_model_comparison, out / "summary.csv"),
        "ablation": (plots.plot_ablation, out / "summary.csv"),
        "dm_heatmap": (plots.plot_dm_heatmap, out / "dm_tests.csv"),
        "experiment_scores": (
            plots.plot_experiment_scores,
            tmp_path / "cross" / "cross_dataset.csv",
        ),
    }
    assert set(calls) == set(plots.FIGURES)
    options = {
        "forecasts": {"reference": "cnn_lstm"},
        "ablation": {"reference": "cnn_lstm", "ablations": ["cnn_lstm_no_penalty"]},
    }
    for name, (function, source) in calls.items():
        png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
        function(source, png, pdf, title=name, **options.get(name, {}))
        assert png.stat().st_size > 5_000, name
        assert pdf.is_file()
