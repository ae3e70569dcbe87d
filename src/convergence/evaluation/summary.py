"""The cross-data-set table and ``summary.md``: every sentence generated from result files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.atomic import write_text_atomic
from convergence.errors import InputError
from convergence.evaluation.comparisons import SIGNIFICANCE
from convergence.evaluation.conformal import LEVELS, level_label
from convergence.evaluation.ensemble import ensemble_name
from convergence.evaluation.forecast_checks import (
    MIN_DM_FORECASTS,
    MIN_DM_ORIGINS,
    dm_not_testable_reason,
    dm_testable,
)
from convergence.evaluation.scores import ALL_HORIZONS, METRICS, RANKING_METRIC
from convergence.evaluation.tables import best_per_column, markdown_table


def metric_label(metric: str) -> str:
    """How a metric column is named in sentences: ``pooled_MASE`` -> ``pooled MASE``,
    ``MASE`` -> ``mean MASE``, any other unchanged."""
    return {"pooled_MASE": "pooled MASE", "MASE": "mean MASE"}.get(metric, metric)


def secondary_column(dataset: str, metric: str) -> str:
    """Name of a cross-data-set column that shows ``metric`` beside the ranking one."""
    return f"{dataset} ({metric_label(metric)})"


def cross_dataset_summary(
    summaries: pd.DataFrame | Sequence[pd.DataFrame],
    metric: str = RANKING_METRIC,
    horizon: str = "all",
    *,
    also: Sequence[str] = ("MASE",),
) -> pd.DataFrame:
    """Models x data sets table of ``<metric>_mean`` (mean over seeds) at one horizon.

    Returns a frame with a ``model`` column, one column per data set (RangeIndex) with the
    ranking ``metric``, then one column :func:`secondary_column` per data set and metric
    of ``also`` (by default mean MASE beside pooled MASE). The mark of the best (lowest)
    model per data set, by ``metric`` only, is ``frame.attrs["best"]``, a mapping
    data set -> row index (see :func:`best_per_column`), as :func:`write_tables` takes it.
    """
    combined = summaries if isinstance(summaries, pd.DataFrame) else pd.concat(list(summaries))
    column = f"{metric}_mean"
    if column not in combined.columns:
        raise InputError(f"summary has no column {column!r}; metrics: {list(METRICS)}")
    subset = combined[combined["horizon"].astype(str) == str(horizon)]
    table = subset.pivot_table(index="model", columns="dataset", values=column, aggfunc="mean")
    datasets = [str(c) for c in table.columns]
    for extra in also:
        if extra == metric or f"{extra}_mean" not in subset.columns:
            continue
        more = subset.pivot_table(
            index="model", columns="dataset", values=f"{extra}_mean", aggfunc="mean"
        )
        more.columns = [secondary_column(str(c), extra) for c in more.columns]
        table = table.join(more)
    table = table.sort_index().reset_index()
    table.columns.name = None
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
    metric: str = RANKING_METRIC,
    reference: str,
) -> None:
    """Write the results summary: the headline table and generated sentences per data set.

    ``per_dataset[ds]`` holds ``best_model``, ``reference_rank`` (rank of the reference,
    1 = best, None if absent), ``n_forecasts``, ``dm_wins`` (comparisons the reference wins
    after Holm), ``dm_losses``, optionally ``versus_best`` (:func:`versus_best_sentence`)
    and ``intervals`` (:func:`interval_coverage_sentence`), ``peers`` (:func:`peer_table`),
    ``ablations`` (:func:`ablation_sentence`), ``target`` (:func:`target_sentence`),
    ``sigma`` (:func:`sigma_section`, its own subsection), ``series``
    (:func:`series_section`, the subsection "Convergence by series") and ``notes`` (list of
    strings). Every number in the text comes from these mappings or from
    ``cross_summary``.
    """
    best = cross_summary.attrs.get("best") or best_per_column(
        cross_summary, [c for c in cross_summary.columns if c != "model" and " (" not in c]
    )
    label = metric_label(metric)
    lines = [
        "# Results summary",
        "",
        f"{label[0].upper()}{label[1:]} over seeds (mean of per-seed scores), all horizons "
        "pooled; lower is better, lowest per data set in bold (the first sentence of each "
        "data set says whether the data separate it from the others or it is tied with "
        f"them). {ranking_note(metric)}",
        score_conventions(
            reference, has_ensemble=ensemble_name(reference) in set(cross_summary["model"])
        ),
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
        if info.get("headline"):
            sentences.append(str(info["headline"]))
        elif best_model is not None and best_model in values.index:
            sentences.append(
                f"The lowest {label} on {dataset} is {values[best_model]:.3f}, from {best_model} "
                f"({n_models} models compared, {info.get('n_forecasts')} forecasts per model and seed)."
            )
        rank = info.get("reference_rank")
        if rank is not None and reference in values.index:
            sentences.append(
                f"{reference} ranks {_ordinal(int(rank))} of {n_models} with {label} "
                f"{values[reference]:.3f}."
            )
        else:
            sentences.append(f"{reference} has no {label} on {dataset}.")
        wins, losses = int(info.get("dm_wins", 0)), int(info.get("dm_losses", 0))
        total = info.get("dm_total")
        of_total = f" of {int(total)}" if total is not None else ""
        n_testable = info.get("dm_testable")
        untested = (
            f" ({int(total) - int(n_testable)} not testable: fewer than {MIN_DM_FORECASTS} "
            f"aligned forecasts or {MIN_DM_ORIGINS} distinct origins)"
            if total is not None and n_testable is not None and int(n_testable) < int(total)
            else ""
        )
        sentences.append(
            f"In the Diebold-Mariano tests (Holm-adjusted, 5 % level) {reference} is significantly "
            f"more accurate in {wins}{of_total} comparisons{untested} and significantly less "
            f"accurate in {losses}."
        )
        sentences += [str(info[k]) for k in ("versus_best", "intervals") if info.get(k)]
        lines.append(" ".join(sentences))
        if info.get("peers"):
            lines += ["", str(info["peers"]), ""]
        if info.get("ablations"):
            lines.append(f"- {info['ablations']}")
        if info.get("target"):
            lines.append(f"- {info['target']}")
        for note in info.get("notes") or []:
            lines.append(f"- {note}")
        if info.get("series"):
            lines += ["", f"### Convergence by series: {dataset}", "", str(info["series"])]
        if info.get("sigma"):
            lines += ["", f"### Sigma-convergence: {dataset}", "", str(info["sigma"])]
        if info.get("data_checks"):
            lines += ["", f"### Data checks: {dataset}", "", str(info["data_checks"]).rstrip("\n")]
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


def selection_note(record: Mapping[str, Any]) -> str:
    """One sentence on the ``select`` stage's ``choice.json``: what was chosen, on what."""
    periods = record.get("validation_periods") or ["?", "?"]
    folds = ", ".join(str(fold) for fold in record.get("folds") or []) or "?"
    text = (
        f"Configuration of {record.get('reference')} chosen on validation data only "
        f"(selection folds {folds}, {record.get('n_validation_windows')} validation windows "
        f"in periods {periods[0]}..{periods[-1]}, "
        f"{record.get('n_candidates')} candidates, seeds {record.get('seeds')}; "
        f"`selection/ranking.md`): {record.get('chosen')}. Every trained model takes it "
        "except in the part it switches off on purpose."
    )
    sampled, total = record.get("n_selection_entities"), record.get("n_entities")
    if sampled is not None and total is not None and int(sampled) < int(total):
        text += (
            f" Chosen on a seeded sample of {int(sampled)} of {int(total)} entities "
            f"(selection.max_entities = {record.get('max_entities')}; the sample is in "
            "`choice.json`)."
        )
    margin = record.get("margin")
    margin_text = f"{100 * float(margin):g} %" if margin is not None else "the margin"
    near_tie = list(record.get("near_tie") or [])
    if near_tie:
        text += (
            f" **Near tie**: {len(near_tie)} other candidate(s) within {margin_text} of the "
            f"lowest validation loss ({'; '.join(near_tie)}); the validation data do not "
            "separate them, so the one closest to the configuration as written was kept."
        )
    comparison = record.get("warm_start_comparison") or {}
    if comparison:
        chosen = "warm start" if comparison.get("warm_start") else "fresh start"
        text += (
            f" Training between folds: {chosen} (validation loss warm "
            f"{float(comparison['warm_val_loss']):.4g} vs fresh "
            f"{float(comparison['fresh_val_loss']):.4g}"
        )
        text += (
            f"; a near tie within {margin_text}, so the simpler fresh start)."
            if comparison.get("near_tie")
            else ")."
        )
    return text


