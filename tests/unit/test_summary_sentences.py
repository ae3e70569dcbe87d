"""Generated sentences of summary.md: "within noise" vs DM-significant, interval coverage."""

from __future__ import annotations

import pandas as pd

from convergence.evaluation.summary import (
    cross_dataset_summary,
    dataset_findings,
    interval_coverage_sentence,
    versus_best_sentence,
    write_summary_markdown,
)


def _dm(rows: list[tuple[str, int, float, str]]) -> pd.DataFrame:
    """DM rows from (model, horizon, p_holm, better)."""
    return pd.DataFrame(
        [
            {
                "dataset": "ds",
                "horizon": h,
                "reference": "cnn_lstm",
                "model": m,
                "statistic": 1.0,
                "p_value": p / 2,
                "p_holm": p,
                "n": 20,
                "mean_loss_diff": 0.1,
                "better": b,
            }
            for m, h, p, b in rows
        ]
    )


def test_within_noise_when_no_horizon_is_significant() -> None:
    dm = _dm(
        [("ets", 1, 0.40, "neither"), ("ets", 2, 0.12, "neither"), ("naive", 1, 0.01, "reference")]
    )
    text = versus_best_sentence(dm, reference="cnn_lstm", best_model="ets")
    assert text is not None
    assert "within noise" in text
    assert "none of 2 horizons" in text
    assert "smallest 0.120, horizon 2" in text


def test_significant_names_the_horizons_and_direction() -> None:
    dm = _dm([("ets", 1, 0.30, "neither"), ("ets", 2, 0.01, "model"), ("ets", 3, 0.02, "model")])
    text = versus_best_sentence(dm, reference="cnn_lstm", best_model="ets")
    assert text is not None and "within noise" not in text
    assert "significant" in text
    assert "ets is significantly more accurate at horizon(s) 2, 3 of 3" in text


def test_no_sentence_when_reference_is_best_and_special_cases() -> None:
    dm = _dm([("ets", 1, 0.01, "model")])
    assert versus_best_sentence(dm, reference="cnn_lstm", best_model="cnn_lstm") is None
    assert versus_best_sentence(dm, reference="cnn_lstm", best_model=None) is None
    ensemble = versus_best_sentence(dm, reference="cnn_lstm", best_model="cnn_lstm_ensemble")
    assert ensemble is not None and "seed-averaged forecast" in ensemble
    absent = versus_best_sentence(dm, reference="cnn_lstm", best_model="theta")
    assert absent == "theta is not in the Diebold-Mariano tests against cnn_lstm."
    undefined = _dm([("ets", 1, float("nan"), "neither")])
    text = versus_best_sentence(undefined, reference="cnn_lstm", best_model="ets")
    assert text is not None and "undefined" in text


def _summary() -> pd.DataFrame:
    rows = []
    for model, mase, n_seeds, coverage in (
        ("cnn_lstm", 0.9, 3, (0.75, 0.9)),
        ("cnn_lstm_ensemble", 0.8, 1, (0.8125, 0.95)),
        ("ets", 0.7, 1, (0.5, 0.7)),
    ):
        rows.append(
            {
                "dataset": "ds",
                "model": model,
                "horizon": "all",
                "n": 40,
                "n_seeds": n_seeds,
                "pooled_MASE_mean": mase,
                "coverage80_mean": coverage[0],
                "coverage95_mean": coverage[1],
                "n_calibrated80_mean": 32.0,
                "n_calibrated95_mean": 0.0 if model == "ets" else 20.0,
            }
        )
    return pd.DataFrame(rows)


def test_interval_coverage_sentence_from_the_summary() -> None:
    text = interval_coverage_sentence(_summary(), reference="cnn_lstm")
    assert text is not None
    assert "cnn_lstm (mean over seeds): 75.0 % of actuals inside the 80 % interval" in text
    assert "(32 of 40 forecasts have one)" in text
    assert "cnn_lstm_ensemble: 81.2 % of actuals inside the 80 % interval" in text
    assert "95.0 % of actuals inside the 95 % interval (20 of 40" in text
    assert "ets" not in text
    no_columns = _summary().drop(columns=["coverage80_mean", "coverage95_mean"])
    assert interval_coverage_sentence(no_columns, reference="cnn_lstm") is None


