"""Readers: one function per source format, each returning a :class:`RawTable`.

A reader has the signature ``reader(path, options, *, source) -> RawTable``: ``path`` is
the data file (``None`` for generated data), ``options`` the data set's ``options`` config
mapping and ``source`` the data set name, used only to name config keys in errors
(``datasets.<source>.options...``). :data:`READERS` maps config names to readers.

A reader returns the long frame ``entity, period, indicator, value`` (value may be NaN,
period a canonical label, see :mod:`convergence.data.canonical`), sorted by entity, period
and indicator. It never drops missing values: the ingest step counts and drops them.

Every reader checks that the required columns exist, that values are numbers (an empty
cell or ``NA``/``NaN``/``null``/``N/A`` is a gap) and that no key occurs twice. Errors
name the file, the column and the row, where the row is the *CSV line number*: the header
is line 1 and the first data row line 2 (files with quoted line breaks inside a field are
not supported, blank lines are skipped but counted).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from convergence.data.canonical import normalise_period, period_frequency
from convergence.data.synthetic import simulate_coupled_industries
from convergence.errors import ConfigError, DataFileError, InputError

LONG_COLUMNS: tuple[str, ...] = ("entity", "period", "indicator", "value")
"""Columns of a reader's frame."""

MISSING_TOKENS: frozenset[str] = frozenset({"", "NA", "NaN", "nan", "null", "NULL", "N/A", "n/a"})
"""Cell texts read as a missing value (a gap), not as an error."""

GGDC_SECTORS: tuple[str, ...] = (
    "AGR",
    "MIN",
    "MAN",
    "PU",
    "CON",
    "WRT",
    "TRA",
    "FIRE",
    "GOV",
    "OTH",
)
"""GGDC 10-sector codes; ``SUM`` is the economy total."""

CHINA_SECTORS: tuple[str, ...] = (
    "agriculture",
    "commerce",
    "construction",
    "industry",
    "transport",
)
"""Sector columns of the China national income file."""

US_AGGREGATES: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}
"""Aggregation levels of the US employment reader and months per period."""

_MONTH_NUMBERS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_US_MONTH_LABEL = re.compile(r"^(\d{4})\s+([A-Za-z]{3})[A-Za-z]*$")
_FIRST_DATA_LINE = 2  # line 1 is the header


@dataclass
class RawTable:
    """What a reader returns.

    ``frame``: columns ``entity, period, indicator, value`` (value may be NaN).
    ``notes``: what the reader left out or changed, e.g. ``{"reason": ..., "rows": n}``,
    counted in source rows. ``rows_in``: data rows read from the source (CSV lines other
    than the header and blank lines; generated rows for synthetic data).
    """

    frame: pd.DataFrame
    notes: list[dict[str, Any]] = field(default_factory=list)
    rows_in: int = 0


class Reader(Protocol):
    """Signature shared by all readers."""

    def __call__(
        self, path: Path | None, options: Mapping[str, Any], *, source: str
    ) -> RawTable: ...


# ---------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------


def _option_key(source: str, *parts: str) -> str:
    """Config key path of an option, e.g. ``datasets.us.options.pairs.p1.a``."""
    return ".".join(["datasets", source, "options", *parts])


