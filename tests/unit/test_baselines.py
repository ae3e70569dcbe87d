"""Forecasting baselines: same rows as the neural backtest, correct forecasts, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import TRENDING_SPEC, trending_panel_by_row

from convergence.backtest.contract import PREDICTION_COLUMNS, backtest_folds
from convergence.backtest.windows import FoldWindows, build_fold_windows, fold_feature_frame
from convergence.models.baselines import (
    BASELINE_COLUMNS,
    BASELINES,
    RIDGE_ALPHAS,
    baseline_backtest,
    drift_forecast,
    naive_scale,
    per_series_forecasts,
    ridge_alpha_report,
    ridge_forecast,
    season_length_for,
    trailing_history,
)
from convergence.settings import TrainingSettings

SPEC = TRENDING_SPEC
TRAINING = {
    "window": 4,
    "horizon": 2,
    "n_origins": 3,
    "step": 1,
    "val_size": 3,
    "min_train": 12,
    "max_epochs": 1,
    "patience": 1,
    "batch_size": 16,
}
KEYS = ["fold", "entity", "origin", "horizon", "period"]
#: every baseline but NHITS, whose contract, leakage and fallback tests (with a few
#: optimiser steps) are in test_nhits.py.
FAST_BASELINES = tuple(b for b in BASELINES if b != "nhits")


def make_panel(n_entities: int = 5, n_periods: int = 24, seed: int = 0) -> pd.DataFrame:
    """Wide panel of trending, noisy indicators with annual periods from 1990."""
    return trending_panel_by_row(n_entities, n_periods, seed)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def backtest(panel: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return baseline_backtest(
        dataset="toy",
        wide=panel,
        mspec=SPEC,
        settings=TrainingSettings.from_mapping(TRAINING),
        baselines=FAST_BASELINES,
    )


def test_columns_and_models(backtest: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    predictions, scales = backtest
    assert list(predictions.columns) == [*PREDICTION_COLUMNS, "fallback"]
    assert tuple(predictions.columns) == BASELINE_COLUMNS
    assert set(predictions["model"]) == set(FAST_BASELINES)
    assert (predictions["seed"] == 0).all()
    assert predictions["fallback"].dtype == bool
    assert predictions["predicted"].between(0.0, 1.0).all()
    assert list(scales.columns) == ["fold", "entity", "origin", "scale"]


def test_rows_match_neural_test_windows(
    panel: pd.DataFrame, backtest: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    predictions, scales = backtest
    settings = TrainingSettings.from_mapping(TRAINING)
    expected = []
    for fold in backtest_folds(panel, settings):
        windows = build_fold_windows(panel, SPEC, fold, window=4, horizon=2, target="change")
        for i, entity in enumerate(windows.test_entities):
            for h in range(2):
                expected.append(
                    {
                        "fold": fold.index,
                        "entity": entity,
                        "origin": windows.test_origin,
                        "horizon": h + 1,
                        "period": windows.test_periods[h],
                        "actual": windows.test_actual[i, h],
                        "last_observed": windows.test_last_observed[i],
                    }
                )
    expected_frame = pd.DataFrame(expected).sort_values(KEYS).reset_index(drop=True)
    for name in FAST_BASELINES:
        got = predictions[predictions["model"] == name]
        got = got[expected_frame.columns].sort_values(KEYS).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected_frame, check_dtype=False)
    scale_keys = scales[["fold", "entity", "origin"]].sort_values(["fold", "entity"])
    assert len(scale_keys) == expected_frame.drop_duplicates(["fold", "entity"]).shape[0]


def test_naive_equals_last_observed(backtest: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    predictions, _ = backtest
    naive = predictions[predictions["model"] == "naive"]
    np.testing.assert_array_equal(naive["predicted"], naive["last_observed"])
    assert not naive["fallback"].any()


def test_drift_recovers_a_line() -> None:
    line = 0.1 + 0.02 * np.arange(15)
    np.testing.assert_allclose(drift_forecast(line, 3), 0.1 + 0.02 * np.arange(15, 18))
    forecasts, fallback = per_series_forecasts("drift", {"a": line, "b": line[-1:]}, 3, 1)
    np.testing.assert_allclose(forecasts["a"], 0.1 + 0.02 * np.arange(15, 18))
    np.testing.assert_allclose(forecasts["b"], np.full(3, line[-1]))
    assert fallback == {"b"}


def test_statsforecast_models_finite_in_unit_interval(
    backtest: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    predictions, _ = backtest
    for name in ("ets", "arima", "theta"):
        values = predictions.loc[predictions["model"] == name, "predicted"]
        assert len(values) > 0
        assert np.isfinite(values).all()
        assert values.between(0.0, 1.0).all()


def test_short_history_falls_back_to_naive() -> None:
    histories = {"long": 0.3 + 0.01 * np.arange(12), "short": np.array([0.2, 0.25])}
    forecasts, fallback = per_series_forecasts("ets", histories, 2, 1)
    assert fallback == {"short"}
    np.testing.assert_array_equal(forecasts["short"], [0.25, 0.25])
    assert np.isfinite(forecasts["long"]).all()


def test_scales_by_hand() -> None:
    series = np.array([0.1, 0.3, 0.2, np.nan, 0.6, 0.5])
    assert naive_scale(series, 4, 1) == pytest.approx((0.2 + 0.1) / 2)
    assert naive_scale(series, 4, 2) == pytest.approx((0.1 + 0.4) / 2)
    assert naive_scale(series, 5, 1) == pytest.approx((0.2 + 0.1 + 0.1) / 3)
    assert np.isnan(naive_scale(series[:1], 0, 1))
    np.testing.assert_array_equal(trailing_history(series, 5), [0.6, 0.5])
    np.testing.assert_array_equal(trailing_history(series, 2), [0.1, 0.3, 0.2])
    assert trailing_history(series, 3).size == 0


def test_scales_match_fold_d(
    panel: pd.DataFrame, backtest: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, scales = backtest
    fold = backtest_folds(panel, TrainingSettings.from_mapping(TRAINING))[0]
    features, _ = fold_feature_frame(panel, SPEC, fold.train_periods)
    d = features.loc["e1", "D"]
    history = d[d.index <= fold.val_periods[-1]].to_numpy()
    expected = np.mean(np.abs(np.diff(history)))
    got = scales[(scales["fold"] == 0) & (scales["entity"] == "e1")]["scale"].item()
    assert got == pytest.approx(expected)


def _ar_windows(window: int = 3, horizon: int = 2, phi: float = 0.8) -> FoldWindows:
    """Noiseless AR(1) around entity means; one feature (D), change targets."""
    rng = np.random.default_rng(1)
    x: list[np.ndarray] = []
    y: list[np.ndarray] = []
    for _ in range(12):
        mu, d = rng.uniform(0.3, 0.7), rng.uniform(0.0, 1.0)
        series = [d]
        for _ in range(30):
            series.append(mu + phi * (series[-1] - mu))
        series_arr = np.array(series)
        for t in range(window - 1, len(series_arr) - horizon):
            x.append(series_arr[t - window + 1 : t + 1, None])
            y.append(series_arr[t + 1 : t + 1 + horizon] - series_arr[t])
    x_all, y_all = np.stack(x).astype(np.float32), np.stack(y).astype(np.float32)
    order = rng.permutation(len(x_all))
    x_all, y_all = x_all[order], y_all[order]
    n_train, n_val = int(0.6 * len(x_all)), int(0.2 * len(x_all))
    test = slice(n_train + n_val, None)
    last = x_all[test, -1, 0].astype(np.float64)
    return FoldWindows(
        x_train=x_all[:n_train],
        y_train=y_all[:n_train],
        x_val=x_all[n_train : n_train + n_val],
        y_val=y_all[n_train : n_train + n_val],
        x_test=x_all[test],
        y_test=y_all[test],
        feature_names=["D"],
        test_entities=[f"w{i}" for i in range(len(last))],
        test_origin="2000",
        test_periods=["2001", "2002"],
        test_last_observed=last,
        test_actual=last[:, None] + y_all[test],
        n_test_skipped=0,
        measurement_model=None,  # type: ignore[arg-type]
        target="change",
        window=window,
        horizon=horizon,
    )


def test_ridge_beats_naive_on_ar_panel() -> None:
    windows = _ar_windows()
    predicted_change, alpha = ridge_forecast(windows)
    ridge_mae = np.mean(np.abs(predicted_change - windows.y_test))
    naive_mae = np.mean(np.abs(windows.y_test))  # naive predicts no change
    assert alpha in RIDGE_ALPHAS
    assert ridge_mae < 0.2 * naive_mae


def test_ridge_alpha_grid_and_edge_report(backtest: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # one value per decade from 1e-6 to 1e3 (the old grid 1e-3..10 was too narrow)
    np.testing.assert_allclose(RIDGE_ALPHAS, [10.0**k for k in range(-6, 4)])
    report = ridge_alpha_report([1e-6, 1.0, 1e3, 1e-6])
    assert report["n_folds"] == 4
    assert report["n_at_lower_edge"] == 2
    assert report["n_at_upper_edge"] == 1
    assert report["grid"] == list(RIDGE_ALPHAS)
    # the backtest records the choice of every fold (3 folds), each from the grid
    predictions, _ = backtest
    recorded = predictions.attrs["ridge_alpha"]
    assert recorded["n_folds"] == 3
    assert all(alpha in RIDGE_ALPHAS for alpha in recorded["chosen"])


def test_no_leakage_from_test_periods(
    panel: pd.DataFrame, backtest: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    predictions, _ = backtest
    folds = backtest_folds(panel, TrainingSettings.from_mapping(TRAINING))
    rng = np.random.default_rng(7)
    for fold in (folds[0], folds[-1]):
        changed = panel.copy()
        in_test = changed.index.get_level_values("period").isin(fold.test_periods)
        changed.loc[in_test] = changed.loc[in_test] * rng.uniform(0.5, 1.5, (in_test.sum(), 4))
        perturbed, _ = baseline_backtest(
            dataset="toy",
            wide=changed,
            mspec=SPEC,
            settings=TrainingSettings.from_mapping(TRAINING),
            baselines=FAST_BASELINES,
        )
        columns = ["model", *KEYS, "predicted", "last_observed", "fallback"]
        before = predictions[predictions["fold"] == fold.index][columns].reset_index(drop=True)
        after = perturbed[perturbed["fold"] == fold.index][columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(before, after)
        # the actuals did change, so the perturbation reached the test periods
        a0 = predictions.loc[predictions["fold"] == fold.index, "actual"].to_numpy()
        a1 = perturbed.loc[perturbed["fold"] == fold.index, "actual"].to_numpy()
        assert not np.allclose(a0, a1)


def test_season_length_for() -> None:
    assert season_length_for("annual") == 1
    assert season_length_for("quarterly") == 4
