"""The reference's seed ensemble as a model of its own: known values, tables, DM tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evaluation_runs import evaluate_frame

from convergence.errors import InputError
from convergence.evaluation.ensemble import add_seed_ensemble, ensemble_name, seed_ensemble
from convergence.stages.evaluate import run_cross_summary


def _row(model: str, seed: int, predicted: float, **keys: object) -> dict[str, object]:
    row = {
        "dataset": "ds",
        "model": model,
        "seed": seed,
        "fold": 0,
        "entity": "A",
        "origin": "2000",
        "horizon": 1,
        "period": "2001",
        "actual": 0.5,
        "predicted": predicted,
        "last_observed": 0.45,
        "run_id": f"{model}-{seed}",
        "fallback": False,
    }
    row.update(keys)
    return row


def test_ensemble_is_the_mean_of_the_seeds_by_hand() -> None:
    predictions = pd.DataFrame(
        [
            _row("cnn_lstm", 0, 0.40),
            _row("cnn_lstm", 1, 0.50),
            _row("cnn_lstm", 2, 0.90),
            _row("cnn_lstm", 0, 0.30, entity="B", actual=0.2),
            _row("cnn_lstm", 1, 0.10, entity="B", actual=0.2),
            _row("cnn_lstm", 2, 0.20, entity="B", actual=0.2),
            _row("naive", 0, 0.45),
        ]
    )
    ensemble = seed_ensemble(predictions, "cnn_lstm").set_index("entity")
    assert list(ensemble.reset_index()[list(predictions.columns)].columns) == list(
        predictions.columns
    )
    assert ensemble.loc["A", "predicted"] == pytest.approx(0.6)
    assert ensemble.loc["B", "predicted"] == pytest.approx(0.2)
    assert ensemble.loc["B", "actual"] == 0.2
    assert (ensemble["model"] == "cnn_lstm_ensemble").all()
    assert (ensemble["seed"] == 0).all()
    assert ensemble.loc["A", "run_id"] == "cnn_lstm-0;cnn_lstm-1;cnn_lstm-2"
    combined = add_seed_ensemble(predictions, "cnn_lstm")
    assert len(combined) == len(predictions) + 2
    assert ensemble_name("cnn_lstm") == "cnn_lstm_ensemble"


def test_no_ensemble_below_two_seeds_and_reserved_name() -> None:
    one_seed = pd.DataFrame([_row("cnn_lstm", 0, 0.4), _row("naive", 0, 0.45)])
    assert seed_ensemble(one_seed, "cnn_lstm").empty
    pd.testing.assert_frame_equal(add_seed_ensemble(one_seed, "cnn_lstm"), one_seed)
    clash = pd.DataFrame([_row("cnn_lstm", 0, 0.4), _row("cnn_lstm_ensemble", 0, 0.4)])
    with pytest.raises(InputError, match="reserved"):
        add_seed_ensemble(clash, "cnn_lstm")


def _panel_predictions() -> pd.DataFrame:
    """cnn_lstm (3 seeds), naive and ridge over 12 origins x 6 entities x 2 horizons."""
    rng = np.random.default_rng(5)
    rows = []
    for fold in range(12):
        origin = 2000 + fold
        for e in range(6):
            for horizon in (1, 2):
                actual = 0.5 + 0.01 * e + 0.005 * horizon + rng.normal(0, 0.02)
                keys = {
                    "fold": fold,
                    "entity": f"E{e}",
                    "origin": str(origin),
                    "horizon": horizon,
                    "period": str(origin + horizon),
                    "actual": actual,
                }
                for seed in range(3):
                    rows.append(_row("cnn_lstm", seed, actual + rng.normal(0, 0.02), **keys))
                rows.append(_row("naive", 0, actual + rng.normal(0, 0.03), **keys, run_id=""))
                rows.append(_row("ridge", 0, actual + rng.normal(0, 0.01), **keys, run_id=""))
    return pd.DataFrame(rows)


def test_evaluate_scores_the_ensemble_and_leaves_it_out_of_dm(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(
        "convergence.stages.evaluate.base_record", lambda **fields: {"stage": "test", **fields}
    )
    frame = _panel_predictions()
    scales = frame[["fold", "entity", "origin"]].drop_duplicates().assign(scale=0.02)
    out = evaluate_frame(tmp_path, frame.drop(columns="fallback"), scales)
    scores = pd.read_csv(out / "scores.csv", dtype={"horizon": str})
    summary = pd.read_csv(out / "summary.csv", dtype={"horizon": str}).set_index(
        ["model", "horizon"]
    )
    dm = pd.read_csv(out / "dm_tests.csv")
    intervals = pd.read_csv(out / "intervals.csv")

    # The ensemble scores the seed-mean forecast: MAE by hand from the input frame.
    reference = frame[frame["model"] == "cnn_lstm"]
    mean_forecast = reference.groupby(["fold", "entity", "horizon"])[["predicted", "actual"]].mean()
    expected_mae = (mean_forecast["predicted"] - mean_forecast["actual"]).abs().mean()
    ensemble_rows = scores[scores["model"] == "cnn_lstm_ensemble"]
    assert set(ensemble_rows["seed"]) == {0}
    ensemble_all = ensemble_rows.set_index("horizon").loc["all"]
    assert ensemble_all["MAE"] == pytest.approx(expected_mae)
    # Per-seed scores stay; the model row is their mean, the ensemble row its own score.
    assert set(scores.loc[scores["model"] == "cnn_lstm", "seed"]) == {0, 1, 2}
    assert summary.loc[("cnn_lstm_ensemble", "all"), "n_seeds"] == 1
    assert summary.loc[("cnn_lstm_ensemble", "all"), "MAE_mean"] == pytest.approx(expected_mae)
    per_seed = scores[(scores["model"] == "cnn_lstm") & (scores["horizon"] == "all")]["MAE"]
    assert summary.loc[("cnn_lstm", "all"), "MAE_mean"] == pytest.approx(per_seed.mean())
    assert summary.loc[("cnn_lstm_ensemble", "all"), "MAE_mean"] < per_seed.mean()
    # Interval metrics are in both tables, next to the existing columns.
    assert {"coverage80", "coverage95", "interval_score80", "n_calibrated95"} <= set(scores)
    assert list(scores.columns[:12]) == [
        "dataset",
        "model",
        "seed",
        "horizon",
        "n",
        "MAE",
        "RMSE",
        "sMAPE",
        "MASE",
        "pooled_MASE",
        "grade_accuracy",
        "run_ids",
    ]
    assert {"coverage80_mean", "width95_std", "MASE_mean", "pooled_MASE_mean"} <= set(
        summary.columns
    )
    assert "cnn_lstm_ensemble" in set(intervals["model"])
    assert summary.loc[("cnn_lstm_ensemble", "all"), "n_calibrated80_mean"] > 0
    # DM tests: the ensemble is the reference's averaged forecast, so it is not tested.
    assert set(dm["model"]) == {"naive", "ridge"}
    record = json.loads((out / "provenance.json").read_text())
    assert record["ensemble"] == "cnn_lstm_ensemble"
    assert set(record["conformal"]["forecasts_without_interval"]) == {"80", "95"}
    assert "seed-averaged forecast" in (out / "summary.md").read_text()

    run_cross_summary(
        summary_paths=[out / "summary.csv"],
        dm_paths=[out / "dm_tests.csv"],
        reference="cnn_lstm",
        table_path=tmp_path / "cross.csv",
        table_md_path=tmp_path / "cross.md",
        table_tex_path=tmp_path / "cross.tex",
        summary_md_path=tmp_path / "summary.md",
    )
    cross = pd.read_csv(tmp_path / "cross.csv")
    assert "cnn_lstm_ensemble" in set(cross["model"])
    text = (tmp_path / "summary.md").read_text()
    assert "| cnn_lstm_ensemble |" in text
    assert "score of the seed-averaged forecast" in text
    assert "Split-conformal intervals" in text and "cnn_lstm_ensemble: " in text