def dataset_findings(
    summary: pd.DataFrame,
    dm: pd.DataFrame,
    *,
    metric: str = RANKING_METRIC,
    reference: str,
    ablations: Sequence[str] = (),
    baselines: Sequence[str] = (),
    leader_dm: pd.DataFrame | None = None,
    dataset: str = "",
    n_entities: int | None = None,
    n_test_periods: int | None = None,
) -> dict[str, Any]:
    """The per-data-set inputs of :func:`write_summary_markdown` from one summary and DM
    table; with ``leader_dm`` (the evaluate stage's ``leader_tests.csv``) the headline
    sentence is :func:`leader_headline`'s, which names every model tied with the lowest."""
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    values = pooled[f"{metric}_mean"].astype(float)
    ranked = values.dropna().sort_values(kind="stable")
    n_forecasts = (
        int(pooled.loc[reference, "n"]) if reference in pooled.index else int(pooled["n"].max())
    )
    headline = None
    if leader_dm is not None and len(ranked):
        headline = leader_headline(
            summary,
            leader_dm,
            dataset=dataset,
            metric=metric,
            reference=reference,
            n_forecasts=n_forecasts,
            n_entities=n_entities,
            n_test_periods=n_test_periods,
        )
    notes = []
    undefined = values[values.isna()].index.tolist()
    if undefined:
        notes.append(f"{metric_label(metric)} undefined for: {', '.join(undefined)}.")
    n_undefined_dm = int(dm["p_value"].isna().sum()) if not dm.empty else 0
    if n_undefined_dm:
        notes.append(f"{n_undefined_dm} DM comparisons undefined (too few aligned forecasts).")
    return {
        "headline": headline,
        "best_model": ranked.index[0] if len(ranked) else None,
        "reference_rank": (ranked.index.get_loc(reference) + 1)
        if reference in ranked.index
        else None,
        "n_forecasts": n_forecasts,
        "dm_wins": int((dm["better"] == "reference").sum()) if not dm.empty else 0,
        "dm_losses": int((dm["better"] == "model").sum()) if not dm.empty else 0,
        "dm_total": int(len(dm)),
        "dm_testable": int(len(_testable(dm))) if not dm.empty else 0,
        "versus_best": versus_best_sentence(
            dm, reference=reference, best_model=ranked.index[0] if len(ranked) else None
        ),
        "intervals": interval_coverage_sentence(summary, reference=reference),
        "ablations": ablation_sentence(
            summary, dm, reference=reference, ablations=ablations, metric=metric
        ),
        "peers": peer_table(summary, dm, reference=reference, baselines=baselines, metric=metric),
        "notes": notes,
    }


