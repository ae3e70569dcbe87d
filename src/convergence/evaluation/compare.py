"""Evaluation and comparison of backtest forecasts: score tables, seed summaries, DM tests.

Inputs are the prediction CSVs of the backtest (:data:`PREDICTION_COLUMNS`, one file per
neural model x seed, one for all baselines with an extra boolean ``fallback`` column) and
a scales CSV ``(fold, entity, origin, scale)`` holding the in-sample naive MAE of the
target up to each forecast origin.

Definitions used here (see :mod:`convergence.evaluation.metrics` for MAE, RMSE, sMAPE):

* **MASE** of a group of forecasts is the mean over forecasts of
  ``|actual - predicted| / scale``, where ``scale`` is the naive MAE of the forecast's
  ``(fold, entity, origin)``. Each forecast is scaled by its own series' scale before
  averaging (Hyndman & Koehler, 2006, scaled errors). A forecast whose scale is 0 (a
  constant in-sample series) has an undefined scaled error; it is left out of the mean
  (``nanmean``) and the MASE is NaN only when every term is undefined.
* **Grade accuracy** is the share of forecasts whose predicted coordination grade
  (:func:`~convergence.measures.coupling.coordination_grade` of the prediction, clipped
  to [0, 1] because a network may overshoot) equals the grade of the actual value. It is
  NaN when an actual lies outside [0, 1] (the target is then not a coordination degree).
* **Seed summary**: mean and sample standard deviation (``ddof=1``) over seeds; the
  standard deviation is NaN for a single seed (baselines are deterministic, seed 0).
* **DM tests**: per horizon, the reference model against every other model. Multi-seed
  models are first averaged over seeds per forecast (the seed-ensemble forecast). Forecasts
  are aligned on ``(fold, entity, origin, horizon)``, ordered by entity then origin, and
  tested with :func:`~convergence.evaluation.diebold_mariano.diebold_mariano` (HLN
  correction, ``h`` = horizon). ``errors_a`` is the reference, so a positive statistic
  and ``mean_loss_diff > 0`` mean the other model is more accurate. Holm-Bonferroni runs
  over all comparisons of one data set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence.data.canonical import sha256_file, write_csv_atomic, write_text_atomic
from convergence.errors import DataFileError, InputError
from convergence.evaluation.diebold_mariano import diebold_mariano, holm_bonferroni
from convergence.evaluation.metrics import grade_accuracy, mae, rmse, smape
from convergence.measures.coupling import DEFAULT_GRADE_SCALE, coordination_grade
from convergence.provenance import read_json
from convergence.training.backtest import PREDICTION_COLUMNS

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("MAE", "RMSE", "sMAPE", "MASE", "grade_accuracy")
"""Metric columns of :func:`score_table`, in order."""

SCALE_COLUMNS: tuple[str, ...] = ("fold", "entity", "origin", "scale")
"""Columns of the scales CSV."""

ALL_HORIZONS = "all"
"""Horizon label of the rows that pool every horizon."""

DM_COLUMNS: tuple[str, ...] = (
    "dataset",
    "horizon",
    "reference",
    "model",
    "statistic",
    "p_value",
    "p_holm",
    "n",
    "mean_loss_diff",
    "better",
)
"""Columns of :func:`dm_tests`."""

SIGNIFICANCE = 0.05
"""Family-wise level of the DM tests after Holm-Bonferroni."""

_TEXT_COLUMNS = {"dataset": str, "model": str, "entity": str, "origin": str, "period": str}
_KEY = ["fold", "entity", "origin", "horizon"]


# --------------------------------------------------------------------------- loading


def load_predictions(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read and concatenate prediction CSVs.

    ``period``, ``origin``, ``entity``, ``dataset`` and ``model`` are read as text, ``run_id``
    as text, ``seed``/``fold``/``horizon`` as integers. A missing ``fallback`` column (the
    neural models' files) is added as False.

    Raises:
        DataFileError: a file is missing or lacks one of :data:`PREDICTION_COLUMNS`
            (the message names the file and the column).
        InputError: no paths were given.
    """
    frames = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DataFileError(str(path), "file not found")
        frame = pd.read_csv(path, dtype={**_TEXT_COLUMNS, "run_id": str}, keep_default_na=False)
        for column in PREDICTION_COLUMNS:
            if column not in frame.columns:
                raise DataFileError(str(path), "missing prediction column", column=column)
        for column in ("actual", "predicted", "last_observed"):
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
        for column in ("seed", "fold", "horizon"):
            frame[column] = frame[column].astype(int)
        if "fallback" in frame.columns:
            frame["fallback"] = frame["fallback"].astype(str).str.lower().isin(["true", "1"])
        else:
            frame["fallback"] = False
        frames.append(frame.loc[:, [*PREDICTION_COLUMNS, "fallback"]])
    if not frames:
        raise InputError("no prediction files given")
    return pd.concat(frames, ignore_index=True)


