"""Ingest one configured data set into the canonical long table, with provenance.

:func:`ingest_dataset` takes one ``datasets.<name>`` config entry and:

1. checks the entry (reader, path, sha256, options, subsystems, structure, frequency);
2. verifies the file's sha256 before reading it;
3. calls the reader (:data:`convergence.data.readers.READERS`);
4. checks that every indicator named in ``subsystems`` and ``structure`` exists, that no
   indicator sits in two subsystems, that no configured indicator is missing for the
   whole data set and that every value is finite;
5. with ``fill_missing: <number>``, gives every configured (subsystem or structure)
   indicator that number in each entity-period that reports another configured indicator
   but lacks a row or a value for it (:func:`fill_absent_rows`);
6. assigns each indicator its subsystem (``""`` for none) and drops, in this order, rows
   with a missing value, entities with no subsystem value left, partial trailing periods
   (:func:`partial_trailing_periods`; the rule for every stage, unless
   ``partial_last_period: keep``) and entities with fewer than ``entities_min_periods``
   complete periods (periods where every subsystem indicator has a value);
7. records data checks (:mod:`convergence.diagnostics`, logged as WARNINGs, stored under
   ``data_checks``): filled rows, dropped missing values, dropped entities (named), the
   partial last period, entity-periods that will have no ``D`` because a subsystem
   indicator is absent (named), negative structure values (counts per entity) and a data
   set of one entity;
8. returns the canonical table and a provenance dict.

Provenance row counts are in *canonical rows* (one entity, period and indicator):
``rows_in`` is the number of rows the reader emitted, ``rows_added`` the rows
``fill_missing`` added, each ``dropped`` entry counts the rows removed for its reason, and
``rows_in + rows_added - sum(dropped rows) == rows_out``. What the reader left out of the
source file (in source rows) is listed separately under ``reader_notes``, and
``source_rows`` is the number of data rows in the source file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.atomic import write_csv_atomic, write_text_atomic
from convergence.data.canonical import (
    CANONICAL_COLUMNS,
    FREQUENCIES,
    period_frequency,
    sha256_file,
    verify_sha256,
)
from convergence.data.derived import derive_indicators, parse_derived
from convergence.data.readers import READERS, READERS_WITHOUT_FILE
from convergence.errors import ConfigError, DataFileError

DIRECTIONS: tuple[str, ...] = ("benefit", "cost")
"""Allowed indicator directions in ``subsystems``."""

DROP_MISSING_VALUE = "missing value"
DROP_NO_SUBSYSTEM_DATA = "entity has no subsystem values"
DROP_FEW_PERIODS = "entity has too few complete periods"
DROP_PARTIAL_PERIOD = "partial last period"

PARTIAL_DROP = "drop"
PARTIAL_RULES: tuple[str, ...] = (PARTIAL_DROP, "keep")
"""Values of ``partial_last_period``."""
PARTIAL_MIN_SHARE = 0.5
"""A trailing period is partial when fewer than this share of entities are complete there."""
PARTIAL_DEFINITION = (
    "a trailing period is partial when fewer than half of the entities have every "
    "subsystem indicator there; partial trailing periods are dropped at ingest for all "
    "stages unless partial_last_period: keep"
)


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


def _parse_fill_missing(name: str, spec: Mapping[str, Any]) -> float | None:
    """Validate ``fill_missing``: None (off) or a finite number."""
    value = spec.get("fill_missing")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(_key(name, "fill_missing"), f"must be a finite number, got {value!r}")
    return float(value)


def _parse_partial_rule(name: str, spec: Mapping[str, Any]) -> str:
    value = spec.get("partial_last_period", PARTIAL_DROP)
    if value not in PARTIAL_RULES:
        raise ConfigError(
            _key(name, "partial_last_period"),
            f"must be one of {', '.join(PARTIAL_RULES)}, got {value!r}",
        )
    return str(value)


def fill_absent_rows(
    frame: pd.DataFrame, indicators: list[str], value: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Give every configured indicator a value in every entity-period that has one.

    An entity-period "exists" when at least one of ``indicators`` has a value there. In
    each existing entity-period, indicators without a row get a new row and indicators
    whose value is missing get ``value``. Other entity-periods and other indicators are
    left alone. Returns the new frame and ``{"value", "rows_added", "values_filled",
    "counts": {indicator: rows added or filled}}``.
    """
    configured = frame["indicator"].isin(indicators)
    has_value = frame["value"].notna()
    existing = frame.loc[configured & has_value, ["entity", "period"]].drop_duplicates()
    grid = existing.merge(pd.DataFrame({"indicator": indicators}), how="cross")
    merged = grid.merge(
        frame.loc[configured, ["entity", "period", "indicator", "value"]],
        on=["entity", "period", "indicator"],
        how="left",
        indicator="_row",
    )
    absent = (merged["_row"] == "left_only").to_numpy()
    gap = ((merged["_row"] == "both") & merged["value"].isna()).to_numpy()
    counts = merged.loc[absent | gap, "indicator"].value_counts().sort_index()
    # Rows of existing entity-periods are replaced by the filled grid; gaps elsewhere stay.
    keys = pd.MultiIndex.from_frame(frame[["entity", "period"]])
    in_grid = keys.isin(pd.MultiIndex.from_frame(existing)) & configured.to_numpy()
    filled = merged.drop(columns="_row")
    filled["value"] = filled["value"].fillna(value)
    out = pd.concat([frame.loc[~in_grid], filled], ignore_index=True)
    out = out.sort_values(["entity", "period", "indicator"], kind="mergesort")
    summary = {
        "value": value,
        "rows_added": int(absent.sum()),
        "values_filled": int(gap.sum()),
        "counts": {str(k): int(v) for k, v in counts.items()},
    }
    return out.reset_index(drop=True), summary


