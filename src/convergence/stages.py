"""Pipeline stages: what each Snakemake rule does, as plain functions.

Each ``run_*`` function reads named files, calls the package's pure functions and
writes its outputs atomically with a provenance record. Snakemake scripts only unpack
``snakemake.*`` and call one of these, so every stage can be run from a test or REPL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.config import config_hash
from convergence.data.canonical import (
    period_to_float,
    read_canonical,
    to_wide,
    write_csv_atomic,
)
from convergence.data.ingest import ingest_dataset, write_ingest_outputs
from convergence.data.synthetic import coupling_recovery, simulate_coupled_industries
from convergence.measures.coupling import DEFAULT_GRADE_SCALE
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    apply_measurement,
    fit_measurement,
)
from convergence.measures.normalize import (
    apply_minmax,
    check_zero_range,
    dominated_bounds_check,
    normalization_settings,
)
from convergence.measures.similarity import (
    normalise_shares,
    pairwise_structure,
    sigma_convergence,
    structure_convergence,
    trend_slope,
)
from convergence.provenance import PROJECT_ROOT, base_record, read_json, write_json_atomic

log = logging.getLogger(__name__)


def run_ingest(
    name: str, spec: Mapping[str, Any], canonical_path: str | Path, provenance_path: str | Path
) -> None:
    """Ingest one data set: checksum, reader, canonical table, provenance."""
    log.info("ingesting data set %s with reader %s", name, spec["reader"])
    canonical, provenance = ingest_dataset(name, spec, root=PROJECT_ROOT)
    provenance = base_record(**provenance, config_sha256=config_hash(spec))
    write_ingest_outputs(canonical, provenance, canonical_path, provenance_path)
    log.info(
        "%s: %d rows in, %d rows out, %d entities, periods %s-%s",
        name,
        provenance["rows_in"],
        provenance["rows_out"],
        provenance["n_entities"],
        provenance["periods"]["first"],
        provenance["periods"]["last"],
    )


def measurement_spec(spec: Mapping[str, Any], measures: Mapping[str, Any]) -> MeasurementSpec:
    """Build the measurement spec of a data set from its config entry and ``measures``."""
    normalization = normalization_settings(measures, spec)
    return MeasurementSpec(
        subsystems={k: dict(v) for k, v in spec["subsystems"].items()},
        scope=normalization.get("scope", "pooled"),
        headroom=float(normalization.get("headroom", 0.0)),
        clip=bool(normalization.get("clip", True)),
        subsystem_weights=measures.get("subsystem_weights"),
        grade_scale=measures.get("grades") or DEFAULT_GRADE_SCALE,
    )


def forecast_measurement_spec(
    spec: Mapping[str, Any], measures: Mapping[str, Any], training_cfg: Mapping[str, Any]
) -> MeasurementSpec:
    """Measurement spec that defines the forecast target of each backtest fold.

    Same as the descriptive one, except that ``training.headroom`` (or the data set's
    ``forecast.headroom``) widens the bounds fitted on the fold's training periods: a
    steadily growing series (China) otherwise leaves the fitted range right after the
    origin and the clipped target sits at 1 for every test period.
    """
    import dataclasses

    base = measurement_spec(spec, measures)
    headroom = training_cfg.get("headroom")
    return base if headroom is None else dataclasses.replace(base, headroom=float(headroom))


def subsystem_indicators(spec: Mapping[str, Any]) -> list[str]:
    return [ind for indicators in spec["subsystems"].values() for ind in indicators]


def fit_window_mask(index: pd.MultiIndex, fit_end: str | int | None) -> pd.Series | None:
    """Rows whose period is <= ``fit_end`` (period labels sort chronologically)."""
    if fit_end is None:
        return None
    periods = index.get_level_values("period").astype(str)
    mask = pd.Series(periods <= str(fit_end), index=index)
    if not mask.any():
        from convergence.errors import ConfigError

        raise ConfigError("measures.fit_end", f"no period <= {fit_end!r} in the data")
    return mask


def run_normalize(
    canonical_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    normalized_path: str | Path,
    model_path: str | Path,
    dataset: str | None = None,
) -> MeasurementModel:
    """Fit bounds and entropy weights on the fit window; write normalized indicators.

    Fails on an indicator that is constant in the fit window (pooled, or per entity with
    ``scope: per_entity``), naming it; records a ``pooled_bounds_dominated`` data check
    in the model JSON's ``data_checks`` when one entity sets most pooled bounds.
    """
    canonical = read_canonical(canonical_path)
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    mspec = measurement_spec(spec, measures)
    mask = fit_window_mask(wide.index, measures.get("fit_end"))
    fit_rows = wide if mask is None else wide.loc[mask.to_numpy()]
    check_zero_range(fit_rows, mspec.scope, dataset=dataset)
    data_checks = []
    if mspec.scope == "pooled":
        dominated = dominated_bounds_check(fit_rows, dataset=dataset)
        data_checks += [dominated] if dominated else []
    model = fit_measurement(wide, mspec, fit_mask=mask)
    directions = {i: d for sub in mspec.subsystems.values() for i, d in sub.items()}
    normalized = apply_minmax(wide, model.bounds, directions, clip=mspec.clip)
    long = (
        normalized.rename_axis(columns="indicator")
        .stack(future_stack=True)
        .rename("value")
        .reset_index()
        .dropna(subset=["value"])
    )
    write_csv_atomic(long, normalized_path)
    n_fit_rows = int(mask.sum()) if mask is not None else len(wide)
    write_json_atomic(
        {
            "model": model.to_dict(),
            "fit_end": measures.get("fit_end"),
            "fit_rows": n_fit_rows,
            "rows": len(wide),
            "normalization": {"scope": mspec.scope, "headroom": mspec.headroom, "clip": mspec.clip},
            "data_checks": data_checks,
        },
        model_path,
    )
    log.info("fitted measurement model on %d of %d entity-periods", n_fit_rows, len(wide))
    return model


def grade_distribution(coupling: pd.DataFrame, scale: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Per period: number and share of entities in each coordination grade."""
    ranks = {grade["label"]: rank for rank, grade in enumerate(scale)}
    counts = (
        coupling.dropna(subset=["grade"]).groupby(["period", "grade"]).size().rename("count")
    ).reset_index()
    counts["share"] = counts["count"] / counts.groupby("period")["count"].transform("sum")
    counts["grade_rank"] = counts["grade"].map(ranks)
    return counts.sort_values(["period", "grade_rank"]).reset_index(drop=True)


