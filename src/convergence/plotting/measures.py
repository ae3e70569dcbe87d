"""Figures of the descriptive convergence measures (read small CSVs, never recompute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence.data.canonical import period_to_float
from convergence.plotting.common import note_figure, plt, save_figure


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"period": str, "entity": str})


def plot_trajectories(
    coupling: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """D (and adjusted D) over time: one thin line per entity, the cross-entity median bold."""
    table = _read(coupling)
    table["t"] = period_to_float(table["period"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, column, label in (
        (axes[0], "D", "coupling coordination degree D"),
        (axes[1], "D_adjusted", "D with adjusted coupling (Wang et al. 2021)"),
    ):
        for _, group in table.groupby("entity"):
            ax.plot(group["t"], group[column], lw=0.7, alpha=0.45)
        median = table.groupby("t")[column].median()
        ax.plot(median.index, median.values, color="black", lw=2.2, label="median over entities")
        ax.set_title(label)
        ax.set_xlabel("period")
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", frameon=False)
    axes[0].set_ylabel("index (0-1)")
    fig.suptitle(f"{title}: convergence index per entity ({table['entity'].nunique()} entities)")
    save_figure(fig, png, pdf)


def plot_heatmap(
    coupling: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """Entity x period heatmap of D; blank cells are periods without data."""
    table = _read(coupling)
    grid = table.pivot(index="entity", columns="period", values="D").sort_index(axis=1)
    height = max(2.5, 0.18 * len(grid) + 1.2)
    fig, ax = plt.subplots(figsize=(10, height))
    image = ax.imshow(
        grid.to_numpy(dtype=float),
        aspect="auto",
        vmin=0,
        vmax=1,
        cmap="viridis",
        interpolation="nearest",
    )
    ax.set_yticks(range(len(grid)), grid.index, fontsize=6 if len(grid) > 20 else 8)
    step = max(1, grid.shape[1] // 12)
    ax.set_xticks(range(0, grid.shape[1], step), grid.columns[::step], rotation=45, ha="right")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="D")
    ax.set_title(f"{title}: coupling coordination degree by entity and period")
    save_figure(fig, png, pdf)


def plot_grades(
    grades: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """Share of entities in each coordination grade per period (stacked areas)."""
    table = _read(grades)
    shares = table.pivot(index="period", columns="grade", values="share").fillna(0.0)
    order = table.drop_duplicates("grade").sort_values("grade_rank")["grade"].tolist()
    shares = shares.reindex(columns=order).sort_index()
    t = period_to_float(pd.Series(shares.index))
    colors = plt.cm.RdYlGn(np.linspace(0.05, 0.95, len(order)))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.stackplot(t, shares.T.to_numpy(), labels=order, colors=colors, alpha=0.9)
    ax.set_ylim(0, 1)
    ax.set_xlabel("period")
    ax.set_ylabel("share of entities")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
    ax.set_title(f"{title}: distribution of coordination grades (from D)")
    save_figure(fig, png, pdf)


def plot_structure(
    structure: str | Path,
    sigma: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    title: str = "",
) -> None:
    """Mean pairwise structural similarity (cosine, Krugman) and sigma of D over time.

    Both compare entities: with one entity (or no pair with structure data) a panel
    without any value says why in words instead of drawing empty axes, and when both are
    empty the figure is one note (:func:`structure_notes`), so the declared PNG and PDF
    still exist.
    """
    pairs = _read(structure)
    spread = _read(sigma)
    notes = structure_notes(pairs, spread)
    if notes["structure"] and notes["sigma"]:
        note_figure(
            png, pdf, f"{notes['structure']}\n{notes['sigma']}", f"{title}: structural convergence"
        )
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _line_panel(
        axes[0],
        "sector-structure similarity across entities",
        notes["structure"],
        pairs,
        {
            "cosine_mean": "cosine similarity (mean of pairs)",
            "krugman_mean": "Krugman dissimilarity (mean of pairs)",
        },
    )
    _line_panel(
        axes[1],
        "sigma-convergence of D",
        notes["sigma"],
        spread,
        {"std": "std of D across entities", "cv": "coefficient of variation of D"},
    )
    fig.suptitle(f"{title}: structural convergence")
    save_figure(fig, png, pdf)


def _line_panel(
    axis: Any, title: str, note: str, frame: pd.DataFrame, lines: dict[str, str]
) -> None:
    """One panel: the ``lines`` (column -> label) of ``frame`` over its periods, or ``note``."""
    axis.set_title(title)
    if note:
        _axis_note(axis, note)
        return
    t = period_to_float(frame["period"])
    for column, label in lines.items():
        axis.plot(t, frame[column], label=label)
    axis.set_xlabel("period")
    axis.legend(frameon=False)


def structure_notes(pairs: pd.DataFrame, spread: pd.DataFrame) -> dict[str, str]:
    """Why a panel of :func:`plot_structure` has nothing to draw (``""`` when it has).

    ``pairs`` is ``structure_convergence.csv`` (``cosine_mean``, ``krugman_mean`` per
    period), ``spread`` is ``sigma_convergence.csv`` (``n``, ``std``, ``cv`` per period).
    """
    counts = pd.to_numeric(spread["n"], errors="coerce") if "n" in spread.columns else None
    one = counts is None or not (counts >= 2).any()
    similarity = [c for c in ("cosine_mean", "krugman_mean") if c in pairs.columns]
    has_pairs = bool(len(pairs)) and bool(pairs[similarity].notna().to_numpy().any())
    dispersion = [c for c in ("std", "cv") if c in spread.columns]
    has_sigma = bool(len(spread)) and bool(spread[dispersion].notna().to_numpy().any())
    return {
        "structure": ""
        if has_pairs
        else (
            "one entity: structural similarity compares pairs of entities; not defined"
            if one
            else "no pair of entities with structure data in any period"
        ),
        "sigma": ""
        if has_sigma
        else (
            "one entity: sigma convergence compares entities; not defined"
            if one
            else "no period with two or more entities with D: sigma not defined"
        ),
    }


def _axis_note(axis: plt.Axes, message: str) -> None:
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=axis.transAxes)
    axis.set_axis_off()


FIGURES = {
    "trajectories": plot_trajectories,
    "heatmap": plot_heatmap,
    "grades": plot_grades,
    "structure": plot_structure,
}
"""Figure name (:data:`convergence.plotting.MEASURE_FIGURES`) -> plot function; the
function's keyword arguments before ``png`` are the rule's named inputs."""
