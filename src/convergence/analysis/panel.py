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

import numpy as np
import pandas as pd

from convergence.data.canonical import period_to_float
from convergence.errors import InputError

__all__ = [
    "BALANCE_RULES",
    "balance_panel",
    "check_matrix",
    "drop_nonpositive",
    "period_times",
    "to_entity_period",
    "to_long",
]

#: Ways to make a panel with gaps complete (see :func:`balance_panel`).
BALANCE_RULES: tuple[str, ...] = ("none", "drop_entities", "largest_block")


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


def balance_panel(
    matrix: pd.DataFrame, rule: str = "largest_block"
) -> tuple[pd.DataFrame, list[str]]:
    """Make a matrix panel complete (no NaN), as the log-t test needs.

    Periods and entities with no value at all are dropped first. Then, by ``rule``:

    ``"none"``
        raise :class:`InputError` if any cell is still missing.
    ``"drop_entities"``
        drop every entity with a missing cell (keeps all periods).
    ``"largest_block"``
        keep the contiguous run of periods ``[a, b]`` and the entities observed in all of
        it that maximise ``n_entities * n_periods`` (ties: more periods, then later ``b``),
        among blocks with at least 2 entities.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The complete panel and one warning per thing dropped.

    Raises
    ------
    InputError
        Unknown rule, or (``"none"``) a missing cell.
    """
    check_matrix(matrix)
    if rule not in BALANCE_RULES:
        raise InputError(f"balance rule must be one of {BALANCE_RULES}, got {rule!r}")
    warnings: list[str] = []
    trimmed = matrix.dropna(axis=0, how="all").dropna(axis=1, how="all")
    empty_entities = matrix.index.difference(trimmed.index)
    if len(empty_entities):
        warnings.append(f"dropped entities without any value: {list(empty_entities)}")
    if not trimmed.isna().to_numpy().any():
        return trimmed, warnings
    if rule == "none":
        entity, period = trimmed.stack(future_stack=True).loc[lambda s: s.isna()].index[0]
        raise InputError(f"panel has missing values, first at entity {entity!r}, period {period!r}")
    if rule == "drop_entities":
        complete = trimmed.dropna(axis=0, how="any")
        dropped = list(trimmed.index.difference(complete.index))
        warnings.append(f"dropped {len(dropped)} entities with missing values: {dropped}")
        return complete, warnings
    missing = trimmed.isna().to_numpy()
    n_periods = missing.shape[1]
    cumulative = np.concatenate(
        [np.zeros((missing.shape[0], 1), dtype=int), np.cumsum(missing, axis=1)], axis=1
    )
    best: tuple[int, int, int] = (-1, -1, -1)
    best_window = (0, 0)
    for start in range(n_periods):
        gaps = cumulative[:, start + 1 :] - cumulative[:, [start]]  # window [start, end]
        n_complete = (gaps == 0).sum(axis=0)
        for offset, count in enumerate(n_complete):
            if count < 2:
                continue
            length = offset + 1
            score = (int(count) * length, length, start + offset)
            if score > best:
                best, best_window = score, (start, start + offset)
    if best[0] < 0:
        raise InputError("panel has no two entities observed together in any period")
    start, end = best_window
    block = trimmed.iloc[:, start : end + 1]
    block = block.dropna(axis=0, how="any")
    dropped_entities = list(trimmed.index.difference(block.index))
    dropped_periods = n_periods - block.shape[1]
    warnings.append(
        f"balanced panel (largest_block): periods {block.columns[0]}..{block.columns[-1]} "
        f"({block.shape[1]} of {n_periods}), {block.shape[0]} of {trimmed.shape[0]} entities; "
        f"dropped {dropped_periods} periods and entities {dropped_entities}"
    )
    return block, warnings


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
