"""Stage ``train``: rolling-origin backtest of one model on one data set, every seed.

One process trains the seeds one after another (imports and data loading are paid once
per job, not per seed). Each seed opens its own parent run ``<model>-seed<seed>`` in the
data set's experiment (one child run per fold) and writes its own predictions CSV and
``run.json``; fold checkpoints and the per-epoch ``history.csv`` go to the seed's
checkpoint folder (declared outputs of the rule), and one figure draws every seed's
training curves. A model that the chosen configuration makes the reference itself reuses
the reference's outputs instead of training (:func:`_reuse_reference`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convergence.backtest.inputs import load_forecast_inputs
from convergence.data.canonical import write_csv_atomic
from convergence.provenance import read_json
from convergence.settings import ModelSettings, TrainingSettings
from convergence.stages.common import tracked_job
from convergence.training.choice import apply_choice, model_values

log = logging.getLogger(__name__)


def _uptime() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def run(
    *,
    dataset: str,
    numerics_isa: str,
    canonical_path: str | Path,
    ingest_provenance_path: str | Path,
    spec: Mapping[str, Any],
    measures: Mapping[str, Any],
    model_name: str,
    model_cfg: Mapping[str, Any],
    training_cfg: Mapping[str, Any],
    seeds: Sequence[int],
    reference_cfg: Mapping[str, Any] | None = None,
    choice_path: str | Path | None = None,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_paths: Sequence[str | Path],
    run_json_paths: Sequence[str | Path],
    checkpoint_dirs: Sequence[str | Path],
    curves_path: str | Path | None = None,
    reference_runs: Sequence[str | Path] = (),
    reference_predictions: Sequence[str | Path] = (),
    reference_curves: str | Path | None = None,
) -> None:
    """Backtest one model on one data set once per seed, each seed its own MLflow parent run.

    ``predictions_paths``, ``run_json_paths`` and ``checkpoint_dirs`` hold one path per
    seed, in the order of ``seeds``. With ``choice_path`` (the ``select`` stage's
    ``choice.json``) the chosen configuration is applied to ``model_cfg`` relative to
    ``reference_cfg`` (:func:`~convergence.training.choice.apply_choice`), and its
    ``training_choice`` (``warm_start``) to ``training_cfg``; the effective configuration
    is what is trained, hashed and logged. The seeds share one process (imports, data, windows'
    inputs) but nothing else: every seed's numbers equal those of a job with that seed only.
    With ``curves_path`` every seed's ``history.csv`` is drawn there once, after the last
    seed, and the PNG is logged to every seed's parent run.

    ``reference_runs`` and ``reference_predictions`` (one per seed, the reference model's
    ``run.json`` and predictions; the train rule passes them when
    :func:`~convergence.training.choice.may_equal_reference`) let a model that the choice
    made identical to the reference reuse the reference's forecasts: when every seed's
    ``run.json`` records the same effective model configuration and training settings,
    nothing is trained (the same seed would give the same numbers) and each seed's run and
    ``run.json`` name the reference's run in ``same_model_as`` (see :func:`_reuse_reference`).
    """

    seeds = [int(seed) for seed in seeds]
    for name, paths in (
        ("predictions_paths", predictions_paths),
        ("run_json_paths", run_json_paths),
        ("checkpoint_dirs", checkpoint_dirs),
    ):
        if len(paths) != len(seeds):
            raise ValueError(f"{name}: {len(paths)} paths for {len(seeds)} seeds")
    for name, paths in (
        ("reference_runs", reference_runs),
        ("reference_predictions", reference_predictions),
    ):
        if paths and len(paths) != len(seeds):
            raise ValueError(f"{name}: {len(paths)} paths for {len(seeds)} seeds")
    if reference_runs and curves_path is not None and reference_curves is None:
        raise ValueError("reference_runs with curves_path need the reference's reference_curves")
    choice: dict[str, Any] = {}
    training_choice: dict[str, Any] = {}
    if choice_path is not None:
        record = read_json(choice_path)
        choice = dict(record["choice"])
        model_cfg = apply_choice(model_cfg, reference_cfg or model_cfg, choice)
        log.info("configuration chosen on validation data: %s -> %s", choice, dict(model_cfg))
        # Training settings chosen per data set (training.warm_start).
        training_choice = dict(record.get("training_choice") or {})
        if training_choice:
            training_cfg = {**training_cfg, **training_choice}
            log.info("training settings chosen on validation data: %s", training_choice)
    settings = TrainingSettings.from_mapping(training_cfg)
    model = ModelSettings.from_mapping(model_cfg)
    log.info("SLURM_JOB_ID=%s", os.environ.get("SLURM_JOB_ID"))
    inputs = load_forecast_inputs(
        canonical_path=canonical_path,
        ingest_provenance_path=ingest_provenance_path,
        spec=spec,
        measures=measures,
        training_cfg=training_cfg,
        model_cfg=dict(model_cfg),
    )
    reference = [read_json(path) for path in reference_runs]
    if reference and all(
        same_training(record, model_cfg, settings, seed)
        for record, seed in zip(reference, seeds, strict=True)
    ):
        _reuse_reference(
            dataset=dataset,
            model_name=model_name,
            model_cfg=model_cfg,
            settings=settings,
            choice=choice,
            training_choice=training_choice,
            seeds=seeds,
            inputs=inputs,
            reference=reference,
            reference_predictions=reference_predictions,
            reference_curves=reference_curves,
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            predictions_paths=predictions_paths,
            run_json_paths=run_json_paths,
            checkpoint_dirs=checkpoint_dirs,
            curves_path=curves_path,
        )
        return
    # Training needs torch and Lightning; a reused model does not import them.
    from convergence.numerics import enter_job
    from convergence.training.backtest import train_and_backtest

    # One job = one process: honour the threads Snakemake gave it, under the pinned numerics.
    numerics = enter_job(numerics_isa, settings.threads)
    seed_runs: dict[str, str] = {}  # parent run id -> its tracking URI
    if settings.vectorise_seeds:
        # Every seed at once, as one vectorised ensemble; the same outputs per seed.
        seed_runs = _train_ensemble(
            dataset=dataset,
            model_name=model_name,
            model=model,
            records=[
                _seed_record(
                    dataset, model_name, seed, model_cfg, choice, training_choice, settings
                )
                for seed in seeds
            ],
            settings=settings,
            seeds=seeds,
            inputs=inputs,
            numerics=numerics,
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            predictions_paths=predictions_paths,
            run_json_paths=run_json_paths,
            checkpoint_dirs=checkpoint_dirs,
        )
    for position, seed in enumerate([] if settings.vectorise_seeds else seeds):
        started = time.perf_counter()
        record = _seed_record(
            dataset, model_name, seed, model_cfg, choice, training_choice, settings
        )
        with tracked_job(
            dataset=dataset,
            model=model_name,
            run_name=f"{model_name}-seed{seed}",
            inputs=inputs,
            params=record,
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            numerics=numerics,
            seed=str(seed),
        ) as job:
            if position == 0:
                log.info("fixed cost: %.2f s from process start to the first fold", _uptime())
            predictions = train_and_backtest(
                dataset=dataset,
                wide=inputs.wide,
                mspec=inputs.mspec,
                model_name=model_name,
                model=model,
                settings=settings,
                seed=seed,
                out_dir=Path(checkpoint_dirs[position]),
                tracking=job.context,
            )
            write_csv_atomic(predictions, predictions_paths[position])
            seed_runs[job.run_id] = job.context.uri
            _log_to_runs({job.run_id: job.context.uri}, predictions_paths[position])
        job.write_run_json(
            run_json_paths[position],
            **record,
            checkpoint_dir=str(checkpoint_dirs[position]),
            n_predictions=len(predictions),
            folds=sorted(int(k) for k in predictions["fold"].unique()),
        )
        log.info(
            "seed %d (%d/%d): %d predictions to %s in %.1f s",
            seed,
            position + 1,
            len(seeds),
            len(predictions),
            predictions_paths[position],
            time.perf_counter() - started,
        )
    if curves_path is not None:
        _draw_curves(
            {
                seed: Path(folder) / "history.csv"
                for seed, folder in zip(seeds, checkpoint_dirs, strict=True)
            },
            f"{dataset} {model_name}",
            Path(curves_path),
        )
        _log_to_runs(seed_runs, curves_path)


def _train_ensemble(
    *,
    dataset: str,
    model_name: str,
    model: ModelSettings,
    records: Sequence[Mapping[str, Any]],
    settings: TrainingSettings,
    seeds: Sequence[int],
    inputs: Any,
    numerics: Mapping[str, Any],
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_paths: Sequence[str | Path],
    run_json_paths: Sequence[str | Path],
    checkpoint_dirs: Sequence[str | Path],
) -> dict[str, str]:
    """Train every seed as one member of a vectorised ensemble (``training.vectorise_seeds``).

    Each seed gets what the sequential loop gives it: its parent run (open for the whole
    fit, all S at once), predictions CSV, checkpoints and ``run.json``; params and
    ``run.json`` add ``seed_ensemble`` (``members``, ``seeds``), the parent run the tag
    ``ensemble_members``. Returns parent run id -> tracking URI.
    """
    from contextlib import ExitStack

    from convergence.training.ensemble_backtest import train_and_backtest_ensemble

    ensemble = {"members": len(seeds), "seeds": [int(seed) for seed in seeds]}
    started = time.perf_counter()
    with ExitStack() as stack:
        jobs = [
            stack.enter_context(
                tracked_job(
                    dataset=dataset,
                    model=model_name,
                    run_name=f"{model_name}-seed{seed}",
                    inputs=inputs,
                    params={**record, "seed_ensemble": ensemble},
                    tracking_uri=tracking_uri,
                    results_dir=results_dir,
                    experiments_path=experiments_path,
                    numerics=numerics,
                    seed=str(seed),
                    ensemble_members=str(len(seeds)),
                )
            )
            for seed, record in zip(seeds, records, strict=True)
        ]
        log.info("fixed cost: %.2f s from process start to the first fold", _uptime())
        frames = train_and_backtest_ensemble(
            dataset=dataset,
            wide=inputs.wide,
            mspec=inputs.mspec,
            model_name=model_name,
            model=model,
            settings=settings,
            seeds=seeds,
            out_dirs=[Path(folder) for folder in checkpoint_dirs],
            trackings=[job.context for job in jobs],
        )
        for job, predictions, path in zip(jobs, frames, predictions_paths, strict=True):
            write_csv_atomic(predictions, path)
            _log_to_runs({job.run_id: job.context.uri}, path)
    for job, record, predictions, path, folder in zip(
        jobs, records, frames, run_json_paths, checkpoint_dirs, strict=True
    ):
        job.write_run_json(
            path,
            **record,
            seed_ensemble=ensemble,
            checkpoint_dir=str(folder),
            n_predictions=len(predictions),
            folds=sorted(int(k) for k in predictions["fold"].unique()),
        )
    log.info(
        "seeds %s as one ensemble: %d predictions each in %.1f s",
        list(seeds),
        len(frames[0]) if frames else 0,
        time.perf_counter() - started,
    )
    return {job.run_id: job.context.uri for job in jobs}


def _seed_record(
    dataset: str,
    model_name: str,
    seed: int,
    model_cfg: Mapping[str, Any],
    choice: Mapping[str, Any],
    training_choice: Mapping[str, Any],
    settings: TrainingSettings,
) -> dict[str, Any]:
    """What a seed's MLflow params and its ``run.json`` both record: the effective
    configuration (:func:`same_training` compares against the ``run.json`` copy)."""
    return {
        "dataset": dataset,
        "model": model_name,
        "seed": seed,
        "model_cfg": dict(model_cfg),
        "selection_choice": dict(choice),
        "training_choice": dict(training_choice),
        "training": settings.to_dict(),
    }


def _log_to_runs(seed_runs: Mapping[str, str], path: str | Path) -> None:
    """Log one file to every seed's parent run (run id -> tracking URI)."""
    from mlflow.tracking import MlflowClient

    from convergence.tracking.mlflow_tracking import log_artifacts

    for run_id, uri in seed_runs.items():
        log_artifacts(MlflowClient(uri), run_id, [path])


