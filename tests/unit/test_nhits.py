"""NHITS baseline: the forecast contract, no leakage, determinism, naive fallback.

Tiny panels and a few optimiser steps keep the module fast (neuralforecast's import is
most of its time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import TRENDING_SPEC, trending_panel_by_row

from convergence.backtest.contract import BASELINE_COLUMNS, backtest_folds
from convergence.backtest.windows import build_fold_windows
from convergence.models import nhits
from convergence.models.baselines import BASELINES, baseline_backtest
from convergence.models.nhits import NHITSSettings, min_history, nhits_forecasts, nhits_frame
from convergence.settings import TrainingSettings

pytest.importorskip("neuralforecast")

SPEC = TRENDING_SPEC
TRAINING = {
    "window": 4,
    "horizon": 2,
    "n_origins": 3,
    "step": 1,
    "val_size": 3,
    "min_train": 12,
}
TINY = NHITSSettings(max_steps=5, hidden_units=8, windows_batch_size=32)
KEYS = ["fold", "entity", "origin", "horizon", "period"]
#: the first fold's origin (last validation period) with these settings and 24 periods.
FIRST_ORIGIN = "2009"


def make_panel() -> pd.DataFrame:
    """Four entities, 1990-2013; ``e3`` starts in 2005, so at the first origin (2009) its
    history is 5 periods, one short of ``window + horizon`` = 6, and 6 at the second."""
    panel = trending_panel_by_row(4, 24, 0)
    entity = panel.index.get_level_values("entity")
    period = panel.index.get_level_values("period")
    return panel[~((entity == "e3") & (period < "2005"))]


def run(panel: pd.DataFrame, settings: NHITSSettings = TINY) -> pd.DataFrame:
    predictions, _ = baseline_backtest(
        dataset="toy",
        wide=panel,
        mspec=SPEC,
        settings=TrainingSettings.from_mapping(TRAINING),
        baselines=["naive", "nhits"],
        nhits_settings=settings,
    )
    return predictions


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def predictions(panel: pd.DataFrame) -> pd.DataFrame:
    return run(panel)


def test_nhits_is_a_known_baseline() -> None:
    assert "nhits" in BASELINES


def test_contract_columns_horizons_and_periods(
    panel: pd.DataFrame, predictions: pd.DataFrame
) -> None:
    assert tuple(predictions.columns) == BASELINE_COLUMNS
    got = predictions[predictions["model"] == "nhits"]
    assert np.isfinite(got["predicted"]).all()
    assert got["predicted"].between(0.0, 1.0).all()
    settings = TrainingSettings.from_mapping(TRAINING)
    for fold in backtest_folds(panel, settings):
        windows = build_fold_windows(panel, SPEC, fold, window=4, horizon=2, target="change")
        rows = got[got["fold"] == fold.index]
        assert sorted(rows["entity"].unique()) == sorted(windows.test_entities)
        assert (rows["origin"] == windows.test_origin).all()
        for _, group in rows.groupby("entity"):
            assert list(group["horizon"]) == [1, 2]
            assert list(group["period"]) == list(windows.test_periods)
    # the same rows (keys, actuals, last observed) as naive, i.e. as the networks' test windows
    naive = predictions[predictions["model"] == "naive"]
    columns = [*KEYS, "actual", "last_observed"]
    pd.testing.assert_frame_equal(
        got[columns].sort_values(KEYS).reset_index(drop=True),
        naive[columns].sort_values(KEYS).reset_index(drop=True),
    )


def test_short_history_falls_back_to_naive(predictions: pd.DataFrame) -> None:
    got = predictions[predictions["model"] == "nhits"]
    fell_back = got[got["fallback"]]
    assert set(zip(fell_back["fold"], fell_back["entity"], strict=True)) == {(0, "e3")}
    np.testing.assert_array_equal(fell_back["predicted"], fell_back["last_observed"])
    assert not got.loc[got["entity"] != "e3", "fallback"].any()


def test_nothing_after_the_origin_is_used(panel: pd.DataFrame, predictions: pd.DataFrame) -> None:
    rng = np.random.default_rng(7)
    changed = panel.copy()
    after = changed.index.get_level_values("period") > FIRST_ORIGIN
    changed.loc[after] = changed.loc[after] * rng.uniform(0.5, 1.5, (after.sum(), 4))
    perturbed = run(changed)
    columns = ["model", *KEYS, "predicted", "last_observed", "fallback"]

    def first_fold(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[(frame["fold"] == 0) & (frame["model"] == "nhits")]
        return rows[columns].reset_index(drop=True)

    pd.testing.assert_frame_equal(first_fold(predictions), first_fold(perturbed))
    actual_before = predictions.loc[predictions["fold"] == 0, "actual"].to_numpy()
    actual_after = perturbed.loc[perturbed["fold"] == 0, "actual"].to_numpy()
    assert not np.allclose(actual_before, actual_after)  # the perturbation reached the test span


def test_deterministic(panel: pd.DataFrame, predictions: pd.DataFrame) -> None:
    again = run(panel)
    pd.testing.assert_frame_equal(predictions, again)


def test_frame_aligns_series_on_the_origin() -> None:
    frame = nhits_frame({"a": np.array([0.1, 0.2, 0.3]), "b": np.array([0.5, 0.6])})
    assert list(frame["unique_id"]) == ["a", "a", "a", "b", "b"]
    assert list(frame["ds"]) == [0, 1, 2, 1, 2]
    np.testing.assert_array_equal(frame["y"], [0.1, 0.2, 0.3, 0.5, 0.6])


def test_failed_fit_falls_back_for_every_series(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> dict[str, np.ndarray]:
        raise RuntimeError("boom")

    monkeypatch.setattr(nhits, "fit_predict_nhits", fail)
    histories = {"a": np.linspace(0.2, 0.4, 10), "b": np.array([0.5, 0.6])}
    forecasts, fallback = nhits_forecasts(histories, 2, input_size=4, settings=TINY)
    assert fallback == {"a", "b"}
    np.testing.assert_array_equal(forecasts["a"], [0.4, 0.4])
    np.testing.assert_array_equal(forecasts["b"], [0.6, 0.6])
    assert min_history(4, 2) == 6


def test_settings_reject_nonpositive_steps() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        NHITSSettings(max_steps=0)
