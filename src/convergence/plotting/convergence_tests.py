"""Figures of the convergence tests (read the small tables, never recompute the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from convergence.data.canonical import period_to_float
from convergence.errors import InputError
from convergence.plotting.common import plt, save_figure


def _table(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    return pd.read_csv(source, dtype={"period": str, "entity": str})


def _time_axis(periods: pd.Series) -> np.ndarray:
    try:
        return period_to_float(periods.astype(str).to_numpy())
    except InputError:
        codes, _ = pd.factorize(periods, sort=True)
        return codes.astype(float)


def plot_transition_paths(
    transition: pd.DataFrame | str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    title: str = "",
) -> None:
    """Relative transition paths ``h_it`` over time, one line per entity, coloured by club.

    Reads ``transition.csv`` (columns ``entity, period, h, club``). Club 0 (divergent) is
    grey and dashed; a horizontal line marks ``h = 1`` (the cross-section mean).
    """
    table = _table(transition)
    table["t"] = _time_axis(table["period"])
    clubs = sorted(int(club) for club in table["club"].dropna().unique())
    real = [club for club in clubs if club > 0]
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for club in clubs:
        members = table[table["club"] == club]
        colour = "0.55" if club == 0 else colours[(real.index(club)) % 10]
        label = (
            f"divergent ({members['entity'].nunique()})"
            if club == 0
            else f"club {club} ({members['entity'].nunique()})"
        )
        for number, (_, group) in enumerate(members.groupby("entity")):
            ax.plot(
                group["t"],
                group["h"],
                color=colour,
                lw=0.9,
                alpha=0.75,
                ls="--" if club == 0 else "-",
                label=label if number == 0 else None,
            )
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xlabel("period")
    ax.set_ylabel("relative transition h_it")
    ax.legend(loc="best", frameon=False, fontsize=7)
    ax.set_title(f"{title}: relative transition paths by Phillips-Sul club".lstrip(": "))
    save_figure(fig, png, pdf)


def plot_beta_scatter(
    points: pd.DataFrame | str | Path,
    beta: pd.DataFrame | str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    title: str = "",
) -> None:
    """Initial log level against average growth per period, with the absolute-beta fit line.

    Reads ``beta_points.csv`` (``entity, initial, growth``) and ``beta.csv`` (row
    ``kind == "absolute"``: ``intercept``, ``beta``, ``se``, ``half_life``). Entities are
    labelled when there are at most 50.
    """
    table = _table(points)
    fits = _table(beta)
    absolute = fits[fits["kind"] == "absolute"].iloc[0]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(table["initial"], table["growth"], s=18, color="tab:blue", alpha=0.8)
    if len(table) <= 50:
        for _, row in table.iterrows():
            ax.annotate(str(row["entity"]), (row["initial"], row["growth"]), fontsize=6, alpha=0.8)
    if np.isfinite(absolute["beta"]) and np.isfinite(absolute["intercept"]):
        grid = np.linspace(table["initial"].min(), table["initial"].max(), 50)
        half_life = absolute["half_life"]
        life = f", half-life {half_life:.3g}" if np.isfinite(half_life) else ""
        ax.plot(
            grid,
            absolute["intercept"] + absolute["beta"] * grid,
            color="tab:red",
            lw=1.5,
            label=f"beta = {absolute['beta']:.3g} (se {absolute['se']:.2g}){life}",
        )
        ax.legend(loc="best", frameon=False)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("initial level (log)")
    ax.set_ylabel(f"average growth per period over {absolute['T']:g} periods")
    ax.set_title(f"{title}: absolute beta-convergence".lstrip(": "))
    save_figure(fig, png, pdf)


FIGURES = {"transition_paths": plot_transition_paths, "beta_scatter": plot_beta_scatter}
"""Figure name (:data:`convergence.plotting.CONVERGENCE_FIGURES`) -> plot function."""