# ---------------------------------------------- issue 22: headlines that survive a rerun

#: Models listed by name in a tie headline; the rest are counted.
MAX_TIED_NAMED = 6


def leader_model(summary: pd.DataFrame, metric: str = RANKING_METRIC) -> str:
    """The model with the lowest score (all horizons pooled, mean over seeds) by the ranking
    metric (:data:`~convergence.evaluation.scores.RANKING_METRIC`, pooled MASE, unless
    ``metric`` says otherwise); the first in table order among equal scores."""
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    return str(pooled[f"{metric}_mean"].astype(float).dropna().sort_values(kind="stable").index[0])


def leader_ties(
    summary: pd.DataFrame, leader_dm: pd.DataFrame, *, metric: str = RANKING_METRIC, reference: str
) -> tuple[str, list[str], dict[str, str]]:
    """The model with the lowest score, the models it does not separate from, and why.

    From one data set's seed summary (``"all"`` rows) and the leader's Diebold-Mariano
    tests (:func:`~convergence.evaluation.comparisons.leader_tests`). Another model is
    **separated** from the leader only when both hold: its score exceeds the leader's by
    more than the seed spread (the larger of the two standard deviations over seeds;
    zero for single-seed or deterministic models), and the Holm-adjusted DM test finds
    the leader significantly more accurate at one horizon or more and the other model at
    none. Otherwise it is **tied** with the leader. The reference and its seed ensemble
    are the same forecasts scored two ways and are not compared with each other.

    Returns:
        The leader, the tied models in score order, and ``{model: reason}`` for each.
    """
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    column, spread_column = f"{metric}_mean", f"{metric}_std"
    values = pooled[column].astype(float).dropna().sort_values(kind="stable")
    leader = leader_model(summary, metric)
    same_forecast = {reference, ensemble_name(reference)}

    def spread(model: str) -> float:
        value = pooled.loc[model].get(spread_column) if spread_column in pooled.columns else None
        return 0.0 if value is None or pd.isna(value) else float(value)

    tied, reasons = [], {}
    for model in values.index[1:]:
        if {leader, model} <= same_forecast:
            continue
        gap = float(values[model] - values[leader])
        noise = max(spread(leader), spread(model))
        rows = leader_dm[leader_dm["model"] == model] if not leader_dm.empty else leader_dm
        if model in same_forecast and leader not in same_forecast:
            rows = leader_dm[leader_dm["model"] == reference] if not leader_dm.empty else rows
        verdict = _dm_verdict(rows)
        leader_better = "significantly worse" in verdict and "significantly better" not in verdict
        if gap <= noise:
            reasons[str(model)] = f"gap {gap:.3f} within seed spread {noise:.3f}"
        elif not leader_better:
            reasons[str(model)] = f"DM {verdict}"
        else:
            continue
        tied.append(str(model))
    return leader, tied, reasons


