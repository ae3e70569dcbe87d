"""Data checks: what a stage dropped or found suspicious, logged and kept in provenance.

A stage that drops rows, fills values or meets data that make its numbers mean little
(one entity, a constant indicator, bounds set by one entity, ...) creates a
:class:`DataCheck`, passes it to :func:`report` (which logs it as a WARNING and returns a
JSON-able dict) and stores the list of those dicts under the key :data:`DATA_CHECKS_KEY`
(``"data_checks"``) of its provenance JSON. A stage with nothing to report stores an
empty list, so "no key" means "stage predates the checks", never "all fine".

:func:`data_checks_markdown` renders the checks of one data set (by stage) as Markdown
for ``summary.md`` and the report.

This module is a bottom layer: it imports only the standard library and the project's
errors, so every other module can use it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convergence.errors import InputError

__all__ = [
    "DATA_CHECKS_KEY",
    "DataCheck",
    "check",
    "data_checks_markdown",
    "report",
]

DATA_CHECKS_KEY = "data_checks"
"""Key of the list of data checks in every stage's provenance JSON."""

#: How many names a Markdown line lists before it says "and N more".
_MAX_NAMES = 10

log = logging.getLogger("convergence.data_checks")


@dataclass(frozen=True)
class DataCheck:
    """One finding of a stage about its data.

    Attributes:
        stage: the stage that found it (``ingest``, ``normalize``, ``measure``, ...).
        code: a short stable identifier (``entity_periods_without_D``), for tests and
            filters; the message is for people.
        message: one or two sentences that say what was found, what the stage did about
            it and, where there is one, which config key changes that.
        details: JSON-able facts behind the message; by convention ``entities`` (list of
            names), ``periods`` (list of labels), ``indicators`` (list of names),
            ``counts`` (``{name: count}``) and ``rows`` (an int).
    """

    stage: str
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("stage", "code", "message"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InputError(f"DataCheck.{name} must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        """The check as a JSON-able dict (details converted recursively)."""
        return {
            "stage": self.stage,
            "code": self.code,
            "message": self.message,
            "details": _jsonable(dict(self.details)),
        }


def _jsonable(value: Any) -> Any:
    """Convert mappings, sequences, sets and numpy-like scalars to plain JSON types."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (str, bytes)):
        return value.decode() if isinstance(value, bytes) else value
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(item) for item in value)
    if isinstance(value, Iterable):
        return [_jsonable(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    # numpy scalars and the like: use their Python value when they have one.
    item = getattr(value, "item", None)
    if callable(item):
        return _jsonable(item())
    return str(value)


def report(data_check: DataCheck, logger: logging.Logger | None = None) -> dict[str, Any]:
    """Log ``data_check`` as a WARNING (``[stage] code: message``) and return its dict."""
    (logger or log).warning("[%s] %s: %s", data_check.stage, data_check.code, data_check.message)
    return data_check.to_dict()


def check(stage: str, code: str, message: str, **details: Any) -> dict[str, Any]:
    """Shorthand: build a :class:`DataCheck`, :func:`report` it and return its dict."""
    return report(DataCheck(stage=stage, code=code, message=message, details=details))


def _names(values: Sequence[Any]) -> str:
    shown = ", ".join(str(value) for value in values[:_MAX_NAMES])
    more = len(values) - _MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _detail_text(details: Mapping[str, Any]) -> str:
    """A short text of the named entities, periods, indicators and counts."""
    parts = []
    for key in ("entities", "periods", "indicators"):
        values = details.get(key)
        if isinstance(values, Sequence) and not isinstance(values, str) and values:
            parts.append(f"{key}: {_names(list(values))}")
    counts = details.get("counts")
    if isinstance(counts, Mapping) and counts:
        items = [f"{name} {count}" for name, count in counts.items()]
        parts.append(f"counts: {_names(items)}")
    return "; ".join(parts)


def data_checks_markdown(checks_by_stage: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Markdown list of the data checks of one data set, in stage order.

    ``checks_by_stage`` maps a stage name to the ``data_checks`` list of its provenance
    (a stage without the key may be left out or map to an empty list). Each check is one
    line ``- **stage** `code`: message (entities: ...; counts: ...)``; long name lists are
    cut after ten names. Without any check the text says so in one line. The caller adds
    the heading ("Data checks" per data set).
    """
    lines = []
    for stage, checks in checks_by_stage.items():
        for item in checks or []:
            detail = _detail_text(item.get("details") or {})
            suffix = f" ({detail})" if detail else ""
            code = item.get("code", "check")
            message = str(item.get("message", "")).replace("\n", " ")
            lines.append(f"- **{item.get('stage', stage)}** `{code}`: {message}{suffix}")
    if not lines:
        return "- No data checks: no stage dropped data or found a problem.\n"
    return "\n".join(lines) + "\n"
