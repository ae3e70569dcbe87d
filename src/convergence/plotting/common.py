"""Shared matplotlib set-up: headless backend, one style, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and cluster nodes have no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 9,
    }
)


def save_figure(figure: Figure, png: str | Path, pdf: str | Path | None = None) -> None:
    """Save ``figure`` as PNG (and PDF) and close it."""
    for path in (png, pdf):
        if path is None:
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, bbox_inches="tight")
    plt.close(figure)


def note_figure(
    png: str | Path, pdf: str | Path | None, message: str, title: str | None = None
) -> None:
    """A figure that says why there is nothing to draw (instead of empty axes)."""
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=axes.transAxes)
    axes.set_axis_off()
    if title:
        figure.suptitle(title)
    save_figure(figure, png, pdf)