def leader_headline(
    summary: pd.DataFrame,
    leader_dm: pd.DataFrame,
    *,
    dataset: str,
    metric: str = RANKING_METRIC,
    reference: str,
    n_forecasts: int | None,
    n_entities: int | None = None,
    n_test_periods: int | None = None,
) -> str:
    """The headline sentence of one data set: the single best model only where the data
    separate it (:func:`leader_ties`), else a tie statement naming the tied models; with
    what it rests on (models, forecasts and, when given, entities and test periods)."""
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    values = pooled[f"{metric}_mean"].astype(float)
    n_models = int(values.notna().sum())
    leader, tied, reasons = leader_ties(summary, leader_dm, metric=metric, reference=reference)
    basis = f"{n_models} models compared, {n_forecasts} forecasts per model and seed"
    if n_entities is not None and n_test_periods is not None:
        entities = f"{n_entities} entit{'y' if n_entities == 1 else 'ies'}"
        periods = f"{n_test_periods} test period{'' if n_test_periods == 1 else 's'}"
        basis += f" on {entities} and {periods}"
    if not tied:
        return (
            f"The lowest {metric_label(metric)} on {dataset} is {values[leader]:.3f}, from {leader}, "
            "separated from every other model (beyond seed spread and Diebold-Mariano-"
            f"significant, Holm-adjusted, {100 * SIGNIFICANCE:g} %; {basis})."
        )
    named = tied[:MAX_TIED_NAMED]
    listed = ", ".join(f"{model} {values[model]:.3f} ({reasons[model]})" for model in named)
    more = f" and {len(tied) - len(named)} more" if len(tied) > len(named) else ""
    return (
        f"No single best model on {dataset}: the lowest {metric_label(metric)} is "
        f"{values[leader]:.3f}, "
        f"from {leader}, but the data do not separate it from {len(tied)} other model(s): "
        f"{listed}{more} ({basis}; separated means beyond seed spread and "
        f"Diebold-Mariano-significant, Holm-adjusted, {100 * SIGNIFICANCE:g} %)."
    )


# ---------------------------------------------- issue 10: within noise, interval coverage


def score_conventions(reference: str, *, has_ensemble: bool) -> str:
    """What a model row and the ``_ensemble`` row mean, and what the DM tests compare."""
    text = (
        "A model trained with several seeds is scored per seed and its row is the mean over "
        "seeds of those scores. The Diebold-Mariano tests compare seed-averaged forecasts "
        "(squared error)"
    )
    if not has_ensemble:
        return text + "."
    ensemble = ensemble_name(reference)
    return (
        f"{text}; {ensemble} is the score of the seed-averaged forecast of {reference}, the "
        f"forecast those tests use for {reference}."
    )


def _horizon_list(horizons: Sequence[int]) -> str:
    return ", ".join(str(h) for h in sorted(horizons))


def versus_best_sentence(dm: pd.DataFrame, *, reference: str, best_model: str | None) -> str | None:
    """Whether the reference's gap to the best model is DM-significant or within noise.

    Only when the reference is not the best model. The DM table has one test per horizon
    (Holm-adjusted over all comparisons of the data set, :mod:`.comparisons`); the
    difference counts as **significant** when the Holm-adjusted p-value is below
    :data:`~convergence.evaluation.comparisons.SIGNIFICANCE` at one horizon or more (the
    sentence names the horizons and the direction), and as **within noise** when it is at
    none. The best model's own seed ensemble is not tested (it is the averaged forecast
    the tests use for the reference), and neither is a model absent from the DM table.
    """
    if best_model is None or best_model == reference:
        return None
    level = f"{100 * SIGNIFICANCE:g} %"
    if best_model == ensemble_name(reference):
        return (
            f"The lowest score is that of {reference}'s seed-averaged forecast, which is also "
            f"the forecast the Diebold-Mariano tests use for {reference}; the two are not "
            "tested against each other."
        )
    rows = dm[dm["model"] == best_model] if not dm.empty else dm
    if rows.empty:
        return f"{best_model} is not in the Diebold-Mariano tests against {reference}."
    defined = _testable(rows)
    if defined.empty:
        return (
            f"The Diebold-Mariano tests of {reference} against the lowest-scoring model {best_model} "
            f"are undefined or not testable (fewer than {MIN_DM_FORECASTS} aligned forecasts "
            f"or {MIN_DM_ORIGINS} distinct forecast origins per horizon), so the gap is "
            "descriptive."
        )
    n_horizons = len(defined)
    model_better = defined.loc[defined["better"] == "model", "horizon"].astype(int).tolist()
    ref_better = defined.loc[defined["better"] == "reference", "horizon"].astype(int).tolist()
    if not model_better and not ref_better:
        smallest = defined.loc[pd.to_numeric(defined["p_holm"]).idxmin()]
        return (
            f"The difference between {reference} and the lowest-scoring model {best_model} is within "
            f"noise: at none of {n_horizons} horizons is the Holm-adjusted Diebold-Mariano "
            f"p-value below {level} (smallest {float(smallest['p_holm']):.3f}, horizon "
            f"{int(smallest['horizon'])})."
        )
    parts = []
    if model_better:
        parts.append(
            f"{best_model} is significantly more accurate at horizon(s) "
            f"{_horizon_list(model_better)}"
        )
    if ref_better:
        parts.append(
            f"{reference} is significantly more accurate at horizon(s) {_horizon_list(ref_better)}"
        )
    return (
        f"The difference between {reference} and the lowest-scoring model {best_model} is "
        f"Diebold-Mariano-significant (Holm-adjusted, {level}): {'; '.join(parts)} "
        f"of {n_horizons}."
    )


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _coverage_phrase(row: pd.Series, levels: Sequence[float]) -> str | None:
    parts = []
    for level in levels:
        label = level_label(level)
        coverage = row.get(f"coverage{label}_mean")
        n_calibrated = row.get(f"n_calibrated{label}_mean")
        if coverage is None or n_calibrated is None:
            return None
        if pd.isna(coverage) or not n_calibrated:
            parts.append(f"no {label} % interval (too few calibration residuals)")
        else:
            parts.append(
                f"{100 * float(coverage):.1f} % of actuals inside the {label} % interval "
                f"({_count(float(n_calibrated))} of {int(row['n'])} forecasts have one)"
            )
    return "; ".join(parts)


