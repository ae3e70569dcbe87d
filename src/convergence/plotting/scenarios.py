"""Figures of scenario (what-if) effects and permutation attribution (read CSVs only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from convergence.plotting.common import plt, save_figure

SENSITIVITY_NOTE = "forecast-model sensitivity, not a causal effect"


def _scenario_label(indicator: str, change: float) -> str:
    return f"{indicator} {change:+.0%}"


def plot_scenarios(
    scenario_summary: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """Mean change of predicted D per horizon, one line per scenario, ±1 std across seeds."""
    table = pd.read_csv(scenario_summary, dtype={"indicator": str})
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = (
        table.groupby(["indicator", "change"], sort=False)
        if {"indicator", "change"} <= set(table.columns)
        else [(("scenario", np.nan), table)]
    )
    n_lines = 0
    for (indicator, change), group in groups:
        group = group.sort_values("horizon")
        label = indicator if pd.isna(change) else _scenario_label(indicator, float(change))
        errors = group["std_delta"].fillna(0.0).to_numpy(dtype=float)
        ax.errorbar(
            group["horizon"] + 0.05 * n_lines,
            group["mean_delta"],
            yerr=errors,
            marker="o",
            capsize=3,
            label=label,
        )
        n_lines += 1
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("forecast horizon (periods after the origin)")
    ax.set_ylabel("mean change of predicted D")
    if len(table):
        ax.set_xticks(sorted(table["horizon"].unique()))
    if n_lines:
        ax.legend(frameon=False, fontsize=8)
    ax.text(
        0.01,
        0.02,
        f"{SENSITIVITY_NOTE}; bars: ±1 std across seeds",
        transform=ax.transAxes,
        fontsize=7,
        style="italic",
        color="dimgray",
    )
    ax.set_title(f"{title}: scenario effect on forecast D (last fold)")
    save_figure(fig, png, pdf)


def plot_attribution(
    attribution: str | Path, png: str | Path, pdf: str | Path | None = None, title: str = ""
) -> None:
    """Permutation importance (increase in MSE) per feature as horizontal bars."""
    table = pd.read_csv(attribution, dtype={"feature": str}).sort_values("importance_mean")
    height = max(2.5, 0.3 * len(table) + 1.2)
    fig, ax = plt.subplots(figsize=(7, height))
    ax.barh(
        table["feature"],
        table["importance_mean"],
        xerr=table["importance_std"].fillna(0.0),
        capsize=3,
        color="steelblue",
    )
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("increase in MSE when permuted (mean ± std over repeats and seeds)")
    ax.text(
        0.99,
        0.02,
        SENSITIVITY_NOTE,
        transform=ax.transAxes,
        ha="right",
        fontsize=7,
        style="italic",
        color="dimgray",
    )
    ax.set_title(f"{title}: permutation importance (validation + test windows)")
    save_figure(fig, png, pdf)


FIGURES = {"scenarios": plot_scenarios, "attribution": plot_attribution}
"""Figure name (:data:`convergence.plotting.SCENARIO_FIGURES`) -> plot function."""
