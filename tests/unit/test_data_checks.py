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
import pytest

from convergence.data.ingest import ingest_dataset
from convergence.diagnostics import DATA_CHECKS_KEY, DataCheck, data_checks_markdown, report
from convergence.errors import ConfigError, DataFileError, InputError


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