def interval_coverage_sentence(
    summary: pd.DataFrame, *, reference: str, levels: Sequence[float] = LEVELS
) -> str | None:
    """Pooled coverage of the split-conformal intervals of the reference and its ensemble.

    From the ``"all"`` rows of one data set's seed summary (``coverage<L>_mean``,
    ``n_calibrated<L>_mean``; for the reference the mean over seeds). None when the summary
    has no interval columns or neither model.
    """
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    phrases = []
    for model in (reference, ensemble_name(reference)):
        if model not in pooled.index:
            continue
        phrase = _coverage_phrase(pooled.loc[model], levels)
        if phrase is None:
            return None
        seeds = " (mean over seeds)" if int(pooled.loc[model].get("n_seeds", 1)) > 1 else ""
        phrases.append(f"{model}{seeds}: {phrase}")
    if not phrases:
        return None
    return (
        "Split-conformal intervals (per horizon, calibrated on the absolute errors known at "
        f"each origin): {'. '.join(phrases)}."
    )


def _origins(rows: pd.DataFrame) -> pd.Series:
    """The ``n_origins`` column, or None per row for a table written without it."""
    if "n_origins" in rows.columns:
        return rows["n_origins"]
    return pd.Series([None] * len(rows), index=rows.index, dtype=object)


def _testable(rows: pd.DataFrame) -> pd.DataFrame:
    """DM rows with a Holm p-value that pass the effective-sample rule of
    :func:`~convergence.evaluation.forecast_checks.dm_testable` (at least
    :data:`MIN_DM_FORECASTS` aligned forecasts from :data:`MIN_DM_ORIGINS` origins)."""
    if rows.empty:
        return rows
    enough = pd.Series(
        [dm_testable(n, o) for n, o in zip(rows["n"], _origins(rows), strict=True)],
        index=rows.index,
        dtype=bool,
    )
    return rows[pd.to_numeric(rows["p_holm"], errors="coerce").notna() & enough]


def _dm_verdict(rows: pd.DataFrame) -> str:
    """``within noise`` / ``significantly better|worse than the reference at h ...``, or
    ``not testable`` when no horizon has a p-value on an effective sample that passes
    :func:`~convergence.evaluation.forecast_checks.dm_testable`."""
    defined = _testable(rows)
    if defined.empty:
        return "not testable"
    better = defined.loc[defined["better"] == "model", "horizon"].astype(int).tolist()
    worse = defined.loc[defined["better"] == "reference", "horizon"].astype(int).tolist()
    parts = []
    if worse:
        parts.append(f"significantly worse at h {_horizon_list(worse)}")
    if better:
        parts.append(f"significantly better at h {_horizon_list(better)}")
    return ", ".join(parts) if parts else "within noise"


def ablation_sentence(
    summary: pd.DataFrame,
    dm: pd.DataFrame,
    *,
    reference: str,
    ablations: Sequence[str],
    metric: str = RANKING_METRIC,
) -> str | None:
    """What each switched-off part costs: the ablation's score minus the reference's.

    From one data set's seed summary (``"all"`` rows, mean over seeds) and its DM table
    (Holm-adjusted; the verdict is per horizon, ``within noise`` when no horizon is
    significant, ``not testable`` when no horizon passes the effective-sample rule of
    :func:`~convergence.evaluation.forecast_checks.dm_testable`). A positive difference
    means the part the ablation switches off helps.
    An ablation with exactly the reference's score is listed apart: with the
    configuration chosen on validation it is the same model (for example
    ``cnn_lstm_no_skip`` when the choice is ``skip=False``). None without ablations.
    """
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    column = f"{metric}_mean"
    if reference not in pooled.index or column not in pooled.columns:
        return None
    base = float(pooled.loc[reference, column])
    parts, same = [], []
    for name in ablations:
        if name not in pooled.index or pd.isna(pooled.loc[name, column]):
            continue
        difference = float(pooled.loc[name, column]) - base
        if difference == 0.0:
            same.append(name)
            continue
        rows = dm[dm["model"] == name] if not dm.empty else dm
        parts.append(f"{name} {difference:+.3f} ({_dm_verdict(rows)})")
    if not parts and not same:
        return None
    text = (
        f"Ablations ({metric_label(metric)} of the variant minus {reference}'s {base:.3f}; positive = the "
        f"variant is worse, so the part it removes or changes helps; Diebold-Mariano, "
        "Holm-adjusted): "
    )
    text += "; ".join(parts) if parts else "none differs"
    if same:
        text += (
            f". Same score as {reference} (with the configuration chosen on validation, "
            f"the same model): {', '.join(same)}"
        )
    return text + "."


