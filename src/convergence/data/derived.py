"""Derived indicators: intensive measures built from the raw ones at ingest, no data edits.

A panel of *levels* (output, employment, generation by fuel) min-max normalized across
entities mostly ranks entities by size. ``datasets.<name>.derived`` turns levels into
intensive indicators that entities of different size can share a scale on::

    derived:
      output_per_worker: {op: ratio, of: output, per: employment}
      coal_share:        {op: share, of: coal, total: [coal, gas, oil, hydro]}
      log_output:        {op: log, of: output}
      output_growth:     {op: growth, of: output}

For entity ``i`` and period ``t``:

* ``ratio``:  ``x_it / y_it`` (``of`` / ``per``), times ``scale`` (default 1);
* ``share``:  ``x_it / sum_{k in total} k_it``, times ``scale``;
* ``log``:    ``ln x_it``;
* ``growth``: ``x_it / x_i,t-1 - 1`` where ``t-1`` is the period just before ``t`` at the
  data set's frequency (no value after a gap or in an entity's first period).

Definitions are applied in config order; each may use raw indicators and derived ones
listed before it. A value that is undefined (zero or missing denominator, the log of a
value <= 0, growth from a value <= 0) is left out, and the count is reported as a data
check (``derived_values_undefined``) naming the indicator and the entities. Growth has no
value in an entity's first period by construction; that is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.errors import ConfigError

__all__ = ["DERIVED_OPS", "DerivedIndicator", "derive_indicators", "parse_derived"]

#: Operations of ``datasets.<name>.derived.<indicator>.op``.
DERIVED_OPS: tuple[str, ...] = ("ratio", "share", "log", "growth")
_KEYS_BY_OP: dict[str, set[str]] = {
    "ratio": {"op", "of", "per", "scale"},
    "share": {"op", "of", "total", "scale"},
    "log": {"op", "of"},
    "growth": {"op", "of"},
}


@dataclass(frozen=True)
class DerivedIndicator:
    """One ``derived`` entry: ``name = op(of, per | total) * scale``."""

    name: str
    op: str
    of: str
    per: str | None = None
    total: tuple[str, ...] = field(default_factory=tuple)
    scale: float = 1.0

    @property
    def inputs(self) -> list[str]:
        """Indicators the definition reads, in order, without repeats."""
        names = [self.of, *([self.per] if self.per else []), *self.total]
        return list(dict.fromkeys(names))

    def formula(self) -> str:
        """Human-readable definition, for provenance and messages."""
        factor = "" if self.scale == 1.0 else f" * {self.scale:g}"
        if self.op == "ratio":
            return f"{self.of} / {self.per}{factor}"
        if self.op == "share":
            return f"{self.of} / ({' + '.join(self.total)}){factor}"
        if self.op == "log":
            return f"ln({self.of})"
        return f"{self.of}(t) / {self.of}(t-1) - 1"


def _operand(key: str, value: Any, known: set[str]) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"must name an indicator, got {value!r}")
    if value not in known:
        raise ConfigError(
            key,
            f"unknown indicator {value!r}; available (raw, then derived above it): "
            f"{', '.join(sorted(known))}",
        )
    return value


def parse_derived(
    dataset: str, spec: Mapping[str, Any], raw_indicators: Sequence[str]
) -> list[DerivedIndicator]:
    """Validate ``datasets.<dataset>.derived`` against the reader's indicators.

    Raises
    ------
    ConfigError
        Naming the key: an unknown op or key, a missing operand, an operand that is neither
        a raw indicator nor a derived one defined earlier, a name that repeats a raw
        indicator, or a non-positive ``scale``.
    """
    entries = spec.get("derived") or {}
    base = f"datasets.{dataset}.derived"
    if not isinstance(entries, Mapping):
        raise ConfigError(base, "must be a mapping of new indicator -> definition")
    known = set(raw_indicators)
    parsed: list[DerivedIndicator] = []
    for name, entry in entries.items():
        key = f"{base}.{name}"
        if name in set(raw_indicators):
            raise ConfigError(key, f"{name!r} is already an indicator of the data; pick a new name")
        if not isinstance(entry, Mapping):
            raise ConfigError(key, "must be a mapping with op and of")
        op = entry.get("op")
        if op not in DERIVED_OPS:
            raise ConfigError(f"{key}.op", f"must be one of {', '.join(DERIVED_OPS)}, got {op!r}")
        unknown = sorted(set(entry) - _KEYS_BY_OP[op])
        if unknown:
            raise ConfigError(
                key,
                f"unknown key(s) {', '.join(unknown)} for op {op}; allowed: "
                f"{', '.join(sorted(_KEYS_BY_OP[op]))}",
            )

        of = _operand(f"{key}.of", entry.get("of"), known)
        per = _operand(f"{key}.per", entry.get("per"), known) if op == "ratio" else None
        total: tuple[str, ...] = ()
        if op == "share":
            values = entry.get("total")
            if not isinstance(values, list) or len(values) < 1:
                raise ConfigError(f"{key}.total", "must be a non-empty list of indicators")
            total = tuple(_operand(f"{key}.total", v, known) for v in values)
            if len(set(total)) != len(total):
                raise ConfigError(f"{key}.total", "lists an indicator twice")
        scale = entry.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise ConfigError(f"{key}.scale", f"must be a number > 0, got {scale!r}")
        parsed.append(
            DerivedIndicator(name=str(name), op=op, of=of, per=per, total=total, scale=float(scale))
        )
        known.add(str(name))
    return parsed


def _period_position(labels: pd.Index) -> np.ndarray:
    """Integer position of each canonical label on its frequency's clock (consecutive
    periods differ by 1): years, year*4 + quarter, year*12 + month."""
    text = labels.astype(str)
    year = text.str.slice(0, 4).astype(int).to_numpy()
    if text.str.contains("Q").any():
        return year * 4 + text.str.slice(5, 6).astype(int).to_numpy() - 1
    if text.str.contains("-").any():
        return year * 12 + text.str.slice(5, 7).astype(int).to_numpy() - 1
    return year


def _growth(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``x_t / x_{t-1} - 1`` per entity on the frequency's clock, and the mask of periods
    where it is undefined although both values exist (``x_{t-1} <= 0``). After a gap and in
    an entity's first period there is no predecessor: NaN, but not "undefined"."""
    positions = pd.Series(
        _period_position(values.index.get_level_values("period")), index=values.index
    )
    frame = pd.DataFrame({"value": values, "position": positions}).dropna(subset=["value"])
    frame = frame.sort_values("position", kind="mergesort")
    grouped = frame.groupby(level="entity", sort=False)
    previous = grouped["value"].shift(1)
    has_previous = (grouped["position"].diff() == 1) & previous.notna()
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(has_previous & (previous > 0), frame["value"] / previous - 1.0, np.nan)
    undefined = has_previous & ~(previous > 0)
    return (
        pd.Series(growth, index=frame.index).reindex(values.index),
        undefined.reindex(values.index, fill_value=False).astype(bool),
    )


