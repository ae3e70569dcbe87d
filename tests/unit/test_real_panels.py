"""Real-panel symptoms and their remedies (issue: results that mean something on real
panels): a size-dominated level panel and derived intensive indicators, an absent category
under per-entity bounds, a trending panel under per-entity bounds, and the derived
indicators' known values and config errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from panels import measure_dataset

from convergence.data.derived import derive_indicators, parse_derived
from convergence.errors import ConfigError
from convergence.measures.index import MeasurementSpec, apply_measurement, fit_measurement
from convergence.measures.normalize import between_entity_share


def write_long(tmp_path: Path, name: str, rows: list[tuple[str, str, str, float]]) -> dict:
    """A long CSV (entity, period, indicator, value) and the config keys that read it."""
    text = "state,year,series,value\n" + "".join(f"{e},{p},{i},{v:.6g}\n" for e, p, i, v in rows)
    (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return {
        "reader": "long_csv",
        "path": f"{name}.csv",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "frequency": "annual",
        "options": {
            "columns": {
                "entity": "state",
                "period": "year",
                "indicator": "series",
                "value": "value",
            }
        },
    }


def states_rows(n_states: int = 30, n_years: int = 17, seed: int = 3) -> tuple[list, pd.Series]:
    """US-states-like levels: output, employment and capital all proportional to a size that
    spans two orders of magnitude; productivity and capital intensity independent of it."""
    rng = np.random.default_rng(seed)
    size = pd.Series(
        np.exp(rng.uniform(0.0, 4.6, n_states)), index=[f"S{k:02d}" for k in range(n_states)]
    )
    rows = []
    for state, s in size.items():
        level, growth = rng.uniform(0.5, 1.5), rng.uniform(0.0, 0.04)
        intensity, deepening = rng.uniform(1.0, 3.0), rng.uniform(-0.02, 0.03)
        for t in range(n_years):
            workers = s * (1 + rng.normal(0, 0.01))
            rows += [
                (state, str(1970 + t), "employment", workers),
                (state, str(1970 + t), "output", workers * level * (1 + growth) ** t),
                (state, str(1970 + t), "capital", workers * intensity * (1 + deepening) ** t),
            ]
    return rows, size


def spearman_with_size(coupling: pd.DataFrame, size: pd.Series) -> float:
    mean_d = coupling.groupby("entity")["D"].mean()
    return float(mean_d.rank().corr(size.reindex(mean_d.index).rank()))


def test_level_panel_ranks_by_size_and_derived_indicators_do_not(tmp_path: Path) -> None:
    rows, size = states_rows()
    levels = {
        **write_long(tmp_path, "states", rows),
        "subsystems": {"production": {"output": "benefit"}, "capital": {"capital": "benefit"}},
    }
    before = measure_dataset(tmp_path, "levels", levels)
    assert spearman_with_size(before["coupling"], size) > 0.9
    check = {c["code"]: c for c in before["normalize"]["data_checks"]}["size_dominated_levels"]
    assert set(check["details"]["indicators"]) == {"output", "capital"}
    # The remedy is spelled out as config lines.
    assert "datasets.levels.derived: {output_per_capital: {op: ratio" in check["message"]

    intensive = {
        **levels,
        "derived": {
            "output_per_worker": {"op": "ratio", "of": "output", "per": "employment"},
            "capital_per_worker": {"op": "ratio", "of": "capital", "per": "employment"},
        },
        "subsystems": {
            "production": {"output_per_worker": "benefit"},
            "capital": {"capital_per_worker": "benefit"},
        },
    }
    after = measure_dataset(tmp_path, "intensive", intensive)
    assert abs(spearman_with_size(after["coupling"], size)) < 0.5
    assert "size_dominated_levels" not in {c["code"] for c in after["normalize"]["data_checks"]}
    assert [r["indicator"] for r in after["ingest"]["derived"]] == [
        "output_per_worker",
        "capital_per_worker",
    ]
    assert after["ingest"]["derived"][0]["formula"] == "output / employment"
    assert after["ingest"]["derived"][0]["rows"] == 30 * 17


def test_between_entity_share_known_values() -> None:
    # A: 1, 3 (mean 2); B: 5, 7 (mean 6). Total var = 5, within var = 1 -> share 0.8.
    wide = pd.DataFrame(
        {"x": [1.0, 3.0, 5.0, 7.0]},
        index=pd.MultiIndex.from_tuples(
            [("A", "1"), ("A", "2"), ("B", "1"), ("B", "2")], names=["entity", "period"]
        ),
    )
    assert between_entity_share(wide)["x"] == pytest.approx(0.8)


def power_rows(seed: int = 5) -> list:
    """8 countries x 20 years of generation by fuel; C0 and C1 have no nuclear rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(8):
        for t in range(20):
            for fuel in ("coal", "wind", "nuclear"):
                if fuel == "nuclear" and c < 2:
                    continue
                rows.append((f"C{c}", str(2000 + t), fuel, rng.uniform(1, 10)))
    return rows


