"""Data checks of the evaluate stage (tiny test set, few DM forecasts, clipped target,
near-zero MASE scales): each one triggered by a small hand-built data set, quiet on a clean
one, stored in ``evaluation/provenance.json`` and listed in ``summary.md``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_runs import evaluate_frame

from convergence.diagnostics import DATA_CHECKS_KEY
from convergence.evaluation.comparisons import dm_tests
from convergence.evaluation.forecast_checks import (
    MIN_DM_FORECASTS,
    MIN_DM_ORIGINS,
    MIN_TEST_FORECASTS,
    dm_few_forecasts_check,
    forecast_data_checks,
    mase_scale_check,
    target_at_clip_bound_check,
    tiny_test_set_check,
    usable_scales,
)
from convergence.evaluation.scores import score_table
from convergence.stages.evaluate import run_cross_summary

MODELS = {"cnn_lstm": (0.01, (0, 1)), "naive": (0.05, (0,))}


def predictions(
    n_entities: int = 20,
    n_folds: int = 2,
    horizons: tuple[int, ...] = (1, 2),
    *,
    actual: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Forecasts of every model and seed: ``n_entities x n_folds x len(horizons)`` each.

    ``actual`` fixes every actual D (e.g. at a clip bound); otherwise they lie in
    [0.3, 0.7] and the last observed D is 0.5.
    """
    rng = np.random.default_rng(seed)
    rows = []
    truth = {}
    for e in range(n_entities):
        for fold in range(n_folds):
            for horizon in horizons:
                value = actual if actual is not None else float(rng.uniform(0.3, 0.7))
                truth[(e, fold, horizon)] = value
    for model, (noise, seeds) in MODELS.items():
        for model_seed in seeds:
            for (e, fold, horizon), value in truth.items():
                origin = 2000 + fold
                rows.append(
                    {
                        "dataset": "ds",
                        "model": model,
                        "seed": model_seed,
                        "fold": fold,
                        "entity": f"E{e}",
                        "origin": str(origin),
                        "horizon": horizon,
                        "period": str(origin + horizon),
                        "actual": value,
                        "predicted": value + float(rng.normal(0, noise)),
                        "last_observed": actual if actual is not None else 0.5,
                        "run_id": f"{model}-{model_seed}",
                    }
                )
    return pd.DataFrame(rows)


def scales_for(frame: pd.DataFrame, scale: float = 0.05) -> pd.DataFrame:
    return frame[["fold", "entity", "origin"]].drop_duplicates().assign(scale=scale)


# ---------------------------------------------------------------------------
# tiny_test_set
# ---------------------------------------------------------------------------


def test_tiny_test_set_says_how_many(caplog: pytest.LogCaptureFixture) -> None:
    frame = predictions(n_entities=3)  # 3 entities x 2 folds x 2 horizons = 12 per seed
    with caplog.at_level(logging.WARNING):
        found = tiny_test_set_check(frame)
    assert found is not None and found["code"] == "tiny_test_set"
    assert found["stage"] == "evaluate"
    assert found["details"]["counts"] == {"cnn_lstm": 12, "naive": 12}
    assert found["message"].startswith("12 test forecasts per model and seed")
    assert f"fewer than {MIN_TEST_FORECASTS}" in found["message"]
    assert "not testable with that power" in found["message"]
    assert "[evaluate] tiny_test_set" in caplog.text


def test_enough_forecasts_is_not_tiny() -> None:
    assert tiny_test_set_check(predictions(n_entities=8)) is None  # 32 per seed


# ---------------------------------------------------------------------------
# dm_few_forecasts
# ---------------------------------------------------------------------------


def test_dm_few_forecasts_names_horizons_and_models() -> None:
    # 4 entities x 1 fold: 4 aligned forecasts per horizon; horizon 2 with n = 4 is
    # still defined, a one-forecast comparison is not.
    frame = predictions(n_entities=4, n_folds=1)
    dm = dm_tests(frame, reference="cnn_lstm")
    found = dm_few_forecasts_check(dm)
    assert found is not None and found["code"] == "dm_few_forecasts"
    assert found["details"]["counts"] == {"h1 cnn_lstm vs naive": 4, "h2 cnn_lstm vs naive": 4}
    assert found["details"]["horizons"] == [1, 2]
    assert found["details"]["models"] == ["naive"]
    assert f"fewer than {MIN_DM_FORECASTS} aligned forecasts" in found["message"]
    assert f"fewer than {MIN_DM_ORIGINS} distinct forecast origins" in found["message"]
    assert "2 of 2 Diebold-Mariano comparisons (horizon(s) 1, 2)" in found["message"]
    assert found["details"]["origins"] == {"h1 cnn_lstm vs naive": 1, "h2 cnn_lstm vs naive": 1}

    undefined = dm.assign(n=40, n_origins=10, p_value=[np.nan, 0.3])
    found = dm_few_forecasts_check(undefined)
    assert found is not None
    assert found["details"]["counts"] == {"h1 cnn_lstm vs naive": 40}
    assert "(1 undefined)" in found["message"]


def test_dm_with_enough_forecasts_passes() -> None:
    dm = dm_tests(predictions(n_entities=20, n_folds=5), reference="cnn_lstm")
    assert (dm["n"] == 100).all() and (dm["n_origins"] == 5).all()
    assert dm["testable"].all()
    assert dm_few_forecasts_check(dm) is None
    # 40 cross-sectional forecasts from 2 origins: enough forecasts, too few origins.
    two = dm_tests(predictions(n_entities=20), reference="cnn_lstm")
    assert not two["testable"].any() and two["p_holm"].isna().all()
    assert set(two["better"]) == {"neither"}
    assert dm_few_forecasts_check(two) is not None
    assert dm_few_forecasts_check(dm.iloc[0:0]) is None