def _dm_cell(rows: pd.DataFrame, reference: str, model: str) -> str:
    """Holm-adjusted p per horizon; the more accurate side named where it is significant."""
    if rows.empty:
        return "n/a"
    cells = []
    for _, row in rows.sort_values("horizon").iterrows():
        origins = row.get("n_origins")
        if not dm_testable(row["n"], origins):
            reason = dm_not_testable_reason(row["n"], origins)
            cells.append(f"h{int(row['horizon'])} not testable ({reason})")
            continue
        p_holm = pd.to_numeric(row["p_holm"], errors="coerce")
        if pd.isna(p_holm):
            cells.append(f"h{int(row['horizon'])} n/a")
            continue
        winner = {"reference": reference, "model": model}.get(str(row["better"]))
        cells.append(
            f"h{int(row['horizon'])} {float(p_holm):.3f}" + (f" ({winner})" if winner else "")
        )
    return ", ".join(cells)


def peer_table(
    summary: pd.DataFrame,
    dm: pd.DataFrame,
    *,
    reference: str,
    baselines: Sequence[str],
    metric: str = RANKING_METRIC,
    also: Sequence[str] = ("MASE",),
) -> str | None:
    """Markdown table: the reference, its seed ensemble, the best baseline, NHITS, ridge and
    naive side by side, with their scores (the ranking ``metric``, then each of ``also``:
    mean MASE beside pooled MASE), the DM tests against the reference and the coverage of
    their 80 % and 95 % split-conformal intervals.

    The DM column gives the Holm-adjusted p-value per horizon and, where it is below the
    significance level, the more accurate model; "not testable (n=..., k origins)" where
    the comparison fails :func:`~convergence.evaluation.forecast_checks.dm_testable` (the
    tests use the reference's seed-averaged forecast, so the ensemble row has none). None
    when the reference is absent.
    """
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    column = f"{metric}_mean"
    if reference not in pooled.index or column not in pooled.columns:
        return None
    scored = pooled[column].astype(float)
    present = [b for b in baselines if b in scored.index and pd.notna(scored[b])]
    rows: list[tuple[str, str]] = [(reference, "reference, mean over seeds")]
    ensemble = ensemble_name(reference)
    if ensemble in scored.index:
        rows.append((ensemble, "seed-averaged forecast"))
    if present:
        best = min(present, key=lambda b: scored[b])
        rows.append((best, "best baseline"))
    for name, role in (("nhits", "neural peer"), ("ridge", "linear, same windows"), ("naive", "")):
        if name in present and name not in {r[0] for r in rows}:
            rows.append((name, role))
    labels = [level_label(level) for level in LEVELS]
    extras = [m for m in also if m != metric and f"{m}_mean" in pooled.columns]
    header = [
        "model",
        "role",
        metric_label(metric),
        *[metric_label(m) for m in extras],
        "DM vs " + reference + " (Holm p per horizon)",
        *[f"cover {label}" for label in labels],
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|---|---:|" + "---:|" * len(extras) + "---|" + "---:|" * len(labels),
    ]
    for name, role in rows:
        row = pooled.loc[name]
        values = []
        for shown in (metric, *extras):
            mean = pd.to_numeric(row.get(f"{shown}_mean"), errors="coerce")
            value = "n/a" if pd.isna(mean) else f"{float(mean):.3f}"
            spread = row.get(f"{shown}_std")
            if pd.notna(mean) and pd.notna(spread) and int(row.get("n_seeds", 1)) > 1:
                value += f" ± {float(spread):.3f}"
            values.append(value)
        dm_text = (
            "—"
            if name in (reference, ensemble)
            else _dm_cell(dm[dm["model"] == name] if not dm.empty else dm, reference, name)
        )
        covers = []
        for label in labels:
            coverage = row.get(f"coverage{label}_mean")
            covers.append(
                "n/a" if coverage is None or pd.isna(coverage) else f"{float(coverage):.2f}"
            )
        lines.append("| " + " | ".join([name, role, *values, dm_text, *covers]) + " |")
    return "\n".join(lines)


# ---------------------------------------------- issue 23: ranking metric, what is forecast


