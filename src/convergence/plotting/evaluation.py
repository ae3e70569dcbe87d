"""Figures of the evaluation stage, each drawn from the small CSVs the stage writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from convergence.data.canonical import period_frequency, period_to_float
from convergence.errors import ConfigError
from convergence.evaluation.scores import (
    ALL_HORIZONS,
    RANKING_METRIC,
    load_predictions,
    seed_mean_forecasts,
)
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


def period_axis_values(labels: Sequence[str] | pd.Series) -> np.ndarray:
    """Plot positions of canonical period labels: dates for monthly and quarterly data.

    Monthly (``"1939-02"``) and quarterly (``"1939Q2"``) labels become ``datetime64``
    values at the start of the period, so matplotlib draws a date axis (months and years,
    not decimal years); annual labels stay decimal years
    (:func:`~convergence.data.canonical.period_to_float`), and so does a mix of
    frequencies.
    """
    text = [str(label) for label in labels]
    if not text:
        return np.empty(0, dtype=float)
    frequencies = {period_frequency(label) for label in set(text)}
    if frequencies == {"monthly"}:
        return pd.PeriodIndex(text, freq="M").to_timestamp().to_numpy()
    if frequencies == {"quarterly"}:
        return pd.PeriodIndex(text, freq="Q").to_timestamp().to_numpy()
    return period_to_float(text)


def _date_axis(ax, values: np.ndarray) -> None:
    """Concise date ticks when ``values`` are dates (see :func:`period_axis_values`)."""
    if np.issubdtype(np.asarray(values).dtype, np.datetime64):
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


FORECAST_TARGET_NOTE = (
    "Target: D recomputed per backtest fold (min-max bounds fitted on the fold's training "
    "periods, widened by the target headroom, clipped to [0, 1]); not the D of "
    "measure/coupling.csv, whose bounds span the whole data set."
)
"""The note under ``forecasts.png``: what the plotted D is."""


def choose_forecast_entities(
    averaged: pd.DataFrame,
    *,
    reference: str,
    entities: Sequence[str] | None = None,
    dataset: str | None = None,
) -> list[tuple[str, str]]:
    """The entities ``forecasts.png`` draws, each with the reason it was chosen.

    ``averaged`` holds seed-mean forecasts (:func:`seed_mean_forecasts`). With
    ``entities`` (``datasets.<name>.figure_entities``) those, in that order; otherwise up
    to three distinct entities: the **largest** (highest mean actual D over the test
    forecasts, i.e. the highest level of the target), the **median** and the **worst**
    forecast one by the reference model's MAE (the median: the lower middle of the
    entities sorted by MAE). Without reference forecasts the first model in name order
    plays its part.

    Raises:
        ConfigError: a configured entity has no forecasts; names the config key.
    """
    present = sorted({str(e) for e in averaged["entity"]})
    if entities:
        missing = [str(e) for e in entities if str(e) not in present]
        if missing:
            shown = ", ".join(present[:10]) + (" ..." if len(present) > 10 else "")
            key = f"datasets.{dataset}.figure_entities" if dataset else "figure_entities"
            raise ConfigError(key, f"no forecasts for {missing}; entities with forecasts: {shown}")
        return [(str(e), "configured") for e in entities]
    if not present:
        return []
    models = set(averaged["model"])
    scorer = reference if reference in models else sorted(models)[0]
    rows = averaged[averaged["model"] == scorer]
    error = (rows["actual"] - rows["predicted"]).abs().groupby(rows["entity"].astype(str)).mean()
    level = averaged.drop_duplicates(["fold", "entity", "origin", "horizon"])
    level = level.groupby(level["entity"].astype(str))["actual"].mean()
    chosen: list[tuple[str, str]] = []

    def take(ordered: Sequence[str], role: str) -> None:
        for entity in ordered:
            if entity not in {c[0] for c in chosen}:
                chosen.append((entity, role))
                return

    take(list(level.sort_values(ascending=False, kind="stable").index), "largest mean D")
    by_error = list(error.sort_values(kind="stable").index)
    if by_error:
        middle = (len(by_error) - 1) // 2
        take(
            by_error[middle:] + by_error[:middle][::-1],
            f"median {scorer} MAE {error[by_error[middle]]:.3f}",
        )
        take(by_error[::-1], f"worst {scorer} MAE {error[by_error[-1]]:.3f}")
    return chosen


def plot_forecasts(
    predictions: str | Path | Sequence[str | Path],
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    reference: str,
    naive: str = "naive",
    entities: Sequence[str] | None = None,
    dataset: str | None = None,
    title: str | None = None,
) -> None:
    """Forecast against actual for a few informative entities, every origin.

    Entities from :func:`choose_forecast_entities` (configured, or the largest, the
    median- and the worst-forecast one), each panel titled with why it was chosen. Draws
    the actual series, the reference model's seed-mean forecast path from each origin
    (solid) and the naive baseline's (dashed); monthly and quarterly periods on a date
    axis (:func:`period_axis_values`); a note says what the target D is.
    """
    paths = [predictions] if isinstance(predictions, str | Path) else list(predictions)
    frame = load_predictions(paths)
    averaged = seed_mean_forecasts(frame)
    chosen = choose_forecast_entities(
        averaged, reference=reference, entities=entities, dataset=dataset
    )
    if not chosen:
        _empty(png, pdf, "no forecasts", title)
        return
    ncols = min(3, len(chosen))
    nrows = int(np.ceil(len(chosen) / ncols))
    figure, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.2 * nrows), squeeze=False)
    for ax, (entity, role) in zip(axes.ravel(), chosen, strict=False):
        rows = averaged[averaged["entity"].astype(str) == entity]
        actual = rows.drop_duplicates("period").sort_values("period")
        x_actual = period_axis_values(actual["period"])
        ax.plot(x_actual, actual["actual"], color="black", lw=1.5, label="actual")
        for model, style, color in ((reference, "-", "tab:blue"), (naive, "--", "tab:orange")):
            by_model = rows[rows["model"] == model]
            for i, (_, path) in enumerate(by_model.groupby(["fold", "origin"], sort=True)):
                path = path.sort_values("horizon")
                ax.plot(
                    period_axis_values(path["period"]),
                    path["predicted"],
                    style,
                    color=color,
                    lw=1.0,
                    marker=".",
                    label=(f"{model} (seed mean)" if model == reference else model)
                    if i == 0
                    else None,
                )
        _date_axis(ax, x_actual)
        ax.set_title(f"{entity} ({role})")
        ax.set_xlabel("period")
        ax.set_ylabel("D (fold target)")
    for ax in axes.ravel()[len(chosen) :]:
        ax.set_axis_off()
    axes.ravel()[0].legend(fontsize=7)
    _title(figure, title)
    figure.tight_layout()
    figure.text(0.5, -0.02, FORECAST_TARGET_NOTE, ha="center", va="top", fontsize=7, wrap=True)
    save_figure(figure, png, pdf)


def plot_error_by_horizon(
    summary: str | Path,
    png: str | Path,
    pdf: str | Path | None = None,
    *,
    metric: str = RANKING_METRIC,
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
    metric: str = RANKING_METRIC,
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
    if metric in ("MASE", "pooled_MASE"):
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
    metric: str = RANKING_METRIC,
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
    # Untestable comparisons have no Holm p-value (comparisons.py); pivot_table would drop
    # every cell of an all-NaN table: empty axes.
    if frame["p_holm"].isna().all():
        _empty(
            png,
            pdf,
            "no testable DM comparison: too few aligned forecasts or origins (dm_few_forecasts)",
            title,
        )
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
    metric: str = RANKING_METRIC,
    title: str | None = None,
) -> None:
    """Grouped bars: one group per data set, one bar per model (mean over seeds) of the
    ranking metric; the secondary columns of the table (``"<data set> (mean MASE)"``,
    :func:`~convergence.evaluation.summary.secondary_column`) are left out."""
    frame = pd.read_csv(cross_dataset, dtype={"model": str}).set_index("model")
    frame = frame.loc[:, [c for c in frame.columns if not str(c).endswith(")")]]
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
