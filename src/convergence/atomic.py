"""Atomic file writes: every table, JSON and text file the pipeline writes goes through here.

Each writer writes to a temporary file in the target's folder and then replaces the target
in one step (:func:`os.replace`), so a failure never leaves a partial file behind. Parent
folders are created. The file gets the mode the umask gives new files (``0o666 & ~umask``),
not the 0600 of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def umask_file_mode() -> int:
    """The mode a newly created file gets from ``open()``: ``0o666 & ~umask``."""
    # The umask can only be read by setting it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def publish_atomic(temporary: Path | str, target: Path | str) -> None:
    """Give ``temporary`` the umask's file mode, then move it over ``target`` in one step.

    :func:`tempfile.mkstemp` creates files with mode 0600 whatever the umask; without the
    ``chmod`` every table and JSON would be private to its owner, unlike the figures.
    """
    os.chmod(temporary, umask_file_mode())
    os.replace(temporary, target)


@contextmanager
def atomic_target(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` that replaces ``path`` on success.

    The parent folder is created; on any exception the temporary file is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        publish_atomic(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json_atomic(data: Mapping[str, Any], path: Path | str) -> None:
    """Write ``data`` as indented, key-sorted JSON (``default=str``) with a final newline."""
    with atomic_target(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def write_text_atomic(text: str, path: Path | str) -> None:
    """Write UTF-8 ``text``."""
    with atomic_target(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_csv_atomic(frame: pd.DataFrame, path: Path | str, *, index: bool = False) -> None:
    """Write ``frame`` as CSV (without its index unless ``index``)."""
    with atomic_target(path) as temporary:
        frame.to_csv(temporary, index=index)


def write_parquet_atomic(frame: pd.DataFrame, path: Path | str) -> None:
    """Write ``frame`` (without its index) as Parquet (pyarrow)."""
    with atomic_target(path) as temporary:
        frame.to_parquet(temporary, index=False, engine="pyarrow")
