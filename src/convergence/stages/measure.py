"""Stage ``measure``: composite indices, coupling (classical and adjusted), coordination
degree and grades; structural similarity and the cross-entity dispersion of D per period
(descriptive: the sigma-convergence test is the convergence stage's); ground-truth
recovery on the synthetic panel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.atomic import write_csv_atomic, write_json_atomic, write_parquet_atomic
from convergence.config import config_hash
from convergence.data.canonical import period_to_float, read_canonical, to_wide
from convergence.data.synthetic import coupling_recovery, simulate_coupled_industries
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    apply_measurement,
    subsystem_indicators,
    time_index_check,
)
from convergence.measures.similarity import (
    PAIR_COLUMNS,
    STRUCTURE_COLUMNS,
    normalise_shares,
    sample_pairs,
    sigma_convergence,
    structure_summary,
    trend_slope,
)
from convergence.provenance import base_record, read_json
from convergence.settings import schema_defaults

log = logging.getLogger(__name__)


def grade_distribution(coupling: pd.DataFrame, scale: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Per period: number and share of entities in each coordination grade."""
    ranks = {grade["label"]: rank for rank, grade in enumerate(scale)}
    counts = (
        coupling.dropna(subset=["grade"]).groupby(["period", "grade"]).size().rename("count")
    ).reset_index()
    counts["share"] = counts["count"] / counts.groupby("period")["count"].transform("sum")
    counts["grade_rank"] = counts["grade"].map(ranks)
    return counts.sort_values(["period", "grade_rank"]).reset_index(drop=True)


def pair_table_settings(measures: Mapping[str, Any]) -> dict[str, Any]:
    """``measures.structure_pairs`` with the schema's defaults for keys not given."""
    defaults = schema_defaults("measures/properties/structure_pairs")
    return {**defaults, **dict(measures.get("structure_pairs") or {})}


def empty_pair_table() -> pd.DataFrame:
    """The pair table with its columns (:data:`PAIR_COLUMNS`) and no rows."""
    return pd.DataFrame(
        {c: pd.Series(dtype=float if c in ("cosine", "krugman") else str) for c in PAIR_COLUMNS}
    )


def run(
    canonical_path: str | Path,
    model_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    coupling_path: str | Path,
    grades_path: str | Path,
    sigma_path: str | Path,
    structure_path: str | Path,
    pairs_path: str | Path,
    provenance_path: str | Path,
) -> None:
    """Coupling coordination, grades, structural similarity and sigma-convergence.

    ``structure_path`` gets the per-period similarity summary, computed without the pair
    table (:func:`~convergence.measures.similarity.structure_summary`); ``pairs_path``
    (Parquet) gets the pair table only when ``measures.structure_pairs.enabled``, bounded
    by its ``max_pairs`` (:func:`~convergence.measures.similarity.sample_pairs`), and is
    empty otherwise; the provenance's ``structure_pairs`` says which.
    """
    pair_settings = pair_table_settings(measures)
    pair_record: dict[str, Any] = {
        "enabled": bool(pair_settings["enabled"]),
        "max_pairs": int(pair_settings["max_pairs"]),
        "written_pairs": 0,
        "method": "not written (measures.structure_pairs.enabled is false)",
    }
    canonical = read_canonical(canonical_path)
    mspec = MeasurementSpec.from_config(spec, measures)
    model = MeasurementModel.from_dict(read_json(model_path)["model"])
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    coupling = apply_measurement(model, wide).reset_index()
    write_csv_atomic(coupling, coupling_path)
    write_csv_atomic(grade_distribution(coupling, mspec.grade_scale), grades_path)

    data_checks: list[dict[str, Any]] = []
    ingest = read_json(ingest_provenance_path)
    tracks_time = time_index_check(coupling, scope=mspec.scope, dataset=ingest["dataset"])
    data_checks += [tracks_time] if tracks_time else []
    n_entities = coupling["entity"].nunique()
    if n_entities < 2:
        data_checks.append(
            diagnostics.check(
                "measure",
                "single_entity",
                f"{n_entities} entity: sigma-convergence and structural similarity need at "
                "least two entities; their tables are empty, and the structure figure (when "
                "`structure` is configured) says so instead of drawing empty axes.",
                entities=sorted(coupling["entity"].unique()),
            )
        )

    # Descriptive only (every entity with a D in each period). The sigma-convergence test
    # of D (one computation, on the balanced panel every convergence test uses) is the
    # convergence stage's sigma_trend.csv; a second trend here would rest on another sample.
    sigma = sigma_convergence(coupling.set_index(["entity", "period"])["D"]).reset_index()
    write_csv_atomic(sigma, sigma_path)
    trends: dict[str, Any] = {}

    if "structure" in spec:
        sectors = to_wide(canonical, indicators=spec["structure"]["indicators"])
        # Negative sector values (e.g. imputed bank service charges in GGDC FIRE) cannot
        # form shares: such entity-periods are left out of the similarity measures.
        negative = (sectors < 0).any(axis=1)
        trends["structure_rows_with_negative_values"] = int(negative.sum())
        if negative.any():
            per_entity = negative[negative].groupby(level="entity").size()
            data_checks.append(
                diagnostics.check(
                    "measure",
                    "negative_structure_values",
                    f"{int(negative.sum())} entity-period(s) with a negative structure value "
                    "were left out of the structural similarity.",
                    entities=[str(e) for e in per_entity.index],
                    counts={str(k): int(v) for k, v in per_entity.items()},
                    rows=int(negative.sum()),
                )
            )
        shares = normalise_shares(sectors[~negative])
        structure = structure_summary(shares).reset_index()
        pairs = empty_pair_table()
        if pair_record["enabled"]:
            pairs, info = sample_pairs(shares, pair_record["max_pairs"])
            pair_record.update(info)
        valid = structure.dropna(subset=["krugman_mean"])
        if len(valid) >= 3:
            trends["krugman_mean"] = trend_slope(
                period_to_float(valid["period"]), valid["krugman_mean"]
            )
    else:
        pairs = empty_pair_table()
        structure = pd.DataFrame(columns=["period", *STRUCTURE_COLUMNS])
        if pair_record["enabled"]:
            pair_record["method"] = "not written (the data set has no `structure`)"
    write_parquet_atomic(
        pairs.astype({"period": str, "entity_a": str, "entity_b": str}), pairs_path
    )
    write_csv_atomic(structure, structure_path)

    recovery: dict[str, Any] = {}
    if spec.get("reader") == "synthetic":
        # The generator is seeded: the same options give the truth behind the ingested panel.
        _, truth = simulate_coupled_industries(**dict(spec.get("options") or {}))
        recovery = {"coupling_recovery": coupling_recovery(coupling, truth)}

    summary = {
        "entity_periods": len(coupling),
        "share_C_above_0.9": float(np.mean(coupling["C"] > 0.9)),
        "median_C": float(coupling["C"].median()),
        "median_C_adjusted": float(coupling["C_adjusted"].median()),
        "corr_D_T": float(coupling["D"].corr(coupling["T"])),
    }
    write_json_atomic(
        base_record(
            dataset=ingest["dataset"],
            data_sha256=ingest.get("sha256"),
            config_sha256=config_hash({"spec": spec, "measures": measures}),
            summary=summary,
            trends=trends,
            data_checks=data_checks,
            structure_pairs=pair_record,
            **recovery,
        ),
        provenance_path,
    )
    log.info("measures: %s", summary)
