"""Data: readers for each source format, the canonical long table and ingestion.

Public API:

- :func:`ingest_dataset`, :func:`write_ingest_outputs` (config entry -> canonical table)
- :data:`READERS`, :class:`RawTable` (one reader per source format)
- :data:`CANONICAL_COLUMNS`, :func:`read_canonical`, :func:`to_wide`,
  :func:`period_to_float`, :func:`write_csv_atomic`, :func:`sha256_file`,
  :func:`verify_sha256`
- :func:`simulate_coupled_industries` (synthetic panel with known coupling)
"""

from convergence.data.canonical import (
    CANONICAL_COLUMNS,
    FREQUENCIES,
    normalise_period,
    period_frequency,
    period_to_float,
    read_canonical,
    sha256_file,
    to_wide,
    verify_sha256,
    write_csv_atomic,
    write_text_atomic,
)
from convergence.data.ingest import ingest_dataset, write_ingest_outputs
from convergence.data.readers import READERS, READERS_WITHOUT_FILE, RawTable, Reader
from convergence.data.synthetic import SYNTHETIC_INDICATORS, simulate_coupled_industries

__all__ = [
    "CANONICAL_COLUMNS",
    "FREQUENCIES",
    "READERS",
    "READERS_WITHOUT_FILE",
    "SYNTHETIC_INDICATORS",
    "RawTable",
    "Reader",
    "ingest_dataset",
    "normalise_period",
    "period_frequency",
    "period_to_float",
    "read_canonical",
    "sha256_file",
    "simulate_coupled_industries",
    "to_wide",
    "verify_sha256",
    "write_csv_atomic",
    "write_ingest_outputs",
    "write_text_atomic",
]
