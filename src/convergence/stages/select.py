"""Stage ``select``: the per-data-set model configuration, chosen on validation data.

Runs :func:`convergence.training.selection.select_configuration` for the reference model
of one data set, logs one MLflow child run per trial (params: the candidate's overrides;
metrics: its validation loss and epochs) under a parent run ``selection``, and writes
``choice.json`` (the chosen overrides, with the fold and validation periods they were
chosen on), ``trials.csv`` (every trial and seed) and ``ranking.{csv,md,tex}`` (the
candidates by mean validation loss). The train stage
applies the choice to every model (:func:`~convergence.training.choice.apply_choice`).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.atomic import write_csv_atomic
from convergence.backtest.inputs import load_forecast_inputs
from convergence.diagnostics import DATA_CHECKS_KEY, check
from convergence.numerics import enter_job
from convergence.settings import TrainingSettings
from convergence.stages.common import tracked_job

log = logging.getLogger(__name__)


def run(
    *,
    dataset: str,
    numerics_isa: str,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    reference: str,
    reference_cfg: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    min_validation_windows: int,
    max_folds: int,
    margin: float,
    warm_start: bool,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    choice_path: str | Path,
    trials_path: str | Path,
    ranking_path: str | Path,
    ranking_md_path: str | Path,
    ranking_tex_path: str | Path,
    max_entities: int | None = None,
) -> None:
    """Search ``grid`` around the reference model on one data set; write the choice.

    With ``warm_start`` the data set's ``training.warm_start`` is chosen too
    (:func:`~convergence.training.selection.compare_warm_start`) and written to
    ``choice.json`` under ``training_choice``. A data set with more than
    ``max_entities`` entities is searched on a seeded sample of that many
    (:func:`~convergence.training.selection.selection_entities`), named in ``choice.json``.
    """
    from mlflow.tracking import MlflowClient

    from convergence.evaluation.tables import write_tables
    from convergence.tracking.mlflow_tracking import create_child_run
    from convergence.training.selection import (
        candidate_grid,
        compare_warm_start,
        overrides_label,
        select_configuration,
    )

    settings = TrainingSettings.from_mapping(training_cfg)
    numerics = enter_job(numerics_isa, settings.threads)
    candidates = candidate_grid(grid)
    inputs = load_forecast_inputs(
        canonical_path=canonical_path,
        ingest_provenance_path=ingest_provenance_path,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        reference_cfg=dict(reference_cfg),
        grid={key: list(values) for key, values in grid.items()},
        seeds=[int(seed) for seed in seeds],
        min_validation_windows=int(min_validation_windows),
        max_folds=int(max_folds),
        max_entities=None if max_entities is None else int(max_entities),
    )
    log.info(
        "%s: %d candidates x %d seeds on the selection folds' validation windows",
        dataset,
        len(candidates),
        len(seeds),
    )
    params = {
        "reference": reference,
        "grid": dict(grid),
        "seeds": list(seeds),
        "min_validation_windows": int(min_validation_windows),
        "max_folds": int(max_folds),
        "margin": float(margin),
        "warm_start": bool(warm_start),
        "max_entities": max_entities,
    }
    with (
        tracked_job(
            dataset=dataset,
            model=reference,
            run_name="selection",
            inputs=inputs,
            params=params,
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            numerics=numerics,
            stage="selection",
        ) as job,
        tempfile.TemporaryDirectory() as work_dir,
    ):
        client = MlflowClient(job.context.uri)

        def log_trial(
            trial: int,
            overrides: dict[str, Any],
            fold: int,
            seed: int,
            val_loss: float,
            epochs: int,
        ) -> None:
            run_id = create_child_run(
                job.context,
                run_name=f"selection-trial{trial}-fold{fold}-seed{seed}",
                params={"overrides": dict(overrides), "fold": fold, "seed": seed},
                tags={
                    "trial": trial,
                    "fold": fold,
                    "seed": seed,
                    "candidate": overrides_label(overrides),
                },
            )
            client.log_metric(run_id, "val_loss", val_loss)
            client.log_metric(run_id, "epochs", float(epochs))
            client.set_terminated(run_id, "FINISHED")

        selection = select_configuration(
            wide=inputs.wide,
            mspec=inputs.mspec,
            reference_cfg=reference_cfg,
            settings=settings,
            grid=grid,
            seeds=[int(seed) for seed in seeds],
            work_dir=Path(work_dir),
            min_validation_windows=int(min_validation_windows),
            max_folds=int(max_folds),
            margin=float(margin),
            on_trial=log_trial,
            max_entities=None if max_entities is None else int(max_entities),
        )
        for key, value in selection.choice.items():
            client.set_tag(job.run_id, f"chosen.{key}", str(value))
        client.set_tag(job.run_id, "near_tie", str(bool(selection.near_tie)))
        comparison = None
        if warm_start:
            comparison = compare_warm_start(
                wide=inputs.wide,
                mspec=inputs.mspec,
                reference_cfg=reference_cfg,
                settings=settings,
                selection=selection,
                seeds=[int(seed) for seed in seeds],
                work_dir=Path(work_dir),
                margin=float(margin),
            )
        training_choice: dict[str, Any] = {}
        if comparison is not None:
            training_choice["warm_start"] = comparison.warm_start
            client.log_metric(job.run_id, "warm_start_val_loss", comparison.warm_val_loss)
            client.log_metric(job.run_id, "fresh_start_val_loss", comparison.fresh_val_loss)
            client.set_tag(job.run_id, "chosen.warm_start", str(comparison.warm_start))
    checks = []
    folds_text = ", ".join(str(index) for index in selection.fold_indices)
    if selection.n_validation_windows < min_validation_windows:
        checks.append(
            check(
                "select",
                "selection_few_validation_windows",
                f"the configuration was chosen on {selection.n_validation_windows} validation "
                f"window(s) of selection fold(s) {folds_text} (fewer than "
                f"{min_validation_windows}; selection.max_folds = {max_folds}, or the "
                "series is too short for more): the candidates' validation losses differ by noise "
                "as much as by design, so the choice may not carry over to the test span "
                "(compare the ablations in summary.md)",
                counts={"validation windows": selection.n_validation_windows},
            )
        )
    write_csv_atomic(selection.trials, trials_path)
    write_tables(
        selection.ranking,
        f"{dataset}: candidates of {reference} ranked by validation loss "
        f"(selection folds {folds_text}, validation periods "
        f"{selection.validation_periods[0]}..{selection.validation_periods[1]})",
        csv_path=ranking_path,
        md_path=ranking_md_path,
        tex_path=ranking_tex_path,
    )
    job.write_run_json(
        choice_path,
        stage="select",
        dataset=dataset,
        reference=reference,
        choice=selection.choice,
        chosen=overrides_label(selection.choice),
        folds=list(selection.fold_indices),
        validation_periods=list(selection.validation_periods),
        n_candidates=len(candidates),
        n_validation_windows=selection.n_validation_windows,
        n_entities=selection.n_entities,
        max_entities=max_entities,
        n_selection_entities=(
            selection.n_entities if selection.entities is None else len(selection.entities)
        ),
        selection_entities=None if selection.entities is None else list(selection.entities),
        seeds=[int(seed) for seed in seeds],
        margin=float(margin),
        near_tie=list(selection.near_tie),
        training_choice=training_choice,
        warm_start_comparison=None if comparison is None else dataclasses.asdict(comparison),
        **{DATA_CHECKS_KEY: checks},
    )
    log.info(
        "%s: chose %s; training %s", dataset, overrides_label(selection.choice), training_choice
    )
