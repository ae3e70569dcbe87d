"""Ingest one configured data set into the canonical long table, with provenance.

:func:`ingest_dataset` takes one ``datasets.<name>`` config entry and:

1. checks the entry (reader, path, sha256, options, subsystems, structure, frequency);
2. verifies the file's sha256 before reading it;
3. calls the reader (:data:`convergence.data.readers.READERS`);
4. checks that every indicator named in ``subsystems`` and ``structure`` exists, that no
   indicator sits in two subsystems and that no configured indicator is missing for the
   whole data set;
5. assigns each indicator its subsystem (``""`` for none) and drops, in this order, rows
   with a missing value, entities with no subsystem value left, and entities with fewer
   than ``entities_min_periods`` complete periods (periods where every subsystem
   indicator has a value);
6. returns the canonical table and a provenance dict.

Provenance row counts are in *canonical rows* (one entity, period and indicator):
``rows_in`` is the number of rows the reader emitted, each ``dropped`` entry counts the
rows removed for its reason, and ``rows_in - sum(dropped rows) == rows_out``. What the
reader left out of the source file (in source rows) is listed separately under
``reader_notes``, and ``source_rows`` is the number of data rows in the source file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.data.canonical import (
    CANONICAL_COLUMNS,
    FREQUENCIES,
    period_frequency,
    sha256_file,
    verify_sha256,
    write_csv_atomic,
    write_text_atomic,
)
from convergence.data.readers import READERS, READERS_WITHOUT_FILE
from convergence.errors import ConfigError, DataFileError

DIRECTIONS: tuple[str, ...] = ("benefit", "cost")
"""Allowed indicator directions in ``subsystems``."""

DROP_MISSING_VALUE = "missing value"
DROP_NO_SUBSYSTEM_DATA = "entity has no subsystem values"
DROP_FEW_PERIODS = "entity has too few complete periods"


def _key(name: str, *parts: str) -> str:
    """Config key path under ``datasets.<name>``."""
    return ".".join(["datasets", name, *parts])


def _parse_subsystems(name: str, spec: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Validate ``subsystems``: subsystem -> {indicator: "benefit" | "cost"}, disjoint."""
    subsystems = spec.get("subsystems")
    key = _key(name, "subsystems")
    if not isinstance(subsystems, Mapping) or not subsystems:
        raise ConfigError(key, "required: a mapping subsystem -> {indicator: benefit|cost}")
    owner: dict[str, str] = {}
    checked: dict[str, dict[str, str]] = {}
    for subsystem, members in subsystems.items():
        sub_key = f"{key}.{subsystem}"
        if not isinstance(members, Mapping) or not members:
            raise ConfigError(sub_key, "must map at least one indicator to benefit or cost")
        checked[str(subsystem)] = {}
        for indicator, direction in members.items():
            if direction not in DIRECTIONS:
                raise ConfigError(
                    f"{sub_key}.{indicator}",
                    f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}",
                )
            if indicator in owner:
                raise ConfigError(
                    sub_key,
                    f"indicator {indicator!r} is already in subsystem {owner[indicator]!r}; "
                    "an indicator can belong to one subsystem only",
                )
            owner[str(indicator)] = str(subsystem)
            checked[str(subsystem)][str(indicator)] = str(direction)
    return checked


def _parse_structure(name: str, spec: Mapping[str, Any]) -> list[str]:
    """Validate the optional ``structure: {indicators: [...]}``; return its indicators."""
    structure = spec.get("structure")
    if structure is None:
        return []
    key = _key(name, "structure")
    if not isinstance(structure, Mapping) or set(structure) - {"indicators"}:
        raise ConfigError(key, "must be a mapping with the single key 'indicators'")
    indicators = structure.get("indicators")
    if isinstance(indicators, str) or not isinstance(indicators, list) or not indicators:
        raise ConfigError(f"{key}.indicators", "must be a non-empty list of indicator names")
    return [str(indicator) for indicator in indicators]