def read_scales(path: str | Path) -> pd.DataFrame:
    """Read the scales CSV ``(fold, entity, origin, scale)``; entity and origin as text."""
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    frame = pd.read_csv(file_path, dtype={"entity": str, "origin": str}, keep_default_na=False)
    for column in SCALE_COLUMNS:
        if column not in frame.columns:
            raise DataFileError(str(file_path), "missing scales column", column=column)
    frame = frame.loc[:, list(SCALE_COLUMNS)]
    frame["fold"] = frame["fold"].astype(int)
    frame["scale"] = pd.to_numeric(frame["scale"], errors="coerce")
    return frame


# --------------------------------------------------------------------------- scoring


def _attach_scales(predictions: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    keys = ["fold", "entity", "origin"]
    unique_scales = scales.drop_duplicates(subset=keys)
    merged = predictions.merge(
        unique_scales.loc[:, [*keys, "scale"]], on=keys, how="left", indicator=True
    )
    missing = merged.pop("_merge") == "left_only"
    if missing.any():
        row = merged.loc[missing].iloc[0]
        raise InputError(
            f"no MASE scale for fold {row['fold']}, entity {row['entity']!r}, "
            f"origin {row['origin']!r} ({int(missing.sum())} forecasts lack a scale)"
        )
    return merged


def _mase_terms(group: pd.DataFrame) -> float:
    scale = group["scale"].to_numpy(dtype=float)
    error = np.abs(group["actual"].to_numpy(dtype=float) - group["predicted"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(scale > 0, error / scale, np.nan)
    if np.all(np.isnan(terms)):
        return float("nan")
    return float(np.nanmean(terms))


def _grade_accuracy(group: pd.DataFrame, grade_scale: Sequence[Mapping[str, Any]]) -> float:
    actual = group["actual"].to_numpy(dtype=float)
    if np.any(np.isnan(actual)) or np.any((actual < 0.0) | (actual > 1.0)):
        return float("nan")
    predicted = np.clip(group["predicted"].to_numpy(dtype=float), 0.0, 1.0)
    return grade_accuracy(
        coordination_grade(actual, grade_scale), coordination_grade(predicted, grade_scale)
    )


def _score_group(group: pd.DataFrame, grade_scale: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    actual = group["actual"].to_numpy(dtype=float)
    predicted = group["predicted"].to_numpy(dtype=float)
    return {
        "n": len(group),
        "MAE": mae(actual, predicted),
        "RMSE": rmse(actual, predicted),
        "sMAPE": smape(actual, predicted),
        "MASE": _mase_terms(group),
        "grade_accuracy": _grade_accuracy(group, grade_scale),
        "run_ids": ";".join(sorted({str(r) for r in group["run_id"] if str(r)})),
    }


def _horizon_sort_key(value: object) -> tuple[int, int]:
    text = str(value)
    return (1, 0) if text == ALL_HORIZONS else (0, int(float(text)))


def score_table(
    predictions: pd.DataFrame,
    scales: pd.DataFrame,
    grade_scale: Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Accuracy per data set, model, seed and horizon, plus an ``"all"`` horizon row.

    Returns columns ``dataset, model, seed, horizon, n, MAE, RMSE, sMAPE, MASE,
    grade_accuracy, run_ids``; ``horizon`` is text (``"1"``, ``"2"``, ..., ``"all"``).
    MASE and grade accuracy are defined in the module docstring.

    Raises:
        InputError: a forecast has no scale, or the predictions are empty.
    """
    if predictions.empty:
        raise InputError("no predictions to score")
    scale = DEFAULT_GRADE_SCALE if grade_scale is None else grade_scale
    merged = _attach_scales(predictions, scales)
    rows = []
    for (dataset, model, seed), group in merged.groupby(["dataset", "model", "seed"], sort=True):
        for horizon, by_horizon in group.groupby("horizon", sort=True):
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "seed": int(seed),
                    "horizon": str(int(horizon)),
                    **_score_group(by_horizon, scale),
                }
            )
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "seed": int(seed),
                "horizon": ALL_HORIZONS,
                **_score_group(group, scale),
            }
        )
    return pd.DataFrame(
        rows, columns=["dataset", "model", "seed", "horizon", "n", *METRICS, "run_ids"]
    )


def summarise_seeds(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (``ddof=1``) over seeds per data set, model and horizon.

    Returns columns ``dataset, model, horizon, n, n_seeds``, then ``<metric>_mean`` and
    ``<metric>_std`` for each of :data:`METRICS`, then ``run_ids`` (semicolon-joined, sorted,
    unique). ``n`` is the number of forecasts of one seed (the largest over seeds).
    """
    rows = []
    scores = scores.assign(horizon=scores["horizon"].astype(str))
    for (dataset, model, horizon), group in scores.groupby(
        ["dataset", "model", "horizon"], sort=False
    ):
        row: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "horizon": horizon,
            "n": int(group["n"].max()),
            "n_seeds": int(group["seed"].nunique()),
        }
        for metric in METRICS:
            values = group[metric].astype(float)
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        ids = set()
        for joined in group["run_ids"].fillna("").astype(str):
            ids.update(part for part in joined.split(";") if part)
        row["run_ids"] = ";".join(sorted(ids))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_h"] = frame["horizon"].map(_horizon_sort_key)
    frame = frame.sort_values(["dataset", "model", "_h"], kind="stable").drop(columns="_h")
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- DM tests


def seed_mean_forecasts(predictions: pd.DataFrame) -> pd.DataFrame:
    """Average predictions over seeds per dataset, model and forecast (the seed ensemble)."""
    keys = ["dataset", "model", *_KEY, "period"]
    return (
        predictions.groupby(keys, sort=True)
        .agg(actual=("actual", "first"), predicted=("predicted", "mean"))
        .reset_index()
    )


def dm_tests(
    predictions: pd.DataFrame,
    *,
    reference: str = "cnn_lstm",
    horizon_col: str = "horizon",
    loss: str = "squared",
) -> pd.DataFrame:
    """Diebold-Mariano tests of the reference model against every other model, per horizon.

    See the module docstring for seed averaging, alignment and sign. ``better`` is
    ``"reference"`` when the Holm-adjusted p-value is below 5 % and the reference has the
    smaller mean loss, ``"model"`` when the other model has, else ``"neither"``.

    Raises:
        InputError: the reference model has no predictions in a data set.
    """
    frame = (
        predictions.rename(columns={horizon_col: "horizon"})
        if horizon_col != "horizon"
        else predictions
    )
    averaged = seed_mean_forecasts(frame)
    averaged["error"] = averaged["actual"] - averaged["predicted"]
    results = []
    for dataset, by_dataset in averaged.groupby("dataset", sort=True):
        models = sorted(set(by_dataset["model"]) - {reference})
        if reference not in set(by_dataset["model"]):
            raise InputError(
                f"data set {dataset!r}: reference model {reference!r} has no predictions; "
                f"models present: {sorted(set(by_dataset['model']))}"
            )
        rows = []
        for horizon, by_horizon in by_dataset.groupby("horizon", sort=True):
            ref = by_horizon[by_horizon["model"] == reference]
            for model in models:
                other = by_horizon[by_horizon["model"] == model]
                aligned = ref.merge(other, on=_KEY, suffixes=("_ref", "_model")).dropna(
                    subset=["error_ref", "error_model"]
                )
                aligned = aligned.sort_values(["entity", "origin", "fold"], kind="stable")
                result = diebold_mariano(
                    aligned["error_ref"].to_numpy(),
                    aligned["error_model"].to_numpy(),
                    horizon=int(horizon),
                    loss=loss,  # type: ignore[arg-type]
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "horizon": int(horizon),
                        "reference": reference,
                        "model": model,
                        "statistic": result.statistic,
                        "p_value": result.p_value,
                        "n": result.n,
                        "mean_loss_diff": result.mean_loss_diff,
                    }
                )
        table = pd.DataFrame(rows, columns=[c for c in DM_COLUMNS if c not in ("p_holm", "better")])
        table["p_holm"] = holm_bonferroni(table["p_value"].to_numpy(dtype=float)) if rows else []
        table["better"] = [
            _verdict(p, diff)
            for p, diff in zip(table["p_holm"], table["mean_loss_diff"], strict=True)
        ]
        results.append(table.loc[:, list(DM_COLUMNS)])
    if not results:
        return pd.DataFrame(columns=list(DM_COLUMNS))
    return pd.concat(results, ignore_index=True)


def _verdict(p_holm: float, mean_loss_diff: float) -> str:
    if not (isinstance(p_holm, float | int) and math.isfinite(p_holm)) or p_holm >= SIGNIFICANCE:
        return "neither"
    return "model" if mean_loss_diff > 0 else "reference"


# --------------------------------------------------------------------------- cross data set


def best_per_column(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Hashable]:
    """Index label of the lowest value of each column (columns that are all NaN are left out)."""
    marks: dict[str, Hashable] = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().any():
            marks[column] = values.idxmin()
    return marks


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


# --------------------------------------------------------------------------- tables


def _format_cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            return "–"
        return (
            f"{float(value):.3f}"
            if abs(float(value)) >= 1e-3 or value == 0
            else f"{float(value):.2e}"
        )
    return str(value)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in ``text``."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _cells(
    frame: pd.DataFrame, best_marks: Mapping[str, Hashable] | None
) -> list[list[tuple[str, bool]]]:
    marks = best_marks or {}
    rows = []
    for label, row in frame.iterrows():
        rows.append(
            [(_format_cell(row[column]), marks.get(column) == label) for column in frame.columns]
        )
    return rows


def markdown_table(
    frame: pd.DataFrame, caption: str = "", best_marks: Mapping[str, Hashable] | None = None
) -> str:
    """Markdown pipe table of ``frame``; cells named by ``best_marks`` (column -> index) bold."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    align = (
        "|" + "|".join("---" if frame[c].dtype == object else "---:" for c in frame.columns) + "|"
    )
    lines = [f"*{caption}*", ""] if caption else []
    lines += [header, align]
    for cells in _cells(frame, best_marks):
        text = [f"**{cell}**" if bold else cell for cell, bold in cells]
        lines.append("| " + " | ".join(t.replace("|", "\\|") for t in text) + " |")
    return "\n".join(lines) + "\n"


def latex_table(
    frame: pd.DataFrame, caption: str = "", best_marks: Mapping[str, Hashable] | None = None
) -> str:
    """LaTeX ``table`` with a ``tabular`` of ``frame``; best cells in ``\\textbf{}``."""
    spec = "".join("l" if frame[c].dtype == object else "r" for c in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\hline"]
    lines.append(" & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\")
    lines.append(r"\hline")
    for cells in _cells(frame, best_marks):
        text = [
            rf"\textbf{{{latex_escape(cell)}}}" if bold else latex_escape(cell)
            for cell, bold in cells
        ]
        lines.append(" & ".join(text) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(
    frame: pd.DataFrame,
    stem: str | Path,
    caption: str,
    best_marks: Mapping[str, Hashable] | None = None,
) -> None:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex`` atomically.

    ``best_marks`` maps a column name to the index label of the row whose cell is marked
    best (bold in Markdown, ``\\textbf`` in LaTeX); the CSV holds the raw values.
    """
    stem = Path(stem)
    write_csv_atomic(frame, stem.with_suffix(".csv"))
    write_text_atomic(markdown_table(frame, caption, best_marks), stem.with_suffix(".md"))
    write_text_atomic(latex_table(frame, caption, best_marks), stem.with_suffix(".tex"))


# --------------------------------------------------------------------------- summary.md


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def write_summary_markdown(
    path: str | Path,
    cross_summary: pd.DataFrame,
    per_dataset: Mapping[str, Mapping[str, Any]],
    *,
    metric: str = "MASE",
    reference: str = "cnn_lstm",
) -> None:
    """Write the results summary: the headline table and generated sentences per data set.

    ``per_dataset[ds]`` holds ``best_model``, ``cnn_lstm_rank`` (rank of the reference,
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
        rank = info.get("cnn_lstm_rank")
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
    reference: str = "cnn_lstm",
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
        "cnn_lstm_rank": (ranked.index.get_loc(reference) + 1)
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


# --------------------------------------------------------------------------- stages


def run_evaluate(
    *,
    dataset: str,
    prediction_paths: Sequence[str | Path],
    scales_path: str | Path,
    grade_scale: Sequence[Mapping[str, Any]] | None,
    reference: str,
    out_dir: str | Path,
) -> None:
    """Evaluate one data set.

    Writes into ``out_dir``: ``scores.csv``, ``summary.{csv,md,tex}``,
    ``dm_tests.{csv,md,tex}`` and ``provenance.json``.
    """
    from convergence.provenance import base_record, write_json_atomic

    out = Path(out_dir)
    predictions = load_predictions(prediction_paths)
    other = sorted(set(predictions["dataset"]) - {dataset})
    if other:
        raise InputError(f"predictions for data set {dataset!r} contain rows of {other}")
    scales = read_scales(scales_path)
    scores = score_table(predictions, scales, grade_scale)
    write_csv_atomic(scores, out / "scores.csv")
    summary = summarise_seeds(scores)
    write_tables(
        summary,
        out / "summary",
        f"{dataset}: accuracy per model and horizon, mean and std over seeds",
    )
    dm = dm_tests(predictions, reference=reference)
    write_tables(
        dm,
        out / "dm_tests",
        f"{dataset}: Diebold-Mariano tests of {reference} against each model (HLN, Holm)",
    )
    run_ids = sorted({str(r) for r in predictions["run_id"] if str(r)})
    record = base_record(
        stage="evaluate",
        dataset=dataset,
        reference=reference,
        inputs={str(p): sha256_file(p) for p in [*prediction_paths, scales_path]},
        run_ids=run_ids,
        n_forecasts=int(len(predictions)),
        n_fallback=int(predictions["fallback"].sum()),
        models=sorted(set(predictions["model"])),
    )
    write_json_atomic(record, out / "provenance.json")
    log.info(
        "evaluated %s: %d forecasts, %d models",
        dataset,
        len(predictions),
        summary["model"].nunique(),
    )


def _read_table(path: str | Path) -> pd.DataFrame:
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    return pd.read_csv(
        file_path, dtype={"dataset": str, "model": str, "horizon": str, "reference": str}
    )


def run_cross_summary(
    *,
    summary_paths: Sequence[str | Path],
    dm_paths: Sequence[str | Path],
    out_dir: str | Path,
    summary_md_path: str | Path,
    measure_provenance_paths: Sequence[str | Path] = (),
    metric: str = "MASE",
) -> None:
    """Write ``out_dir/cross_dataset.{csv,md,tex}`` and the results summary Markdown.

    ``measure_provenance_paths`` (each data set's ``measure/provenance.json``) add a note
    per data set with ground truth: how well the measures rank the simulated coupling.
    """
    summaries = [_read_table(p) for p in summary_paths]
    dms = [_read_table(p) for p in dm_paths]
    cross = cross_dataset_summary(summaries, metric=metric)
    write_tables(
        cross,
        Path(out_dir) / "cross_dataset",
        f"Mean {metric} over seeds per model and data set (all horizons); best in bold",
        best_marks=cross.attrs["best"],
    )
    dm_all = pd.concat(dms, ignore_index=True) if dms else pd.DataFrame(columns=list(DM_COLUMNS))
    references = sorted(set(dm_all["reference"].dropna())) if not dm_all.empty else []
    reference = references[0] if references else "cnn_lstm"
    per_dataset = {}
    for summary in summaries:
        for dataset, by_dataset in summary.groupby("dataset", sort=True):
            dm = dm_all[dm_all["dataset"] == dataset]
            per_dataset[dataset] = dataset_findings(
                by_dataset, dm, metric=metric, reference=reference
            )
    for path in measure_provenance_paths:
        record = read_json(path)
        dataset = record.get("dataset")
        if dataset in per_dataset and "coupling_recovery" in record:
            per_dataset[dataset]["notes"].append(
                coupling_recovery_note(record["coupling_recovery"])
            )
    write_summary_markdown(summary_md_path, cross, per_dataset, metric=metric, reference=reference)
