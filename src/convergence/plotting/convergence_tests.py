"""Figures of the convergence tests (read the small tables, never recompute the tests).

Up to :data:`BAND_THRESHOLD` entities every entity is drawn (one line or labelled point
each); above, the transition paths become club-wise quantile bands with a few named
entities and the beta scatter drops its labels for small translucent points, so a regional
panel of thousands of entities stays legible.
"""

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


#: Entities above which per-entity lines give way to club-wise quantile bands.
BAND_THRESHOLD = 60
#: Quantiles of the bands: (outer low, inner low, median, inner high, outer high).
BAND_QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Entities named on a banded transition figure (half with the highest, half with the
#: lowest final ``h``).
NAMED_ENTITIES = 2


#: How the divergent group (club 0) is drawn apart from the clubs: grey, dashed, its bands
#: hatched instead of filled, and last in the legend.
DIVERGENT_STYLE = {"colour": "0.45", "ls": "--", "hatch": "////"}


def _club_style(club: int, real: list[int]) -> tuple[object, str]:
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    if club == 0:
        return DIVERGENT_STYLE["colour"], "divergent"
    return colours[real.index(club) % 10], f"club {club}"


def group_label(club: int, size: int) -> str:
    """Legend entry of a Phillips-Sul group: ``"club 1 (n = 12)"``, ``"divergent (n = 3)"``."""
    return f"{'divergent' if club == 0 else f'club {club}'} (n = {size})"


def _drawing_order(clubs: list[int]) -> list[int]:
    """Clubs 1, 2, ... first, the divergent group (club 0) last (so also last in the legend)."""
    return [club for club in clubs if club > 0] + [club for club in clubs if club == 0]


def _draw_bands(ax: object, table: pd.DataFrame, clubs: list[int], real: list[int]) -> None:
    """Per club: median ``h`` and the 25-75 % and 10-90 % bands across its entities; the
    entities with the highest and lowest final ``h`` drawn thin and named."""
    for club in _drawing_order(clubs):
        members = table[table["club"] == club]
        colour, _ = _club_style(club, real)
        bands = members.groupby("t")["h"].quantile(list(BAND_QUANTILES)).unstack()
        times = bands.index.to_numpy()
        low, inner_low, median, inner_high, high = (bands[q].to_numpy() for q in BAND_QUANTILES)
        if club == 0:  # no common path: hatched outlines, not filled bands
            for lower, upper in ((low, high), (inner_low, inner_high)):
                ax.fill_between(  # type: ignore[attr-defined]
                    times,
                    lower,
                    upper,
                    facecolor="none",
                    edgecolor=colour,
                    hatch=DIVERGENT_STYLE["hatch"],
                    lw=0,
                    alpha=0.5,
                )
        else:
            ax.fill_between(times, low, high, color=colour, alpha=0.15, lw=0)  # type: ignore[attr-defined]
            ax.fill_between(times, inner_low, inner_high, color=colour, alpha=0.3, lw=0)  # type: ignore[attr-defined]
        ax.plot(  # type: ignore[attr-defined]
            times,
            median,
            color=colour,
            lw=1.8,
            ls=DIVERGENT_STYLE["ls"] if club == 0 else "-",
            label=group_label(club, members["entity"].nunique()),
        )
    last = table[table["t"] == table["t"].max()].sort_values("h")
    half = max(NAMED_ENTITIES // 2, 1)
    named = [*last["entity"].iloc[-half:], *last["entity"].iloc[:half]]
    for entity in dict.fromkeys(named):
        path = table[table["entity"] == entity].sort_values("t")
        ax.plot(path["t"], path["h"], color="black", lw=0.7, alpha=0.8)  # type: ignore[attr-defined]
        ax.annotate(  # type: ignore[attr-defined]
            str(entity),
            (path["t"].iloc[-1], path["h"].iloc[-1]),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )


def plot_transition_paths(
    transition: pd.DataFrame | str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    title: str = "",
) -> None:
    """Relative transition paths ``h_it`` over time, coloured by club.

    Reads ``transition.csv`` (columns ``entity, period, h, club``). Up to
    :data:`BAND_THRESHOLD` entities, one line per entity; above, per club the median and
    the 25-75 % and 10-90 % bands, with the entities of highest and lowest final ``h``
    named. Legend entries give each group's size (:func:`group_label`: ``"club 1 (n =
    12)"``); the divergent entities (club 0) are their own group, drawn last and apart
    (:data:`DIVERGENT_STYLE`: grey, dashed, hatched bands) and labelled ``"divergent (n =
    3)"``. A horizontal line marks ``h = 1`` (the cross-section mean).
    """
    table = _table(transition)
    table["t"] = _time_axis(table["period"])
    clubs = sorted(int(club) for club in table["club"].dropna().unique())
    real = [club for club in clubs if club > 0]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    banded = table["entity"].nunique() > BAND_THRESHOLD
    if banded:
        _draw_bands(ax, table, clubs, real)
    for club in [] if banded else _drawing_order(clubs):
        members = table[table["club"] == club]
        colour, _ = _club_style(club, real)
        label = group_label(club, members["entity"].nunique())
        for number, (_, group) in enumerate(members.groupby("entity")):
            ax.plot(
                group["t"],
                group["h"],
                color=colour,
                lw=1.2 if club == 0 else 0.9,
                alpha=0.9 if club == 0 else 0.75,
                ls=DIVERGENT_STYLE["ls"] if club == 0 else "-",
                label=label if number == 0 else None,
            )
    ax.axhline(1.0, color="black", lw=0.8)
    bands = "; lines: club medians, bands: 25-75 % and 10-90 % of each club's entities"
    ax.set_xlabel("period" + (bands if banded else ""))
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
    labelled when there are at most 50; above :data:`BAND_THRESHOLD` the points shrink and
    turn translucent so that their density shows.
    """
    table = _table(points)
    fits = _table(beta)
    absolute = fits[fits["kind"] == "absolute"].iloc[0]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    dense = len(table) > BAND_THRESHOLD
    style = {"s": 4, "alpha": 0.3, "lw": 0} if dense else {"s": 18, "alpha": 0.8}
    label = f"{len(table)} entities" if dense else None
    ax.scatter(table["initial"], table["growth"], color="tab:blue", label=label, **style)
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