def test_summary_markdown_says_within_noise(tmp_path) -> None:
    summary = _summary()
    dm = _dm([("ets", 1, 0.40, "neither"), ("ets", 2, 0.30, "neither")])
    cross = cross_dataset_summary(summary)
    findings = dataset_findings(summary, dm, reference="cnn_lstm")
    assert findings["best_model"] == "ets"
    write_summary_markdown(tmp_path / "summary.md", cross, {"ds": findings}, reference="cnn_lstm")
    text = (tmp_path / "summary.md").read_text()
    assert (
        "The difference between cnn_lstm and the lowest-scoring model ets is within noise" in text
    )
    assert "cnn_lstm_ensemble is the score of the seed-averaged forecast of cnn_lstm" in text
    assert "Split-conformal intervals" in text

    significant = _dm([("ets", 1, 0.40, "neither"), ("ets", 2, 0.001, "model")])
    findings = dataset_findings(summary, significant, reference="cnn_lstm")
    write_summary_markdown(tmp_path / "summary.md", cross, {"ds": findings}, reference="cnn_lstm")
    text = (tmp_path / "summary.md").read_text()
    assert "within noise" not in text
    assert "ets is significantly more accurate at horizon(s) 2 of 2" in text


def test_selection_note_names_the_choice_and_the_validation_periods() -> None:
    from convergence.evaluation.summary import selection_note

    note = selection_note(
        {
            "reference": "cnn_lstm",
            "folds": [0, -1],
            "n_validation_windows": 6,
            "validation_periods": ["1976", "1981"],
            "n_candidates": 16,
            "seeds": [0],
            "chosen": "input_mode=levels, skip=False",
        }
    )
    assert note.startswith("Configuration of cnn_lstm chosen on validation data only")
    assert (
        "selection folds 0, -1, 6 validation windows in periods 1976..1981, 16 candidates" in note
    )
    assert "input_mode=levels, skip=False" in note


def test_ablation_sentence_gives_differences_verdicts_and_coinciding_variants() -> None:
    from convergence.evaluation.summary import ablation_sentence

    summary = pd.DataFrame(
        {
            "model": ["cnn_lstm", "no_dropout", "no_skip", "penalty_none", "no_pooling"],
            "horizon": ["all"] * 5,
            "pooled_MASE_mean": [0.5, 0.625, 0.5, 0.25, float("nan")],
        }
    )
    dm = pd.DataFrame(
        {
            "model": ["no_dropout", "no_dropout", "penalty_none", "penalty_none"],
            "horizon": [1, 2, 1, 2],
            "p_holm": [0.01, 0.3, 0.6, 0.02],
            "better": ["reference", "neither", "neither", "model"],
            "n": [20, 20, 20, 20],
        }
    )
    text = ablation_sentence(
        summary,
        dm,
        reference="cnn_lstm",
        ablations=["no_dropout", "no_skip", "penalty_none", "no_pooling", "absent"],
    )
    assert text is not None
    assert "minus cnn_lstm's 0.500" in text
    assert "no_dropout +0.125 (significantly worse at h 1)" in text
    assert "penalty_none -0.250 (significantly better at h 2)" in text
    assert text.endswith("the same model): no_skip.")
    assert "no_pooling" not in text and "absent" not in text
    quiet = dm.assign(better="neither")
    assert "no_dropout +0.125 (within noise)" in ablation_sentence(
        summary, quiet, reference="cnn_lstm", ablations=["no_dropout"]
    )
    assert "(not testable)" in ablation_sentence(
        summary, dm.iloc[:0], reference="cnn_lstm", ablations=["no_dropout"]
    )
    # Fewer than 20 aligned forecasts: a p-value of 1 is not "within noise".
    assert "no_dropout +0.125 (not testable)" in ablation_sentence(
        summary, quiet.assign(n=5), reference="cnn_lstm", ablations=["no_dropout"]
    )
    assert ablation_sentence(summary, dm, reference="cnn_lstm", ablations=[]) is None