def _resolve_file(name: str, spec: Mapping[str, Any], reader: str, root: Path) -> Path | None:
    """Return the data file (checksum verified), or None for readers without a file."""
    path_value = spec.get("path")
    if reader in READERS_WITHOUT_FILE:
        if path_value is not None:
            raise ConfigError(_key(name, "path"), f"reader {reader!r} takes no file")
        return None
    if not isinstance(path_value, str) or not path_value:
        raise ConfigError(_key(name, "path"), f"required for reader {reader!r}")
    file_path = Path(root) / path_value
    expected = spec.get("sha256")
    if not isinstance(expected, str) or not expected:
        hint = f" (the file's sha256 is {sha256_file(file_path)})" if file_path.is_file() else ""
        raise ConfigError(_key(name, "sha256"), f"required when path is given{hint}")
    verify_sha256(file_path, expected)
    return file_path


def _check_indicators_exist(
    name: str,
    subsystems: Mapping[str, Mapping[str, str]],
    structure: list[str],
    available: list[str],
) -> None:
    """Raise :class:`ConfigError` for a configured indicator the reader did not emit."""
    known = set(available)
    for subsystem, members in subsystems.items():
        for indicator in members:
            if indicator not in known:
                raise ConfigError(
                    _key(name, "subsystems", subsystem),
                    f"unknown indicator {indicator!r}; available: {', '.join(available)}",
                )
    for indicator in structure:
        if indicator not in known:
            raise ConfigError(
                _key(name, "structure", "indicators"),
                f"unknown indicator {indicator!r}; available: {', '.join(available)}",
            )


def _check_frequency(name: str, spec: Mapping[str, Any], periods: pd.Series) -> str:
    """Return the data set's frequency; a configured one must match the period labels."""
    found = sorted({period_frequency(label) for label in periods.unique()})
    configured = spec.get("frequency")
    if configured is not None and configured not in FREQUENCIES:
        raise ConfigError(
            _key(name, "frequency"), f"must be one of {', '.join(FREQUENCIES)}, got {configured!r}"
        )
    if len(found) > 1:
        raise ConfigError(_key(name, "options"), f"reader produced mixed frequencies {found}")
    if configured is not None and found and found[0] != configured:
        raise ConfigError(_key(name, "frequency"), f"is {configured!r} but the data are {found[0]}")
    return str(configured) if configured is not None else (found[0] if found else "")


def _complete_period_counts(frame: pd.DataFrame, indicators: list[str]) -> pd.Series:
    """Per entity, the number of periods where every given indicator has a value."""
    present = frame[frame["indicator"].isin(indicators)]
    per_period = present.groupby(["entity", "period"])["indicator"].nunique()
    complete = per_period[per_period == len(indicators)]
    return complete.groupby(level="entity").size()


