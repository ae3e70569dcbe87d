"""End-to-end: the two new-data-set shapes of issue 11 run through the whole DAG
(measures, training, baselines, evaluation, scenarios, figures, summary) without editing
the files: a long annual panel with absent rows and a partial last year, and a wide
single-entity monthly file with ISO dates. Tiny config: one seed, one network, few epochs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.slow


def power_text() -> str:
    """8 countries 1990-2020, three fuels; no NUC rows at all for C6 and C7, and only two
    countries report 2020 (a partial last year)."""
    rng = np.random.default_rng(1)
    lines = ["country,year,fuel,twh"]
    for c in range(8):
        for year in range(1990, 2021):
            if year == 2020 and c >= 2:
                continue
            t = year - 1990
            trends = {"COAL": 1 + t / 30, "WIND": np.exp(t / (8 + c)), "NUC": 2 + np.sin(t / 3 + c)}
            for fuel, trend in trends.items():
                if fuel == "NUC" and c >= 6:
                    continue
                lines.append(f"C{c},{year},{fuel},{(c + 1) * trend + rng.uniform(0, 0.5):.3f}")
    return "\n".join(lines) + "\n"


def portfolios_text(n_months: int = 72) -> str:
    """One country, three industry columns, month-end ISO dates from 2001-01-31."""
    rng = np.random.default_rng(0)
    lines = ["date,tech,finance,energy"]
    for k in range(n_months):
        year, month = 2001 + k // 12, k % 12 + 1
        day = pd.Period(f"{year}-{month:02d}", freq="M").days_in_month
        values = [
            1 + k / 10 + rng.normal(0, 0.1),
            2 + np.sin(k / 6) + rng.normal(0, 0.1),
            3 + k / 30 + rng.normal(0, 0.1),
        ]
        lines.append(f"{year}-{month:02d}-{day:02d}," + ",".join(f"{v:.4f}" for v in values))
    return "\n".join(lines) + "\n"


def states_text(n_states: int = 12, n_years: int = 24) -> str:
    """US-states-like levels: output, employment and capital proportional to a size that
    spans two orders of magnitude (pooled bounds on them rank states by size)."""
    rng = np.random.default_rng(4)
    lines = ["state,year,series,value"]
    for k in range(n_states):
        size = np.exp(rng.uniform(0, 4.6))
        level, growth = rng.uniform(0.5, 1.5), rng.uniform(0.0, 0.015)
        intensity = rng.uniform(1, 3)
        for t in range(n_years):
            workers = size * (1 + rng.normal(0, 0.01))
            values = {
                "employment": workers,
                "output": workers * level * (1 + growth) ** t,
                "capital": workers * intensity * (1 + rng.normal(0, 0.02)),
            }
            lines += [f"S{k:02d},{1990 + t},{name},{v:.5g}" for name, v in values.items()]
    return "\n".join(lines) + "\n"


def write_config(workdir: Path) -> Path:
    files = {"power": power_text(), "portfolios": portfolios_text(), "states": states_text()}
    digests = {}
    for name, text in files.items():
        (workdir / f"{name}.csv").write_text(text, encoding="utf-8")
        digests[name] = hashlib.sha256(text.encode()).hexdigest()
    config = yaml.safe_load((ROOT / "tests/integration/config.yaml").read_text())
    config["datasets"] = {
        "power": {
            "reader": "long_csv",
            "path": str(workdir / "power.csv"),
            "sha256": digests["power"],
            "frequency": "annual",
            "options": {
                "columns": {"entity": "country", "period": "year", "indicator": "fuel"}
                | {"value": "twh"}
            },
            "subsystems": {
                "fossil": {"COAL": "cost"},
                "clean": {"WIND": "benefit", "NUC": "benefit"},
            },
        },
        "portfolios": {
            "reader": "wide_csv",
            "path": str(workdir / "portfolios.csv"),
            "sha256": digests["portfolios"],
            "frequency": "monthly",
            "options": {"entity": "US", "dates": "monthly", "columns": {"period": "date"}},
            "subsystems": {
                "new": {"tech": "benefit"},
                "old": {"energy": "benefit", "finance": "benefit"},
            },
            # 72 months >= min_train + val_size + horizon + step * (n_origins - 1) = 36
            "forecast": {"window": 6, "horizon": 3, "n_origins": 2, "step": 3}
            | {"val_size": 6, "min_train": 24},
        },
    }
    # The same power file under per-entity bounds: C6 and C7 (no nuclear, filled with 0)
    # keep a D from the rule (nuclear left out of their clean index), and the run completes.
    config["datasets"]["power_per_entity"] = {
        **config["datasets"]["power"],
        "fill_missing": 0,
        "normalization": {"scope": "per_entity"},
    }
    config["datasets"]["states"] = {
        "reader": "long_csv",
        "path": str(workdir / "states.csv"),
        "sha256": digests["states"],
        "frequency": "annual",
        "options": {
            "columns": {"entity": "state", "period": "year", "indicator": "series"}
            | {"value": "value"}
        },
        "subsystems": {"production": {"output": "benefit"}, "capital": {"capital": "benefit"}},
    }
    config["seeds"] = [0]
    config["train_models"] = ["cnn_lstm"]
    config["training"]["max_epochs"] = 2
    config["evaluation"]["baselines"] = ["naive", "drift"]
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def new_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("new_datasets")
    config = write_config(workdir)
    result = subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
        + ["--configfile", str(config), "--cores", "2", "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "results"


def checks(path: Path) -> list[str]:
    return [item["code"] for item in json.loads(path.read_text())["data_checks"]]


def test_long_panel_with_absent_rows_forecasts_the_entities_with_d(new_run: Path) -> None:
    ingest = json.loads((new_run / "power/ingest/provenance.json").read_text())
    assert ingest["periods"]["last"] == "2019"  # the partial 2020 is dropped for every stage
    codes = checks(new_run / "power/ingest/provenance.json")
    assert {"partial_last_period", "entity_periods_without_D"} <= set(codes)
    predictions = pd.read_csv(
        new_run / "power/models/cnn_lstm/seed0/predictions.csv", dtype={"period": str}
    )
    assert set(predictions["entity"]) == {f"C{c}" for c in range(6)}  # C6, C7: no D at all
    assert predictions["period"].max() == "2019"
    assert np.isfinite(predictions["predicted"]).all()
    assert "tiny_test_set" in checks(new_run / "power/evaluation/provenance.json")


def test_single_entity_monthly_file_forecasts_and_says_what_it_cannot(new_run: Path) -> None:
    predictions = pd.read_csv(
        new_run / "portfolios/models/cnn_lstm/seed0/predictions.csv",
        dtype={"period": str, "origin": str},
    )
    assert set(predictions["entity"]) == {"US"}
    assert sorted(predictions["origin"].unique()) == ["2006-06", "2006-09"]
    assert predictions["period"].max() == "2006-12"
    evaluation = checks(new_run / "portfolios/evaluation/provenance.json")
    assert evaluation == ["tiny_test_set", "dm_few_forecasts"]
    assert "single_entity" in checks(new_run / "portfolios/measure/provenance.json")
    for figure in ("transition_paths", "beta_scatter", "dm_heatmap", "forecasts"):
        assert (new_run / f"portfolios/figures/{figure}.png").stat().st_size > 5_000


def test_summary_lists_every_stage_checks(new_run: Path) -> None:
    summary = (new_run / "summary.md").read_text()
    portfolios = summary.split("### Data checks: portfolios")[1].split("## power")[0]
    assert "- **ingest** `single_entity`" in portfolios
    assert "- **evaluate** `tiny_test_set`: 6 test forecasts per model and seed" in portfolios
    assert "- **evaluate** `dm_few_forecasts`" in portfolios
    power = summary.split("### Data checks: power")[1]
    assert "`entity_periods_without_D`" in power and "(entities: C6, C7" in power
    assert "- **evaluate** `tiny_test_set`: 24 test forecasts" in power
    # Convergence verdicts say on how many of how many entities and periods they rest, and
    # the sigma section comes from the same provenance (issue 23).
    tests = json.loads((new_run / "power/convergence/provenance.json").read_text())
    if not tests["verdict"].startswith("not tested"):
        section = summary.split("\n## power")[1]
        assert f"(beta, sigma, Phillips-Sul; `convergence/`) on {tests['verdict']}." in section
        assert " entities and " in tests["verdict"] and "periods (" in tests["verdict"]
        assert "### Sigma-convergence: power" in section
        std = next(row for row in tests["sigma_trend"] if row["measure"] == "std")
        assert f"slope {std['slope']:+.2g} per period" in section


def test_per_entity_scope_with_an_absent_category_completes_with_the_rule(new_run: Path) -> None:
    normalize = json.loads(
        (new_run / "power_per_entity/normalize/measurement_model.json").read_text()
    )
    (rule,) = [c for c in normalize["data_checks"] if c["code"] == "per_entity_constant_indicators"]
    assert rule["details"]["entities"] == ["C6", "C7"]
    predictions = pd.read_csv(
        new_run / "power_per_entity/models/cnn_lstm/seed0/predictions.csv", dtype={"period": str}
    )
    assert {"C6", "C7"} <= set(predictions["entity"])
    summary = (new_run / "summary.md").read_text()
    section = summary.split("### Data checks: power_per_entity")[1]
    assert "- **normalize** `per_entity_constant_indicators`" in section


def test_level_panel_is_flagged_with_the_derived_remedy(new_run: Path) -> None:
    summary = (new_run / "summary.md").read_text()
    section = summary.split("### Data checks: states")[1]
    assert "- **normalize** `size_dominated_levels`" in section
    assert "datasets.states.derived" in section