def test_peer_table_puts_reference_ensemble_best_baseline_nhits_ridge_naive_side_by_side() -> None:
    from convergence.evaluation.summary import peer_table

    models = ["cnn_lstm", "cnn_lstm_ensemble", "ets", "nhits", "ridge", "naive", "lstm"]
    summary = pd.DataFrame(
        {
            "model": models,
            "horizon": ["all"] * 7,
            "n_seeds": [5, 1, 1, 1, 1, 1, 5],
            "pooled_MASE_mean": [0.2, 0.15, 0.18, 0.16, 0.3, 0.8, 0.1],
            "pooled_MASE_std": [0.01, None, None, None, None, None, 0.02],
            "coverage80_mean": [0.9, 0.85, 0.8, 0.75, 0.7, float("nan"), 0.8],
            "coverage95_mean": [0.96] * 7,
        }
    )
    dm = pd.DataFrame(
        {
            "model": ["nhits", "nhits", "ridge", "ridge"],
            "horizon": [2, 1, 1, 2],
            "p_holm": [0.5, 0.01, float("nan"), 0.03],
            "better": ["neither", "model", "neither", "reference"],
            "n": [30, 30, 30, 30],
        }
    )
    table = peer_table(
        summary, dm, reference="cnn_lstm", baselines=["naive", "ets", "ridge", "nhits", "arima"]
    )
    lines = table.splitlines()
    assert lines[0].startswith("| model | role | pooled MASE | DM vs cnn_lstm")
    names = [line.split("|")[1].strip() for line in lines[2:]]
    # lstm is not a baseline: never the "best baseline" however low its score.
    assert names == ["cnn_lstm", "cnn_lstm_ensemble", "nhits", "ridge", "naive"]
    assert "| cnn_lstm | reference, mean over seeds | 0.200 ± 0.010 | — | 0.90 | 0.96 |" in lines
    assert "| nhits | best baseline | 0.160 | h1 0.010 (nhits), h2 0.500 | 0.75 | 0.96 |" in lines
    assert (
        "| ridge | linear, same windows | 0.300 | h1 n/a, h2 0.030 (cnn_lstm) | 0.70 | 0.96 |"
        in lines
    )
    assert lines[-1].startswith("| naive |  | 0.800 | n/a | n/a |")
    assert peer_table(summary, dm, reference="absent", baselines=["ets"]) is None
    few = peer_table(summary, dm.assign(n=5), reference="cnn_lstm", baselines=["nhits"])
    assert "| h1 not testable (n=5), h2 not testable (n=5) |" in few


def test_versus_best_is_descriptive_when_the_tests_rest_on_few_forecasts() -> None:
    dm = _dm([("ridge", 1, 1.0, "neither"), ("ridge", 2, 1.0, "neither")]).assign(n=5)
    sentence = versus_best_sentence(dm, reference="cnn_lstm", best_model="ridge")
    assert (
        "not testable (fewer than 20 aligned forecasts or 5 distinct forecast origins" in sentence
    )
    assert "within noise" not in sentence


# ----------------------------------------------------------- issue 22: tie headlines


def _pooled(rows: list[tuple[str, float, float, int]]) -> pd.DataFrame:
    """A seed summary's "all" rows from (model, pooled_MASE_mean, pooled_MASE_std, n_seeds)."""
    return pd.DataFrame(
        [
            {
                "dataset": "ds",
                "model": m,
                "horizon": "all",
                "pooled_MASE_mean": v,
                "pooled_MASE_std": s,
                "n_seeds": k,
                "n": 40,
            }
            for m, v, s, k in rows
        ]
    )


def _leader_dm(leader: str, rows: list[tuple[str, int, float, str]]) -> pd.DataFrame:
    dm = _dm(rows)
    dm["reference"] = leader
    return dm