def ranking_note(metric: str = RANKING_METRIC) -> str:
    """One sentence on which metric ranks the models and why, for ``summary.md``."""
    if metric != "pooled_MASE":
        return f"Models are ranked by {metric_label(metric)}."
    return (
        "Models are ranked by pooled MASE: the sum of absolute errors over the sum of the "
        "naive scales of the same forecasts (Hyndman & Koehler's scaled errors pooled, each "
        "entity weighted by its scale), which a few near-floor entities cannot swing; mean "
        "MASE (the mean of per-forecast scaled errors) stands beside it in the tables, and "
        "the data check `mase_concentration` says when a few entities carry most of it."
    )


def target_sentence(record: Mapping[str, Any]) -> str:
    """What was forecast, from the ``target`` entry of ``evaluation/provenance.json``
    (:func:`~convergence.evaluation.target.target_versus_measured`): the fold-bounds D
    and, where ``coupling.csv`` was compared, how far it lies from that D."""
    headroom = record.get("headroom")
    widened = (
        f", widened by the target headroom ({float(headroom):g} of the fitted range on each side)"
        if headroom is not None
        else ", widened by the target headroom"
    )
    text = (
        "Forecast target: D recomputed in every backtest fold with min-max bounds fitted on "
        f"that fold's training periods{widened} and clipped to [0, 1]; it is not the D of "
        "`measure/coupling.csv` (bounds of the normalize stage)"
    )
    n = record.get("n_compared")
    if not n:
        return text + "."
    return (
        f"{text}: over {int(n)} test forecasts the two differ by "
        f"{float(record['mean_abs_diff']):.3f} on average and by up to "
        f"{float(record['max_abs_diff']):.3f} ({record['entity']}, {record['period']}: "
        f"target {float(record['target']):.3f}, coupling.csv {float(record['measured']):.3f})."
    )


def no_dynamics_note(data_check: Mapping[str, Any]) -> str:
    """The ``summary.md`` warning for a ``target_without_dynamics`` data check."""
    details = data_check.get("details") or {}
    return (
        "**Accuracy rankings mean little here**: the forecast target has no dynamics "
        f"(median lag-1 autocorrelation {float(details.get('r1', float('nan'))):.2f}, "
        f"median var(dD)/var(D) {float(details.get('variance_ratio', float('nan'))):.2f} "
        f"over {details.get('n_entities', '?')} entities; white noise: 0 and 2), so the "
        "models are compared at predicting noise (data check `target_without_dynamics`)."
    )


# ---------------------------------------------- issue 23: convergence tests keep the panel

#: Smallest p-value written out in prose; below it the text says "p < 1e-6".
P_FLOOR = 1e-6


def p_text(p: float) -> str:
    """A p-value for prose: two significant digits, ``"p < 1e-6"`` below :data:`P_FLOOR`."""
    if pd.isna(p):
        return "p undefined"
    if p < P_FLOOR:
        return f"p < {P_FLOOR:.0e}".replace("e-06", "e-6")
    return f"p = {p:.2g}"


def convergence_sentence(record: Mapping[str, Any]) -> str | None:
    """One note on the convergence stage's ``provenance.json``: on how many of how many
    entities and periods the tests rest (the verdict opens with it), or why they did not
    run. None without a verdict."""
    verdict = record.get("verdict")
    if not verdict:
        return None
    series = record.get("series", "D")
    if str(verdict).startswith("not tested"):
        return (
            f"Convergence tests of {series} (beta, sigma, Phillips-Sul; `convergence/`): {verdict}."
        )
    return (
        f"Convergence tests of {series} (beta, sigma, Phillips-Sul; `convergence/`) on {verdict}."
    )


#: The two sigma measures of ``summary.md``: (``sigma_trend.csv`` row, words).
SIGMA_HEADLINE: tuple[tuple[str, str], ...] = (
    ("std", "Absolute dispersion (standard deviation of {series})"),
    ("cv", "Relative dispersion (coefficient of variation of {series})"),
)


