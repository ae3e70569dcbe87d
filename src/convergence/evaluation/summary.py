"""The cross-data-set table and ``summary.md``: every sentence generated from result files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.data.canonical import write_text_atomic
from convergence.errors import InputError
from convergence.evaluation.scores import ALL_HORIZONS, METRICS
from convergence.evaluation.tables import best_per_column, markdown_table


def cross_dataset_summary(
    summaries: pd.DataFrame | Sequence[pd.DataFrame], metric: str = "MASE", horizon: str = "all"
) -> pd.DataFrame:
    """Models x data sets table of ``<metric>_mean`` (mean over seeds) at one horizon.

    Returns a frame with a ``model`` column and one column per data set (RangeIndex). The
    mark of the best (lowest) model per data set is ``frame.attrs["best"]``, a mapping
    data set -> row index (see :func:`best_per_column`), as :func:`write_tables` takes it.
    """
    combined = summaries if isinstance(summaries, pd.DataFrame) else pd.concat(list(summaries))
    column = f"{metric}_mean"
    if column not in combined.columns:
        raise InputError(f"summary has no column {column!r}; metrics: {list(METRICS)}")
    subset = combined[combined["horizon"].astype(str) == str(horizon)]
    table = subset.pivot_table(index="model", columns="dataset", values=column, aggfunc="mean")
    table = table.sort_index().reset_index()
    table.columns.name = None
    datasets = [c for c in table.columns if c != "model"]
    table.attrs["best"] = best_per_column(table, datasets)
    return table


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def write_summary_markdown(
    path: str | Path,
    cross_summary: pd.DataFrame,
    per_dataset: Mapping[str, Mapping[str, Any]],
    *,
    metric: str = "MASE",
    reference: str,
) -> None:
    """Write the results summary: the headline table and generated sentences per data set.

    ``per_dataset[ds]`` holds ``best_model``, ``reference_rank`` (rank of the reference,
    1 = best, None if absent), ``n_forecasts``, ``dm_wins`` (comparisons the reference wins
    after Holm), ``dm_losses`` and ``notes`` (list of strings). Every number in the text
    comes from these mappings or from ``cross_summary``.
    """
    best = cross_summary.attrs.get("best") or best_per_column(
        cross_summary, [c for c in cross_summary.columns if c != "model"]
    )
    lines = [
        "# Results summary",
        "",
        f"Mean {metric} over seeds, all horizons pooled; lower is better, best per data set in bold.",
        "",
        markdown_table(cross_summary, best_marks=best).rstrip("\n"),
        "",
    ]
    for dataset, info in per_dataset.items():
        lines += [f"## {dataset}", ""]
        values = (
            cross_summary.set_index("model")[dataset]
            if dataset in cross_summary.columns
            else pd.Series(dtype=float)
        )
        n_models = int(values.notna().sum())
        best_model = info.get("best_model")
        sentences = []
        if best_model is not None and best_model in values.index:
            sentences.append(
                f"The lowest {metric} on {dataset} is {values[best_model]:.3f}, from {best_model} "
                f"({n_models} models compared, {info.get('n_forecasts')} forecasts per model and seed)."
            )
        rank = info.get("reference_rank")
        if rank is not None and reference in values.index:
            sentences.append(
                f"{reference} ranks {_ordinal(int(rank))} of {n_models} with {metric} "
                f"{values[reference]:.3f}."
            )
        else:
            sentences.append(f"{reference} has no {metric} on {dataset}.")
        wins, losses = int(info.get("dm_wins", 0)), int(info.get("dm_losses", 0))
        total = info.get("dm_total")
        of_total = f" of {int(total)}" if total is not None else ""
        sentences.append(
            f"In the Diebold-Mariano tests (Holm-adjusted, 5 % level) {reference} is significantly "
            f"more accurate in {wins}{of_total} comparisons and significantly less accurate in "
            f"{losses}."
        )
        lines.append(" ".join(sentences))
        for note in info.get("notes") or []:
            lines.append(f"- {note}")
        lines.append("")
    write_text_atomic("\n".join(lines), path)


def coupling_recovery_note(recovery: Mapping[str, Any]) -> str:
    """One sentence on :func:`convergence.data.synthetic.coupling_recovery` results."""
    return (
        f"Ground truth: in {recovery['final_period']} the measured coupling degree C ranks the "
        f"{int(recovery['n_entities'])} simulated entities by their true coupling strength "
        f"with Spearman rho = {recovery['spearman_coupling_C']:.2f}; the gap between the "
        f"subsystem indices has rho = {recovery['spearman_coupling_gap']:.2f} "
        "(measure stage, `measure/provenance.json`)."
    )


def dataset_findings(
    summary: pd.DataFrame,
    dm: pd.DataFrame,
    *,
    metric: str = "MASE",
    reference: str,
) -> dict[str, Any]:
    """The per-data-set inputs of :func:`write_summary_markdown` from one summary and DM table."""
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    values = pooled[f"{metric}_mean"].astype(float)
    ranked = values.dropna().sort_values(kind="stable")
    notes = []
    undefined = values[values.isna()].index.tolist()
    if undefined:
        notes.append(f"{metric} undefined for: {', '.join(undefined)}.")
    n_undefined_dm = int(dm["p_value"].isna().sum()) if not dm.empty else 0
    if n_undefined_dm:
        notes.append(f"{n_undefined_dm} DM comparisons undefined (too few aligned forecasts).")
    return {
        "best_model": ranked.index[0] if len(ranked) else None,
        "reference_rank": (ranked.index.get_loc(reference) + 1)
        if reference in ranked.index
        else None,
        "n_forecasts": int(pooled.loc[reference, "n"])
        if reference in pooled.index
        else int(pooled["n"].max()),
        "dm_wins": int((dm["better"] == "reference").sum()) if not dm.empty else 0,
        "dm_losses": int((dm["better"] == "model").sum()) if not dm.empty else 0,
        "dm_total": int(len(dm)),
        "notes": notes,
    }