def test_leader_is_named_alone_only_when_separated_from_every_model() -> None:
    from convergence.evaluation.summary import leader_headline, leader_ties

    summary = _pooled(
        [
            ("cnn_lstm_ensemble", 0.157, float("nan"), 1),
            ("nhits", 0.159, 0.004, 5),
            ("cnn_lstm", 0.170, 0.010, 5),
            ("naive", 0.400, float("nan"), 1),
        ]
    )
    # nhits: gap 0.002 < its seed spread 0.004 -> tied even with a significant DM test.
    # cnn_lstm: the same forecasts as the ensemble, never compared.
    # naive: gap 0.243 > 0 spread and DM-significant for the leader at h2 -> separated.
    dm = _leader_dm(
        "cnn_lstm_ensemble",
        [
            ("nhits", 1, 0.01, "reference"),
            ("naive", 1, 0.30, "neither"),
            ("naive", 2, 0.001, "reference"),
        ],
    )
    leader, tied, reasons = leader_ties(summary, dm, reference="cnn_lstm")
    assert leader == "cnn_lstm_ensemble"
    assert tied == ["nhits"]
    assert reasons["nhits"] == "gap 0.002 within seed spread 0.004"
    text = leader_headline(summary, dm, dataset="us", reference="cnn_lstm", n_forecasts=40)
    assert text.startswith("No single best model on us: the lowest pooled MASE is 0.157")
    assert "nhits 0.159 (gap 0.002 within seed spread 0.004)" in text
    assert "4 models compared, 40 forecasts per model and seed" in text
    # A model beyond the seed spread but not DM-separable is tied too ("within noise").
    wide = _pooled([("ets", 0.10, 0.0, 1), ("theta", 0.20, 0.0, 1)])
    within = _leader_dm("ets", [("theta", 1, 0.40, "neither")])
    assert leader_ties(wide, within, reference="cnn_lstm")[2] == {"theta": "DM within noise"}
    # Not testable (too few forecasts) does not separate either.
    few = within.assign(n=3)
    assert leader_ties(wide, few, reference="cnn_lstm")[2] == {"theta": "DM not testable"}
    # Separated: the leader is named alone.
    apart = _leader_dm("ets", [("theta", 1, 0.01, "reference")])
    assert leader_ties(wide, apart, reference="cnn_lstm")[1] == []
    alone = leader_headline(wide, apart, dataset="ds", reference="cnn_lstm", n_forecasts=40)
    assert alone.startswith("The lowest pooled MASE on ds is 0.100, from ets, separated from every")
    based = leader_headline(
        wide,
        apart,
        dataset="ds",
        reference="cnn_lstm",
        n_forecasts=40,
        n_entities=4,
        n_test_periods=10,
    )
    assert "40 forecasts per model and seed on 4 entities and 10 test periods" in based
    # The other model significantly better somewhere: not separated.
    mixed = _leader_dm("ets", [("theta", 1, 0.01, "reference"), ("theta", 2, 0.01, "model")])
    assert leader_ties(wide, mixed, reference="cnn_lstm")[1] == ["theta"]


def test_leader_tests_use_the_reference_forecast_for_its_ensemble() -> None:
    import numpy as np

    from convergence.evaluation.comparisons import leader_tests

    rng = np.random.default_rng(0)
    rows = []
    for model, noise in (("cnn_lstm", 0.1), ("nhits", 0.1), ("naive", 1.0)):
        seeds = (0, 1) if model == "cnn_lstm" else (0,)
        for seed in seeds:
            for origin in range(30):
                rows.append(
                    {
                        "dataset": "ds",
                        "model": model,
                        "seed": seed,
                        "fold": 0,
                        "entity": "A",
                        "origin": str(2000 + origin),
                        "horizon": 1,
                        "period": str(2001 + origin),
                        "actual": 0.5,
                        "predicted": 0.5 + noise * rng.standard_normal(),
                    }
                )
    predictions = pd.DataFrame(rows)
    ensemble = predictions[predictions["model"] == "cnn_lstm"].assign(model="cnn_lstm_ensemble")
    both = pd.concat([predictions, ensemble], ignore_index=True)
    table = leader_tests(both, leader="cnn_lstm_ensemble", reference="cnn_lstm")
    assert set(table["model"]) == {"nhits", "naive"}
    assert set(table["reference"]) == {"cnn_lstm_ensemble"}
    other = leader_tests(both, leader="nhits", reference="cnn_lstm")
    assert set(other["model"]) == {"cnn_lstm", "naive"}  # the ensemble would repeat cnn_lstm
    naive = table[table["model"] == "naive"].iloc[0]
    assert naive["better"] == "reference" and naive["p_holm"] < 0.05
