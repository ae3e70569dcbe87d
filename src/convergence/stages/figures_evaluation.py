"""Stage of ``figures_evaluation.smk``: one evaluation or scenario figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.plotting import evaluation, scenarios


def run(
    *,
    figure: str,
    source: str | Path | Sequence[str | Path],
    png: str | Path,
    pdf: str | Path,
    title: str | None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Draw ``figure`` from ``source`` (the prediction files for ``forecasts``, else one
    table); ``options`` are the plot function's keyword arguments."""
    figures = {**evaluation.FIGURES, **scenarios.FIGURES}
    if figure not in figures:
        raise ValueError(f"figure must be one of {sorted(figures)}, got {figure!r}")
    figures[figure](source, png, pdf, title=title, **dict(options or {}))
