"""Stage of ``figures.smk``: one figure of the descriptive measures of a data set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from convergence.plotting.measures import FIGURES


def run(
    *, figure: str, inputs: Mapping[str, str | Path], png: str | Path, pdf: str | Path, title: str
) -> None:
    """Draw ``figure`` (a key of :data:`~convergence.plotting.measures.FIGURES`) from the
    rule's named inputs (the plot function's table arguments)."""
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {sorted(FIGURES)}, got {figure!r}")
    FIGURES[figure](**{k: str(v) for k, v in inputs.items()}, png=png, pdf=pdf, title=title)
