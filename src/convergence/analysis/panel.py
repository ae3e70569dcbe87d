"""The entity x period matrix the convergence tests take, and its preparation.

The tests work on a *matrix panel*: a :class:`pandas.DataFrame` with one row per entity
(index = entity labels) and one column per period, columns in time order, float values.
(This is not the pipeline's *wide* panel, which is indexed by (entity, period) with one
column per indicator: :func:`to_entity_period` turns one indicator of that, or of any long
Series indexed by (entity, period), into a matrix panel; :func:`to_long` goes back.)

All rates in :mod:`convergence.analysis` are *per period*, i.e. per column step. Periods are
assumed equally spaced; :func:`period_times` warns when canonical labels say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from convergence.data.canonical import period_to_float
from convergence.errors import InputError

__all__ = [
    "BALANCE_RULES",
    "BalancedPanel",
    "balance_panel",
    "check_matrix",
    "drop_nonpositive",
    "period_times",
    "to_entity_period",
    "to_long",
]

#: Ways to make a panel with gaps complete (see :func:`balance_panel`).
BALANCE_RULES: tuple[str, ...] = ("entities_first", "largest_block", "drop_entities", "none")


def to_entity_period(values: pd.Series) -> pd.DataFrame:
    """Long Series indexed by (entity, period) -> matrix panel (entity x period).

    Columns are sorted (canonical period labels sort chronologically as text); a pair
    (entity, period) with no value becomes NaN.

    Raises
    ------
    InputError
        Not a Series with a two-level MultiIndex, or a duplicated (entity, period).
    """
    if not isinstance(values, pd.Series):
        raise InputError(f"expected a pandas Series, got {type(values).__name__}")
    if not isinstance(values.index, pd.MultiIndex) or values.index.nlevels != 2:
        raise InputError("values: expected a two-level (entity, period) MultiIndex")
    if values.index.duplicated().any():
        first = values.index[values.index.duplicated()][0]
        raise InputError(f"values: duplicated (entity, period) {first}")
    matrix = values.astype(float).unstack(level=1).sort_index(axis=0).sort_index(axis=1)
    matrix.index.name = "entity"
    matrix.columns.name = "period"
    return matrix


def to_long(matrix: pd.DataFrame, name: str = "value") -> pd.Series:
    """Matrix panel -> long Series indexed by (entity, period), NaN cells dropped."""
    check_matrix(matrix)
    long = matrix.stack(future_stack=True).dropna().rename(name)
    long.index = long.index.set_names(["entity", "period"])
    return long


def check_matrix(matrix: pd.DataFrame, *, what: str = "panel") -> None:
    """Raise :class:`InputError` unless ``matrix`` is an entity x period DataFrame of numbers.

    Entities (index) and periods (columns) must be unique.
    """
    if not isinstance(matrix, pd.DataFrame):
        raise InputError(f"{what}: expected a pandas DataFrame, got {type(matrix).__name__}")
    if isinstance(matrix.index, pd.MultiIndex):
        raise InputError(
            f"{what}: expected one row per entity (use to_entity_period on a long Series)"
        )
    if matrix.index.has_duplicates:
        raise InputError(
            f"{what}: duplicated entity {matrix.index[matrix.index.duplicated()][0]!r}"
        )
    if matrix.columns.has_duplicates:
        raise InputError(
            f"{what}: duplicated period {matrix.columns[matrix.columns.duplicated()][0]!r}"
        )
    for column in matrix.columns:
        if not pd.api.types.is_numeric_dtype(matrix[column]):
            raise InputError(f"{what}: period {column!r} is not numeric")


def period_times(periods: pd.Index) -> tuple[np.ndarray, list[str]]:
    """Numeric time of each period and warnings about its spacing.

    Numeric labels are used as they are; canonical text labels go through
    :func:`convergence.data.canonical.period_to_float`; anything else gets positions
    0, 1, 2, ... . A warning is returned when the steps are unequal (the tests measure
    time in column steps, so rates are then per step, not per unit of time).
    """
    warnings: list[str] = []
    labels = pd.Index(periods)
    if pd.api.types.is_numeric_dtype(labels):
        times = labels.to_numpy(dtype=float)
    else:
        try:
            times = period_to_float(labels.astype(str).to_numpy())
        except InputError:
            warnings.append("period labels are not canonical: time measured in column steps")
            times = np.arange(len(labels), dtype=float)
    steps = np.diff(times)
    if steps.size and not np.allclose(steps, steps[0]):
        warnings.append(
            f"periods are unequally spaced (steps {steps.min():g} to {steps.max():g}): "
            "rates are per column step"
        )
    return times, warnings


@dataclass(frozen=True)
class BalancedPanel:
    """The complete, positive block of a matrix panel the convergence tests run on.

    Attributes
    ----------
    panel
        The block: entities x periods, no missing and (with ``positive``) no non-positive
        cell.
    rule
        The balancing rule used (:data:`BALANCE_RULES`).
    min_periods
        The fewest periods a block was allowed to have.
    n_entities_total, n_periods_total
        Size of the panel before balancing.
    dropped_entities
        ``{entity: reason}`` for every entity left out, e.g. ``"non-positive in 2001, 2002"``
        (its bad cells in the kept span) or ``"no positive value: non-positive in 17 of 17
        periods"``.
    dropped_periods
        Labels of the periods left out, in time order.
    warnings
        One sentence per thing dropped (empty when nothing was).
    """

    panel: pd.DataFrame
    rule: str
    min_periods: int
    n_entities_total: int
    n_periods_total: int
    dropped_entities: dict[str, str] = field(default_factory=dict)
    dropped_periods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_entities(self) -> int:
        """Entities kept."""
        return int(self.panel.shape[0])

    @property
    def n_periods(self) -> int:
        """Periods kept."""
        return int(self.panel.shape[1])

    @property
    def span(self) -> str:
        """``"first-last"`` label of the kept periods (one label for one period)."""
        first, last = str(self.panel.columns[0]), str(self.panel.columns[-1])
        return first if first == last else f"{first}-{last}"

    @property
    def trimmed(self) -> bool:
        """Whether any entity or period was left out."""
        return bool(self.dropped_entities or self.dropped_periods)

    def basis(self) -> str:
        """What the tests rest on, e.g. ``"46 of 48 entities and 15 of 17 periods (2003-2017)"``
        (``"all 48 entities"`` when none was dropped)."""

        def part(kept: int, total: int, one: str, many: str) -> str:
            noun = one if total == 1 else many
            return f"all {kept} {noun}" if kept == total else f"{kept} of {total} {noun}"

        return (
            f"{part(self.n_entities, self.n_entities_total, 'entity', 'entities')} and "
            f"{part(self.n_periods, self.n_periods_total, 'period', 'periods')} ({self.span})"
        )

    def record(self) -> dict[str, Any]:
        """JSON-able summary for provenance: :meth:`basis` (the words every verdict and the
        sigma section of ``summary.md`` quote), sizes, span, rule, what was dropped and why."""
        return {
            "basis": self.basis(),
            "rule": self.rule,
            "min_periods": self.min_periods,
            "n_entities": self.n_entities,
            "n_entities_total": self.n_entities_total,
            "n_periods": self.n_periods,
            "n_periods_total": self.n_periods_total,
            "first_period": str(self.panel.columns[0]),
            "last_period": str(self.panel.columns[-1]),
            "dropped_entities": {str(k): v for k, v in self.dropped_entities.items()},
            "dropped_periods": [str(p) for p in self.dropped_periods],
        }


def _listed(labels: list[Any], limit: int = 3) -> str:
    shown = ", ".join(str(label) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _why_dropped(row: pd.Series, positive: bool) -> str:
    """Reason an entity is not in the block: its bad cells in the block's periods."""
    missing = [period for period, value in row.items() if not np.isfinite(value)]
    bad = [
        period for period, value in row.items() if positive and np.isfinite(value) and value <= 0
    ]
    parts = []
    if bad:
        parts.append(f"non-positive in {_listed(bad)}")
    if missing:
        parts.append(f"missing in {_listed(missing)}")
    return "; ".join(parts) or "not in the block"