def ingest_dataset(
    name: str, spec: Mapping[str, Any], *, root: Path
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read, check and clean one configured data set into the canonical long table.

    ``spec`` is the ``datasets.<name>`` config entry; relative ``path`` values are resolved
    against ``root``. Returns ``(canonical, provenance)``; see the module docstring for
    the steps and for the unit of the provenance row counts. Raises
    :class:`~convergence.errors.ConfigError` naming the config key, or
    :class:`~convergence.errors.DataFileError` naming the file, for user errors.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(_key(name), "must be a mapping")
    reader_name = spec.get("reader")
    if reader_name not in READERS:
        raise ConfigError(
            _key(name, "reader"),
            f"unknown reader {reader_name!r}; valid readers: {', '.join(READERS)}",
        )
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(_key(name, "options"), "must be a mapping")
    subsystems = _parse_subsystems(name, spec)
    structure = _parse_structure(name, spec)
    min_periods = spec.get("entities_min_periods", 0)
    if isinstance(min_periods, bool) or not isinstance(min_periods, int) or min_periods < 0:
        raise ConfigError(
            _key(name, "entities_min_periods"), f"must be an integer >= 0, got {min_periods!r}"
        )

    file_path = _resolve_file(name, spec, str(reader_name), Path(root))
    raw = READERS[str(reader_name)](file_path, options, source=name)
    frame = raw.frame
    indicator_subsystem = {ind: sub for sub, members in subsystems.items() for ind in members}
    subsystem_indicators = list(indicator_subsystem)
    _check_indicators_exist(name, subsystems, structure, sorted(frame["indicator"].unique()))

    has_value = frame["value"].notna()
    observed = set(frame.loc[has_value, "indicator"])
    for indicator in [*subsystem_indicators, *structure]:
        if indicator not in observed:
            raise DataFileError(
                str(file_path) if file_path is not None else f"<{reader_name}>",
                f"all values missing for indicator {indicator!r} (data set {name!r})",
                column=indicator,
            )
    frequency = _check_frequency(name, spec, frame["period"])

    rows_in = len(frame)
    dropped: list[dict[str, Any]] = [
        {"reason": DROP_MISSING_VALUE, "rows": int((~has_value).sum())}
    ]
    frame = frame.loc[has_value]

    entities_with_data = set(frame.loc[frame["indicator"].isin(subsystem_indicators), "entity"])
    no_data = ~frame["entity"].isin(entities_with_data)
    dropped.append(
        {
            "reason": DROP_NO_SUBSYSTEM_DATA,
            "rows": int(no_data.sum()),
            "entities": sorted(set(frame.loc[no_data, "entity"])),
        }
    )
    frame = frame.loc[~no_data]

    complete_counts = _complete_period_counts(frame, subsystem_indicators)
    complete_counts = complete_counts.reindex(sorted(frame["entity"].unique()), fill_value=0)
    too_short = sorted(complete_counts.index[complete_counts < min_periods])
    short_rows = frame["entity"].isin(too_short)
    dropped.append(
        {
            "reason": DROP_FEW_PERIODS,
            "rows": int(short_rows.sum()),
            "entities": too_short,
            "min_periods": min_periods,
        }
    )
    frame = frame.loc[~short_rows]

    canonical = pd.DataFrame(
        {
            "entity": frame["entity"].astype(str),
            "period": frame["period"].astype(str),
            "subsystem": frame["indicator"].map(indicator_subsystem).fillna("").astype(str),
            "indicator": frame["indicator"].astype(str),
            "value": frame["value"].astype(float),
        },
        columns=list(CANONICAL_COLUMNS),
    )
    canonical = canonical.sort_values(
        ["entity", "period", "indicator"], kind="mergesort"
    ).reset_index(drop=True)
    # The counts must add up; a failure here is a bug, not a user error.
    assert rows_in - sum(entry["rows"] for entry in dropped) == len(canonical)

    entities = sorted(canonical["entity"].unique())
    provenance: dict[str, Any] = {
        "dataset": name,
        "reader": reader_name,
        "source_file": spec.get("path"),
        "sha256": spec.get("sha256") if file_path is not None else None,
        "source_rows": int(raw.rows_in),
        "reader_notes": list(raw.notes),
        "rows_in": int(rows_in),
        "rows_out": int(len(canonical)),
        "dropped": dropped,
        "entities": entities,
        "n_entities": len(entities),
        "periods": {
            "first": canonical["period"].min() if len(canonical) else None,
            "last": canonical["period"].max() if len(canonical) else None,
        },
        "frequency": frequency,
        "subsystems": subsystems,
        "structure_indicators": structure,
    }
    return canonical, provenance


def write_ingest_outputs(
    canonical: pd.DataFrame,
    provenance: Mapping[str, Any],
    canonical_path: Path | str,
    provenance_path: Path | str,
) -> None:
    """Write the canonical table as CSV and its provenance as JSON, each atomically."""
    write_csv_atomic(canonical.loc[:, list(CANONICAL_COLUMNS)], canonical_path)
    write_text_atomic(json.dumps(provenance, indent=2, sort_keys=False) + "\n", provenance_path)