def test_absent_category_under_per_entity_scope_follows_the_rule(tmp_path: Path) -> None:
    spec = {
        **write_long(tmp_path, "power", power_rows()),
        "fill_missing": 0,
        "normalization": {"scope": "per_entity"},
        "subsystems": {
            "fossil": {"coal": "cost"},
            "clean": {"wind": "benefit", "nuclear": "benefit"},
        },
    }
    records = measure_dataset(tmp_path, "power", spec)
    check = {c["code"]: c for c in records["normalize"]["data_checks"]}[
        "per_entity_constant_indicators"
    ]
    assert check["details"]["entities"] == ["C0", "C1"]
    assert check["details"]["indicators"] == ["nuclear"]
    assert check["details"]["entities_without_index"] == []
    coupling = records["coupling"].set_index(["entity", "period"])
    assert coupling["D"].notna().all()
    # Known value: C0's clean index is its wind value min-max normalized on its own range.
    canonical = pd.read_csv(tmp_path / "power" / "canonical.csv", dtype={"period": str})
    wind = canonical.query("entity == 'C0' and indicator == 'wind'").set_index("period")["value"]
    expected = (wind - wind.min()) / (wind.max() - wind.min())
    np.testing.assert_allclose(coupling.loc["C0", "U_clean"].to_numpy(), expected.to_numpy())


def test_per_entity_rule_is_the_same_in_a_forecast_fold() -> None:
    # One fit on the first periods (a fold's training span): the fitted model gives the same
    # D as the descriptive model fitted on the same rows: one rule in one place.
    index = pd.MultiIndex.from_product([["A", "B", "C"], [str(2000 + t) for t in range(8)]])
    index = index.set_names(["entity", "period"])
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.uniform(1, 2, (24, 3)), index=index, columns=["x", "y", "z"])
    wide.loc["A", "y"] = 0.0  # absent category
    spec = MeasurementSpec(
        subsystems={"one": {"x": "benefit"}, "two": {"y": "benefit", "z": "benefit"}},
        scope="per_entity",
    )
    model = fit_measurement(wide, spec)
    weights = model.indicator_weights["two"]
    out = apply_measurement(model, wide)
    z = wide.loc["A", "z"]
    # A's index of subsystem two is z alone (weight rescaled to 1), the others mix y and z.
    np.testing.assert_allclose(out.loc["A", "U_two"], (z - z.min()) / (z.max() - z.min()))
    assert 0 < weights["y"] < 1 and 0 < weights["z"] < 1


