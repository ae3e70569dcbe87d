"""Stage of ``convergence.smk``: beta, sigma and Phillips-Sul club convergence of D (rule
``convergence``) or of one subsystem's composite index ``U_k`` (rule ``convergence_series``,
outputs under ``convergence/<series>/``), and their figures.

A data set with one entity (or too few periods) cannot be tested: its tables are written
empty, the reason goes to the provenance (``data_checks``), the log and ``summary.md``,
and its figures say so instead of drawing empty axes.

The tests run on the block of complete, positive values of the series that
:func:`convergence.analysis.panel.balance_panel` keeps (missing or non-positive values cost
periods before entities). The provenance records that block under ``sample`` (entities and
periods kept of the total, the span, every dropped entity with its reason, the dropped
periods) and, when anything was dropped, a data check ``convergence_panel_trimmed``; it
also copies the sigma trend rows of ``sigma_trend.csv`` under ``sigma_trend``, which
``summary.md`` reports, and the Phillips-Sul outcome that its "Convergence by series"
section reads (:func:`club_record`: ``log_t_overall``, ``club_sizes``, ``divergent``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from convergence import diagnostics
from convergence.analysis.beta import BETA_COLUMNS, BETA_POINT_COLUMNS
from convergence.analysis.convergence_tests import ConvergenceTestSettings, convergence_tests
from convergence.analysis.panel import BalancedPanel
from convergence.analysis.phillips_sul import CLUB_COLUMNS, LOG_T_COLUMNS
from convergence.analysis.sigma import SIGMA_COLUMNS, SIGMA_TREND_COLUMNS
from convergence.atomic import write_csv_atomic, write_json_atomic
from convergence.config import config_hash
from convergence.errors import InputError
from convergence.provenance import base_record, read_json

log = logging.getLogger(__name__)


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"entity": str, "period": str})


#: the series tested by default (the coupling coordination degree); rule
#: ``convergence_series`` passes ``U_<subsystem>``.
SERIES = "D"
EMPTY_COLUMNS: dict[str, tuple[str, ...]] = {
    "beta": BETA_COLUMNS,
    "points": BETA_POINT_COLUMNS,
    "sigma": SIGMA_COLUMNS,
    "sigma_trend": SIGMA_TREND_COLUMNS,
    "log_t": LOG_T_COLUMNS,
    "clubs": CLUB_COLUMNS,
    "transition": ("entity", "period", "h", "club"),
}


def panel_check(sample: BalancedPanel, series: str = SERIES) -> dict[str, Any]:
    """The data check ``convergence_panel_trimmed``: what balancing dropped and why."""
    record = sample.record()
    dropped = record["dropped_entities"]
    lost = []
    if record["dropped_periods"]:
        lost.append(f"{len(record['dropped_periods'])} period(s)")
    if dropped:
        lost.append(f"{len(dropped)} entit{'y' if len(dropped) == 1 else 'ies'}")
    return diagnostics.check(
        "convergence",
        "convergence_panel_trimmed",
        f"Convergence tests of {series} rest on {sample.basis()}: missing or non-positive "
        f"{series} (logs undefined) cost {' and '.join(lost)}. Rule "
        f"`convergence_tests.balance: {sample.rule}` (blocks of at least "
        f"{sample.min_periods} periods, `convergence_tests.min_period_share`); dropped "
        "entities and why: "
        + ("; ".join(f"{entity} ({why})" for entity, why in dropped.items()) or "none")
        + ".",
        entities=list(dropped),
        periods=record["dropped_periods"],
        reasons=dropped,
        kept=sample.basis(),
    )


def club_record(log_t: pd.DataFrame, clubs: pd.DataFrame) -> dict[str, Any]:
    """The Phillips-Sul outcome in the provenance, so that ``summary.md`` reads one file:
    ``log_t_overall`` (``b``, ``t``, ``converges`` of the row ``all`` of ``log_t.csv``),
    ``club_sizes`` (entities per final club, club 1 first) and ``divergent`` (the entities
    of club 0, in ``clubs.csv`` order)."""
    overall = log_t[log_t["group"] == "all"].iloc[0]
    tested = clubs.dropna(subset=["club"])
    numbers = tested["club"].astype(int)
    return {
        "log_t_overall": {
            "b": float(overall["b"]),
            "t": float(overall["t"]),
            "converges": bool(overall["converges"]),
        },
        "club_sizes": [int(n) for n in numbers[numbers > 0].value_counts().sort_index()],
        "divergent": [str(e) for e in tested.loc[numbers == 0, "entity"]],
    }


def run(
    *,
    dataset: str,
    coupling_path: str | Path,
    measure_provenance_path: str | Path,
    settings: Mapping[str, Any],
    beta_path: str | Path,
    points_path: str | Path,
    sigma_path: str | Path,
    sigma_trend_path: str | Path,
    log_t_path: str | Path,
    clubs_path: str | Path,
    transition_path: str | Path,
    provenance_path: str | Path,
    series: str = SERIES,
) -> str:
    """Test convergence of the column ``series`` of ``coupling.csv`` (``D``, or a
    subsystem's ``U_k``) across the data set's entities; return the verdict.

    Raises :class:`InputError` when ``coupling.csv`` has no such column.
    """
    parsed = ConvergenceTestSettings.from_mapping(settings)
    coupling = _read(coupling_path)
    if series not in coupling.columns:
        known = [c for c in coupling.columns if c == "D" or str(c).startswith("U_")]
        raise InputError(f"{coupling_path}: no column {series!r} to test; series: {known}")
    # Missing values stay in the panel, so that the totals count every entity and period.
    panel = coupling.set_index(["entity", "period"])[series]
    paths = {
        "beta": beta_path,
        "points": points_path,
        "sigma": sigma_path,
        "sigma_trend": sigma_trend_path,
        "log_t": log_t_path,
        "clubs": clubs_path,
        "transition": transition_path,
    }
    data_checks: list[dict[str, Any]] = []
    try:
        result = convergence_tests(panel, parsed, series=series)
    except InputError as error:
        verdict = f"not tested: {error}"
        log.warning("[convergence] convergence_not_tested: %s", error)
        data_checks.append(
            {
                "stage": "convergence",
                "code": "convergence_not_tested",
                "message": f"convergence tests of {series} skipped: {error}",
                "details": {"entities": sorted(panel.index.get_level_values(0).unique())},
            }
        )
        tables = {
            name: pd.DataFrame(columns=list(columns)) for name, columns in EMPTY_COLUMNS.items()
        }
        size: dict[str, Any] = {}
    else:
        verdict = result.verdict
        if result.sample.trimmed:
            data_checks.append(panel_check(result.sample, series))
        for warning in result.warnings:
            log.warning("[convergence] %s", warning)
            data_checks.append(
                {"stage": "convergence", "code": "convergence_sample", "message": warning}
            )
        tables = {
            "beta": result.beta,
            "points": result.beta_points,
            "sigma": result.sigma,
            "sigma_trend": result.sigma_trend,
            "log_t": result.log_t,
            "clubs": result.clubs,
            "transition": result.transition,
        }
        size = {
            "n_entities": result.n_entities,
            "n_periods": result.n_periods,
            "sample": result.sample.record(),
            "sigma_trend": result.sigma_trend.to_dict(orient="records"),
            **club_record(result.log_t, result.clubs),
        }
    for name, table in tables.items():
        write_csv_atomic(table, paths[name])
    measured = read_json(measure_provenance_path)
    write_json_atomic(
        base_record(
            stage="convergence",
            dataset=dataset,
            series=series,
            data_sha256=measured.get("data_sha256"),
            config_sha256=config_hash(parsed.conventions()),
            conventions=parsed.conventions(),
            verdict=verdict,
            data_checks=data_checks,
            **size,
        ),
        provenance_path,
    )
    log.info("%s, %s: %s", dataset, series, verdict)
    return verdict


def run_figure(
    *,
    figure: str,
    inputs: Mapping[str, str | Path],
    png: str | Path,
    pdf: str | Path,
    title: str,
) -> None:
    """Draw a convergence figure, or a note saying why the data set has none."""
    from convergence.plotting.common import note_figure
    from convergence.plotting.convergence_tests import FIGURES

    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {sorted(FIGURES)}, got {figure!r}")
    tables = {name: _read(path) for name, path in inputs.items()}
    if any(table.empty for table in tables.values()):
        note_figure(png, pdf, "convergence tests not run (see convergence/provenance.json)", title)
        return
    FIGURES[figure](*tables.values(), png, pdf, title=title)
