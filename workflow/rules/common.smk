# Validate the config, expose data set names, build targets. No rules here.

from pathlib import Path

from convergence import forkserver, numerics
from convergence.backtest.preflight import check_backtest_spans, scale_note
from snakemake.logging import logger
from convergence.config import check_results_dir, validate_config
from convergence.plotting import (
    CONVERGENCE_FIGURES,
    EVALUATION_FIGURES,
    MEASURE_FIGURES,
    SCENARIO_FIGURES,
)
from convergence.provenance import code_fingerprint
from convergence.settings import training_settings
from convergence.training.choice import may_equal_reference
from convergence.tracking.uri import tracking_uri_for

config = validate_config(config)
check_results_dir(config, Path(workflow.basedir), Path.cwd())
# Before any job or the forkserver starts: the libraries read these when they load.
numerics.apply_environment(config["numerics"]["isa"])
RESULTS = config["results_dir"]
DATASETS = list(config["datasets"])
REFERENCE = config["evaluation"]["reference"]
SEEDS = config["seeds"]
# `convergence_tests.subsystems` chooses the series the DAG tests, not how a job computes,
# so the jobs' params leave it out: turning it on or off reruns no D job. (Read from the
# validated config: importing the tests' settings here would load statsmodels at every
# Snakemake start.)
CONVERGENCE_PARAMS = {
    key: value
    for key, value in config["convergence_tests"].items()
    if key != "subsystems"
}
# Outputs of one series' convergence tests (rule convergence_series); D's are one level up.
SERIES_DIR = f"{RESULTS}/{{dataset}}/convergence/{{series}}"
# A data set too short for its backtest fails here (also in `snakemake -n`), not 20 s into
# a job after the measures ran.
if config["train_models"]:
    for name, (n_entities, n_periods) in check_backtest_spans(
        config["datasets"],
        {name: training_settings(config, name) for name in DATASETS},
        root=Path(workflow.basedir),
    ).items():
        if note := scale_note(name, n_entities, n_periods):
            logger.info(note)

# Per-seed outputs of the train rule (one job per data set and model trains every seed).
SEED_DIR = f"{RESULTS}/{{dataset}}/models/{{model}}/seed{{seed}}"
TRAIN_OUTPUTS = {
    "predictions": f"{SEED_DIR}/predictions.csv",
    "run": f"{SEED_DIR}/run.json",
    "checkpoints": f"{SEED_DIR}/{{model}}-seed{{seed}}",
}
# One figure per train job: every seed's training curves.
TRAIN_CURVES = f"{RESULTS}/{{dataset}}/models/{{model}}/training_curves.png"


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",


def fingerprint(stage):
    """Rerun trigger: hash of every package module the rule's stage module imports."""
    return code_fingerprint(f"convergence.stages.{stage}")


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def training_cfg(wildcards):
    return training_settings(config, wildcards.dataset).to_dict()


def dataset_files(wildcards):
    """The raw file of a data set as a DAG input (none for generated data)."""
    spec = config["datasets"][wildcards.dataset]
    return [str(Path(workflow.basedir) / spec["path"])] if "path" in spec else []


def measure_figures(dataset):
    has_structure = "structure" in config["datasets"][dataset]
    return [name for name in MEASURE_FIGURES if name != "structure" or has_structure]


def subsystem_series(dataset):
    """The series tested besides D, by convergence_series jobs: ``U_<subsystem>`` for each
    subsystem of the data set when ``convergence_tests.subsystems`` is on, else none."""
    if not config["convergence_tests"]["subsystems"]:
        return []
    return [f"U_{name}" for name in config["datasets"][dataset]["subsystems"]]


def convergence_series_provenance(datasets):
    """provenance.json of every series of ``convergence_series``, data set by data set."""
    return [
        f"{SERIES_DIR}/provenance.json".format(dataset=dataset, series=series)
        for dataset in datasets
        for series in subsystem_series(dataset)
    ]


def measure_targets(dataset):
    base = f"{RESULTS}/{dataset}"
    figures = [*measure_figures(dataset), *CONVERGENCE_FIGURES]
    return (
        [f"{base}/measure/coupling.csv", f"{base}/convergence/provenance.json"]
        + convergence_series_provenance([dataset])
        + [f"{base}/figures/{name}.{ext}" for name in figures for ext in ("png", "pdf")]
    )


def seed_outputs(kind):
    """The train rule's outputs of one kind, one per seed ({dataset}, {model} left open)."""
    return expand(TRAIN_OUTPUTS[kind], seed=SEEDS, allow_missing=True)


def selection_choice(wildcards):
    """The data set's chosen configuration (``select`` rule) when selection is on."""
    if not config["selection"]["enabled"]:
        return []
    return [rules.select.output.choice.format(dataset=wildcards.dataset)]


def train_outputs(dataset, kind, models=None):
    """One train output (``predictions``, ``run``, ``checkpoints``) per model and seed."""
    return [
        TRAIN_OUTPUTS[kind].format(dataset=dataset, model=model, seed=seed)
        for model in (models or config["train_models"])
        for seed in SEEDS
    ]


def reference_checkpoints(wildcards):
    """Seed -> checkpoint folder of the reference model (the scenarios rule's input)."""
    return {
        str(seed): TRAIN_OUTPUTS["checkpoints"].format(
            dataset=wildcards.dataset, model=REFERENCE, seed=seed
        )
        for seed in SEEDS
    }


def evaluation_targets(dataset):
    base = f"{RESULTS}/{dataset}"
    figures = [*EVALUATION_FIGURES, *SCENARIO_FIGURES]
    return [f"{base}/evaluation/summary.csv"] + [
        f"{base}/figures/{name}.png" for name in figures
    ]


def all_targets():
    """Measures of every data set; with models to train, the forecasting part too (the
    config check makes sure the reference model is one of them)."""
    targets = []
    for dataset in DATASETS:
        targets += measure_targets(dataset)
        if config["train_models"]:
            targets += train_outputs(dataset, "predictions") + evaluation_targets(
                dataset
            )
    if config["train_models"]:
        targets += [
            f"{RESULTS}/summary.md",
            f"{RESULTS}/evaluation/experiment_scores.png",
        ]
    return targets


def reference_reuse(wildcards):
    """The reference's train outputs, for a model that the configuration chosen on
    validation may make the same network as the reference (the train stage then reuses
    the reference's forecasts instead of training it again); none for other models."""
    models = config["models"]
    if (
        wildcards.model == REFERENCE
        or REFERENCE not in models
        or not config["selection"]["enabled"]
        or not may_equal_reference(
            models[wildcards.model], models[REFERENCE], config["selection"]["grid"]
        )
    ):
        return {}
    return {
        "reference_runs": train_outputs(wildcards.dataset, "run", [REFERENCE]),
        "reference_predictions": train_outputs(
            wildcards.dataset, "predictions", [REFERENCE]
        ),
        "reference_curves": TRAIN_CURVES.format(
            dataset=wildcards.dataset, model=REFERENCE
        ),
    }