def _draw_curves(history_paths: Mapping[int, Path], title: str, path: Path) -> None:
    import pandas as pd

    from convergence.plotting.training import write_training_curves

    started = time.perf_counter()
    write_training_curves(
        {seed: pd.read_csv(history) for seed, history in history_paths.items()}, title, path
    )
    log.info(
        "training curves of %d seeds to %s in %.1f s",
        len(history_paths),
        path,
        time.perf_counter() - started,
    )


def same_training(
    reference_run: Mapping[str, Any],
    model_cfg: Mapping[str, Any],
    settings: TrainingSettings,
    seed: int,
) -> bool:
    """Whether the reference's ``run.json`` records the network this job would train:
    the same effective model configuration, training settings and seed."""
    recorded_training = reference_run.get("training")
    return (
        recorded_training is not None
        and int(reference_run["seed"]) == seed
        and model_values(reference_run["model_cfg"]) == model_values(model_cfg)
        and TrainingSettings.from_mapping(recorded_training) == settings
    )


def _reuse_reference(
    *,
    dataset: str,
    model_name: str,
    model_cfg: Mapping[str, Any],
    settings: TrainingSettings,
    choice: Mapping[str, Any],
    training_choice: Mapping[str, Any],
    seeds: Sequence[int],
    inputs: Any,
    reference: Sequence[Mapping[str, Any]],
    reference_predictions: Sequence[str | Path],
    reference_curves: str | Path | None,
    tracking_uri: str | None,
    results_dir: str | Path,
    experiments_path: str | Path,
    predictions_paths: Sequence[str | Path],
    run_json_paths: Sequence[str | Path],
    checkpoint_dirs: Sequence[str | Path],
    curves_path: str | Path | None,
) -> None:
    """Record the reference's forecasts as this model's, seed by seed, without training.

    Each seed still gets its own MLflow parent run (params as if trained, tag
    ``same_model_as`` = the reference's run id, the predictions as artifact), its
    predictions CSV (the reference's, with this model's name; ``run_id`` keeps the fold
    runs that made them) and a ``run.json`` whose ``same_model_as`` and
    ``checkpoint_dir`` point at the reference's checkpoints. The checkpoint folder holds
    only ``same_model_as.json``; the training curves are the reference's figure.
    """
    import shutil

    import pandas as pd

    from convergence.evaluation.tables import TEXT_ID_COLUMNS
    from convergence.provenance import write_json_atomic

    reference_model = str(reference[0]["model"])
    log.info(
        "%s on %s: the configuration chosen on validation makes it the same network as %s "
        "(same settings and seeds): its forecasts are reused, nothing is trained",
        model_name,
        dataset,
        reference_model,
    )
    seed_runs: dict[str, str] = {}  # parent run id -> its tracking URI
    for position, seed in enumerate(seeds):
        same_as = {
            "model": reference_model,
            "run_id": reference[position]["run_id"],
            "checkpoint_dir": reference[position]["checkpoint_dir"],
        }
        record = _seed_record(
            dataset, model_name, seed, model_cfg, choice, training_choice, settings
        )
        with tracked_job(
            dataset=dataset,
            model=model_name,
            run_name=f"{model_name}-seed{seed}",
            inputs=inputs,
            params={**record, "same_model_as": reference_model},
            tracking_uri=tracking_uri,
            results_dir=results_dir,
            experiments_path=experiments_path,
            # The forecasts were computed by the reference's job, under its numerics.
            numerics=reference[position].get("numerics"),
            seed=str(seed),
            same_model_as=str(same_as["run_id"]),
        ) as job:
            predictions = pd.read_csv(reference_predictions[position], dtype=TEXT_ID_COLUMNS)
            predictions["model"] = model_name
            write_csv_atomic(predictions, predictions_paths[position])
            folder = Path(checkpoint_dirs[position])
            folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(same_as, folder / "same_model_as.json")
            seed_runs[job.run_id] = job.context.uri
            _log_to_runs({job.run_id: job.context.uri}, predictions_paths[position])
        job.write_run_json(
            run_json_paths[position],
            **record,
            checkpoint_dir=str(same_as["checkpoint_dir"]),
            n_predictions=len(predictions),
            folds=sorted(int(k) for k in predictions["fold"].unique()),
            same_model_as=same_as,
        )
        log.info("seed %d: %d forecasts of %s reused", seed, len(predictions), reference_model)
    if curves_path is not None and reference_curves is not None:  # both, or neither (run)
        shutil.copyfile(reference_curves, curves_path)
        _log_to_runs(seed_runs, curves_path)