def _check_option_names(options: Mapping[str, Any], allowed: Sequence[str], source: str) -> None:
    """Raise :class:`ConfigError` for an option name the reader does not know."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"datasets.{source}.options", "must be a mapping")
    for name in options:
        if name not in allowed:
            raise ConfigError(
                _option_key(source, str(name)),
                f"unknown option; valid options: {', '.join(allowed) or '(none)'}",
            )


def _require_path(path: Path | None, source: str) -> Path:
    """Return ``path``, or raise :class:`ConfigError` if the reader got none."""
    if path is None:
        raise ConfigError(f"datasets.{source}.path", "this reader needs a data file")
    return Path(path)


def read_csv_text(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally gzip-compressed) with every cell as stripped text.

    The index is the CSV line number of each row (header = line 1); blank lines are
    skipped. Raises :class:`DataFileError` if the file is missing, empty or unreadable.
    """
    if not path.is_file():
        raise DataFileError(str(path), "file not found")
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataFileError(str(path), "file is empty (no header line)") from None
    except pd.errors.ParserError as error:
        raise DataFileError(str(path), f"not a readable CSV: {error}") from None
    except UnicodeDecodeError:
        raise DataFileError(str(path), "not UTF-8 text") from None
    except (gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise DataFileError(str(path), f"corrupt compressed file: {error}") from None
    header = _header_names(path)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        # pandas would rename the second one to "name.1" and the reader would ignore it.
        raise DataFileError(
            str(path), f"duplicate column name(s) in the header (line 1): {repeated}"
        )
    frame.columns = header
    frame = frame.fillna("")
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    frame.index = pd.RangeIndex(_FIRST_DATA_LINE, _FIRST_DATA_LINE + len(frame))
    blank = (frame == "").all(axis=1) if len(frame.columns) else pd.Series(True, frame.index)
    if bool(blank.all()):
        raise DataFileError(str(path), "the file has a header but no data rows")
    return frame.loc[~blank]


def _header_names(path: Path) -> list[str]:
    """The header line's column names as written (stripped), duplicates kept."""
    first = pd.read_csv(
        path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    return [str(name).strip() for name in first.iloc[0].tolist()]


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Raise :class:`DataFileError` naming the first required column that is absent."""
    for column in columns:
        if column not in frame.columns:
            raise DataFileError(
                str(path),
                f"required column is missing; columns present: {list(frame.columns)}",
                column=column,
            )


def _python_float(text: str) -> float:
    """``float(text)``, NaN when Python cannot read it either."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def parse_numbers(cells: pd.Series, path: Path, column: str) -> pd.Series:
    """Convert a text column to float; missing tokens become NaN.

    Raises :class:`DataFileError` naming the column and CSV line of the first cell that is
    neither a number nor a missing token, or that is not finite (``inf``, ``-inf``,
    ``1e999``: such values would pass ingest and break normalization later).
    """
    missing = cells.isin(MISSING_TOKENS)
    numbers = pd.to_numeric(cells.where(~missing), errors="coerce").astype(float)
    bad = numbers.isna() & ~missing
    if bad.any():
        # pandas gives up on some texts Python reads (1e999 -> inf): use Python's reading.
        numbers.loc[bad] = cells.loc[bad].map(_python_float)
        bad = numbers.isna() & ~missing
    if bad.any():
        line = int(bad.idxmax())
        raise DataFileError(
            str(path), f"value {cells.loc[line]!r} is not a number", column=column, row=line
        )
    infinite = np.isinf(numbers.to_numpy())
    if infinite.any():
        line = int(numbers.index[int(np.argmax(infinite))])
        raise DataFileError(
            str(path),
            f"value {cells.loc[line]!r} on line {line} is not a finite number (inf, -inf or "
            "too large for a float); write an empty cell or NA for a gap",
            column=column,
            row=line,
        )
    return numbers


def parse_periods(cells: pd.Series, path: Path, column: str) -> pd.Series:
    """Normalise a text column of periods to canonical labels of one frequency.

    Raises :class:`DataFileError` naming the column and CSV line of the first unreadable
    period, or of the first period whose frequency differs from the first row's.
    """
    distinct = {raw: normalise_period(raw) for raw in cells.unique()}
    labels = cells.map(distinct)
    unreadable = labels.isna()
    if unreadable.any():
        line = int(unreadable.idxmax())
        raise DataFileError(
            str(path),
            f"period {cells.loc[line]!r} is not a year (1960), quarter (1960Q1) or month (1960-01)",
            column=column,
            row=line,
        )
    frequencies = labels.map({label: period_frequency(label) for label in set(labels)})
    if len(frequencies) and (frequencies != frequencies.iloc[0]).any():
        line = int((frequencies != frequencies.iloc[0]).idxmax())
        raise DataFileError(
            str(path),
            f"period {cells.loc[line]!r} is {frequencies.loc[line]} but line "
            f"{frequencies.index[0]} is {frequencies.iloc[0]}: one frequency per file",
            column=column,
            row=line,
        )
    return labels.astype(object)


DATE_FREQUENCIES: tuple[str, ...] = ("monthly", "quarterly", "annual")
"""Values of the ``dates`` option: the period an ISO date is mapped to."""

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?(?:[T ].*)?$")


def _iso_date_label(text: str, frequency: str) -> str | None:
    """Canonical label of the month, quarter or year an ISO date falls in (None: unreadable)."""
    match = _ISO_DATE.match(text)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    try:
        _dt.date(year, month, int(match.group(3) or 1))
    except ValueError:
        return None
    if frequency == "monthly":
        return f"{year:04d}-{month:02d}"
    if frequency == "quarterly":
        return f"{year:04d}Q{(month - 1) // 3 + 1}"
    return f"{year:04d}"


def parse_iso_dates(cells: pd.Series, path: Path, column: str, frequency: str) -> pd.Series:
    """Map ISO dates (``2005-09-30``, ``2005-09``) to canonical period labels.

    ``frequency`` ``monthly`` gives ``2005-09``, ``quarterly`` ``2005Q3``, ``annual``
    ``2005``. Raises :class:`DataFileError` naming the column and CSV line of the first
    cell that is not a valid ISO date.
    """
    distinct = {raw: _iso_date_label(raw, frequency) for raw in cells.unique()}
    labels = cells.map(distinct)
    unreadable = labels.isna()
    if unreadable.any():
        line = int(unreadable.idxmax())
        raise DataFileError(
            str(path),
            f"period {cells.loc[line]!r} is not an ISO date (YYYY-MM-DD or YYYY-MM)",
            column=column,
            row=line,
        )
    return labels.astype(object)


def _periods(
    text: pd.DataFrame, column: str, options: Mapping[str, Any], path: Path, source: str
) -> pd.Series:
    """Period labels of a generic file: ISO dates with the ``dates`` option, else labels."""
    dates = options.get("dates")
    if dates is None:
        return parse_periods(text[column], path, column)
    if dates not in DATE_FREQUENCIES:
        raise ConfigError(
            _option_key(source, "dates"),
            f"must be one of {', '.join(DATE_FREQUENCIES)} (the period each ISO date is "
            f"mapped to), got {dates!r}",
        )
    return parse_iso_dates(text[column], path, column, str(dates))


def require_text(cells: pd.Series, path: Path, column: str) -> None:
    """Raise :class:`DataFileError` at the first empty cell of an identifier column."""
    empty = cells == ""
    if empty.any():
        raise DataFileError(str(path), "empty identifier", column=column, row=int(empty.idxmax()))


def check_unique(frame: pd.DataFrame, key: Sequence[str], path: Path) -> None:
    """Raise :class:`DataFileError` naming the key and both CSV lines of a duplicate."""
    repeated = frame.duplicated(list(key), keep="first")
    if not repeated.any():
        return
    second_line = int(repeated.idxmax())
    values = frame.loc[second_line, list(key)]
    same = (frame[list(key)] == values).all(axis=1)
    first_line = int(same.idxmax())
    described = ", ".join(f"{name}={values[name]!r}" for name in key)
    raise DataFileError(
        str(path), f"duplicate key ({described}) on lines {first_line} and {second_line}"
    )


def _sorted_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a reader frame with the long columns, value as float, sorted."""
    long = frame.loc[:, list(LONG_COLUMNS)].astype({"value": float})
    return long.sort_values(["entity", "period", "indicator"], kind="mergesort").reset_index(
        drop=True
    )


def _string_list(value: Any, key: str) -> list[str]:
    """Return ``value`` as a list of strings, or raise :class:`ConfigError` at ``key``."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(key, f"must be a list of names, got {value!r}")
    return [str(item) for item in value]


def _column_mapping(
    options: Mapping[str, Any], roles: Sequence[str], source: str
) -> dict[str, str]:
    """Resolve ``options.columns`` (role -> CSV column name), defaulting to the role name."""
    given = options.get("columns") or {}
    if not isinstance(given, Mapping):
        raise ConfigError(_option_key(source, "columns"), "must be a mapping role -> column")
    for role in given:
        if role not in roles:
            raise ConfigError(
                _option_key(source, "columns", str(role)),
                f"unknown role; valid roles: {', '.join(roles)}",
            )
    return {role: str(given.get(role, role)) for role in roles}


# ---------------------------------------------------------------------------
# GGDC 10-Sector Database
# ---------------------------------------------------------------------------


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Elementwise ratio with NaN where it is undefined (zero or missing denominator)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return ratio.where(np.isfinite(ratio))


def read_ggdc10s(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Read the GGDC 10-Sector Database and derive unit-free sector indicators.

    For every ``Country`` (entity), ``Year`` (period) and sector ``S`` in AGR..OTH emits
    ``S_va_share`` = VA_S / VA_SUM, ``S_emp_share`` = EMP_S / EMP_SUM and
    ``S_rel_productivity`` = (VA_S / EMP_S) / (VA_SUM / EMP_SUM); NaN where an input is
    missing or a denominator is zero. Value added is in local currency, so only such
    ratios are comparable across economies.

    Options: ``entities`` (list of country codes, or null for all) and
    ``exclude_entities`` (list, default empty). Rows whose ``Variable`` is neither VA nor
    EMP are ignored and noted.
    """
    _check_option_names(options, ("entities", "exclude_entities"), source)
    file_path = _require_path(path, source)
    text = read_csv_text(file_path)
    value_columns = [*GGDC_SECTORS, "SUM"]
    require_columns(text, ["Country", "Variable", "Year", *value_columns], file_path)
    rows_in = len(text)
    require_text(text["Country"], file_path, "Country")

    table = pd.DataFrame({"entity": text["Country"], "variable": text["Variable"]})
    table["period"] = parse_periods(text["Year"], file_path, "Year")
    for column in value_columns:
        table[column] = parse_numbers(text[column], file_path, column)
    check_unique(table, ["entity", "variable", "period"], file_path)

    notes: list[dict[str, Any]] = []
    available = sorted(table["entity"].unique())
    chosen = options.get("entities")
    if chosen is not None:
        key = _option_key(source, "entities")
        wanted = _string_list(chosen, key)
        unknown = [name for name in wanted if name not in set(available)]
        if unknown:
            raise ConfigError(key, f"unknown entities {unknown}; available: {available}")
        outside = ~table["entity"].isin(wanted)
        if outside.any():
            notes.append({"reason": "entity not in options.entities", "rows": int(outside.sum())})
        table = table.loc[~outside]
    excluded_names = options.get("exclude_entities") or []
    key = _option_key(source, "exclude_entities")
    excluded_names = _string_list(excluded_names, key)
    unknown = [name for name in excluded_names if name not in set(available)]
    if unknown:
        raise ConfigError(key, f"unknown entities {unknown}; available: {available}")
    excluded = table["entity"].isin(excluded_names)
    if excluded.any():
        notes.append(
            {
                "reason": "entity excluded by options.exclude_entities",
                "rows": int(excluded.sum()),
                "entities": sorted(set(table.loc[excluded, "entity"])),
            }
        )
    table = table.loc[~excluded]

    other_variable = ~table["variable"].isin(["VA", "EMP"])
    if other_variable.any():
        notes.append(
            {
                "reason": "Variable is neither VA nor EMP (ignored)",
                "rows": int(other_variable.sum()),
            }
        )
    table = table.loc[~other_variable]

    value_added = table[table["variable"] == "VA"].set_index(["entity", "period"])[value_columns]
    employment = table[table["variable"] == "EMP"].set_index(["entity", "period"])[value_columns]
    # An entity-year appears if either variable has a row; the other variable is then NaN.
    index = value_added.index.union(employment.index)
    value_added = value_added.reindex(index)
    employment = employment.reindex(index)

    derived: dict[str, pd.Series] = {}
    economy_productivity = _ratio(value_added["SUM"], employment["SUM"])
    for sector in GGDC_SECTORS:
        derived[f"{sector}_va_share"] = _ratio(value_added[sector], value_added["SUM"])
        derived[f"{sector}_emp_share"] = _ratio(employment[sector], employment["SUM"])
        sector_productivity = _ratio(value_added[sector], employment[sector])
        derived[f"{sector}_rel_productivity"] = _ratio(sector_productivity, economy_productivity)
    wide = pd.DataFrame(derived, index=index)
    wide.columns.name = "indicator"
    long = wide.stack(future_stack=True).rename("value").reset_index()
    return RawTable(frame=_sorted_long(long), notes=notes, rows_in=rows_in)


# ---------------------------------------------------------------------------
# China national income by sector
# ---------------------------------------------------------------------------


def read_china_income(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Read China's real national income by sector (index, 1952 = 100).

    Emits one entity (option ``entity``, default ``"CHN"``), period from ``year`` and the
    five sector columns (agriculture, commerce, construction, industry, transport) as
    indicators with their raw values.
    """
    _check_option_names(options, ("entity",), source)
    file_path = _require_path(path, source)
    entity = str(options.get("entity", "CHN"))
    if not entity:
        raise ConfigError(_option_key(source, "entity"), "must be a non-empty name")
    text = read_csv_text(file_path)
    require_columns(text, ["year", *CHINA_SECTORS], file_path)
    table = pd.DataFrame({"period": parse_periods(text["year"], file_path, "year")})
    check_unique(table, ["period"], file_path)
    for column in CHINA_SECTORS:
        table[column] = parse_numbers(text[column], file_path, column)
    long = table.melt(id_vars="period", var_name="indicator", value_name="value")
    long.insert(0, "entity", entity)
    return RawTable(frame=_sorted_long(long), rows_in=len(text))


# ---------------------------------------------------------------------------
# US BLS Current Employment Statistics
# ---------------------------------------------------------------------------


def _parse_us_months(cells: pd.Series, path: Path) -> pd.DataFrame:
    """Parse ``Month`` cells like ``"1939 Jan"`` (or ``"1939-01"``) to year and month."""
    parsed: dict[str, tuple[int, int] | None] = {}
    for raw in cells.unique():
        match = _US_MONTH_LABEL.match(raw)
        if match and match.group(2).lower() in _MONTH_NUMBERS:
            parsed[raw] = (int(match.group(1)), _MONTH_NUMBERS[match.group(2).lower()])
            continue
        label = normalise_period(raw)
        if label is not None and period_frequency(label) == "monthly":
            parsed[raw] = (int(label[:4]), int(label[5:7]))
        else:
            parsed[raw] = None
    mapped = cells.map(parsed)
    unreadable = mapped.isna()
    if unreadable.any():
        line = int(unreadable.idxmax())
        raise DataFileError(
            str(path),
            f"month {cells.loc[line]!r} is not like '1939 Jan'",
            column="Month",
            row=line,
        )
    return pd.DataFrame(mapped.tolist(), index=cells.index, columns=["year", "month"])


def _period_labels(year: pd.Series, month: pd.Series, aggregate: str) -> pd.Series:
    """Canonical period label of each month at the chosen aggregation level."""
    years = year.astype(str)
    if aggregate == "monthly":
        return years + "-" + month.map("{:02d}".format)
    if aggregate == "quarterly":
        return years + "Q" + ((month - 1) // 3 + 1).astype(str)
    return years


def _us_pairs(options: Mapping[str, Any], source: str) -> dict[str, dict[str, str]]:
    """Validate the ``pairs`` option: pair name -> {"a": series id, "b": series id}."""
    pairs = options.get("pairs")
    key = _option_key(source, "pairs")
    if not isinstance(pairs, Mapping) or not pairs:
        raise ConfigError(key, "required: a mapping pair_name -> {a: series_id, b: series_id}")
    checked: dict[str, dict[str, str]] = {}
    for pair_name, members in pairs.items():
        if not isinstance(members, Mapping) or set(members) != {"a", "b"}:
            raise ConfigError(
                f"{key}.{pair_name}", f"must be {{a: series_id, b: series_id}}, got {members!r}"
            )
        checked[str(pair_name)] = {"a": str(members["a"]), "b": str(members["b"])}
    return checked


def read_us_employment(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Read US BLS employment and build industry pairs with shares of total employment.

    Options: ``pairs`` (pair name -> ``{a: series_id, b: series_id}``, required),
    ``total_series`` (default ``CEU0500000001``, total private) and ``aggregate``
    (``quarterly`` default, ``monthly`` or ``annual``). A quarter or year is the mean of
    its months and NaN if any month is missing (missing value or absent from the file).
    Each pair is an entity with indicators ``a_employment`` and ``b_employment``
    (thousands) and ``a_share``, ``b_share`` = aggregated series / aggregated total.
    """
    _check_option_names(options, ("pairs", "total_series", "aggregate"), source)
    file_path = _require_path(path, source)
    pairs = _us_pairs(options, source)
    total_series = str(options.get("total_series", "CEU0500000001"))
    aggregate = str(options.get("aggregate", "quarterly"))
    if aggregate not in US_AGGREGATES:
        raise ConfigError(
            _option_key(source, "aggregate"),
            f"unknown value {aggregate!r}; valid: {', '.join(US_AGGREGATES)}",
        )

    text = read_csv_text(file_path)
    require_columns(text, ["Month", "Series_ID", "Employed"], file_path)
    rows_in = len(text)
    require_text(text["Series_ID"], file_path, "Series_ID")
    table = _parse_us_months(text["Month"], file_path)
    table["series"] = text["Series_ID"]
    table["employed"] = parse_numbers(text["Employed"], file_path, "Employed")
    check_unique(table, ["series", "year", "month"], file_path)

    known = sorted(table["series"].unique())
    examples = ", ".join(known[:6]) + (f", ... ({len(known)} in all)" if len(known) > 6 else "")
    if total_series not in set(known):
        raise ConfigError(
            _option_key(source, "total_series"),
            f"unknown series id {total_series!r}; valid ids include {examples}",
        )
    for pair_name, members in pairs.items():
        for role, series_id in members.items():
            if series_id not in set(known):
                raise ConfigError(
                    _option_key(source, "pairs", pair_name, role),
                    f"unknown series id {series_id!r}; valid ids include {examples}",
                )

    needed = sorted({total_series, *(s for m in pairs.values() for s in m.values())})
    unused = ~table["series"].isin(needed)
    notes: list[dict[str, Any]] = []
    if unused.any():
        notes.append({"reason": "series not used by any pair", "rows": int(unused.sum())})
    # One row per month that occurs anywhere in the file, one column per needed series.
    monthly = table.loc[~unused].pivot(index=["year", "month"], columns="series", values="employed")
    months = pd.MultiIndex.from_frame(table[["year", "month"]].drop_duplicates()).sort_values()
    monthly = monthly.reindex(index=months, columns=needed)
    labels = _period_labels(
        pd.Series(months.get_level_values("year"), index=monthly.index),
        pd.Series(months.get_level_values("month"), index=monthly.index),
        aggregate,
    )
    grouped = monthly.groupby(labels.to_numpy())
    complete = grouped.count() == US_AGGREGATES[aggregate]
    levels = grouped.mean().where(complete)
    incomplete = int((~complete).to_numpy().sum())
    if aggregate != "monthly" and incomplete:
        notes.append(
            {"reason": f"{aggregate} period with a missing month (set to NaN)", "rows": incomplete}
        )

    parts = []
    for pair_name, members in pairs.items():
        total = levels[total_series]
        indicators = {
            "a_employment": levels[members["a"]],
            "b_employment": levels[members["b"]],
            "a_share": _ratio(levels[members["a"]], total),
            "b_share": _ratio(levels[members["b"]], total),
        }
        for indicator, series in indicators.items():
            parts.append(
                pd.DataFrame(
                    {
                        "entity": pair_name,
                        "period": series.index.astype(str),
                        "indicator": indicator,
                        "value": series.to_numpy(dtype=float),
                    }
                )
            )
    long = pd.concat(parts, ignore_index=True)
    return RawTable(frame=_sorted_long(long), notes=notes, rows_in=rows_in)


# ---------------------------------------------------------------------------
# Generic formats for new data sets
# ---------------------------------------------------------------------------


def read_long_csv(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Read a generic long CSV: one row per entity, period and indicator.

    Option ``columns`` maps the roles ``entity``, ``period``, ``indicator``, ``value`` to
    CSV column names (each defaults to the role name). Periods are years (``1960`` or
    ``1960.0``), quarters (``1960Q1``) or months (``1960-01``); with option ``dates``
    (``monthly``, ``quarterly`` or ``annual``) they are ISO dates (``1960-03-31``) mapped
    to the month, quarter or year they fall in. Other columns are ignored.
    """
    _check_option_names(options, ("columns", "dates"), source)
    file_path = _require_path(path, source)
    names = _column_mapping(options, LONG_COLUMNS, source)
    text = read_csv_text(file_path)
    require_columns(text, list(names.values()), file_path)
    for role in ("entity", "indicator"):
        require_text(text[names[role]], file_path, names[role])
    table = pd.DataFrame(
        {
            "entity": text[names["entity"]],
            "period": _periods(text, names["period"], options, file_path, source),
            "indicator": text[names["indicator"]],
            "value": parse_numbers(text[names["value"]], file_path, names["value"]),
        }
    )
    check_unique(table, ["entity", "period", "indicator"], file_path)
    return RawTable(frame=_sorted_long(table), rows_in=len(text))


def read_wide_csv(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Read a generic wide CSV: one row per entity and period, one column per indicator.

    Options:

    ``columns``
        maps the roles ``entity`` and ``period`` to CSV column names (defaults: the role
        names).
    ``entity``
        a constant entity name for a file that holds one entity (a national series):
        the file then needs no entity column (and ``columns.entity`` must not be given).
    ``dates``
        ``monthly``, ``quarterly`` or ``annual``: the period column holds ISO dates
        (``2005-09-30`` or ``2005-09``), mapped to the month (``2005-09``), quarter
        (``2005Q3``) or year (``2005``) they fall in. Two dates in one period are a
        duplicate-key error (the reader does not aggregate).
    ``indicators``
        the indicator columns (null = every other column).
    """
    _check_option_names(options, ("columns", "indicators", "entity", "dates"), source)
    file_path = _require_path(path, source)
    constant = options.get("entity")
    if constant is not None:
        if not isinstance(constant, str | int) or isinstance(constant, bool) or not str(constant):
            raise ConfigError(_option_key(source, "entity"), "must be a non-empty name")
        if "entity" in (options.get("columns") or {}):
            raise ConfigError(
                _option_key(source, "columns", "entity"),
                "give either options.entity (one entity for the whole file) or an entity column",
            )
    names = _column_mapping(options, ("entity", "period"), source)
    if constant is not None:
        names.pop("entity")
    text = read_csv_text(file_path)
    require_columns(text, list(names.values()), file_path)
    chosen = options.get("indicators")
    if chosen is None:
        indicators = [c for c in text.columns if c not in set(names.values())]
    else:
        indicators = _string_list(chosen, _option_key(source, "indicators"))
    if not indicators:
        raise DataFileError(str(file_path), "no indicator columns besides entity and period")
    require_columns(text, indicators, file_path)
    if constant is None:
        require_text(text[names["entity"]], file_path, names["entity"])
        entity = text[names["entity"]]
    else:
        entity = pd.Series(str(constant), index=text.index, dtype=object)
    table = pd.DataFrame(
        {
            "entity": entity,
            "period": _periods(text, names["period"], options, file_path, source),
        }
    )
    check_unique(table, ["entity", "period"], file_path)
    for column in indicators:
        table[column] = parse_numbers(text[column], file_path, column)
    long = table.melt(
        id_vars=["entity", "period"],
        value_vars=indicators,
        var_name="indicator",
        value_name="value",
    )
    return RawTable(frame=_sorted_long(long), rows_in=len(text))


# ---------------------------------------------------------------------------
# Synthetic panel
# ---------------------------------------------------------------------------

_SYNTHETIC_OPTIONS = (
    "n_entities",
    "n_periods",
    "coupling_min",
    "coupling_max",
    "noise",
    "seed",
    "start_period",
)


def read_synthetic(path: Path | None, options: Mapping[str, Any], *, source: str) -> RawTable:
    """Generate the synthetic coupled-industries panel (no file; ``path`` must be None).

    ``options`` are the keyword arguments of
    :func:`convergence.data.synthetic.simulate_coupled_industries`; ``n_entities``,
    ``n_periods`` and ``seed`` are required. The ground truth (coupling per entity) comes
    from calling that function with the same options.
    """
    _check_option_names(options, _SYNTHETIC_OPTIONS, source)
    if path is not None:
        raise ConfigError(f"datasets.{source}.path", "the synthetic reader takes no file")
    for required in ("n_entities", "n_periods", "seed"):
        if required not in options:
            raise ConfigError(_option_key(source, required), "required option is missing")
    try:
        panel, _truth = simulate_coupled_industries(**dict(options))
    except InputError as error:
        raise ConfigError(f"datasets.{source}.options", str(error)) from None
    return RawTable(frame=panel, rows_in=len(panel))


READERS: dict[str, Reader] = {
    "ggdc10s": read_ggdc10s,
    "china_income": read_china_income,
    "us_employment": read_us_employment,
    "long_csv": read_long_csv,
    "wide_csv": read_wide_csv,
    "synthetic": read_synthetic,
}
"""Reader for each ``datasets.<name>.reader`` config value."""

READERS_WITHOUT_FILE: frozenset[str] = frozenset({"synthetic"})
"""Readers that generate data and take no ``path``."""