def _compute(definition: DerivedIndicator, wide: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Values of one definition and the mask of rows where its inputs exist but the
    formula is undefined."""
    x = wide[definition.of]
    if definition.op == "growth":
        return _growth(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        if definition.op == "ratio":
            y = wide[definition.per]
            values = (x / y.where(y != 0)) * definition.scale
        elif definition.op == "share":
            parts = wide[list(definition.total)]
            total = parts.sum(axis=1, min_count=len(definition.total))
            values = (x / total.where(total != 0)) * definition.scale
        else:
            values = np.log(x.where(x > 0))
    inputs_present = wide[definition.inputs].notna().all(axis=1)
    return values, inputs_present & values.isna()


def derive_indicators(
    frame: pd.DataFrame, definitions: Sequence[DerivedIndicator], *, dataset: str
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[dict[str, Any]]]:
    """Append the derived indicators to a long ``(entity, period, indicator, value)`` frame.

    Returns ``(frame with the new rows, provenance entries, data checks)``. A provenance
    entry per definition gives its formula and the number of rows it produced; a data check
    ``derived_values_undefined`` names each indicator with values left out (zero
    denominator, log of a value <= 0, ...) and the entities they belong to.
    """
    if not definitions:
        return frame, [], []
    needed = sorted(
        {name for d in definitions for name in d.inputs} - {d.name for d in definitions}
    )
    raw = frame[frame["indicator"].isin(needed)]
    wide = raw.pivot_table(
        index=["entity", "period"],
        columns="indicator",
        values="value",
        aggfunc="first",
        dropna=False,
    ).reindex(columns=needed)
    wide.columns.name = None
    new_rows = []
    records: list[dict[str, Any]] = []
    undefined: dict[str, dict[str, int]] = {}
    for definition in definitions:
        values, lost = _compute(definition, wide)
        if lost.any():
            by_entity = lost[lost].groupby(level="entity").size()
            undefined[definition.name] = {str(k): int(v) for k, v in by_entity.items()}
        wide[definition.name] = values
        kept = values.dropna()
        new_rows.append(
            pd.DataFrame(
                {
                    "entity": kept.index.get_level_values("entity"),
                    "period": kept.index.get_level_values("period"),
                    "indicator": definition.name,
                    "value": kept.to_numpy(dtype=float),
                }
            )
        )
        records.append(
            {
                "indicator": definition.name,
                "op": definition.op,
                "formula": definition.formula(),
                "inputs": definition.inputs,
                "rows": int(len(kept)),
            }
        )
    checks = []
    if undefined:
        parts = [
            f"{name}: {sum(c.values())} value(s) in {len(c)} entit(y/ies)"
            for name, c in undefined.items()
        ]
        entities = sorted({e for c in undefined.values() for e in c})
        checks.append(
            diagnostics.check(
                "ingest",
                "derived_values_undefined",
                f"derived indicator values left out where the formula is undefined (zero or "
                f"missing denominator, log or growth of a value <= 0): {'; '.join(parts)} "
                f"(datasets.{dataset}.derived).",
                entities=entities,
                indicators=list(undefined),
                counts={name: sum(c.values()) for name, c in undefined.items()},
            )
        )
    extra = pd.concat(new_rows, ignore_index=True).astype({"entity": str, "period": str})
    return pd.concat([frame, extra[list(frame.columns)]], ignore_index=True), records, checks
