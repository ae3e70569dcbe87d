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
    spec: Mapping[str, Any] | None = None,
) -> None:
    """Draw ``figure`` from ``source`` (the prediction files for ``forecasts``, else one
    table); ``options`` are the plot function's keyword arguments. For ``forecasts`` the
    data set's entry ``spec`` gives the entities to draw (``figure_entities``; default:
    :func:`~convergence.plotting.evaluation.choose_forecast_entities`), and ``title`` its
    name, for the error that names the config key."""
    figures = {**evaluation.FIGURES, **scenarios.FIGURES}
    if figure not in figures:
        raise ValueError(f"figure must be one of {sorted(figures)}, got {figure!r}")
    keywords = dict(options or {})
    if figure == "forecasts" and spec is not None:
        keywords.setdefault("entities", spec.get("figure_entities"))
        keywords.setdefault("dataset", title)
    figures[figure](source, png, pdf, title=title, **keywords)