def sigma_section(record: Mapping[str, Any]) -> str | None:
    """The sigma-convergence section of one data set, from the convergence provenance
    (``sample.basis`` and the ``sigma_trend`` rows, copies of ``sigma_trend.csv``).

    One line on what it rests on and how it is tested, then per measure (absolute and
    relative dispersion) the direction, the slope per period (2 significant digits), the
    p-value (:func:`p_text`) and the verdict at ``sigma.alpha``; a last line when the two
    trend in opposite directions. None when the tests did not run.
    """
    rows = {row.get("measure"): row for row in record.get("sigma_trend") or []}
    basis = (record.get("sample") or {}).get("basis")
    if not all(measure in rows for measure, _ in SIGMA_HEADLINE) or not basis:
        return None
    series = record.get("series", "D")
    alpha = float((record.get("conventions") or {}).get("sigma.alpha", 0.05))
    first = rows[SIGMA_HEADLINE[0][0]]
    lines = [
        f"On {basis}, the same block as the other convergence tests: linear trend of each "
        f"dispersion on the period, Newey-West standard error ({int(first['hac_lags'])} lags, "
        f"small-sample scaled), p from Student t with {int(first['df'])} degrees of freedom "
        "(`convergence/sigma_trend.csv`).",
        "",
    ]
    signs = {}
    for measure, words in SIGMA_HEADLINE:
        row = rows[measure]
        slope, p = float(row["slope"]), float(row["p"])
        direction = "falling" if slope < 0 else "rising" if slope > 0 else "flat"
        if p < alpha and slope < 0:
            verdict = "sigma-convergence"
        elif p < alpha and slope > 0:
            verdict = "sigma-divergence"
        else:
            verdict = f"no significant trend at {100 * alpha:g} %"
        signs[measure] = (direction, p < alpha)
        lines.append(
            f"- {words.format(series=series)}: {direction}, slope {slope:+.2g} per period, "
            f"{p_text(p)} ({int(row['n'])} periods, {int(row['n_entities'])} entities): "
            f"{verdict}."
        )
    (absolute, abs_significant), (relative, rel_significant) = signs["std"], signs["cv"]
    if {absolute, relative} == {"falling", "rising"}:
        strength = (
            "both significant"
            if abs_significant and rel_significant
            else "at least one not significant"
        )
        lines.append(
            f"- The two disagree ({strength}): the absolute dispersion is {absolute} while the "
            f"relative dispersion is {relative}, so the mean of {series} moves faster than its "
            "spread; say which one a claim of convergence refers to."
        )
    return "\n".join(lines)


# ------------------------------------------------ issue 25: D and each subsystem index U_k

#: Divergent entities named in a "Convergence by series" line up to this many; above, counted.
MAX_NAMED_DIVERGENT = 5


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def series_line(record: Mapping[str, Any]) -> str:
    """One line of "Convergence by series" from one series' convergence ``provenance.json``.

    ``- U_k: no overall convergence (log-t t = -12.3, critical -1.65); 3 clubs (12, 7, 3);
    divergent: a, b; on 41 of 43 entities and all 20 periods (1990-2009).`` The t-statistic
    is that of the row ``all`` of ``log_t.csv`` (``log_t_overall``), the club sizes come
    from ``club_sizes`` (club 1 first), the divergent entities (club 0) are named up to
    :data:`MAX_NAMED_DIVERGENT` and counted above, and the basis is the balanced block
    (``sample.basis``, as the verdict opens). A series that did not run says ``not tested:
    <reason>``; a record without the club fields (written before them) gives its verdict.
    """
    series = record.get("series", "D")
    verdict = str(record.get("verdict") or "")
    if not verdict or verdict.startswith("not tested"):
        reason = verdict.removeprefix("not tested").lstrip(": ") or "no verdict recorded"
        return f"- {series}: not tested: {reason.rstrip('.')}."
    overall = record.get("log_t_overall")
    if not overall or "club_sizes" not in record:
        return f"- {series}: {verdict.rstrip('.')}."
    t = float(overall.get("t", float("nan")))
    critical = (record.get("conventions") or {}).get("phillips_sul.critical_t")
    stats = f"log-t t = {'nan' if pd.isna(t) else f'{t:.3g}'}"
    if critical is not None:
        stats += f", critical {float(critical):.3g}"
    head = "overall convergence" if overall.get("converges") else "no overall convergence"
    sizes = [int(size) for size in record.get("club_sizes") or []]
    clubs = (
        f"{_plural(len(sizes), 'club', 'clubs')} ({', '.join(str(n) for n in sizes)})"
        if sizes
        else "no club"
    )
    divergent = [str(entity) for entity in record.get("divergent") or []]
    if not divergent:
        apart = "no divergent entity"
    elif len(divergent) <= MAX_NAMED_DIVERGENT:
        apart = f"divergent: {', '.join(divergent)}"
    else:
        apart = f"{len(divergent)} divergent entities"
    sample = record.get("sample") or {}
    basis = sample.get("basis") or (
        f"{_plural(int(record.get('n_entities', 0)), 'entity', 'entities')} and "
        f"{_plural(int(record.get('n_periods', 0)), 'period', 'periods')}"
    )
    return f"- {series}: {head} ({stats}); {clubs}; {apart}; on {basis}."


def series_section(records: Sequence[Mapping[str, Any]]) -> str | None:
    """The "Convergence by series" section of one data set: a line saying what each line
    holds, then :func:`series_line` per convergence ``provenance.json``, D first, then
    each subsystem index ``U_k`` in the order given. None without records."""
    if not records:
        return None
    ordered = sorted(records, key=lambda record: record.get("series", "D") != "D")
    return "\n".join(
        [
            "Phillips-Sul log-t test of all entities (converging unless t is below the "
            "critical value), the clubs with their sizes, the divergent entities and the "
            "balanced block each series rests on: D (`convergence/`), then each subsystem's "
            "composite index U_k (`convergence/U_k/`).",
            "",
            *(series_line(record) for record in ordered),
        ]
    )
