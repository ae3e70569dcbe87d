"""Split-conformal intervals from rolling-origin residuals: known values, no look-ahead,
coverage on a series with known noise, the guard for too few residuals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from convergence.errors import InputError
from convergence.evaluation.conformal import (
    add_interval_scores,
    conformal_intervals,
    conformal_quantile,
    conformal_rank,
    interval_metric_columns,
    interval_score,
    interval_scores,
)
from convergence.evaluation.scores import score_table, summarise_seeds


def _forecasts(rows: list[tuple[str, str, int, float, float]], model: str = "m") -> pd.DataFrame:
    """Prediction rows from (entity, origin, horizon, actual, predicted); annual periods."""
    frame = pd.DataFrame(rows, columns=["entity", "origin", "horizon", "actual", "predicted"])
    origins = sorted(frame["origin"].unique())
    frame["fold"] = frame["origin"].map({o: k for k, o in enumerate(origins)})
    frame["period"] = (frame["origin"].astype(int) + frame["horizon"]).astype(str)
    frame["dataset"] = "ds"
    frame["model"] = model
    frame["seed"] = 0
    frame["last_observed"] = 0.5
    frame["run_id"] = ""
    return frame


def test_conformal_rank_and_quantile_by_hand() -> None:
    # k = ceil((n + 1) * level): n = 4, 80 % -> ceil(4.0) = 4; n = 19, 95 % -> 19 exactly.
    assert conformal_rank(4, 0.8) == 4
    assert conformal_rank(19, 0.95) == 19
    assert conformal_rank(5, 0.8) == 5  # ceil(4.8)
    residuals = [0.3, 0.1, 0.4, 0.2]
    assert conformal_quantile(residuals, 0.8) == pytest.approx(0.4)  # 4th smallest
    assert conformal_quantile([0.5, 0.1, 0.3, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9], 0.8) == (
        pytest.approx(0.8)  # n = 9: k = ceil(8.0) = 8
    )
    # the guard: n = 3 at 80 % needs k = ceil(3.2) = 4 > 3; n = 18 at 95 % needs 19 > 18
    assert math.isnan(conformal_quantile([0.1, 0.2, 0.3], 0.8))
    assert math.isnan(conformal_quantile(np.arange(18.0), 0.95))
    assert conformal_quantile(np.arange(19.0), 0.95) == 18.0
    assert math.isnan(conformal_quantile([], 0.8))
    with pytest.raises(InputError):
        conformal_quantile([0.1, 0.2], 1.0)


def test_interval_score_by_hand() -> None:
    # alpha = 0.2: inside -> width; below by 0.1 -> width + 10 * 0.1; above by 0.2 -> + 10 * 0.2
    scores = interval_score([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, -0.1, 1.2], 0.8)
    np.testing.assert_allclose(scores, [1.0, 2.0, 3.0])


def test_intervals_on_a_tiny_frame_by_hand() -> None:
    # Horizon 1, one entity per origin 2000..2005, plus a second entity at 2004 and 2005.
    # Residuals |actual - predicted| of horizon 1 by target period:
    #   2001: 0.1, 2002: 0.4, 2003: 0.2, 2004: 0.3, 2005: 0.05 (A) and 0.5 (B),
    #   2006: 0.6 (A) and 0.3 (B)
    rows = [
        ("A", "2000", 1, 0.5, 0.4),
        ("A", "2001", 1, 0.5, 0.9),
        ("A", "2002", 1, 0.5, 0.3),
        ("A", "2003", 1, 0.5, 0.8),
        ("A", "2004", 1, 0.5, 0.45),
        ("B", "2004", 1, 0.5, 1.0),
        ("A", "2005", 1, 0.5, 1.1),
        ("B", "2005", 1, 0.5, 0.2),
    ]
    out = conformal_intervals(_forecasts(rows), levels=(0.8,))
    by = out.set_index(["entity", "origin"])
    # origin 2004: periods <= 2004 -> {0.1, 0.4, 0.2, 0.3}, n = 4, k = 4 -> 0.4
    assert by.loc[("A", "2004"), "n_calibration"] == 4
    assert by.loc[("A", "2004"), "calibration_last_period"] == "2004"
    assert by.loc[("A", "2004"), "lower80"] == pytest.approx(0.45 - 0.4)
    assert by.loc[("B", "2004"), "upper80"] == pytest.approx(1.0 + 0.4)
    # origin 2005: adds 2005's two residuals 0.05, 0.5 -> n = 6, k = ceil(5.6) = 6 -> 0.5
    assert by.loc[("B", "2005"), "n_calibration"] == 6
    assert by.loc[("B", "2005"), "lower80"] == pytest.approx(0.2 - 0.5)
    assert by.loc[("A", "2005"), "upper80"] == pytest.approx(1.1 + 0.5)
    # origins 2000..2003 have at most 3 residuals: no 80 % interval (the guard)
    early = out[out["origin"] <= "2003"]
    assert early["lower80"].isna().all() and early["upper80"].isna().all()
    assert list(early["n_calibration"]) == [0, 1, 2, 3]
    assert by.loc[("A", "2000"), "calibration_last_period"] == ""

    metrics = interval_scores(out, levels=(0.8,)).set_index("horizon")
    # the forecasts at 2004 and 2005 have an interval; actual 0.5 is inside [0.05, 0.85]
    # (A 2004) and [-0.3, 0.7] (B 2005), 0.1 below [0.6, 1.4] (B 2004) and [0.6, 1.6] (A 2005)
    assert metrics.loc["1", "n_calibrated80"] == 4
    assert metrics.loc["1", "coverage80"] == pytest.approx(2 / 4)
    assert metrics.loc["1", "width80"] == pytest.approx((0.8 + 0.8 + 1.0 + 1.0) / 4)
    expected_score = (0.8 + (0.8 + 10 * 0.1) + 1.0 + (1.0 + 10 * 0.1)) / 4
    assert metrics.loc["1", "interval_score80"] == pytest.approx(expected_score)
    assert metrics.loc["all", "n_calibrated80"] == 4


def test_horizons_and_seeds_calibrate_separately() -> None:
    origins = ("2000", "2001", "2002", "2003", "2004")
    rows = [(e, o, h, 0.5, 0.5 + 0.01 * h) for o in origins for e in ("A", "B") for h in (1, 2)]
    frame = _forecasts(rows)
    frame = pd.concat([frame, frame.assign(seed=1, predicted=frame["predicted"] + 0.1)])
    out = conformal_intervals(frame, levels=(0.8,))
    at = out[(out["origin"] == "2004") & (out["entity"] == "A")].set_index(["seed", "horizon"])
    # horizon 1 at origin 2004: periods 2001..2004 -> 8 residuals; horizon 2: 2002..2004 -> 6
    assert at.loc[(0, 1), "n_calibration"] == 8
    assert at.loc[(0, 2), "n_calibration"] == 6
    # the half-width is each group's own residual: 0.01 h (seed 0), 0.11 h... (seed 1)
    assert at.loc[(0, 1), "upper80"] - at.loc[(0, 1), "predicted"] == pytest.approx(0.01)
    assert at.loc[(0, 2), "upper80"] - at.loc[(0, 2), "predicted"] == pytest.approx(0.02)
    assert at.loc[(1, 2), "upper80"] - at.loc[(1, 2), "predicted"] == pytest.approx(0.12)


@pytest.mark.parametrize("frequency", ["annual", "quarterly", "monthly"])
def test_calibration_never_looks_past_the_origin(frequency: str) -> None:
    """Property: every calibration residual's period is <= the forecast's origin, and
    changing actuals after an origin changes no interval made at that origin."""
    rng = np.random.default_rng(3)
    if frequency == "annual":
        labels = [str(1990 + i) for i in range(30)]
    elif frequency == "quarterly":
        labels = [f"{1997 + i // 4}Q{i % 4 + 1}" for i in range(30)]  # crosses 1999Q4 -> 2000Q1
    else:
        labels = [f"{1999 + i // 12}-{i % 12 + 1:02d}" for i in range(30)]
    rows = []
    for k, origin_position in enumerate(range(5, 26)):
        for entity in ("A", "B", "C"):
            for horizon in (1, 2, 3):
                rows.append(
                    {
                        "dataset": "ds",
                        "model": "m",
                        "seed": 0,
                        "fold": k,
                        "entity": entity,
                        "origin": labels[origin_position],
                        "horizon": horizon,
                        "period": labels[origin_position + horizon],
                        "actual": rng.normal(),
                        "predicted": rng.normal(),
                    }
                )
    frame = pd.DataFrame(rows)
    out = conformal_intervals(frame, levels=(0.8, 0.95))
    position = {label: i for i, label in enumerate(labels)}
    used = out[out["n_calibration"] > 0]
    assert (used["calibration_last_period"].map(position) <= used["origin"].map(position)).all()
    # brute force: the calibration set is exactly the residuals with period <= origin
    residual = (frame["actual"] - frame["predicted"]).abs()
    for index in rng.choice(len(frame), size=40, replace=False):
        row = frame.iloc[index]
        same = (frame["horizon"] == row["horizon"]) & (
            frame["period"].map(position) <= position[row["origin"]]
        )
        assert out.iloc[index]["n_calibration"] == int(same.sum())
        expected = conformal_quantile(residual[same].to_numpy(), 0.8)
        got = out.iloc[index]["upper80"] - row["predicted"]
        assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected)
    # perturbing every actual after an origin leaves the intervals made at it unchanged
    for origin in (labels[8], labels[15], labels[22]):
        later = frame["period"].map(position) > position[origin]
        changed = frame.copy()
        changed.loc[later, "actual"] += rng.normal(0, 5, later.sum())
        again = conformal_intervals(changed, levels=(0.8, 0.95))
        at = (frame["origin"] == origin).to_numpy()
        columns = ["n_calibration", "lower80", "upper80", "lower95", "upper95"]
        pd.testing.assert_frame_equal(out.loc[at, columns], again.loc[at, columns])


def test_coverage_with_known_gaussian_noise() -> None:
    """Forecast = truth, actual = truth + N(0, 1): intervals cover about 80 % and 95 %."""
    rng = np.random.default_rng(11)
    n_origins, n_entities, horizons = 120, 25, (1, 2)
    rows = []
    for k in range(n_origins):
        origin = 1800 + k
        for e in range(n_entities):
            for horizon in horizons:
                truth = np.sin(0.1 * (origin + horizon)) + 0.1 * e
                rows.append(
                    {
                        "dataset": "ds",
                        "model": "m",
                        "seed": 0,
                        "fold": k,
                        "entity": f"E{e}",
                        "origin": str(origin),
                        "horizon": horizon,
                        "period": str(origin + horizon),
                        "actual": truth + rng.normal(),
                        "predicted": truth,
                    }
                )
    out = conformal_intervals(pd.DataFrame(rows))
    metrics = interval_scores(out).set_index("horizon")
    pooled = metrics.loc["all"]
    # about 5,900 calibrated forecasts each: binomial standard errors ~0.5 and ~0.3 points
    assert pooled["coverage80"] == pytest.approx(0.80, abs=0.025)
    assert pooled["coverage95"] == pytest.approx(0.95, abs=0.015)
    # half-widths approach the N(0, 1) quantiles of |noise|: 1.2816 and 1.9600
    late = out[out["origin"].astype(int) >= 1800 + n_origins - 20]
    assert (late["upper80"] - late["predicted"]).mean() == pytest.approx(1.2816, abs=0.08)
    assert (late["upper95"] - late["predicted"]).mean() == pytest.approx(1.9600, abs=0.12)
    # horizon 1 is calibrated from the second origin on, horizon 2 from the third
    # (25 residuals >= 19, enough for 95 %)
    expected = ((n_origins - 1) + (n_origins - 2)) * n_entities
    assert pooled["n_calibrated80"] == pooled["n_calibrated95"] == expected


def test_guard_counts_forecasts_without_interval() -> None:
    # Three origins of one entity: at most 2 residuals per horizon -> never an 80 % interval.
    rows = [("A", str(2000 + k), 1, 0.5, 0.4) for k in range(3)]
    out = conformal_intervals(_forecasts(rows))
    assert out[["lower80", "upper80", "lower95", "upper95"]].isna().all().all()
    metrics = interval_scores(out).set_index("horizon")
    assert metrics.loc["all", "n_calibrated80"] == 0
    assert metrics.loc["all", "n_calibrated95"] == 0
    assert math.isnan(metrics.loc["all", "coverage80"])
    assert math.isnan(metrics.loc["all", "interval_score95"])


def test_non_canonical_periods_are_refused() -> None:
    frame = _forecasts([("A", "2000", 1, 0.5, 0.4)])
    frame["origin"] = "year 2000"
    with pytest.raises(InputError, match="origin"):
        conformal_intervals(frame)


def test_interval_columns_join_scores_and_seed_summary() -> None:
    rows = [(e, str(2000 + k), 1, 0.5 + 0.01 * k, 0.5) for k in range(8) for e in ("A", "B")]
    frame = pd.concat([_forecasts(rows), _forecasts(rows).assign(seed=1, predicted=0.52)])
    scales = frame[["fold", "entity", "origin"]].drop_duplicates().assign(scale=0.1)
    scores = score_table(frame, scales)
    metrics = interval_scores(conformal_intervals(frame))
    joined = add_interval_scores(scores, metrics)
    assert list(joined.columns[: len(scores.columns)]) == list(scores.columns)
    assert list(joined.columns[len(scores.columns) :]) == interval_metric_columns()
    assert len(joined) == len(scores)
    summary = summarise_seeds(joined, ["MASE", *interval_metric_columns()])
    row = summary[summary["horizon"] == "all"].iloc[0]
    per_seed = joined[joined["horizon"] == "all"]["coverage80"]
    assert row["coverage80_mean"] == pytest.approx(per_seed.mean())
    per_seed_count = joined.loc[joined["horizon"] == "all", "n_calibrated80"]
    assert row["n_calibrated80_mean"] == pytest.approx(per_seed_count.mean())