def partial_trailing_periods(
    frame: pd.DataFrame, indicators: list[str], min_share: float = PARTIAL_MIN_SHARE
) -> tuple[list[str], dict[str, int], int]:
    """Trailing periods where fewer than ``min_share`` of the entities have complete rows.

    An entity has a complete row in a period when every one of ``indicators`` has a value
    there; the entities counted are those of ``frame``. Starting at the last period, each
    period below the share is partial, until the first period that reaches it. When no
    period reaches it (a panel where entities cover different eras) nothing is partial.
    Returns ``(partial periods, {period: complete entities}, number of entities)``.
    """
    present = frame[frame["indicator"].isin(indicators) & frame["value"].notna()]
    per_cell = present.groupby(["entity", "period"])["indicator"].nunique()
    complete = per_cell[per_cell == len(indicators)].groupby(level="period").size()
    periods = sorted(frame["period"].unique())
    complete = complete.reindex(periods, fill_value=0)
    n_entities = int(frame["entity"].nunique())
    enough = complete >= min_share * n_entities
    if not enough.any():
        return [], {str(k): int(v) for k, v in complete.items()}, n_entities
    partial = []
    for period in reversed(periods):
        if enough[period]:
            break
        partial.append(str(period))
    return sorted(partial), {str(k): int(v) for k, v in complete.items()}, n_entities


def _missing_d_check(
    frame: pd.DataFrame, indicators: list[str], name: str
) -> dict[str, Any] | None:
    """Data check naming the entity-periods that lack a subsystem indicator (no ``D``)."""
    present = frame[frame["indicator"].isin(indicators)]
    if present.empty:
        return None
    # One row per entity-period, one boolean column per indicator (vectorised: a Python
    # set per cell cost seconds at thousands of entities).
    has = (
        present.groupby(["entity", "period", "indicator"])
        .size()
        .unstack("indicator")
        .reindex(columns=list(dict.fromkeys(indicators)))
        .notna()
    )
    complete = has.all(axis=1)
    incomplete = has[~complete]
    if incomplete.empty:
        return None
    by_entity: dict[str, list[str]] = {}
    missing_by_entity: dict[str, set[str]] = {}
    columns = has.columns.to_numpy()
    for (entity, period), row in zip(incomplete.index, incomplete.to_numpy(), strict=True):
        by_entity.setdefault(str(entity), []).append(str(period))
        missing_by_entity.setdefault(str(entity), set()).update(str(c) for c in columns[~row])
    complete_entities = set(complete[complete].index.get_level_values(0))
    no_d = sorted(entity for entity in by_entity if entity not in complete_entities)
    missing_indicators = sorted(set().union(*missing_by_entity.values()))
    n_cells = len(incomplete)
    message = (
        f"{n_cells} entity-period(s) of {len(by_entity)} entit(y/ies) lack a subsystem "
        f"indicator ({', '.join(missing_indicators)}) and will have no D"
    )
    if no_d:
        message += f"; {len(no_d)} entit(y/ies) have no D in any period ({', '.join(no_d[:10])}"
        message += ", ...)" if len(no_d) > 10 else ")"
    message += (
        f". If an absent row means zero, set datasets.{name}.fill_missing: 0; otherwise "
        "these rows are left out of the measures and forecasts."
    )
    return diagnostics.check(
        "ingest",
        "entity_periods_without_D",
        message,
        entities=no_d,
        indicators=missing_indicators,
        counts={entity: len(periods) for entity, periods in sorted(by_entity.items())},
        missing_by_entity={k: sorted(v) for k, v in sorted(missing_by_entity.items())},
        entity_periods={k: sorted(v) for k, v in sorted(by_entity.items())},
        rows=n_cells,
    )


