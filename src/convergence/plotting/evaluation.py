"""Figures of the evaluation stage, each drawn from the small CSVs the stage writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from convergence.data.canonical import period_to_float
from convergence.evaluation.scores import ALL_HORIZONS, load_predictions, seed_mean_forecasts
from convergence.evaluation.tables import TEXT_ID_COLUMNS
from convergence.plotting.common import plt, save_figure


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(
        path, dtype={"dataset": str, "model": str, "horizon": str, **TEXT_ID_COLUMNS}
    )


def _title(target, title: str | None) -> None:
    """Figure suptitle or axes title, when one is given."""
    if not title:
        return
    if hasattr(target, "suptitle"):
        target.suptitle(title)
    else:
        target.set_title(title)


def _empty(png: str | Path, pdf: str | Path | None, message: str, title: str | None) -> None:
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()
    _title(figure, title)
    save_figure(figure, png, pdf)


def plot_forecasts(
    predictions: str | Path | Sequence[str | Path],
    png: str | Path,
    pdf: str | Path | None = None,
    n_entities: int = 4,
    *,
    reference: str,
    naive: str = "naive",
    title: str | None = None,
) -> None:
    """Forecast against actual for the first ``n_entities`` entities, every origin.

    Draws the actual series, the reference model's seed-mean forecast path from each
    origin (solid) and the naive baseline's (dashed).
    """
    paths = [predictions] if isinstance(predictions, str | Path) else list(predictions)
    frame = load_predictions(paths)
    averaged = seed_mean_forecasts(frame)
    entities = sorted(frame["entity"].unique())[:n_entities]
    if not entities:
        _empty(png, pdf, "no forecasts", title)
        return
    ncols = min(2, len(entities))
    nrows = int(np.ceil(len(entities) / ncols))
    figure, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 3.2 * nrows), squeeze=False)
    for ax, entity in zip(axes.ravel(), entities, strict=False):
        rows = averaged[averaged["entity"] == entity]
        actual = rows.drop_duplicates("period").sort_values("period")
        ax.plot(
            period_to_float(actual["period"]),
            actual["actual"],
            color="black",
            lw=1.5,
            label="actual",
        )
        for model, style, color in ((reference, "-", "tab:blue"), (naive, "--", "tab:orange")):
            by_model = rows[rows["model"] == model]
            for i, (_, path) in enumerate(by_model.groupby(["fold", "origin"], sort=True)):
                path = path.sort_values("horizon")
                ax.plot(
                    period_to_float(path["period"]),
                    path["predicted"],
                    style,
                    color=color,
                    lw=1.0,
                    marker=".",
                    label=(f"{model} (seed mean)" if model == reference else model)
                    if i == 0
                    else None,
                )
        ax.set_title(str(entity))
        ax.set_xlabel("period")
        ax.set_ylabel("D")
    for ax in axes.ravel()[len(entities) :]:
        ax.set_axis_off()
    axes.ravel()[0].legend(fontsize=7)
    _title(figure, title)
    figure.tight_layout()
    save_figure(figure, png, pdf)


def plot_error_by_horizon(
    summary: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    metric: str = "MASE",
    title: str | None = None,
) -> None:
    """Metric (mean over seeds, error bars = std) against forecast horizon, one line per model."""
    frame = _read(summary)
    frame = frame[frame["horizon"] != ALL_HORIZONS].copy()
    if frame.empty:
        _empty(png, pdf, "no per-horizon scores", title)
        return
    frame["h"] = frame["horizon"].astype(float).astype(int)
    figure, ax = plt.subplots(figsize=(6.5, 4))
    for model, rows in frame.groupby("model", sort=True):
        rows = rows.sort_values("h")
        ax.errorbar(
            rows["h"],
            rows[f"{metric}_mean"],
            yerr=rows[f"{metric}_std"].fillna(0.0),
            marker="o",
            capsize=3,
            label=model,
        )
    ax.set_xlabel("horizon")
    ax.set_ylabel(metric)
    ax.set_xticks(sorted(frame["h"].unique()))
    ax.legend(fontsize=7, ncols=2)
    _title(ax, title)
    save_figure(figure, png, pdf)


def plot_model_comparison(
    summary: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    metric: str = "MASE",
    horizon: str = ALL_HORIZONS,
    title: str | None = None,
) -> None:
    """Horizontal bars of the metric per model at one horizon; error bars = std over seeds."""
    frame = _read(summary)
    frame = frame[frame["horizon"] == str(horizon)].sort_values(f"{metric}_mean", ascending=False)
    if frame.empty:
        _empty(png, pdf, f"no scores at horizon {horizon}", title)
        return
    figure, ax = plt.subplots(figsize=(6.5, 0.4 * len(frame) + 1.5))
    ax.barh(
        frame["model"],
        frame[f"{metric}_mean"],
        xerr=frame[f"{metric}_std"].fillna(0.0),
        capsize=3,
        color="tab:blue",
    )
    if metric == "MASE":
        ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_xlabel(f"{metric} (mean over seeds, horizon {horizon})")
    _title(ax, title)
    save_figure(figure, png, pdf)


def plot_ablation(
    summary: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    reference: str,
    ablations: Sequence[str],
    metric: str = "MASE",
    horizon: str = ALL_HORIZONS,
    title: str | None = None,
) -> None:
    """Change in the metric of each ablation variant against the full model (positive = worse)."""
    frame = _read(summary)
    frame = frame[frame["horizon"] == str(horizon)].set_index("model")
    variants = [m for m in ablations if m in frame.index and m != reference]
    if reference not in frame.index or not variants:
        _empty(png, pdf, f"no ablation variants of {reference}", title)
        return
    base = float(frame.loc[reference, f"{metric}_mean"])
    change = frame.loc[variants, f"{metric}_mean"].astype(float) - base
    labels = [m.removeprefix(f"{reference}_") for m in variants]
    figure, ax = plt.subplots(figsize=(6.5, 0.4 * len(variants) + 1.5))
    colors = ["tab:red" if v > 0 else "tab:green" for v in change]
    ax.barh(
        labels,
        change,
        xerr=frame.loc[variants, f"{metric}_std"].fillna(0.0),
        color=colors,
        capsize=3,
    )
    ax.axvline(0.0, color="black", lw=1)
    ax.set_xlabel(f"{metric} change vs {reference} ({base:.3f}); > 0: variant worse")
    _title(ax, title)
    save_figure(figure, png, pdf)


def plot_dm_heatmap(
    dm_tests: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    title: str | None = None,
) -> None:
    """Models x horizons heatmap of Holm-adjusted DM p-values; '+' reference better, '-' worse."""
    frame = pd.read_csv(dm_tests, dtype={"model": str})
    if frame.empty:
        _empty(png, pdf, "no DM tests", title)
        return
    if frame["p_holm"].isna().all():  # pivot_table would drop every cell: empty axes
        _empty(png, pdf, "no DM test defined: too few aligned forecasts (dm_few_forecasts)", title)
        return
    p = frame.pivot_table(
        index="model", columns="horizon", values="p_holm", aggfunc="first", dropna=False
    )
    better = frame.pivot_table(
        index="model", columns="horizon", values="better", aggfunc="first", dropna=False
    )
    figure, ax = plt.subplots(figsize=(1.0 * p.shape[1] + 3, 0.45 * p.shape[0] + 1.5))
    image = ax.imshow(p.to_numpy(dtype=float), cmap="viridis_r", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(p.shape[1]), [str(c) for c in p.columns])
    ax.set_yticks(range(p.shape[0]), list(p.index))
    ax.grid(False)
    mark = {"reference": " +", "model": " -", "neither": ""}
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            value = p.iat[i, j]
            text = "n/a" if pd.isna(value) else f"{value:.2f}{mark.get(better.iat[i, j], '')}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="black" if pd.isna(value) or value < 0.5 else "white",
            )
    ax.set_xlabel("horizon")
    reference = frame["reference"].iloc[0] if "reference" in frame else "reference"
    figure.colorbar(image, ax=ax, label=f"Holm p-value ({reference} vs model)")
    _title(ax, title)
    save_figure(figure, png, pdf)


def plot_experiment_scores(
    cross_dataset: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    metric: str = "MASE",
    title: str | None = None,
) -> None:
    """Grouped bars: one group per data set, one bar per model (mean over seeds)."""
    frame = pd.read_csv(cross_dataset, dtype={"model": str}).set_index("model")
    if frame.empty:
        _empty(png, pdf, "no scores", title)
        return
    datasets = list(frame.columns)
    models = list(frame.index)
    width = 0.8 / len(models)
    x = np.arange(len(datasets))
    figure, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(datasets) + 2), 4))
    cmap = plt.get_cmap("tab20")
    for k, model in enumerate(models):
        ax.bar(
            x + (k - (len(models) - 1) / 2) * width,
            frame.loc[model].to_numpy(dtype=float),
            width,
            label=model,
            color=cmap(k % 20),
        )
    ax.set_xticks(x, datasets)
    ax.set_ylabel(f"{metric} (mean over seeds)")
    ax.legend(fontsize=7, ncols=2)
    _title(ax, title)
    save_figure(figure, png, pdf)


FIGURES = {
    # per data set (rule figure_evaluation / figure_forecasts)
    "forecasts": plot_forecasts,
    "error_by_horizon": plot_error_by_horizon,
    "model_comparison": plot_model_comparison,
    "ablation": plot_ablation,
    "dm_heatmap": plot_dm_heatmap,
    "experiment_scores": plot_experiment_scores,
}
"""Figure name (``params.figure`` of the Snakemake rule) -> plot function."""
