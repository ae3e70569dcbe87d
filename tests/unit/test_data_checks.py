"""Data checks: the diagnostics record, its Markdown, and what ingest reports.

Every test writes its own small data set and checks the WARNING text, the provenance
``data_checks`` entry and, where it matters, the Markdown line of the summary.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from convergence.atomic import write_csv_atomic
from convergence.data.ingest import ingest_dataset
from convergence.diagnostics import DATA_CHECKS_KEY, DataCheck, data_checks_markdown, report
from convergence.errors import ConfigError, DataFileError, InputError
from convergence.measures.index import MeasurementSpec
from convergence.measures.normalize import (
    check_zero_range,
    dominated_bounds_check,
    normalization_settings,
)
from convergence.stages.measure import run as run_measure
from convergence.stages.normalize import run as run_normalize


def write_long(tmp_path: Path, rows: list[tuple[str, str, str, Any]], **overrides: Any) -> dict:
    """A long CSV of (entity, period, indicator, value) rows and its config entry."""
    lines = ["entity,period,indicator,value"]
    lines += [f"{e},{p},{i},{'' if v is None else v}" for e, p, i, v in rows]
    text = "\n".join(lines) + "\n"
    (tmp_path / "panel.csv").write_text(text, encoding="utf-8")
    spec: dict[str, Any] = {
        "reader": "long_csv",
        "path": "panel.csv",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "frequency": "annual",
        "subsystems": {"first": {"x": "benefit"}, "second": {"y": "benefit"}},
    }
    spec.update(overrides)
    return spec


def panel_rows(
    entities: list[str], years: range, skip: set[tuple[str, str, str]] = frozenset()
) -> list[tuple[str, str, str, Any]]:
    rows = []
    for k, entity in enumerate(entities):
        for year in years:
            for indicator in ("x", "y"):
                if (entity, str(year), indicator) not in skip:
                    rows.append((entity, str(year), indicator, 1.0 + k + (year - years[0]) / 10))
    return rows


def checks_by_code(provenance: dict) -> dict[str, dict]:
    return {check["code"]: check for check in provenance[DATA_CHECKS_KEY]}


# ---------------------------------------------------------------------------
# The record and its Markdown
# ---------------------------------------------------------------------------


def test_report_logs_a_warning_and_returns_json(caplog: pytest.LogCaptureFixture) -> None:
    item = DataCheck(
        "ingest",
        "single_entity",
        "one entity",
        {"entities": ("US",), "counts": {"US": np.int64(3)}, "share": np.float64(0.5)},
    )
    with caplog.at_level(logging.WARNING):
        record = report(item)
    assert "[ingest] single_entity: one entity" in caplog.text
    assert caplog.records[0].levelno == logging.WARNING
    assert json.loads(json.dumps(record)) == {
        "stage": "ingest",
        "code": "single_entity",
        "message": "one entity",
        "details": {"entities": ["US"], "counts": {"US": 3}, "share": 0.5},
    }
    with pytest.raises(InputError, match="code"):
        DataCheck("ingest", "", "x")


def test_markdown_lists_every_check_with_names_and_counts() -> None:
    many = [f"E{k}" for k in range(12)]
    text = data_checks_markdown(
        {
            "ingest": [
                {
                    "stage": "ingest",
                    "code": "entities_dropped",
                    "message": "12 entities dropped.",
                    "details": {"entities": many},
                }
            ],
            "normalize": [
                {
                    "stage": "normalize",
                    "code": "pooled_bounds_dominated",
                    "message": "one entity sets the bounds.",
                    "details": {"entities": ["US"], "counts": {"US": 3}},
                }
            ],
            "measure": [],
        }
    )
    lines = text.splitlines()
    assert lines[0] == (
        "- **ingest** `entities_dropped`: 12 entities dropped. "
        "(entities: E0, E1, E2, E3, E4, E5, E6, E7, E8, E9 and 2 more)"
    )
    assert lines[1] == (
        "- **normalize** `pooled_bounds_dominated`: one entity sets the bounds. "
        "(entities: US; counts: US 3)"
    )
    assert len(lines) == 2
    assert data_checks_markdown({"ingest": []}).startswith("- No data checks")


# ---------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["inf", "-inf", "1e999", "Infinity"])
def test_infinite_value_rejected_with_file_column_and_line(tmp_path: Path, token: str) -> None:
    rows = panel_rows(["A", "B"], range(2000, 2003))
    rows[3] = (rows[3][0], rows[3][1], rows[3][2], token)  # CSV line 5
    spec = write_long(tmp_path, rows)
    with pytest.raises(DataFileError, match=r"panel\.csv, column 'value', row 5: .*line 5.*finite"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_entities_without_d_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # C never has a row for y: no D at all; B lacks y in 2001 only.
    skip = {("C", str(year), "y") for year in range(2000, 2004)} | {("B", "2001", "y")}
    spec = write_long(tmp_path, panel_rows(["A", "B", "C"], range(2000, 2004), skip))
    with caplog.at_level(logging.WARNING):
        _, provenance = ingest_dataset("toy", spec, root=tmp_path)
    found = checks_by_code(provenance)["entity_periods_without_D"]
    assert found["details"]["entities"] == ["C"]
    assert found["details"]["counts"] == {"B": 1, "C": 4}
    assert found["details"]["entity_periods"]["B"] == ["2001"]
    assert found["details"]["missing_by_entity"] == {"B": ["y"], "C": ["y"]}
    assert found["details"]["indicators"] == ["y"]
    assert "1 entit(y/ies) have no D in any period (C)" in found["message"]
    assert "datasets.toy.fill_missing: 0" in found["message"]
    assert "entity_periods_without_D" in caplog.text


def test_fill_missing_fills_absent_rows(tmp_path: Path) -> None:
    skip = {("C", str(year), "y") for year in range(2000, 2004)}
    rows = panel_rows(["A", "B", "C"], range(2000, 2004), skip)
    rows.append(("A", "2004", "x", None))  # a missing value in an otherwise empty period
    spec = write_long(tmp_path, rows, fill_missing=0)
    canonical, provenance = ingest_dataset("toy", spec, root=tmp_path)
    filled_y = canonical[(canonical["entity"] == "C") & (canonical["indicator"] == "y")]
    assert list(filled_y["value"]) == [0.0] * 4
    assert provenance["filled"] == {
        "value": 0.0,
        "rows_added": 4,
        "values_filled": 0,
        "counts": {"y": 4},
    }
    assert "2004" not in set(canonical["period"])  # no configured value there: not filled
    assert "entity_periods_without_D" not in checks_by_code(provenance)
    check = checks_by_code(provenance)["missing_rows_filled"]
    assert check["details"]["counts"] == {"y": 4}
    added = provenance["rows_added"]
    assert provenance["rows_in"] + added - sum(e["rows"] for e in provenance["dropped"]) == len(
        canonical
    )


def test_fill_missing_must_be_a_number(tmp_path: Path) -> None:
    spec = write_long(tmp_path, panel_rows(["A", "B"], range(2000, 2003)), fill_missing="zero")
    with pytest.raises(ConfigError, match="datasets.toy.fill_missing: must be a finite number"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_negative_structure_values_counted_per_entity(tmp_path: Path) -> None:
    rows = panel_rows(["A", "B"], range(2000, 2004))
    for entity, year, value in [("A", 2000, -1), ("A", 2001, -2), ("B", 2003, -3)]:
        rows.append((entity, str(year), "s1", value))
        rows.append((entity, str(year), "s2", 1))
    spec = write_long(tmp_path, rows, structure={"indicators": ["s1", "s2"]})
    _, provenance = ingest_dataset("toy", spec, root=tmp_path)
    found = checks_by_code(provenance)["negative_structure_values"]
    assert found["details"]["counts"] == {"A": 2, "B": 1}
    assert found["details"]["indicators"] == ["s1"]
    assert "drops these entity-periods from the structural similarity" in found["message"]


def test_single_entity_warns_that_sigma_and_structure_are_empty(tmp_path: Path) -> None:
    spec = write_long(tmp_path, panel_rows(["US"], range(2000, 2004)))
    _, provenance = ingest_dataset("toy", spec, root=tmp_path)
    found = checks_by_code(provenance)["single_entity"]
    assert found["details"]["entities"] == ["US"]
    assert "sigma-convergence and structural similarity" in found["message"]
    assert "empty" in found["message"]


def test_partial_last_period_dropped_and_named(tmp_path: Path) -> None:
    entities = ["A", "B", "C", "D", "E"]
    rows = panel_rows(entities, range(2000, 2004))
    rows += [(e, "2004", ind, 1.0) for e in ("A", "B") for ind in ("x", "y")]  # 2 of 5
    spec = write_long(tmp_path, rows)
    canonical, provenance = ingest_dataset("toy", spec, root=tmp_path)
    assert canonical["period"].max() == "2003"
    found = checks_by_code(provenance)["partial_last_period"]
    assert found["details"]["periods"] == ["2004"]
    assert found["details"]["counts"] == {"2004": 2}
    assert "dropped from every stage" in found["message"]
    assert provenance["partial_last_period"]["partial_periods"] == ["2004"]
    assert provenance["partial_last_period"]["rule"] == "drop"
    dropped = {e["reason"]: e for e in provenance["dropped"]}
    assert dropped["partial last period"] == {
        "reason": "partial last period",
        "rows": 4,
        "periods": ["2004"],
    }

    kept, provenance = ingest_dataset("toy", {**spec, "partial_last_period": "keep"}, root=tmp_path)
    assert kept["period"].max() == "2004"
    assert "kept" in checks_by_code(provenance)["partial_last_period"]["message"]


def test_complete_panel_has_no_checks(tmp_path: Path) -> None:
    spec = write_long(tmp_path, panel_rows(["A", "B", "C"], range(2000, 2004)))
    _, provenance = ingest_dataset("toy", spec, root=tmp_path)
    assert provenance[DATA_CHECKS_KEY] == []


# ---------------------------------------------------------------------------
# Normalize
# ---------------------------------------------------------------------------


def wide_panel(values: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """{entity: {indicator: values per period}} -> wide panel from 2000."""
    frames = []
    for entity, columns in values.items():
        n = len(next(iter(columns.values())))
        frame = pd.DataFrame(columns)
        frame["entity"] = entity
        frame["period"] = [str(2000 + k) for k in range(n)]
        frames.append(frame)
    return pd.concat(frames).set_index(["entity", "period"]).sort_index()


def test_constant_indicator_pooled_is_an_error_naming_it() -> None:
    wide = wide_panel({"A": {"x": [1, 2], "y": [0, 0]}, "B": {"x": [3, 4], "y": [0, 0]}})
    with pytest.raises(InputError, match=r"scope pooled\): indicator\(s\) 'y' \(always 0\)"):
        check_zero_range(wide, "pooled", dataset="toy")
    with pytest.raises(InputError, match=r"datasets\.toy\.subsystems"):
        check_zero_range(wide, "pooled", dataset="toy")


def test_constant_indicator_per_entity_is_a_named_check_with_the_rule() -> None:
    wide = wide_panel({"A": {"x": [1, 2], "y": [5, 5]}, "B": {"x": [3, 4], "y": [1, 2]}})
    assert check_zero_range(wide, "pooled") is None  # y varies across entities: fine pooled
    found = check_zero_range(wide, "per_entity", dataset="toy", subsystems={"s": ["y"]})
    assert found is not None and found["code"] == "per_entity_constant_indicators"
    assert found["details"]["entities"] == ["A"] and found["details"]["indicators"] == ["y"]
    assert found["details"]["entities_without_index"] == ["A (s)"]
    assert "datasets.toy.normalization.scope" in found["message"]
    assert "weights are rescaled" in found["message"]
    # Constant in every entity: nothing to measure, an error naming the indicator.
    flat = wide_panel({"A": {"x": [1, 2], "y": [5, 5]}, "B": {"x": [3, 4], "y": [1, 1]}})
    with pytest.raises(InputError, match=r"'y' are constant in every entity"):
        check_zero_range(flat, "per_entity")


def test_dominated_pooled_bounds_warn_and_name_per_entity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # BIG sets the maximum of all three indicators.
    wide = wide_panel(
        {
            "A": {"x": [1, 2], "y": [1, 3], "z": [2, 1]},
            "B": {"x": [2, 1], "y": [2, 2], "z": [1, 3]},
            "BIG": {"x": [50, 90], "y": [70, 80], "z": [60, 99]},
        }
    )
    with caplog.at_level(logging.WARNING):
        found = dominated_bounds_check(wide, dataset="toy")
    assert found is not None and found["code"] == "pooled_bounds_dominated"
    assert found["details"]["entities"] == ["BIG"]
    assert found["details"]["counts"] == {"BIG (max)": 3}
    assert "BIG sets the max of 3 of 3 indicators" in found["message"]
    assert "scope: per_entity (datasets.toy.normalization.scope)" in found["message"]
    assert "datasets.toy.derived" in found["message"]
    assert "pooled_bounds_dominated" in caplog.text


def test_tied_bounds_do_not_count_as_dominated() -> None:
    # Zeros (e.g. from fill_missing) shared by several entities set no one's minimum.
    wide = wide_panel(
        {
            "A": {"x": [0, 2], "y": [0, 3]},
            "B": {"x": [0, 5], "y": [0, 2]},
            "C": {"x": [0, 4], "y": [0, 9]},
        }
    )
    assert dominated_bounds_check(wide) is None


def test_per_dataset_normalization_overrides_global() -> None:
    measures = {"normalization": {"scope": "pooled", "headroom": 0.1, "clip": True}}
    spec = {
        "subsystems": {"a": {"x": "benefit"}, "b": {"y": "benefit"}},
        "normalization": {"scope": "per_entity"},
    }
    assert normalization_settings(measures, spec) == {
        "scope": "per_entity",
        "headroom": 0.1,
        "clip": True,
    }
    mspec = MeasurementSpec.from_config(spec, measures)
    assert (mspec.scope, mspec.headroom, mspec.clip) == ("per_entity", 0.1, True)
    assert normalization_settings({}, None) == {"scope": "pooled", "headroom": 0.0, "clip": True}


def test_run_normalize_stores_checks_and_fails_on_constant(tmp_path: Path) -> None:
    rows = []
    for entity, scale in (("A", 1.0), ("B", 1.5), ("BIG", 100.0)):
        for k in range(4):
            rows.append((entity, str(2000 + k), "first", "x", scale * (k + 1)))
            rows.append((entity, str(2000 + k), "second", "y", scale * (k + 2)))
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    write_csv_atomic(canonical, tmp_path / "canonical.csv")
    spec = {"subsystems": {"first": {"x": "benefit"}, "second": {"y": "benefit"}}}
    run_normalize(
        tmp_path / "canonical.csv", spec, {}, tmp_path / "n.csv", tmp_path / "m.json", "toy"
    )
    record = json.loads((tmp_path / "m.json").read_text())
    assert [c["code"] for c in record[DATA_CHECKS_KEY]] == ["pooled_bounds_dominated"]
    assert record["normalization"] == {"scope": "pooled", "headroom": 0.0, "clip": True}

    canonical.loc[canonical["indicator"] == "y", "value"] = 7.0
    write_csv_atomic(canonical, tmp_path / "canonical.csv")
    with pytest.raises(InputError, match=r"'y' \(always 7\)"):
        run_normalize(
            tmp_path / "canonical.csv", spec, {}, tmp_path / "n.csv", tmp_path / "m.json", "toy"
        )


def test_measure_of_one_entity_records_empty_sigma(tmp_path: Path) -> None:
    rows = [("US", str(2000 + k), "first", "x", float(k + 1)) for k in range(5)]
    rows += [("US", str(2000 + k), "second", "y", float(k * k + 1)) for k in range(5)]
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    write_csv_atomic(canonical, tmp_path / "canonical.csv")
    (tmp_path / "ingest.json").write_text(json.dumps({"dataset": "one", "sha256": None}))
    spec = {"subsystems": {"first": {"x": "benefit"}, "second": {"y": "benefit"}}}
    run_normalize(tmp_path / "canonical.csv", spec, {}, tmp_path / "n.csv", tmp_path / "m.json")
    names = ("coupling", "grades", "sigma", "pairs", "structure", "provenance")
    outputs = {name: str(tmp_path / f"{name}.out") for name in names}
    run_measure(
        tmp_path / "canonical.csv",
        tmp_path / "m.json",
        tmp_path / "ingest.json",
        spec,
        {},
        **{f"{key}_path": path for key, path in outputs.items()},
    )
    record = json.loads(Path(outputs["provenance"]).read_text())
    assert [c["code"] for c in record[DATA_CHECKS_KEY]] == ["single_entity"]
    assert record[DATA_CHECKS_KEY][0]["details"]["entities"] == ["US"]
