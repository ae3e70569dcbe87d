# Validate the config, expose data set names, build targets. No rules here.

from pathlib import Path

from convergence.config import training_config, validate_config
from convergence.provenance import code_fingerprint
from convergence.tracking.uri import tracking_uri_for

config = validate_config(config)
RESULTS = config["results_dir"]
DATASETS = list(config["datasets"])


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_files(wildcards):
    """The raw file of a data set as a DAG input (none for generated data)."""
    spec = config["datasets"][wildcards.dataset]
    return [str(Path(workflow.basedir) / spec["path"])] if "path" in spec else []


def has_structure(dataset):
    return "structure" in config["datasets"][dataset]


def measure_targets(dataset):
    base = f"{RESULTS}/{dataset}"
    figures = ["trajectories", "heatmap", "grades"]
    if has_structure(dataset):
        figures.append("structure")
    return [f"{base}/measure/coupling.csv"] + [
        f"{base}/figures/{name}.{ext}" for name in figures for ext in ("png", "pdf")
    ]


def train_targets(dataset):
    return [
        f"{RESULTS}/{dataset}/models/{model}/seed{seed}/predictions.csv"
        for model in config["train_models"]
        for seed in config["seeds"]
    ]


def evaluation_enabled():
    return config["evaluation"]["reference"] in config["train_models"]


def evaluation_inputs(wildcards):
    """Every neural prediction file of the data set plus the baselines'."""
    return train_targets(wildcards.dataset) + [
        f"{RESULTS}/{wildcards.dataset}/baselines/predictions.csv"
    ]


def reference_run_dirs(dataset):
    """Seed -> folder with the reference model's fold checkpoints."""
    model = config["evaluation"]["reference"]
    return {
        seed: f"{RESULTS}/{dataset}/models/{model}/seed{seed}/{model}-seed{seed}"
        for seed in config["seeds"]
    }


def reference_runs(dataset):
    model = config["evaluation"]["reference"]
    return [f"{RESULTS}/{dataset}/models/{model}/seed{seed}/run.json" for seed in config["seeds"]]


def forecast_figure_inputs(dataset):
    model = config["evaluation"]["reference"]
    return [
        f"{RESULTS}/{dataset}/models/{model}/seed{seed}/predictions.csv"
        for seed in config["seeds"]
    ] + [f"{RESULTS}/{dataset}/baselines/predictions.csv"]


def evaluation_targets(dataset):
    base = f"{RESULTS}/{dataset}"
    figures = ["forecasts", "error_by_horizon", "model_comparison", "ablation", "dm_heatmap"]
    figures += ["scenarios", "attribution"]
    return [f"{base}/evaluation/summary.csv"] + [f"{base}/figures/{name}.png" for name in figures]


def all_targets():
    targets = []
    for dataset in DATASETS:
        targets += measure_targets(dataset) + train_targets(dataset)
        if evaluation_enabled():
            targets += evaluation_targets(dataset)
    if evaluation_enabled():
        targets += [f"{RESULTS}/summary.md", f"{RESULTS}/evaluation/experiment_scores.png"]
    return targets