def _best_span(usable: np.ndarray, min_periods: int, rule: str) -> tuple[int, int] | None:
    """``(start, end)`` (inclusive) of the best contiguous span, or None (see balance_panel)."""
    n_periods = usable.shape[1]
    cumulative = np.concatenate(
        [np.zeros((usable.shape[0], 1), dtype=int), np.cumsum(~usable, axis=1)], axis=1
    )
    best: tuple[int, int, int] | None = None
    best_span: tuple[int, int] | None = None
    for start in range(n_periods - min_periods + 1):
        # gaps[:, k]: unusable cells of each entity in [start, start + min_periods - 1 + k]
        gaps = cumulative[:, start + min_periods :] - cumulative[:, [start]]
        counts = (gaps == 0).sum(axis=0)
        for offset, count in enumerate(counts):
            if count < 2:
                continue
            length = min_periods + offset
            end = start + length - 1
            first = int(count) if rule == "entities_first" else int(count) * length
            score = (first, length, end)
            if best is None or score > best:
                best, best_span = score, (start, end)
    return best_span


def balance_panel(
    matrix: pd.DataFrame,
    rule: str = "entities_first",
    *,
    min_periods: int = 3,
    positive: bool = True,
) -> BalancedPanel:
    """Make a matrix panel complete (and positive), as the convergence tests need.

    A cell is *usable* when it is a finite number and, with ``positive`` (the default:
    every test takes logs or ratios), greater than 0. Entities without any usable cell
    are left out first (reason ``"no positive value: ..."``). Then, by
    ``rule``:

    ``"entities_first"`` (default)
        Unusable cells cost periods before they cost entities: among the contiguous spans
        of periods ``[a, b]`` with at least ``min_periods`` periods, keep the one where
        the most entities are usable in every period, ties broken by the longer span,
        then by the later end; the block is that span and those entities (at least 2).
        A few early zeros thus shorten the span instead of dropping the entities;
        an entity whose bad cells are spread so that no span of ``min_periods`` avoids
        them is dropped.
    ``"largest_block"``
        Same search, maximising ``n_entities * n_periods`` (ties: more periods, later
        end): a cell-count compromise that drops entities more readily.
    ``"drop_entities"``
        Keep every period; drop every entity with an unusable cell.
    ``"none"``
        Raise :class:`InputError` if any cell is unusable.

    The caller sets ``min_periods`` (the convergence tests pass
    :func:`convergence.analysis.convergence_tests.block_min_periods`).

    Returns
    -------
    BalancedPanel
        The block, the sizes before and after, what was dropped and why.

    Raises
    ------
    InputError
        Unknown rule, ``min_periods < 1``, (``"none"``) an unusable cell, or no block of
        at least 2 entities and ``min_periods`` periods.
    """
    check_matrix(matrix)
    if rule not in BALANCE_RULES:
        raise InputError(f"balance rule must be one of {BALANCE_RULES}, got {rule!r}")
    if min_periods < 1:
        raise InputError(f"min_periods must be >= 1, got {min_periods}")
    what = "positive value" if positive else "value"
    values = matrix.astype(float)
    array = values.to_numpy()
    usable = np.isfinite(array) & (array > 0 if positive else True)
    n_entities_total, n_periods_total = values.shape
    dropped: dict[str, str] = {}
    for position in np.flatnonzero(~usable.any(axis=1)):
        row = array[position]
        n_missing = int((~np.isfinite(row)).sum())
        parts = [f"non-positive in {row.size - n_missing}"] if row.size > n_missing else []
        parts += [f"missing in {n_missing}"] if n_missing else []
        dropped[str(values.index[position])] = (
            f"no {what}: {' and '.join(parts)} of {row.size} periods"
        )
    if rule in ("none", "drop_entities"):
        keep_periods = usable.any(axis=0)
        keep_entities = usable.any(axis=1)
        sub = usable[np.ix_(keep_entities, keep_periods)]
        if rule == "none" and not sub.all():
            position = np.argwhere(~sub)[0]
            entity = values.index[keep_entities][position[0]]
            period = values.columns[keep_periods][position[1]]
            raise InputError(
                f"panel has a missing or non-positive value, first at entity {entity!r}, "
                f"period {period!r} (balance rule 'none')"
            )
        keep_entities = keep_entities.copy()
        complete = sub.all(axis=1)
        for entity, row_ok in zip(values.index[keep_entities], complete, strict=True):
            if not row_ok:
                dropped[str(entity)] = _why_dropped(
                    values.loc[entity, values.columns[keep_periods]], positive
                )
        keep_entities[np.flatnonzero(keep_entities)[~complete]] = False
        block = values.loc[keep_entities, keep_periods]
    else:
        span = _best_span(usable, min_periods, rule)
        if span is None:
            raise InputError(
                f"convergence tests need at least 2 entities with {what}s in each of "
                f"{min_periods} or more consecutive periods; this panel of {n_entities_total} "
                f"entities and {n_periods_total} periods has none"
            )
        start, end = span
        window = values.iloc[:, start : end + 1]
        rows = usable[:, start : end + 1].all(axis=1)
        for entity in values.index[~rows]:
            if str(entity) not in dropped:
                dropped[str(entity)] = _why_dropped(window.loc[entity], positive)
        block = window.loc[rows]
    if block.shape[0] < 2 or block.shape[1] < min_periods:
        raise InputError(
            f"convergence tests need at least 2 entities with {what}s in {min_periods} or "
            f"more periods, got {block.shape[0]} entities and {block.shape[1]} periods "
            f"(balance rule {rule!r})"
        )
    dropped_periods = [str(p) for p in values.columns if p not in set(block.columns)]
    balanced = BalancedPanel(
        panel=block,
        rule=rule,
        min_periods=min_periods,
        n_entities_total=n_entities_total,
        n_periods_total=n_periods_total,
        dropped_entities=dropped,
        dropped_periods=dropped_periods,
    )
    if balanced.trimmed:
        reasons = "; ".join(f"{entity} ({why})" for entity, why in dropped.items())
        balanced.warnings.append(
            f"balanced panel ({rule}): {balanced.basis()}; dropped periods "
            f"{_listed(dropped_periods, 10) or 'none'}; dropped entities {reasons or 'none'}"
        )
    return balanced


def drop_nonpositive(matrix: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop entities with a value <= 0 (their logs are undefined), with a warning.

    Returns the remaining panel and a list holding one warning naming the dropped
    entities (empty when none was dropped). NaN cells are ignored here.
    """
    check_matrix(matrix)
    bad = (matrix <= 0).any(axis=1)
    if not bad.any():
        return matrix, []
    dropped = list(matrix.index[bad])
    return matrix.loc[~bad], [
        f"dropped {len(dropped)} entities with non-positive values (logs undefined): {dropped}"
    ]
