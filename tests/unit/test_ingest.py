"""Ingestion and the canonical table: checksums, config checks, drops, provenance, files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from convergence.atomic import write_csv_atomic
from convergence.data.canonical import (
    CANONICAL_COLUMNS,
    normalise_period,
    period_to_float,
    read_canonical,
    sha256_file,
    to_wide,
    verify_sha256,
)
from convergence.data.ingest import ingest_dataset, write_ingest_outputs
from convergence.errors import ConfigError, DataFileError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]

# Entity A: complete in 1960 and 1961, x missing in 1962 (a gap), plus an unconfigured z.
# Entity B: subsystem values in 1960 only. Entity C: only the unconfigured indicator z.
LONG_TEXT = """entity,period,indicator,value
A,1960,x,1
A,1960,y,2
A,1960,z,9
A,1961,x,3
A,1961,y,4
A,1962,x,
A,1962,y,5
B,1960,x,6
B,1960,y,7
C,1960,z,8
C,1961,z,
"""


def make_dataset(tmp_path: Path, text: str = LONG_TEXT, **overrides: Any) -> dict[str, Any]:
    """Write a long CSV under ``tmp_path`` and return a config entry for it."""
    path = tmp_path / "panel.csv"
    path.write_text(text, encoding="utf-8")
    spec: dict[str, Any] = {
        "reader": "long_csv",
        "path": "panel.csv",
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "frequency": "annual",
        "options": {},
        "subsystems": {"first": {"x": "benefit"}, "second": {"y": "cost"}},
    }
    spec.update(overrides)
    return spec


# ---------------------------------------------------------------------------
# canonical.py
# ---------------------------------------------------------------------------


def test_sha256_and_verification(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert sha256_file(path) == digest
    verify_sha256(path, digest.upper())
    wrong = "0" * 64
    with pytest.raises(DataFileError, match=rf"f\.bin.*expected {wrong}, actual {digest}"):
        verify_sha256(path, wrong)
    with pytest.raises(DataFileError, match=r"missing\.bin: file not found"):
        verify_sha256(tmp_path / "missing.bin", digest)


def test_period_labels_to_float() -> None:
    values = period_to_float(["1952", "1939Q1", "1939Q2", "1939-02", "1939-12"])
    np.testing.assert_allclose(values, [1952.0, 1939.0, 1939.25, 1939 + 1 / 12, 1939 + 11 / 12])
    assert normalise_period("1960.0") == "1960"
    assert normalise_period(1960.0) == "1960"
    assert normalise_period("1960.5") is None
    assert normalise_period("1939-13") is None
    with pytest.raises(InputError, match="1939-1"):
        period_to_float(["1939-1"])


def test_to_wide_fills_gaps_with_nan() -> None:
    canonical = pd.DataFrame(
        {
            "entity": ["A", "A", "B"],
            "period": ["1960", "1961", "1960"],
            "subsystem": ["s", "s", ""],
            "indicator": ["x", "x", "y"],
            "value": [1.0, 2.0, 3.0],
        }
    )
    wide = to_wide(canonical)
    assert list(wide.index) == [("A", "1960"), ("A", "1961"), ("B", "1960")]
    assert list(wide.columns) == ["x", "y"]
    assert np.isnan(wide.loc[("A", "1961"), "y"])
    assert wide.loc[("B", "1960"), "y"] == 3.0
    assert list(to_wide(canonical, ["y"]).columns) == ["y"]
    with pytest.raises(InputError, match="'w'"):
        to_wide(canonical, ["w"])


def test_write_csv_atomic_leaves_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def fail_halfway(self: pd.DataFrame, path: Path, **_: Any) -> None:
        Path(path).write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        write_csv_atomic(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


# ---------------------------------------------------------------------------
# ingest_dataset
# ---------------------------------------------------------------------------


def test_ingest_canonical_rows_subsystems_and_provenance(tmp_path: Path) -> None:
    # 1962 is partial (no entity complete); keep it here to see every drop reason.
    spec = make_dataset(tmp_path, partial_last_period="keep")
    canonical, provenance = ingest_dataset("toy", spec, root=tmp_path)
    expected = pd.DataFrame(
        {
            "entity": ["A", "A", "A", "A", "A", "A", "B", "B"],
            "period": ["1960", "1960", "1960", "1961", "1961", "1962", "1960", "1960"],
            "subsystem": ["first", "second", "", "first", "second", "second", "first", "second"],
            "indicator": ["x", "y", "z", "x", "y", "y", "x", "y"],
            "value": [1.0, 2.0, 9.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    pd.testing.assert_frame_equal(canonical, expected)
    assert tuple(canonical.columns) == CANONICAL_COLUMNS
    dropped = {entry["reason"]: entry for entry in provenance["dropped"]}
    assert dropped["missing value"]["rows"] == 2
    assert dropped["entity has no subsystem values"]["rows"] == 1
    assert dropped["entity has no subsystem values"]["entities"] == ["C"]
    assert dropped["entity has too few complete periods"]["rows"] == 0
    assert provenance["rows_in"] == 11
    assert provenance["rows_out"] == 8
    assert provenance["rows_in"] - sum(e["rows"] for e in provenance["dropped"]) == 8
    assert provenance["entities"] == ["A", "B"]
    assert provenance["n_entities"] == 2
    assert provenance["periods"] == {"first": "1960", "last": "1962"}
    assert provenance["sha256"] == spec["sha256"]
    assert provenance["source_file"] == "panel.csv"
    assert provenance["frequency"] == "annual"
    codes = [check["code"] for check in provenance["data_checks"]]
    assert codes == [
        "missing_values_dropped",
        "partial_last_period",
        "entities_dropped",
        "entity_periods_without_D",
    ]


def test_ingest_drops_entities_with_few_complete_periods(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, entities_min_periods=2)
    canonical, provenance = ingest_dataset("toy", spec, root=tmp_path)
    # A has two complete periods (1960, 1961); B has one.
    assert sorted(canonical["entity"].unique()) == ["A"]
    short = next(e for e in provenance["dropped"] if e["reason"].startswith("entity has too few"))
    assert short["entities"] == ["B"]
    assert short["rows"] == 2
    assert provenance["rows_in"] - sum(e["rows"] for e in provenance["dropped"]) == len(canonical)


def test_ingest_checksum_mismatch_names_both_digests(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, sha256="f" * 64)
    actual = sha256_file(tmp_path / "panel.csv")
    with pytest.raises(DataFileError, match=rf"panel\.csv.*expected {'f' * 64}, actual {actual}"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_ingest_missing_file_and_missing_checksum(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, path="gone.csv")
    with pytest.raises(DataFileError, match=r"gone\.csv: file not found"):
        ingest_dataset("toy", spec, root=tmp_path)
    no_sum = make_dataset(tmp_path)
    del no_sum["sha256"]
    with pytest.raises(ConfigError, match=r"datasets\.toy\.sha256.*sha256 is [0-9a-f]{64}"):
        ingest_dataset("toy", no_sum, root=tmp_path)


def test_ingest_unknown_reader_lists_valid_ones(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, reader="excel")
    with pytest.raises(ConfigError, match=r"datasets\.toy\.reader.*'excel'.*long_csv.*wide_csv"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_ingest_unknown_indicator_in_subsystem(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, subsystems={"first": {"x": "benefit", "q": "cost"}})
    with pytest.raises(ConfigError, match=r"datasets\.toy\.subsystems\.first.*'q'.*x, y, z"):
        ingest_dataset("toy", spec, root=tmp_path)
    spec = make_dataset(tmp_path, structure={"indicators": ["x", "nope"]})
    with pytest.raises(ConfigError, match=r"datasets\.toy\.structure\.indicators.*'nope'"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_ingest_indicator_in_two_subsystems(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, subsystems={"first": {"x": "benefit"}, "second": {"x": "cost"}})
    with pytest.raises(ConfigError, match=r"datasets\.toy\.subsystems\.second.*'x'.*'first'"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_ingest_bad_direction_and_frequency(tmp_path: Path) -> None:
    spec = make_dataset(tmp_path, subsystems={"first": {"x": "good"}})
    with pytest.raises(ConfigError, match=r"datasets\.toy\.subsystems\.first\.x"):
        ingest_dataset("toy", spec, root=tmp_path)
    spec = make_dataset(tmp_path, frequency="quarterly")
    with pytest.raises(ConfigError, match=r"datasets\.toy\.frequency.*annual"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_ingest_all_missing_indicator(tmp_path: Path) -> None:
    text = "entity,period,indicator,value\nA,1960,x,1\nA,1960,y,\nB,1960,x,2\nB,1960,y,NA\n"
    spec = make_dataset(tmp_path, text=text)
    with pytest.raises(DataFileError, match=r"panel\.csv, column 'y': all values missing"):
        ingest_dataset("toy", spec, root=tmp_path)


def test_write_and_read_back_outputs(tmp_path: Path) -> None:
    canonical, provenance = ingest_dataset("toy", make_dataset(tmp_path), root=tmp_path)
    csv_path = tmp_path / "out" / "canonical.csv"
    json_path = tmp_path / "out" / "provenance.json"
    write_ingest_outputs(canonical, provenance, csv_path, json_path)
    back = read_canonical(csv_path)
    pd.testing.assert_frame_equal(back, canonical)
    assert back["period"].iloc[0] == "1960"
    assert back["subsystem"].iloc[2] == ""
    assert json.loads(json_path.read_text()) == provenance


def test_ingest_synthetic_needs_no_file(tmp_path: Path) -> None:
    spec = {
        "reader": "synthetic",
        "frequency": "annual",
        "options": {"n_entities": 4, "n_periods": 10, "seed": 1},
        "subsystems": {"a": {"x_output": "benefit"}, "b": {"y_output": "benefit"}},
    }
    canonical, provenance = ingest_dataset("syn", spec, root=tmp_path)
    assert len(canonical) == 4 * 10 * 4
    assert provenance["sha256"] is None
    assert set(canonical.loc[canonical["indicator"] == "x_share", "subsystem"]) == {""}
    with pytest.raises(ConfigError, match=r"datasets\.syn\.path"):
        ingest_dataset("syn", {**spec, "path": "x.csv"}, root=tmp_path)


def test_ingest_real_ggdc() -> None:
    spec = {
        "reader": "ggdc10s",
        "path": "data/raw/ggdc10s.csv.gz",
        "sha256": "24b1e31e440e295d13303b9ef6b32fdb518a1afb8f81572483d487a0864c89f6",
        "frequency": "annual",
        "options": {"exclude_entities": ["NGA(alt)"]},
        "entities_min_periods": 23,
        "subsystems": {
            "agriculture": {"AGR_rel_productivity": "benefit", "AGR_emp_share": "cost"},
            "transport": {"TRA_va_share": "benefit"},
        },
    }
    canonical, provenance = ingest_dataset("ggdc", spec, root=REPO_ROOT)
    # 43 economies, minus NGA(alt) (excluded) and BRA (22 complete years < 23).
    assert provenance["n_entities"] == 41
    assert "BRA" not in provenance["entities"]
    assert provenance["source_rows"] == 5027
    assert provenance["rows_in"] - sum(e["rows"] for e in provenance["dropped"]) == len(canonical)
    assert canonical["value"].notna().all()