def run_measure(
    canonical_path: str | Path,
    model_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    outputs: Mapping[str, str],
) -> None:
    """Coupling coordination, grades, structural similarity and sigma-convergence."""
    canonical = read_canonical(canonical_path)
    mspec = measurement_spec(spec, measures)
    model = MeasurementModel.from_dict(read_json(model_path)["model"])
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    coupling = apply_measurement(model, wide).reset_index()
    write_csv_atomic(coupling, outputs["coupling"])
    write_csv_atomic(grade_distribution(coupling, mspec.grade_scale), outputs["grades"])

    data_checks: list[dict[str, Any]] = []
    n_entities = coupling["entity"].nunique()
    if n_entities < 2:
        data_checks.append(
            diagnostics.check(
                "measure",
                "single_entity",
                f"{n_entities} entity: sigma-convergence and structural similarity need at "
                "least two entities; their tables are empty.",
                entities=sorted(coupling["entity"].unique()),
            )
        )
    sigma = sigma_convergence(coupling.set_index(["entity", "period"])["D"]).reset_index()
    write_csv_atomic(sigma, outputs["sigma"])
    trends: dict[str, Any] = {}
    valid = sigma.dropna(subset=["std"])
    if len(valid) >= 3:
        trends["sigma_D_std"] = trend_slope(period_to_float(valid["period"]), valid["std"])

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
        pairs = pairwise_structure(shares)
        structure = structure_convergence(pairs).reset_index()
        valid = structure.dropna(subset=["krugman_mean"])
        if len(valid) >= 3:
            trends["krugman_mean"] = trend_slope(
                period_to_float(valid["period"]), valid["krugman_mean"]
            )
    else:
        pairs = pd.DataFrame(columns=["period", "entity_a", "entity_b", "cosine", "krugman"])
        structure = pd.DataFrame(
            columns=[
                "period",
                "n_pairs",
                "cosine_mean",
                "cosine_std",
                "krugman_mean",
                "krugman_std",
            ]
        )
    write_csv_atomic(pairs, outputs["pairs"])
    write_csv_atomic(structure, outputs["structure"])

    recovery: dict[str, Any] = {}
    if spec.get("reader") == "synthetic":
        # The generator is seeded: the same options give the truth behind the ingested panel.
        _, truth = simulate_coupled_industries(**dict(spec.get("options") or {}))
        recovery = {"coupling_recovery": coupling_recovery(coupling, truth)}

    ingest = read_json(ingest_provenance_path)
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
            **recovery,
        ),
        outputs["provenance"],
    )
    log.info("measures: %s", summary)
