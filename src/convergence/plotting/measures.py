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


#: Above this many entities a figure drawing one line (or heatmap row) per entity draws
#: quantile bands and a few named entities (or ranked groups of entities) instead.
MANY_ENTITIES = 30

#: Rows of the heatmap above :data:`MANY_ENTITIES`: entities ranked and grouped.
HEATMAP_GROUPS = 50

#: Quantile bands over entities, drawn per period above :data:`MANY_ENTITIES`.
BANDS: tuple[tuple[float, float, float], ...] = ((0.10, 0.90, 0.18), (0.25, 0.75, 0.32))


def named_entities(table: pd.DataFrame, column: str) -> dict[str, str]:
    """Label -> entity: the largest, median and smallest ``column`` at the last period.

    The last period is the latest one where some entity has a value; the median entity
    is the one at rank ``n // 2`` of the values sorted ascending (ties by entity name).
    """
    observed = table.dropna(subset=[column])
    if observed.empty:
        return {}
    last = observed[observed["t"] == observed["t"].max()]
    ranked = last.sort_values([column, "entity"], kind="stable")["entity"].tolist()
    return {"largest": ranked[-1], "median": ranked[len(ranked) // 2], "smallest": ranked[0]}


def _band_panel(ax: Any, table: pd.DataFrame, column: str) -> None:
    """Quantile bands of ``column`` over entities per period, the median, named entities."""
    by_period = table.groupby("t")[column]
    for low, high, alpha in BANDS:
        ax.fill_between(
            by_period.quantile(low).index,
            by_period.quantile(low).to_numpy(),
            by_period.quantile(high).to_numpy(),
            color="tab:blue",
            alpha=alpha,
            lw=0,
            label=f"{low:.0%}-{high:.0%} of entities",
        )
    median = by_period.median()
    ax.plot(median.index, median.to_numpy(), color="black", lw=2.2, label="median over entities")
    styles = {"largest": "tab:green", "median": "tab:orange", "smallest": "tab:red"}
    for label, entity in named_entities(table, column).items():
        series = table[table["entity"] == entity].sort_values("t")
        ax.plot(
            series["t"],
            series[column],
            lw=1.0,
            color=styles[label],
            label=f"{entity} ({label} at last period)",
        )


def plot_trajectories(
    coupling: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """D (and adjusted D) over time: one thin line per entity, the cross-entity median bold.

    Above :data:`MANY_ENTITIES` entities, quantile bands (10-90 %, 25-75 %) over entities
    per period, the median, and the entities with the largest, median and smallest value
    at the last period (:func:`named_entities`) instead of one line per entity.
    """
    table = _read(coupling)
    table["t"] = period_to_float(table["period"])
    n_entities = table["entity"].nunique()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, column, label in (
        (axes[0], "D", "coupling coordination degree D"),
        (axes[1], "D_adjusted", "D with adjusted coupling (Wang et al. 2021)"),
    ):
        if n_entities > MANY_ENTITIES:
            _band_panel(ax, table, column)
            ax.legend(loc="lower right", frameon=False, fontsize=6)
        else:
            for _, group in table.groupby("entity"):
                ax.plot(group["t"], group[column], lw=0.7, alpha=0.45)
            median = table.groupby("t")[column].median()
            ax.plot(
                median.index, median.values, color="black", lw=2.2, label="median over entities"
            )
            ax.legend(loc="lower right", frameon=False)
        ax.set_title(label)
        ax.set_xlabel("period")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("index (0-1)")
    fig.suptitle(f"{title}: convergence index per entity ({n_entities} entities)")
    save_figure(fig, png, pdf)


def heatmap_rows(grid: pd.DataFrame, groups: int = HEATMAP_GROUPS) -> pd.DataFrame:
    """Rows of the D heatmap: one per entity, or ranked groups of entities when many.

    With at most :data:`MANY_ENTITIES` entities, ``grid`` (entity x period) unchanged.
    Otherwise entities are ranked by D at their last period with a value (ascending,
    ties by name) and cut into ``groups`` groups of consecutive ranks (sizes differing
    by at most one); a row is the mean D of its group per period (NaN left out), labelled
    ``ranks a-b``.
    """
    if len(grid) <= MANY_ENTITIES:
        return grid
    last = grid.ffill(axis=1).iloc[:, -1].to_numpy(dtype=float)  # NaN (no D) ranks last
    ranked = grid.iloc[np.lexsort((grid.index.to_numpy(dtype=str), last))]
    cuts = np.array_split(np.arange(len(ranked)), min(groups, len(ranked)))
    rows = [ranked.iloc[cut].mean(axis=0) for cut in cuts]
    labels = [f"ranks {cut[0] + 1}-{cut[-1] + 1}" for cut in cuts]
    return pd.DataFrame(rows, index=pd.Index(labels, name="entities"), columns=grid.columns)


def plot_heatmap(
    coupling: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """Entity x period heatmap of D; blank cells are periods without data.

    Above :data:`MANY_ENTITIES` entities, one row per group of entities ranked by D at
    their last period (:func:`heatmap_rows`), the group mean per period.
    """
    table = _read(coupling)
    grid = table.pivot(index="entity", columns="period", values="D").sort_index(axis=1)
    grouped = len(grid) > MANY_ENTITIES
    rows = heatmap_rows(grid)
    height = max(2.5, 0.18 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(10, height))
    image = ax.imshow(
        rows.to_numpy(dtype=float),
        aspect="auto",
        vmin=0,
        vmax=1,
        cmap="viridis",
        interpolation="nearest",
    )
    ax.set_yticks(range(len(rows)), rows.index, fontsize=6 if len(rows) > 20 else 8)
    step = max(1, rows.shape[1] // 12)
    ax.set_xticks(range(0, rows.shape[1], step), rows.columns[::step], rotation=45, ha="right")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="mean D of the group" if grouped else "D")
    if grouped:
        ax.set_ylabel(f"{len(grid)} entities ranked by D at their last period (1 = lowest)")
        ax.set_title(
            f"{title}: coupling coordination degree, {len(rows)} groups of ranked entities"
        )
    else:
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
