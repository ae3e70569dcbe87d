"""Stage ``evaluate`` (per data set: scores, seed summary, DM tests) and its companion
``cross_summary`` (models x data sets, ``summary.md``), the two rules of ``evaluate.smk``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.atomic import write_csv_atomic, write_json_atomic
from convergence.data.canonical import sha256_file
from convergence.diagnostics import DATA_CHECKS_KEY, data_checks_markdown
from convergence.errors import InputError
from convergence.evaluation.comparisons import DM_COLUMNS, dm_tests, leader_tests
from convergence.evaluation.conformal import (
    LEVELS,
    add_interval_scores,
    conformal_intervals,
    interval_metric_columns,
    interval_scores,
    level_label,
)
from convergence.evaluation.ensemble import add_seed_ensemble, ensemble_name
from convergence.evaluation.forecast_checks import forecast_data_checks
from convergence.evaluation.scores import (
    METRICS,
    RANKING_METRIC,
    load_predictions,
    read_scales,
    score_table,
    summarise_seeds,
)
from convergence.evaluation.summary import (
    convergence_sentence,
    coupling_recovery_note,
    cross_dataset_summary,
    dataset_findings,
    leader_model,
    metric_label,
    no_dynamics_note,
    selection_note,
    series_section,
    sigma_section,
    target_sentence,
    write_summary_markdown,
)
from convergence.evaluation.tables import read_table, write_tables
from convergence.evaluation.target import target_versus_measured
from convergence.provenance import base_record, read_json

log = logging.getLogger(__name__)


def run(
    *,
    dataset: str,
    prediction_paths: Sequence[str | Path],
    scales_path: str | Path,
    grade_scale: Sequence[Mapping[str, Any]] | None,
    reference: str,
    scores_path: str | Path,
    summary_path: str | Path,
    summary_md_path: str | Path,
    summary_tex_path: str | Path,
    dm_path: str | Path,
    dm_md_path: str | Path,
    dm_tex_path: str | Path,
    leader_path: str | Path,
    intervals_path: str | Path,
    provenance_path: str | Path,
    coupling_path: str | Path | None = None,
    target_headroom: float | None = None,
) -> None:
    """Evaluate one data set: scores per model, seed and horizon; the seed summary (CSV,
    Markdown, LaTeX); DM tests of ``reference`` against every model; provenance.

    Models are ranked by :data:`~convergence.evaluation.scores.RANKING_METRIC` (pooled
    MASE). ``coupling_path`` (``measure/coupling.csv``) and ``target_headroom`` (the
    data set's effective ``training.target_headroom``) go into the provenance entry
    ``target`` (:func:`~convergence.evaluation.target.target_versus_measured`): how the
    fold-bounds target relates to the descriptive D.

    The seed-averaged forecast of ``reference`` is scored as the model
    ``<reference>_ensemble`` (:mod:`convergence.evaluation.ensemble`) when it has two seeds
    or more; every forecast gets split-conformal intervals (written to ``intervals_path``,
    :mod:`convergence.evaluation.conformal`) whose coverage, width and interval score join
    the scores.
    """
    predictions = load_predictions(prediction_paths)
    other = sorted(set(predictions["dataset"]) - {dataset})
    if other:
        raise InputError(f"predictions for data set {dataset!r} contain rows of {other}")
    predictions = add_seed_ensemble(predictions, reference)
    scales = read_scales(scales_path)
    coupling = (
        pd.read_csv(coupling_path, dtype={"entity": str, "period": str}, keep_default_na=False)
        if coupling_path is not None
        else None
    )
    if coupling is not None and "D" in coupling.columns:
        coupling["D"] = pd.to_numeric(coupling["D"].replace("", float("nan")), errors="coerce")
    intervals = conformal_intervals(predictions, LEVELS)
    write_csv_atomic(intervals, intervals_path)
    uncalibrated = _log_uncalibrated(intervals)
    scores = score_table(predictions, scales, grade_scale)
    scores = add_interval_scores(scores, interval_scores(intervals, LEVELS))
    write_csv_atomic(scores, scores_path)
    summary = summarise_seeds(scores, [*METRICS, *interval_metric_columns(LEVELS)])
    has_ensemble = bool((predictions["model"] == ensemble_name(reference)).any())
    ensemble_note = (
        f", {ensemble_name(reference)} scores the seed-averaged forecast" if has_ensemble else ""
    )
    write_tables(
        summary,
        f"{dataset}: accuracy per model and horizon (pooled_MASE, the ranking metric: sum of "
        "absolute errors / sum of naive scales; MASE: mean of per-forecast scaled errors); "
        "rows of multi-seed models are the mean "
        f"and std over seeds of per-seed scores{ensemble_note}; coverage, width and interval "
        "score of split-conformal intervals",
        csv_path=summary_path,
        md_path=summary_md_path,
        tex_path=summary_tex_path,
    )
    dm = dm_tests(predictions, reference=reference)
    write_tables(
        dm,
        f"{dataset}: Diebold-Mariano tests of {reference} against each model on "
        "seed-averaged forecasts (HLN; Holm over the testable ones)",
        csv_path=dm_path,
        md_path=dm_md_path,
        tex_path=dm_tex_path,
    )
    # The model with the lowest pooled score against every other: who it is tied with.
    leader = leader_model(summary)
    reference_rows = predictions[predictions["model"] == reference]
    write_csv_atomic(leader_tests(predictions, leader=leader, reference=reference), leader_path)
    run_ids = sorted({str(r) for r in predictions["run_id"] if str(r)})
    record = base_record(
        stage="evaluate",
        dataset=dataset,
        reference=reference,
        inputs={str(p): sha256_file(p) for p in [*prediction_paths, scales_path]},
        run_ids=run_ids,
        n_forecasts=int(len(predictions)),
        # What the headline rests on: the reference's test entities and periods.
        n_entities=int(reference_rows["entity"].nunique()),
        n_test_periods=int(reference_rows["period"].nunique()),
        n_fallback=int(predictions["fallback"].sum()),
        models=sorted(set(predictions["model"])),
        **{DATA_CHECKS_KEY: forecast_data_checks(predictions, scales, dm, dataset)},
        ensemble=ensemble_name(reference) if has_ensemble else None,
        ranking_metric=RANKING_METRIC,
        target=target_versus_measured(predictions, coupling, target_headroom),
        conformal={"levels": list(LEVELS), "forecasts_without_interval": uncalibrated},
    )
    write_json_atomic(record, provenance_path)
    log.info(
        "evaluated %s: %d forecasts, %d models",
        dataset,
        len(predictions),
        summary["model"].nunique(),
    )


def _log_uncalibrated(intervals: pd.DataFrame) -> dict[str, int]:
    """Count the forecasts per level whose interval is undefined for lack of calibration
    residuals (the guard of :mod:`convergence.evaluation.conformal`); the earliest origins
    always lack them, so the count is logged, and a warning names the horizons where no
    forecast has an interval at all."""
    counts = {}
    has_prediction = intervals["predicted"].notna()
    for level in LEVELS:
        label = level_label(level)
        missing = intervals[f"lower{label}"].isna() & has_prediction
        counts[label] = int(missing.sum())
        log.info(
            "%d of %d forecasts have no %s %% conformal interval (too few calibration "
            "residuals known at their origin)",
            counts[label],
            int(has_prediction.sum()),
            label,
        )
        by_horizon = missing[has_prediction].groupby(intervals.loc[has_prediction, "horizon"])
        empty = sorted(int(h) for h, all_missing in by_horizon.all().items() if all_missing)
        if empty:
            log.warning(
                "no forecast at horizon(s) %s has a %s %% conformal interval: too few "
                "earlier origins to calibrate (coverage%s is NaN there)",
                ", ".join(str(h) for h in empty),
                label,
                label,
            )
    return counts


def run_cross_summary(
    *,
    summary_paths: Sequence[str | Path],
    dm_paths: Sequence[str | Path],
    reference: str,
    leader_paths: Sequence[str | Path] = (),
    table_path: str | Path,
    table_md_path: str | Path,
    table_tex_path: str | Path,
    summary_md_path: str | Path,
    measure_provenance_paths: Sequence[str | Path] = (),
    convergence_provenance_paths: Sequence[str | Path] = (),
    convergence_series_paths: Sequence[str | Path] = (),
    data_check_paths: Mapping[str, Mapping[str, str | Path]] | None = None,
    selection_paths: Sequence[str | Path] = (),
    ablations: Sequence[str] = (),
    baselines: Sequence[str] = (),
    metric: str = RANKING_METRIC,
) -> None:
    """Write the models x data sets table (CSV, Markdown, LaTeX) and ``summary.md``.

    ``measure_provenance_paths`` (each data set's ``measure/provenance.json``) add a note
    per data set with ground truth: how well the measures rank the simulated coupling;
    ``selection_paths`` (each data set's ``selection/choice.json``) a note with the
    configuration chosen on validation data; ``ablations`` (``evaluation.ablations``) a
    sentence on what each switched-off part costs; ``baselines`` (``evaluation.baselines``)
    the rows of the per-data-set peer table (:func:`~convergence.evaluation.summary.peer_table`).
    ``convergence_provenance_paths`` (D's ``convergence/provenance.json``) and
    ``convergence_series_paths`` (each subsystem index's ``convergence/U_k/provenance.json``)
    give the section "Convergence by series"
    (:func:`~convergence.evaluation.summary.series_section`).
    """
    summaries = [read_table(p) for p in summary_paths]
    dms = [read_table(p) for p in dm_paths]
    leaders = [read_table(p) for p in leader_paths]
    leader_all = pd.concat(leaders, ignore_index=True) if leaders else None
    evaluated = {
        dataset: read_json(by_stage["evaluate"])
        for dataset, by_stage in (data_check_paths or {}).items()
        if "evaluate" in by_stage
    }
    cross = cross_dataset_summary(summaries, metric=metric)
    ensemble = ensemble_name(reference)
    ensemble_note = (
        f"; {ensemble}: the seed-averaged forecast" if ensemble in set(cross["model"]) else ""
    )
    write_tables(
        cross,
        f"{metric_label(metric)} (the ranking metric; mean MASE in the columns marked so) "
        f"over seeds of per-seed scores per model and data set (all "
        f"horizons{ensemble_note}); best in bold",
        csv_path=table_path,
        md_path=table_md_path,
        tex_path=table_tex_path,
        best_marks=cross.attrs["best"],
    )
    dm_all = pd.concat(dms, ignore_index=True) if dms else pd.DataFrame(columns=list(DM_COLUMNS))
    per_dataset = {}
    for summary in summaries:
        for dataset, by_dataset in summary.groupby("dataset", sort=True):
            dm = dm_all[dm_all["dataset"] == dataset]
            per_dataset[dataset] = dataset_findings(
                by_dataset,
                dm,
                metric=metric,
                reference=reference,
                ablations=ablations,
                baselines=baselines,
                leader_dm=None
                if leader_all is None
                else leader_all[leader_all["dataset"] == dataset],
                dataset=str(dataset),
                n_entities=evaluated.get(dataset, {}).get("n_entities"),
                n_test_periods=evaluated.get(dataset, {}).get("n_test_periods"),
            )
            record = evaluated.get(dataset, {})
            if record.get("target"):
                per_dataset[dataset]["target"] = target_sentence(record["target"])
            for found in record.get(DATA_CHECKS_KEY, []):
                if found.get("code") == "target_without_dynamics":
                    per_dataset[dataset]["notes"].append(no_dynamics_note(found))
    for path in measure_provenance_paths:
        record = read_json(path)
        dataset = record.get("dataset")
        if dataset in per_dataset and "coupling_recovery" in record:
            per_dataset[dataset]["notes"].append(
                coupling_recovery_note(record["coupling_recovery"])
            )
    by_series: dict[Any, list[dict[str, Any]]] = {}
    for path in convergence_provenance_paths:
        record = read_json(path)
        dataset = record.get("dataset")
        by_series.setdefault(dataset, []).append(record)
        if dataset in per_dataset and record.get("verdict"):
            per_dataset[dataset]["notes"].append(convergence_sentence(record))
            per_dataset[dataset]["sigma"] = sigma_section(record)
    for path in convergence_series_paths:
        record = read_json(path)
        by_series.setdefault(record.get("dataset"), []).append(record)
    for dataset, records in by_series.items():
        if dataset in per_dataset:
            per_dataset[dataset]["series"] = series_section(records)
    selection_checks: dict[str, list[Any]] = {}
    for path in selection_paths:
        record = read_json(path)
        dataset = record.get("dataset")
        if dataset in per_dataset:
            per_dataset[dataset]["notes"].append(selection_note(record))
            selection_checks[dataset] = list(record.get(DATA_CHECKS_KEY, []))
    # Every stage's data checks per data set ({dataset: {stage: provenance path}}).
    for dataset, by_stage in (data_check_paths or {}).items():
        if dataset in per_dataset:
            checks = {
                stage: (evaluated[dataset] if stage == "evaluate" else read_json(path)).get(
                    DATA_CHECKS_KEY, []
                )
                for stage, path in by_stage.items()
            }
            if dataset in selection_checks:
                checks["select"] = selection_checks[dataset]
            per_dataset[dataset]["data_checks"] = data_checks_markdown(checks)
    write_summary_markdown(summary_md_path, cross, per_dataset, metric=metric, reference=reference)
