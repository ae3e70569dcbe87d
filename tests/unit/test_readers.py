"""Readers: known small inputs give known rows; malformed files fail naming file/column/line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convergence.data.readers import (
    GGDC_SECTORS,
    READERS,
    read_china_income,
    read_csv_text,
    read_ggdc10s,
    read_long_csv,
    read_synthetic,
    read_us_employment,
    read_wide_csv,
)
from convergence.data.synthetic import simulate_coupled_industries
from convergence.errors import ConfigError, DataFileError

RAW_DIR = Path(__file__).resolve().parents[2] / "data" / "raw"


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def value_of(frame: pd.DataFrame, entity: str, period: str, indicator: str) -> float:
    """The single value of one (entity, period, indicator) row."""
    row = frame[
        (frame["entity"] == entity)
        & (frame["period"] == period)
        & (frame["indicator"] == indicator)
    ]
    assert len(row) == 1, (entity, period, indicator)
    return float(row["value"].iloc[0])


# ---------------------------------------------------------------------------
# GGDC
# ---------------------------------------------------------------------------

GGDC_HEADER = "Country,Regioncode,Region,Variable,Year," + ",".join(GGDC_SECTORS) + ",SUM\n"


def ggdc_line(country: str, variable: str, year: str, agr: str, tra: str, other: str, total: str):
    """One GGDC line: AGR and TRA given, the other eight sectors equal to ``other``."""
    sectors = {s: other for s in GGDC_SECTORS}
    sectors["AGR"], sectors["TRA"] = agr, tra
    cells = [country, "R", "Region", variable, year, *(sectors[s] for s in GGDC_SECTORS), total]
    return ",".join(cells) + "\n"


@pytest.fixture
def ggdc_file(tmp_path: Path) -> Path:
    """AAA: VA and EMP in 1960, VA only in 1961; BBB: VA only (like NGA(alt))."""
    text = (
        GGDC_HEADER
        + ggdc_line("AAA", "VA", "1960.0", "40", "60", "12.5", "200")
        + ggdc_line("AAA", "EMP", "1960.0", "50", "10", "5", "100")
        + ggdc_line("AAA", "VA", "1961.0", "60", "60", "10", "200")
        + ggdc_line("BBB", "VA", "1960.0", "10", "10", "10", "100")
    )
    return write(tmp_path, "ggdc.csv", text)


def test_ggdc_shares_and_relative_productivity(ggdc_file: Path) -> None:
    raw = read_ggdc10s(ggdc_file, {}, source="ggdc")
    frame = raw.frame
    assert list(frame.columns) == ["entity", "period", "indicator", "value"]
    # 3 entity-years x 10 sectors x 3 indicators, missing inputs kept as NaN.
    assert len(frame) == 3 * 30
    assert raw.rows_in == 4
    assert value_of(frame, "AAA", "1960", "AGR_va_share") == pytest.approx(0.2)
    assert value_of(frame, "AAA", "1960", "AGR_emp_share") == pytest.approx(0.5)
    # (40/50) / (200/100)
    assert value_of(frame, "AAA", "1960", "AGR_rel_productivity") == pytest.approx(0.4)
    # (60/10) / (200/100)
    assert value_of(frame, "AAA", "1960", "TRA_rel_productivity") == pytest.approx(3.0)
    assert value_of(frame, "AAA", "1960", "MIN_va_share") == pytest.approx(0.0625)
    assert value_of(frame, "AAA", "1961", "AGR_va_share") == pytest.approx(0.3)
    assert np.isnan(value_of(frame, "AAA", "1961", "AGR_emp_share"))
    assert np.isnan(value_of(frame, "AAA", "1961", "AGR_rel_productivity"))
    assert np.isnan(value_of(frame, "BBB", "1960", "TRA_emp_share"))
    keys = list(zip(frame["entity"], frame["period"], frame["indicator"], strict=True))
    assert keys == sorted(keys)


def test_ggdc_entity_options(ggdc_file: Path) -> None:
    excluded = read_ggdc10s(ggdc_file, {"exclude_entities": ["BBB"]}, source="ggdc")
    assert set(excluded.frame["entity"]) == {"AAA"}
    assert excluded.notes[0]["rows"] == 1
    chosen = read_ggdc10s(ggdc_file, {"entities": ["BBB"]}, source="ggdc")
    assert set(chosen.frame["entity"]) == {"BBB"}
    with pytest.raises(ConfigError, match=r"datasets\.ggdc\.options\.exclude_entities.*'ZZZ'"):
        read_ggdc10s(ggdc_file, {"exclude_entities": ["ZZZ"]}, source="ggdc")
    with pytest.raises(ConfigError, match=r"datasets\.ggdc\.options\.colour"):
        read_ggdc10s(ggdc_file, {"colour": "red"}, source="ggdc")


def test_ggdc_missing_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "g.csv", "Country,Variable,Year,AGR\nAAA,VA,1960.0,1\n")
    with pytest.raises(DataFileError, match=r"g\.csv.*column 'MIN'") as info:
        read_ggdc10s(path, {}, source="ggdc")
    assert info.value.column == "MIN"


def test_ggdc_non_numeric_value_names_column_and_line(tmp_path: Path) -> None:
    text = (
        GGDC_HEADER
        + ggdc_line("AAA", "VA", "1960.0", "20", "30", "6.25", "100")
        + ggdc_line("AAA", "EMP", "1960.0", "lots", "10", "5", "100")
    )
    path = write(tmp_path, "g.csv", text)
    with pytest.raises(DataFileError, match=r"g\.csv, column 'AGR', row 3: value 'lots'"):
        read_ggdc10s(path, {}, source="ggdc")


def test_ggdc_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = (
        GGDC_HEADER
        + ggdc_line("AAA", "VA", "1960.0", "20", "30", "6.25", "100")
        + ggdc_line("AAA", "EMP", "1960.0", "50", "10", "5", "100")
        + ggdc_line("AAA", "VA", "1960", "21", "30", "6.25", "100")
    )
    path = write(tmp_path, "g.csv", text)
    with pytest.raises(DataFileError, match=r"g\.csv.*'AAA'.*'VA'.*'1960'.*lines 2 and 4"):
        read_ggdc10s(path, {}, source="ggdc")


# ---------------------------------------------------------------------------
# China
# ---------------------------------------------------------------------------

CHINA_TEXT = (
    "year,agriculture,commerce,construction,industry,transport\n"
    "1952,100.0,100.0,100.0,100.0,100.0\n"
    "1953,101.6,133.0,138.1,133.6,120.0\n"
)


def test_china_income_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "china.csv", CHINA_TEXT)
    raw = read_china_income(path, {"entity": "PRC"}, source="china")
    assert raw.rows_in == 2
    assert len(raw.frame) == 10
    assert set(raw.frame["entity"]) == {"PRC"}
    assert value_of(raw.frame, "PRC", "1953", "industry") == pytest.approx(133.6)
    assert list(raw.frame["indicator"].iloc[:5]) == [
        "agriculture",
        "commerce",
        "construction",
        "industry",
        "transport",
    ]
    default = read_china_income(path, {}, source="china")
    assert set(default.frame["entity"]) == {"CHN"}


def test_china_income_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "china.csv", "year,agriculture\n1952,100\n")
    with pytest.raises(DataFileError, match=r"china\.csv, column 'commerce'"):
        read_china_income(path, {}, source="china")


# ---------------------------------------------------------------------------
# US employment
# ---------------------------------------------------------------------------


def us_file(tmp_path: Path) -> Path:
    """Six months of a total T, series A (February missing), B and an unused C."""
    months = ["2000 Jan", "2000 Feb", "2000 Mar", "2000 Apr", "2000 May", "2000 Jun"]
    values = {
        "T": [100, 100, 100, 110, 120, 130],
        "A": [10, "", 12, 20, 21, 22],
        "B": [30, 31, 32, 40, 40, 40],
        "C": [1, 1, 1, 1, 1, 1],
    }
    lines = ["Month,Series_ID,Title,Employed"]
    for series, numbers in values.items():
        for month, number in zip(months, numbers, strict=True):
            lines.append(f"{month},{series},Title {series},{number}")
    return write(tmp_path, "us.csv", "\n".join(lines) + "\n")


US_OPTIONS = {"pairs": {"p": {"a": "A", "b": "B"}}, "total_series": "T"}


def test_us_quarterly_means_and_missing_month(tmp_path: Path) -> None:
    raw = read_us_employment(us_file(tmp_path), US_OPTIONS, source="us")
    frame = raw.frame
    assert raw.rows_in == 24
    assert sorted(frame["period"].unique()) == ["2000Q1", "2000Q2"]
    assert len(frame) == 2 * 4
    # A has no February: its Q1 mean and share are missing, B's are not.
    assert np.isnan(value_of(frame, "p", "2000Q1", "a_employment"))
    assert np.isnan(value_of(frame, "p", "2000Q1", "a_share"))
    assert value_of(frame, "p", "2000Q1", "b_employment") == pytest.approx(31.0)
    assert value_of(frame, "p", "2000Q1", "b_share") == pytest.approx(0.31)
    assert value_of(frame, "p", "2000Q2", "a_employment") == pytest.approx(21.0)
    assert value_of(frame, "p", "2000Q2", "a_share") == pytest.approx(21.0 / 120.0)
    assert value_of(frame, "p", "2000Q2", "b_share") == pytest.approx(40.0 / 120.0)
    assert {"reason": "series not used by any pair", "rows": 6} in raw.notes


def test_us_monthly_and_annual_aggregation(tmp_path: Path) -> None:
    path = us_file(tmp_path)
    monthly = read_us_employment(path, {**US_OPTIONS, "aggregate": "monthly"}, source="us")
    assert sorted(monthly.frame["period"].unique())[:2] == ["2000-01", "2000-02"]
    assert value_of(monthly.frame, "p", "2000-03", "a_share") == pytest.approx(0.12)
    annual = read_us_employment(path, {**US_OPTIONS, "aggregate": "annual"}, source="us")
    # Only six months in the file: the year is incomplete for every series.
    assert annual.frame["period"].unique().tolist() == ["2000"]
    assert annual.frame["value"].isna().all()


def test_us_unknown_series_names_config_key(tmp_path: Path) -> None:
    options = {"pairs": {"p": {"a": "NOPE", "b": "B"}}, "total_series": "T"}
    with pytest.raises(ConfigError, match=r"datasets\.us\.options\.pairs\.p\.a.*'NOPE'.*A, B, C"):
        read_us_employment(us_file(tmp_path), options, source="us")
    with pytest.raises(ConfigError, match=r"datasets\.us\.options\.total_series"):
        read_us_employment(us_file(tmp_path), {**US_OPTIONS, "total_series": "X"}, source="us")
    with pytest.raises(ConfigError, match=r"datasets\.us\.options\.aggregate"):
        read_us_employment(us_file(tmp_path), {**US_OPTIONS, "aggregate": "weekly"}, source="us")


def test_us_bad_month_and_duplicate(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", "Month,Series_ID,Employed\n2000 Jan,T,1\n2000 Foo,T,2\n")
    with pytest.raises(DataFileError, match=r"bad\.csv, column 'Month', row 3"):
        read_us_employment(
            bad, {"pairs": {"p": {"a": "T", "b": "T"}}, "total_series": "T"}, source="us"
        )
    dup = write(tmp_path, "dup.csv", "Month,Series_ID,Employed\n2000 Jan,T,1\n2000 Jan,T,2\n")
    with pytest.raises(DataFileError, match=r"dup\.csv.*lines 2 and 3"):
        read_us_employment(
            dup, {"pairs": {"p": {"a": "T", "b": "T"}}, "total_series": "T"}, source="us"
        )


# ---------------------------------------------------------------------------
# Generic long and wide CSV
# ---------------------------------------------------------------------------


def test_long_csv_custom_columns_and_period_normalisation(tmp_path: Path) -> None:
    text = "country,year,var,obs,comment\nB,1961,x,2.5,\nA,1960.0,y,,gap\nA,1960,x,1,\n"
    path = write(tmp_path, "long.csv", text)
    options = {
        "columns": {"entity": "country", "period": "year", "indicator": "var", "value": "obs"}
    }
    raw = read_long_csv(path, options, source="new")
    expected = pd.DataFrame(
        {
            "entity": ["A", "A", "B"],
            "period": ["1960", "1960", "1961"],
            "indicator": ["x", "y", "x"],
            "value": [1.0, np.nan, 2.5],
        }
    )
    pd.testing.assert_frame_equal(raw.frame, expected)
    assert raw.rows_in == 3


def test_long_csv_quarterly_and_monthly_labels(tmp_path: Path) -> None:
    quarterly = write(
        tmp_path, "q.csv", "entity,period,indicator,value\nA,1939-q2,x,1\nA,1939Q1,x,2\n"
    )
    assert read_long_csv(quarterly, {}, source="q").frame["period"].tolist() == ["1939Q1", "1939Q2"]
    monthly = write(
        tmp_path, "m.csv", "entity,period,indicator,value\nA,1939-1,x,1\nA,1939-12,x,2\n"
    )
    assert read_long_csv(monthly, {}, source="m").frame["period"].tolist() == ["1939-01", "1939-12"]
    mixed = write(
        tmp_path, "mixed.csv", "entity,period,indicator,value\nA,1939,x,1\nA,1939Q2,x,2\n"
    )
    with pytest.raises(DataFileError, match=r"mixed\.csv, column 'period', row 3"):
        read_long_csv(mixed, {}, source="m")


def test_long_csv_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "long.csv", "entity,period,indicator\nA,1960,x\n")
    with pytest.raises(DataFileError, match=r"long\.csv, column 'value'"):
        read_long_csv(path, {}, source="new")


def test_long_csv_non_numeric_value_counts_blank_lines(tmp_path: Path) -> None:
    # The blank line 3 is skipped but still counted, so the error is on CSV line 4.
    path = write(
        tmp_path, "long.csv", "entity,period,indicator,value\nA,1960,x,1\n\nA,1961,x,1,5\n"
    )
    with pytest.raises(DataFileError):
        read_long_csv(path, {}, source="new")
    path = write(
        tmp_path, "long.csv", "entity,period,indicator,value\nA,1960,x,1\n\nA,1961,x,one\n"
    )
    with pytest.raises(
        DataFileError, match=r"long\.csv, column 'value', row 4: value 'one'"
    ) as info:
        read_long_csv(path, {}, source="new")
    assert info.value.row == 4


def test_long_csv_bad_period(tmp_path: Path) -> None:
    path = write(tmp_path, "long.csv", "entity,period,indicator,value\nA,60,x,1\n")
    with pytest.raises(DataFileError, match=r"column 'period', row 2: period '60'"):
        read_long_csv(path, {}, source="new")


def test_long_csv_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = "entity,period,indicator,value\nA,1960,x,1\nA,1961,x,2\nA,1960.0,x,3\n"
    path = write(tmp_path, "long.csv", text)
    with pytest.raises(
        DataFileError, match=r"long\.csv.*entity='A', period='1960', indicator='x'.*lines 2 and 4"
    ):
        read_long_csv(path, {}, source="new")


def test_long_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nothere\.csv: file not found"):
        read_long_csv(tmp_path / "nothere.csv", {}, source="new")


def test_wide_csv_rows_and_checks(tmp_path: Path) -> None:
    path = write(tmp_path, "wide.csv", "id,t,u,v\nA,1960,1,2\nA,1961,3,NA\n")
    options = {"columns": {"entity": "id", "period": "t"}}
    raw = read_wide_csv(path, options, source="w")
    expected = pd.DataFrame(
        {
            "entity": ["A"] * 4,
            "period": ["1960", "1960", "1961", "1961"],
            "indicator": ["u", "v", "u", "v"],
            "value": [1.0, 2.0, 3.0, np.nan],
        }
    )
    pd.testing.assert_frame_equal(raw.frame, expected)
    only_v = read_wide_csv(path, {**options, "indicators": ["v"]}, source="w")
    assert set(only_v.frame["indicator"]) == {"v"}
    with pytest.raises(DataFileError, match=r"wide\.csv, column 'w'"):
        read_wide_csv(path, {**options, "indicators": ["w"]}, source="w")
    dup = write(tmp_path, "dup.csv", "id,t,u\nA,1960,1\nB,1960,1\nA,1960,2\n")
    with pytest.raises(DataFileError, match=r"lines 2 and 4"):
        read_wide_csv(dup, options, source="w")
    bad = write(tmp_path, "bad.csv", "id,t,u\nA,1960,x1\n")
    with pytest.raises(DataFileError, match=r"column 'u', row 2"):
        read_wide_csv(bad, options, source="w")


# ---------------------------------------------------------------------------
# Synthetic and registry
# ---------------------------------------------------------------------------


def test_synthetic_reader_matches_generator() -> None:
    options = {"n_entities": 3, "n_periods": 5, "seed": 7, "coupling_max": 0.3}
    raw = read_synthetic(None, options, source="syn")
    panel, _ = simulate_coupled_industries(3, 5, seed=7, coupling_max=0.3)
    pd.testing.assert_frame_equal(raw.frame, panel)
    assert raw.rows_in == 3 * 5 * 4
    with pytest.raises(ConfigError, match=r"datasets\.syn\.options\.seed"):
        read_synthetic(None, {"n_entities": 3, "n_periods": 5}, source="syn")
    with pytest.raises(ConfigError, match=r"datasets\.syn\.options.*coupling"):
        read_synthetic(None, {**options, "coupling_max": 2.0}, source="syn")


def test_registry_names() -> None:
    assert set(READERS) == {
        "ggdc10s",
        "china_income",
        "us_employment",
        "long_csv",
        "wide_csv",
        "synthetic",
    }


# ---------------------------------------------------------------------------
# Vendored real files (shapes only)
# ---------------------------------------------------------------------------


def test_real_ggdc_and_china_shapes() -> None:
    ggdc = read_ggdc10s(
        RAW_DIR / "ggdc10s.csv.gz", {"exclude_entities": ["NGA(alt)"]}, source="ggdc"
    )
    assert ggdc.rows_in == 5027
    assert ggdc.frame["entity"].nunique() == 42
    assert ggdc.frame["indicator"].nunique() == 30
    assert (ggdc.frame["period"].min(), ggdc.frame["period"].max()) == ("1947", "2013")
    china = read_china_income(RAW_DIR / "china_income.csv", {}, source="china")
    assert china.frame.shape == (37 * 5, 4)


def test_real_us_quarterly_shape() -> None:
    options = {"pairs": {"info_vs_business": {"a": "CEU5000000001", "b": "CEU6000000001"}}}
    raw = read_us_employment(RAW_DIR / "us_employment.csv.gz", options, source="us")
    periods = sorted(raw.frame["period"].unique())
    assert (len(periods), periods[0], periods[-1]) == (323, "1939Q1", "2019Q3")
    assert raw.frame["value"].notna().all()


def test_duplicate_header_names_are_refused_by_name(tmp_path: Path) -> None:
    """Issue 28: pandas renamed the second `farm_out` to `farm_out.1`, which was ignored."""
    path = tmp_path / "wide.csv"
    path.write_text("year,farm_out,ict_out,farm_out\n2000,1,2,3\n2001,1,2,3\n")
    with pytest.raises(DataFileError, match=r"duplicate column name\(s\).*\['farm_out'\]"):
        read_csv_text(path)


def test_header_only_file_says_it_has_no_data_rows(tmp_path: Path) -> None:
    """Issue 28: a header-only file blamed the config ("unknown indicator ...")."""
    path = tmp_path / "empty.csv"
    path.write_text("country,year,fuel,twh\n\n")
    with pytest.raises(DataFileError, match=f"file {path}: the file has a header but no data"):
        read_csv_text(path)
