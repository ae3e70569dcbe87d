"""Errors the pipeline reports to users.

Every error a user can cause (bad file, bad column, bad config key) is an
:class:`InputError` whose message names where the problem is, so the command-line
glue can print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """A problem with user-supplied data or configuration."""


class DataFileError(InputError):
    """A data file is missing, corrupt or malformed.

    The message names the file and, where known, the column and row.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        where = [f"file {path}"]
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {problem}")
        self.path = path
        self.column = column
        self.row = row


class ConfigError(InputError):
    """A configuration value is missing, of the wrong type or refers to nothing."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config key {key}: {problem}")
        self.key = key


class SeriesTooShortError(InputError):
    """A series has fewer periods than a window, horizon and backtest need."""
