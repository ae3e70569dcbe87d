"""The canonical long table, period labels and checksums.

Every data set, whatever its source format, is ingested into one *canonical long table*
with the columns :data:`CANONICAL_COLUMNS`:

``entity`` (str)
    an economy, a country, an industry pair or a synthetic unit.
``period`` (str)
    a label that sorts chronologically as text: ``"1952"`` (annual), ``"1939Q1"``
    (quarterly) or ``"1939-01"`` (monthly). One data set uses one frequency.
``subsystem`` (str)
    the configured subsystem the indicator belongs to, ``""`` when it belongs to none.
``indicator`` (str)
    the indicator name, e.g. ``AGR_va_share``.
``value`` (float)
    the observation; the canonical table holds no missing values.

Rows are sorted by entity, period and indicator. A *wide* panel has a MultiIndex
``(entity, period)`` and one float column per indicator (see :func:`to_wide`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# The atomic writers live in convergence.atomic; re-exported here for existing imports.
from convergence.atomic import write_csv_atomic as write_csv_atomic
from convergence.atomic import write_parquet_atomic as write_parquet_atomic
from convergence.atomic import write_text_atomic as write_text_atomic
from convergence.errors import DataFileError, InputError

CANONICAL_COLUMNS: tuple[str, ...] = ("entity", "period", "subsystem", "indicator", "value")
"""Columns of the canonical long table, in order."""

FREQUENCIES: tuple[str, ...] = ("annual", "quarterly", "monthly")
"""Period frequencies a data set can have."""

_ANNUAL_LABEL = re.compile(r"^(\d{4})(?:\.0*)?$")
_QUARTERLY_LABEL = re.compile(r"^(\d{4})[-\s]?[Qq]([1-4])$")
_MONTHLY_LABEL = re.compile(r"^(\d{4})-(\d{1,2})$")

_HASH_CHUNK_BYTES = 1 << 20


def normalise_period(raw: object) -> str | None:
    """Return the canonical period label for a raw period value, or ``None`` if unreadable.

    Accepted inputs: years as integers, floats or text (``1960``, ``1960.0``,
    ``"1960.0"`` -> ``"1960"``), quarters (``"1939Q1"``, ``"1939-Q1"``, ``"1939 q1"`` ->
    ``"1939Q1"``) and months (``"1939-1"``, ``"1939-01"`` -> ``"1939-01"``). Years must have
    four digits so that labels sort chronologically as text.
    """
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, np.integer)):
        text = str(int(raw))
    elif isinstance(raw, (float, np.floating)):
        if not np.isfinite(raw) or float(raw) != int(raw):
            return None
        text = str(int(raw))
    else:
        text = str(raw).strip()
    if match := _ANNUAL_LABEL.match(text):
        return match.group(1)
    if match := _QUARTERLY_LABEL.match(text):
        return f"{match.group(1)}Q{match.group(2)}"
    if match := _MONTHLY_LABEL.match(text):
        month = int(match.group(2))
        if 1 <= month <= 12:
            return f"{match.group(1)}-{month:02d}"
    return None


def period_frequency(label: str) -> str:
    """Return ``"annual"``, ``"quarterly"`` or ``"monthly"`` for a canonical period label.

    Raises :class:`InputError` if ``label`` is not a canonical label.
    """
    if normalise_period(label) != label:
        raise InputError(f"period label {label!r} is not canonical (1952, 1939Q1 or 1939-01)")
    if "Q" in label:
        return "quarterly"
    if "-" in label:
        return "monthly"
    return "annual"


def _label_to_float(label: str) -> float:
    """Decimal year of one canonical period label (start of the period)."""
    frequency = period_frequency(label)
    year = float(label[:4])
    if frequency == "quarterly":
        return year + (int(label[5]) - 1) / 4.0
    if frequency == "monthly":
        return year + (int(label[5:7]) - 1) / 12.0
    return year


def period_to_float(labels: Iterable[str]) -> np.ndarray:
    """Convert canonical period labels to decimal years at the start of each period.

    ``"1952"`` -> 1952.0, ``"1939Q2"`` -> 1939.25, ``"1939-02"`` -> 1939 + 1/12. Meant for
    plot axes and trend regressions. Raises :class:`InputError` for a non-canonical label.
    """
    label_array = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
    if label_array.size == 0:
        return np.empty(0, dtype=float)
    # Few distinct labels, many rows: convert each distinct label once.
    unique_labels, inverse = np.unique(label_array.astype(str), return_inverse=True)
    unique_values = np.array([_label_to_float(label) for label in unique_labels], dtype=float)
    return unique_values[inverse.reshape(-1)]


def sha256_file(path: Path | str) -> str:
    """Return the hex SHA-256 digest of a file's bytes.

    Raises :class:`DataFileError` if the file does not exist.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    digest = hashlib.sha256()
    with file_path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path | str, expected: str) -> None:
    """Check that a file's SHA-256 digest equals ``expected`` (hex, case-insensitive).

    Raises :class:`DataFileError` naming the file and both digests on a mismatch, and
    ``"file not found"`` if the file does not exist.
    """
    actual = sha256_file(path)
    wanted = str(expected).strip().lower()
    if actual != wanted:
        raise DataFileError(
            str(path),
            f"sha256 mismatch: expected {wanted}, actual {actual} "
            "(the file changed or the configured checksum is wrong)",
        )


def to_wide(canonical: pd.DataFrame, indicators: Sequence[str] | None = None) -> pd.DataFrame:
    """Pivot a canonical long table to a wide panel.

    Returns a frame indexed by a sorted MultiIndex ``(entity, period)`` with one float
    column per indicator, in the order of ``indicators`` (default: all indicators, sorted).
    Entity-periods where an indicator is absent hold NaN. Raises :class:`InputError` if a
    requested indicator is not in the table.
    """
    missing_columns = [c for c in ("entity", "period", "indicator", "value") if c not in canonical]
    if missing_columns:
        raise InputError(f"canonical table lacks columns {missing_columns}")
    available = sorted(canonical["indicator"].unique())
    if indicators is None:
        chosen = available
    else:
        chosen = list(indicators)
        unknown = [name for name in chosen if name not in set(available)]
        if unknown:
            raise InputError(f"indicators {unknown} are not in the table; available: {available}")
    subset = canonical[canonical["indicator"].isin(chosen)]
    wide = subset.pivot(index=["entity", "period"], columns="indicator", values="value")
    wide = wide.reindex(columns=chosen).astype(float).sort_index()
    wide.columns.name = None
    return wide


def read_canonical(path: Path | str) -> pd.DataFrame:
    """Read a canonical long table written by :func:`write_csv_atomic`.

    Text columns are read as text (``period`` stays ``"1960"``, ``subsystem`` stays
    ``""``), ``value`` as float. Raises :class:`DataFileError` if the file is missing or
    lacks a canonical column.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    text_columns = {name: str for name in CANONICAL_COLUMNS if name != "value"}
    frame = pd.read_csv(
        file_path,
        dtype=text_columns,
        keep_default_na=False,
        na_values={"value": ["", "NaN", "nan"]},
    )
    for column in CANONICAL_COLUMNS:
        if column not in frame.columns:
            raise DataFileError(str(file_path), "missing canonical column", column=column)
    frame = frame.loc[:, list(CANONICAL_COLUMNS)]
    frame["value"] = frame["value"].astype(float)
    return frame
