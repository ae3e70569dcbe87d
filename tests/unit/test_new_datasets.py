"""Real-looking new data sets fit without editing: a wide single-entity file with ISO
dates, and a long annual panel with absent rows, each through ingest, normalize and
measure (the measurement half of the pipeline) with their data checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panels import measure_dataset

from convergence.data.readers import read_wide_csv
from convergence.errors import ConfigError, DataFileError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def monthly_portfolio_text(n_months: int = 36) -> str:
    """One country, 3 industry columns, month-end ISO dates from 2001-01-31."""
    rng = np.random.default_rng(0)
    lines = ["date,tech,finance,energy"]
    for k in range(n_months):
        year, month = 2001 + k // 12, k % 12 + 1
        day = 28 if month == 2 else 30
        values = 1 + k / 10 + rng.normal(0, 0.1, size=3)
        lines.append(f"{year}-{month:02d}-{day:02d}," + ",".join(f"{v:.4f}" for v in values))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("dates", "labels"),
    [
        ("monthly", ["2005-01", "2005-09", "2005-12"]),
        ("quarterly", ["2005Q1", "2005Q3", "2005Q4"]),
        ("annual", ["2004", "2005", "2006"]),
    ],
)
def test_wide_csv_constant_entity_and_iso_dates(
    tmp_path: Path, dates: str, labels: list[str]
) -> None:
    raw = ["2005-01-31", "2005-09-30", "2005-12-31"]
    if dates == "annual":
        raw = ["2004-12-31", "2005-12-31", "2006-12-31"]
    text = "date,x,y\n" + "".join(f"{d},{k},{k + 1}\n" for k, d in enumerate(raw))
    path = write(tmp_path, "us.csv", text)
    options = {"entity": "US", "dates": dates, "columns": {"period": "date"}}
    table = read_wide_csv(path, options, source="us").frame
    assert set(table["entity"]) == {"US"}
    assert sorted(table["period"].unique()) == labels
    assert list(table.loc[table["indicator"] == "y", "value"]) == [1.0, 2.0, 3.0]


def test_wide_csv_iso_date_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "us.csv", "date,x\n2005-01-31,1\n2005-02-30,2\n")
    options = {"entity": "US", "dates": "monthly", "columns": {"period": "date"}}
    with pytest.raises(DataFileError, match=r"column 'date', row 3: .*not an ISO date"):
        read_wide_csv(path, options, source="us")
    path = write(tmp_path, "us.csv", "date,x\n2005-01-15,1\n2005-01-31,2\n")
    with pytest.raises(DataFileError, match=r"duplicate key .* lines 2 and 3"):
        read_wide_csv(path, options, source="us")
    with pytest.raises(ConfigError, match=r"datasets\.us\.options\.dates: must be one of"):
        read_wide_csv(path, {**options, "dates": "daily"}, source="us")
    with pytest.raises(ConfigError, match=r"options\.columns\.entity"):
        read_wide_csv(path, {**options, "columns": {"entity": "e", "period": "date"}}, source="us")


def run_measurement(tmp_path: Path, name: str, spec: dict[str, Any]) -> dict[str, dict]:
    """Ingest, normalize and measure one data set; return the three provenance records."""
    return measure_dataset(tmp_path, name, spec)


def test_wide_single_entity_monthly_file_runs_through_measures(tmp_path: Path) -> None:
    text = monthly_portfolio_text()
    write(tmp_path, "portfolios.csv", text)
    spec = {
        "reader": "wide_csv",
        "path": "portfolios.csv",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "frequency": "monthly",
        "options": {"entity": "US", "dates": "monthly", "columns": {"period": "date"}},
        "subsystems": {"new": {"tech": "benefit"}, "old": {"energy": "benefit"}},
    }
    records = run_measurement(tmp_path, "portfolios", spec)
    ingest = records["ingest"]
    assert ingest["frequency"] == "monthly"
    assert ingest["periods"] == {"first": "2001-01", "last": "2003-12"}
    assert [c["code"] for c in ingest["data_checks"]] == ["single_entity"]
    assert [c["code"] for c in records["measure"]["data_checks"]] == ["single_entity"]
    assert records["measure"]["summary"]["entity_periods"] == 36


def test_long_annual_panel_with_absent_rows(tmp_path: Path) -> None:
    # 6 countries, 2000-2010, three fuels; "NUC" has no rows at all for C4 and C5 (no
    # nuclear power), and only two countries report 2010.
    rng = np.random.default_rng(1)
    lines = ["country,year,fuel,twh"]
    for c in range(6):
        for year in range(2000, 2011):
            if year == 2010 and c >= 2:
                continue
            for fuel in ("COAL", "WIND", "NUC"):
                if fuel == "NUC" and c >= 4:
                    continue
                value = (c + 1) * (1 + (year - 2000) / 5) + rng.uniform(0, 1)
                lines.append(f"C{c},{year},{fuel},{value:.3f}")
    text = "\n".join(lines) + "\n"
    write(tmp_path, "power.csv", text)
    spec = {
        "reader": "long_csv",
        "path": "power.csv",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "frequency": "annual",
        "options": {"columns": {"entity": "country", "period": "year", "indicator": "fuel"}},
        "subsystems": {"fossil": {"COAL": "cost"}, "clean": {"WIND": "benefit", "NUC": "benefit"}},
    }
    spec["options"]["columns"]["value"] = "twh"
    records = run_measurement(tmp_path, "power", spec)
    checks = {c["code"]: c for c in records["ingest"]["data_checks"]}
    assert checks["partial_last_period"]["details"]["periods"] == ["2010"]
    assert checks["entity_periods_without_D"]["details"]["entities"] == ["C4", "C5"]
    assert records["ingest"]["periods"]["last"] == "2009"
    assert records["measure"]["summary"]["entity_periods"] == 60  # rows exist, D NaN for C4/C5

    # fill_missing: 0 says an absent fuel row means no generation: every country gets D.
    filled = run_measurement(tmp_path, "power_filled", {**spec, "fill_missing": 0})
    codes = [c["code"] for c in filled["ingest"]["data_checks"]]
    assert "entity_periods_without_D" not in codes
    assert filled["ingest"]["filled"]["rows_added"] == 20
    coupling = (tmp_path / "power_filled" / "coupling.csv").read_text()
    assert "C5,2009" in coupling
