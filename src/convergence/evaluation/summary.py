"""The cross-data-set table and ``summary.md``: every sentence generated from result files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from convergence.data.canonical import write_text_atomic
from convergence.errors import InputError
from convergence.evaluation.comparisons import SIGNIFICANCE
from convergence.evaluation.conformal import LEVELS, level_label
from convergence.evaluation.ensemble import ensemble_name
from convergence.evaluation.forecast_checks import MIN_DM_FORECASTS
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
    after Holm), ``dm_losses``, optionally ``versus_best`` (:func:`versus_best_sentence`)
    and ``intervals`` (:func:`interval_coverage_sentence`), ``peers`` (:func:`peer_table`),
    ``ablations`` (:func:`ablation_sentence`), and ``notes`` (list of strings). Every number in the text comes from these mappings or from ``cross_summary``.
    """
    best = cross_summary.attrs.get("best") or best_per_column(
        cross_summary, [c for c in cross_summary.columns if c != "model"]
    )
    lines = [
        "# Results summary",
        "",
        f"Mean {metric} over seeds, all horizons pooled; lower is better, lowest per data set "
        "in bold (the first sentence of each data set says whether the data separate it from "
        "the others or it is tied with them).",
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
        sentences += [str(info[k]) for k in ("versus_best", "intervals") if info.get(k)]
        lines.append(" ".join(sentences))
        if info.get("peers"):
            lines += ["", str(info["peers"]), ""]
        if info.get("ablations"):
            lines.append(f"- {info['ablations']}")
        for note in info.get("notes") or []:
            lines.append(f"- {note}")
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
    metric: str = "MASE",
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
        notes.append(f"{metric} undefined for: {', '.join(undefined)}.")
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


def leader_model(summary: pd.DataFrame, metric: str = "MASE") -> str:
    """The model with the lowest pooled (all horizons) mean score over seeds; the first in
    table order among equal scores."""
    pooled = summary[summary["horizon"].astype(str) == ALL_HORIZONS].set_index("model")
    return str(pooled[f"{metric}_mean"].astype(float).dropna().sort_values(kind="stable").index[0])


def leader_ties(
    summary: pd.DataFrame, leader_dm: pd.DataFrame, *, metric: str = "MASE", reference: str
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
    metric: str = "MASE",
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
            f"The lowest {metric} on {dataset} is {values[leader]:.3f}, from {leader}, "
            "separated from every other model (beyond seed spread and Diebold-Mariano-"
            f"significant, Holm-adjusted, {100 * SIGNIFICANCE:g} %; {basis})."
        )
    named = tied[:MAX_TIED_NAMED]
    listed = ", ".join(f"{model} {values[model]:.3f} ({reasons[model]})" for model in named)
    more = f" and {len(tied) - len(named)} more" if len(tied) > len(named) else ""
    return (
        f"No single best model on {dataset}: the lowest {metric} is {values[leader]:.3f}, "
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
            "per horizon), so the gap is descriptive."
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


def _testable(rows: pd.DataFrame) -> pd.DataFrame:
    """DM rows with a p-value and at least :data:`MIN_DM_FORECASTS` aligned forecasts."""
    if rows.empty:
        return rows
    enough = pd.to_numeric(rows["n"], errors="coerce").fillna(0) >= MIN_DM_FORECASTS
    return rows[pd.to_numeric(rows["p_holm"], errors="coerce").notna() & enough]


def _dm_verdict(rows: pd.DataFrame) -> str:
    """``within noise`` / ``significantly better|worse than the reference at h ...``, or
    ``not testable`` when no horizon has a p-value on enough aligned forecasts."""
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
    metric: str = "MASE",
) -> str | None:
    """What each switched-off part costs: the ablation's score minus the reference's.

    From one data set's seed summary (``"all"`` rows, mean over seeds) and its DM table
    (Holm-adjusted; the verdict is per horizon, ``within noise`` when no horizon is
    significant, ``not testable`` when no horizon has a p-value on at least
    :data:`~convergence.evaluation.forecast_checks.MIN_DM_FORECASTS` aligned forecasts). A positive difference means the part the ablation switches off helps.
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
        f"Ablations ({metric} of the variant minus {reference}'s {base:.3f}; positive = the "
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
        p_holm = pd.to_numeric(row["p_holm"], errors="coerce")
        if pd.isna(p_holm):
            cells.append(f"h{int(row['horizon'])} n/a")
            continue
        n = int(pd.to_numeric(row["n"], errors="coerce") or 0)
        if n < MIN_DM_FORECASTS:
            cells.append(f"h{int(row['horizon'])} not testable (n={n})")
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
    metric: str = "MASE",
) -> str | None:
    """Markdown table: the reference, its seed ensemble, the best baseline, NHITS, ridge and
    naive side by side, with their scores, the DM tests against the reference and the
    coverage of their 80 % and 95 % split-conformal intervals.

    The DM column gives the Holm-adjusted p-value per horizon and, where it is below the
    significance level, the more accurate model; "not testable (n=...)" below
    :data:`~convergence.evaluation.forecast_checks.MIN_DM_FORECASTS` aligned forecasts (the tests use the reference's
    seed-averaged forecast, so the ensemble row has none). None when the reference is absent.
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
    header = [
        "model",
        "role",
        metric,
        "DM vs " + reference + " (Holm p per horizon)",
        *[f"cover {label}" for label in labels],
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---:|---|" + "---:|" * len(labels)]
    for name, role in rows:
        row = pooled.loc[name]
        value = f"{scored[name]:.3f}"
        spread = row.get(f"{metric}_std")
        if pd.notna(spread) and int(row.get("n_seeds", 1)) > 1:
            value += f" ± {float(spread):.3f}"
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
        lines.append("| " + " | ".join([name, role, value, dm_text, *covers]) + " |")
    return "\n".join(lines)