# ---------------------------------------------------------------------------
# target_at_clip_bound
# ---------------------------------------------------------------------------


def test_target_at_clip_bound_counts_bounds_and_naive_zeros() -> None:
    frame = predictions(n_entities=20, actual=1.0)  # China in the test config: D = 1 throughout
    found = target_at_clip_bound_check(frame, "china")
    assert found is not None and found["code"] == "target_at_clip_bound"
    details = found["details"]
    assert (details["n_forecasts"], details["n_at_1"], details["n_at_0"]) == (80, 80, 0)
    assert details["n_start_at_bound"] == 80
    assert details["share"] == 1.0
    assert details["periods"] == ["2001", "2002", "2003"]
    assert "80 of 80 test forecasts (100%)" in found["message"]
    assert "datasets.china.forecast.target_headroom" in found["message"]


def test_target_at_lower_bound_on_a_share_of_forecasts() -> None:
    frame = predictions(n_entities=20)
    # E0 and E1 fall below their fold's fitted minimum in fold 1: D clipped to 0 (up to
    # rounding); 4 of 80 forecasts = 5 %, below the 10 % share: no warning yet.
    low = frame["entity"].isin(["E0", "E1"]) & (frame["fold"] == 1)
    assert target_at_clip_bound_check(frame.assign(actual=frame["actual"].mask(low, 0.0))) is None
    low = frame["entity"].isin(["E0", "E1", "E2", "E3"]) & (frame["fold"] == 1)
    found = target_at_clip_bound_check(frame.assign(actual=frame["actual"].mask(low, 1e-12)))
    assert found is not None
    assert found["details"]["counts"] == {"E0": 2, "E1": 2, "E2": 2, "E3": 2}
    assert (found["details"]["n_at_0"], found["details"]["n_start_at_bound"]) == (8, 0)


def test_interior_target_is_not_at_a_bound() -> None:
    frame = predictions(n_entities=20)
    frame["actual"] = frame["actual"].clip(1e-6, 1 - 1e-6)
    assert target_at_clip_bound_check(frame) is None


# ---------------------------------------------------------------------------
# mase_scale_zero
# ---------------------------------------------------------------------------


def test_near_zero_scales_are_excluded_from_mase_and_named() -> None:
    frame = predictions(n_entities=10)
    frame = frame[frame["model"] == "naive"]
    scales = scales_for(frame)
    scales.loc[scales["entity"] == "E0", "scale"] = 0.0
    scales.loc[scales["entity"] == "E1", "scale"] = 1e-5  # 0.02 % of the median 0.05
    scales.loc[(scales["entity"] == "E2") & (scales["fold"] == 1), "scale"] = np.nan
    found = mase_scale_check(frame, scales)
    assert found is not None and found["code"] == "mase_scale_zero"
    assert found["details"]["counts"] == {"E0": 4, "E1": 4, "E2": 2}
    assert found["details"]["n_undefined"] == 2
    assert found["details"]["threshold"] == pytest.approx(0.01 * 0.05)
    assert "10 of 40 forecasts have a MASE scale" in found["message"]
    assert "MASE leaves them out" in found["message"]

    scored = score_table(frame, scales, None)
    pooled = scored[scored["horizon"] == "all"].iloc[0]
    kept = ~frame["entity"].isin(["E0", "E1"]) & ~((frame["entity"] == "E2") & (frame["fold"] == 1))
    expected = (frame.loc[kept, "actual"] - frame.loc[kept, "predicted"]).abs().mean() / 0.05
    assert pooled["MASE"] == pytest.approx(expected)
    assert pooled["n"] == 40  # MAE, RMSE keep every forecast
    assert pooled["MAE"] == pytest.approx((frame["actual"] - frame["predicted"]).abs().mean())
    assert usable_scales(scales)["scale"].isna().sum() == 5


def test_usable_scales_pass() -> None:
    frame = predictions(n_entities=10)
    scales = scales_for(frame)
    scales["scale"] = np.linspace(0.01, 0.1, len(scales))
    assert mase_scale_check(frame, scales) is None
    pd.testing.assert_frame_equal(usable_scales(scales), scales)


# ---------------------------------------------------------------------------
# The evaluate stage: provenance and summary.md
# ---------------------------------------------------------------------------


def evaluate(tmp_path: Path, frame: pd.DataFrame, scales: pd.DataFrame) -> dict:
    out = evaluate_frame(tmp_path, frame, scales)
    return json.loads((out / "provenance.json").read_text())


def test_evaluate_stage_records_checks_and_summary_lists_them(tmp_path: Path) -> None:
    frame = predictions(n_entities=3, actual=1.0)
    scales = scales_for(frame)
    scales.loc[scales["entity"] == "E2", "scale"] = 0.0
    record = evaluate(tmp_path, frame, scales)
    codes = [item["code"] for item in record[DATA_CHECKS_KEY]]
    assert codes == ["tiny_test_set", "dm_few_forecasts", "target_at_clip_bound", "mase_scale_zero"]

    out = tmp_path / "eval"
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
    section = text.split("### Data checks: ds")[1]
    for code in codes:
        assert f"- **evaluate** `{code}`:" in section
    assert "(entities: E2; counts: E2 4)" in section


def test_clean_evaluation_has_an_empty_check_list(tmp_path: Path) -> None:
    frame = predictions(n_entities=20, n_folds=5)
    record = evaluate(tmp_path, frame, scales_for(frame))
    assert record[DATA_CHECKS_KEY] == []
    assert (
        forecast_data_checks(frame, scales_for(frame), dm_tests(frame, reference="cnn_lstm")) == []
    )