def _negative_structure_check(frame: pd.DataFrame, structure: list[str]) -> dict[str, Any] | None:
    """Data check counting, per entity, the entity-periods with a negative structure value."""
    if not structure:
        return None
    rows = frame[frame["indicator"].isin(structure) & (frame["value"] < 0)]
    if rows.empty:
        return None
    cells = rows[["entity", "period"]].drop_duplicates()
    counts = cells.groupby("entity").size().sort_index()
    by_indicator = rows.groupby("indicator").size().sort_index()
    return diagnostics.check(
        "ingest",
        "negative_structure_values",
        f"{len(cells)} entity-period(s) of {len(counts)} entit(y/ies) have a negative value in "
        f"a structure indicator ({', '.join(by_indicator.index)}); shares need non-negative "
        "values, so the measure stage drops these entity-periods from the structural "
        "similarity (they stay in D).",
        entities=[str(e) for e in counts.index],
        indicators=[str(i) for i in by_indicator.index],
        counts={str(k): int(v) for k, v in counts.items()},
        rows_by_indicator={str(k): int(v) for k, v in by_indicator.items()},
        rows=int(len(cells)),
    )


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
    fill_value = _parse_fill_missing(name, spec)
    partial_rule = _parse_partial_rule(name, spec)

    file_path = _resolve_file(name, spec, str(reader_name), Path(root))
    raw = READERS[str(reader_name)](file_path, options, source=name)
    frame = raw.frame
    file_name = str(file_path) if file_path is not None else f"<{reader_name}>"
    infinite = np.isinf(frame["value"].to_numpy(dtype=float))
    if infinite.any():
        first = frame.loc[infinite].iloc[0]
        raise DataFileError(
            file_name,
            f"value {first['value']} of entity {first['entity']!r}, period {first['period']!r} "
            "is not finite",
            column=str(first["indicator"]),
        )
    indicator_subsystem = {ind: sub for sub, members in subsystems.items() for ind in members}
    subsystem_indicators = list(indicator_subsystem)
    configured = list(dict.fromkeys([*subsystem_indicators, *structure]))
    raw_indicators = sorted(frame["indicator"].unique())
    derived = parse_derived(name, spec, raw_indicators)
    derived_names = {d.name for d in derived}
    _check_indicators_exist(name, subsystems, structure, [*raw_indicators, *derived_names])
    # fill_missing fills what the formulas read too: an absent fuel row counts as 0 there.
    derived_inputs = [i for d in derived for i in d.inputs if i not in derived_names]
    to_fill = list(
        dict.fromkeys([*(i for i in configured if i not in derived_names), *derived_inputs])
    )

    has_value = frame["value"].notna()
    observed = set(frame.loc[has_value, "indicator"])
    for indicator in to_fill:
        if indicator not in observed:
            raise DataFileError(
                file_name,
                f"all values missing for indicator {indicator!r} (data set {name!r})",
                column=indicator,
            )
    frequency = _check_frequency(name, spec, frame["period"])

    rows_in = len(frame)
    checks: list[dict[str, Any]] = []
    filled: dict[str, Any] | None = None
    if fill_value is not None:
        frame, filled = fill_absent_rows(frame, to_fill, fill_value)
        if filled["rows_added"] or filled["values_filled"]:
            checks.append(
                diagnostics.check(
                    "ingest",
                    "missing_rows_filled",
                    f"fill_missing: {fill_value:g} added {filled['rows_added']} absent "
                    f"indicator row(s) and filled {filled['values_filled']} missing value(s) "
                    "in entity-periods that report another configured indicator.",
                    indicators=list(filled["counts"]),
                    counts=filled["counts"],
                    rows=filled["rows_added"] + filled["values_filled"],
                )
            )
        has_value = frame["value"].notna()
    rows_added = filled["rows_added"] if filled else 0
    frame, derived_records, derived_checks = derive_indicators(frame, derived, dataset=name)
    checks += derived_checks
    rows_derived = sum(record["rows"] for record in derived_records)
    for record in derived_records:
        if record["rows"] == 0 and record["indicator"] in configured:
            raise ConfigError(
                _key(name, "derived", record["indicator"]),
                f"{record['formula']} has no defined value in any entity-period",
            )
    has_value = frame["value"].notna()

    missing_rows = frame.loc[~has_value]
    dropped: list[dict[str, Any]] = [
        {"reason": DROP_MISSING_VALUE, "rows": int((~has_value).sum())}
    ]
    missing_configured = missing_rows[missing_rows["indicator"].isin(configured)]
    if len(missing_configured):
        counts = missing_configured.groupby("indicator").size().sort_index()
        checks.append(
            diagnostics.check(
                "ingest",
                "missing_values_dropped",
                f"{len(missing_configured)} row(s) of configured indicators have a missing "
                "value and were dropped (set fill_missing to fill them instead).",
                indicators=[str(i) for i in counts.index],
                counts={str(k): int(v) for k, v in counts.items()},
                rows=int(len(missing_configured)),
            )
        )
    frame = frame.loc[has_value]

    entities_with_data = set(frame.loc[frame["indicator"].isin(subsystem_indicators), "entity"])
    no_data = ~frame["entity"].isin(entities_with_data)
    no_data_entities = sorted(set(frame.loc[no_data, "entity"]))
    dropped.append(
        {"reason": DROP_NO_SUBSYSTEM_DATA, "rows": int(no_data.sum()), "entities": no_data_entities}
    )
    frame = frame.loc[~no_data]

    partial, complete_by_period, n_entities = partial_trailing_periods(frame, subsystem_indicators)
    partial_rows = frame["period"].isin(partial) if partial_rule == PARTIAL_DROP else None
    if partial:
        coverage = {period: complete_by_period[period] for period in partial}
        action = (
            "dropped from every stage"
            if partial_rule == PARTIAL_DROP
            else "kept (partial_last_period: keep); forecasting folds still end before it"
        )
        checks.append(
            diagnostics.check(
                "ingest",
                "partial_last_period",
                f"the last period(s) {', '.join(partial)} are partial: fewer than half of the "
                f"{n_entities} entities have every subsystem indicator there "
                f"({', '.join(f'{p}: {c}' for p, c in coverage.items())}); {action}.",
                periods=partial,
                counts=coverage,
                n_entities=n_entities,
                rule=partial_rule,
            )
        )
    if partial_rows is not None:
        dropped.append(
            {"reason": DROP_PARTIAL_PERIOD, "rows": int(partial_rows.sum()), "periods": partial}
        )
        frame = frame.loc[~partial_rows]

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
    for entry in dropped:
        if entry.get("entities"):
            checks.append(
                diagnostics.check(
                    "ingest",
                    "entities_dropped",
                    f"{len(entry['entities'])} entit(y/ies) dropped: {entry['reason']}"
                    + (f" (< {min_periods})" if entry["reason"] == DROP_FEW_PERIODS else "")
                    + ".",
                    entities=entry["entities"],
                    reason=entry["reason"],
                    rows=entry["rows"],
                )
            )

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
    assert rows_in + rows_added + rows_derived - sum(entry["rows"] for entry in dropped) == len(
        canonical
    )

    for found in (
        _missing_d_check(canonical, subsystem_indicators, name),
        _negative_structure_check(canonical, structure),
    ):
        if found is not None:
            checks.append(found)
    entities = sorted(canonical["entity"].unique())
    if len(entities) == 1:
        checks.append(
            diagnostics.check(
                "ingest",
                "single_entity",
                f"the data set has one entity ({entities[0]}): sigma-convergence and "
                "structural similarity compare entities, so their tables (sigma_convergence.csv, "
                "structure_convergence.csv) are empty; D and the forecasts are unaffected.",
                entities=entities,
            )
        )

    provenance: dict[str, Any] = {
        "dataset": name,
        "reader": reader_name,
        "source_file": spec.get("path"),
        "sha256": spec.get("sha256") if file_path is not None else None,
        "source_rows": int(raw.rows_in),
        "reader_notes": list(raw.notes),
        "rows_in": int(rows_in),
        "rows_added": int(rows_added),
        "rows_derived": int(rows_derived),
        "derived": derived_records,
        "rows_out": int(len(canonical)),
        "filled": filled,
        "dropped": dropped,
        "partial_last_period": {
            "rule": partial_rule,
            "definition": PARTIAL_DEFINITION,
            "partial_periods": partial,
        },
        "entities": entities,
        "n_entities": len(entities),
        "periods": {
            "first": canonical["period"].min() if len(canonical) else None,
            "last": canonical["period"].max() if len(canonical) else None,
        },
        "frequency": frequency,
        "subsystems": subsystems,
        "structure_indicators": structure,
        diagnostics.DATA_CHECKS_KEY: checks,
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