def test_trending_panel_under_per_entity_scope_is_flagged_as_a_time_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = []
    for e in range(12):
        for t in range(17):
            rows += [
                (f"S{e}", str(1990 + t), "farm", 10 * (e + 1) * (1.03 + rng.normal(0, 0.001)) ** t),
                (f"S{e}", str(1990 + t), "ict", 5 * (e + 1) * (1.08 + rng.normal(0, 0.001)) ** t),
            ]
    spec = {
        **write_long(tmp_path, "trend", rows),
        "normalization": {"scope": "per_entity"},
        "subsystems": {"farm": {"farm": "benefit"}, "ict": {"ict": "benefit"}},
    }
    records = measure_dataset(tmp_path, "trend", spec)
    check = {c["code"]: c for c in records["measure"]["data_checks"]}["per_entity_d_tracks_time"]
    assert len(check["details"]["entities"]) == 12
    assert "datasets.trend.normalization.scope: pooled" in check["message"]
    # Pooled, the same data is not flagged (the check is about per-entity bounds).
    pooled = measure_dataset(tmp_path, "trend_pooled", {**spec, "normalization": {}})
    assert "per_entity_d_tracks_time" not in {c["code"] for c in pooled["measure"]["data_checks"]}


def long_frame(records: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    rows = [
        {"entity": e, "period": p, "indicator": i, "value": v}
        for (e, p), values in records.items()
        for i, v in values.items()
    ]
    return pd.DataFrame(rows, columns=["entity", "period", "indicator", "value"])


def test_derived_indicators_known_values() -> None:
    frame = long_frame(
        {
            ("A", "2000Q1"): {"x": 2.0, "y": 4.0, "z": 6.0},
            ("A", "2000Q2"): {"x": 3.0, "y": 0.0, "z": 1.0},
            ("A", "2000Q4"): {"x": 6.0, "y": 2.0, "z": 2.0},  # Q3 absent: a gap
            ("A", "2001Q1"): {"x": 9.0, "y": 1.0, "z": 0.0},
            ("B", "2000Q1"): {"x": -1.0, "y": 1.0, "z": 1.0},
            ("B", "2000Q2"): {"x": 1.0, "y": 1.0, "z": 1.0},
        }
    )
    config = {
        "x_per_y": {"op": "ratio", "of": "x", "per": "y", "scale": 100},
        "x_share": {"op": "share", "of": "x", "total": ["x", "y", "z"]},
        "log_x": {"op": "log", "of": "x"},
        "x_growth": {"op": "growth", "of": "x"},
        "log_share": {"op": "log", "of": "x_share"},  # uses a derived one above it
    }
    definitions = parse_derived("toy", {"derived": config}, ["x", "y", "z"])
    out, records, checks = derive_indicators(frame, definitions, dataset="toy")
    values = out.set_index(["entity", "period", "indicator"])["value"]
    assert values[("A", "2000Q1", "x_per_y")] == pytest.approx(50.0)
    assert ("A", "2000Q2", "x_per_y") not in values.index  # y = 0: undefined
    assert values[("A", "2000Q1", "x_share")] == pytest.approx(2 / 12)
    assert values[("A", "2000Q1", "log_x")] == pytest.approx(np.log(2))
    assert ("B", "2000Q1", "log_x") not in values.index  # log of -1
    assert values[("A", "2000Q2", "x_growth")] == pytest.approx(0.5)
    assert ("A", "2000Q4", "x_growth") not in values.index  # after the gap
    assert values[("A", "2001Q1", "x_growth")] == pytest.approx(0.5)
    assert ("B", "2000Q2", "x_growth") not in values.index  # from -1: undefined
    assert values[("A", "2000Q1", "log_share")] == pytest.approx(np.log(2 / 12))
    assert [r["formula"] for r in records][:2] == ["x / y * 100", "x / (x + y + z)"]
    (check,) = checks
    assert check["code"] == "derived_values_undefined"
    assert check["details"]["counts"] == {"x_per_y": 1, "log_x": 1, "x_growth": 1, "log_share": 1}
    assert check["details"]["entities"] == ["A", "B"]


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ({"y2": {"op": "cube", "of": "x"}}, "datasets.toy.derived.y2.op", "must be one of"),
        ({"y2": {"op": "ratio", "of": "x"}}, "datasets.toy.derived.y2.per", "must name"),
        ({"y2": {"op": "ratio", "of": "x", "per": "w"}}, "datasets.toy.derived.y2.per", "'w'"),
        ({"y2": {"op": "log", "of": "x", "per": "y"}}, "datasets.toy.derived.y2", "per"),
        ({"x": {"op": "log", "of": "y"}}, "datasets.toy.derived.x", "already an indicator"),
        (
            {"y2": {"op": "share", "of": "x", "total": []}},
            "datasets.toy.derived.y2.total",
            "non-empty",
        ),
        (
            {"y2": {"op": "ratio", "of": "x", "per": "y", "scale": 0}},
            "datasets.toy.derived.y2.scale",
            "> 0",
        ),
        # A later definition cannot be used before it is defined.
        (
            {"a": {"op": "log", "of": "b"}, "b": {"op": "log", "of": "x"}},
            "datasets.toy.derived.a.of",
            "'b'",
        ),
    ],
)
def test_derived_config_errors_name_the_key(entry: dict, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_derived("toy", {"derived": entry}, ["x", "y"])
    assert raised.value.key == key


def test_too_short_series_is_named_by_its_forecast_key(tmp_path: Path) -> None:
    from convergence.backtest.preflight import backtest_span_problem, check_backtest_spans
    from convergence.settings import TrainingSettings

    spec = {
        "reader": "synthetic",
        "frequency": "annual",
        "options": {"n_entities": 3, "n_periods": 20, "seed": 1},
        "subsystems": {"a": {"x_output": "benefit"}, "b": {"y_output": "benefit"}},
    }
    settings = TrainingSettings.from_mapping(
        {"window": 4, "horizon": 2, "n_origins": 5, "step": 2, "val_size": 3, "min_train": 12}
    )
    # 12 + 3 + 2 + 2 * 4 = 25 > 20; three origins fit (12 + 3 + 2 + 2 * 2 = 21 > 20: two).
    problem = backtest_span_problem(20, settings)
    assert problem is not None and "needs 25" in problem and "n_origins: 2 fits" in problem
    with pytest.raises(ConfigError, match="needs 25") as raised:
        check_backtest_spans({"toy": spec}, {"toy": settings}, root=tmp_path)
    assert raised.value.key == "datasets.toy.forecast"
    enough = TrainingSettings.from_mapping({**settings.to_dict(), "n_origins": 2})
    check_backtest_spans({"toy": spec}, {"toy": enough}, root=tmp_path)
    short_train = TrainingSettings.from_mapping({**enough.to_dict(), "min_train": 5})
    assert "no training window" in str(backtest_span_problem(20, short_train))


def test_snakemake_dry_run_fails_on_a_too_short_series(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "tests" / "integration" / "config.yaml").read_text())
    config["datasets"]["synthetic"]["options"]["n_periods"] = 15
    config["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).with_name("snakemake")
    done = subprocess.run(
        [str(snakemake), "-n", "--cores", "1", "--directory", str(root)],
        cwd=root,
        env={**os.environ, "CONVERGENCE_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "config key datasets.synthetic.forecast" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_readme_states_example_runs_as_written(tmp_path: Path) -> None:
    import re

    import yaml

    page = Path(__file__).resolve().parents[2] / "docs" / "adding-a-dataset.md"
    readme = page.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- states-example:start -->\s*```yaml\n(.*?)```\s*<!-- states-example:end -->",
        readme,
        re.S,
    )
    assert block, "docs/adding-a-dataset.md lost its states example"
    entry = yaml.safe_load(block.group(1))["datasets"]["states"]
    rows, size = states_rows()
    written = write_long(tmp_path, "states", rows)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / written["path"]).rename(tmp_path / entry["path"])
    entry["sha256"] = written["sha256"]
    records = measure_dataset(tmp_path, "states", entry)
    assert [r["indicator"] for r in records["ingest"]["derived"]] == [
        "output_per_worker",
        "capital_per_worker",
    ]
    codes = {c["code"] for c in records["normalize"]["data_checks"]}
    assert "size_dominated_levels" not in codes
    assert abs(spearman_with_size(records["coupling"], size)) < 0.5
