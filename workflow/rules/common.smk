# Validate the config, expose data set names, build targets. No rules here.

from pathlib import Path

from convergence.config import training_config, validate_config
from convergence.provenance import code_fingerprint

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


def all_targets():
    targets = []
    for dataset in DATASETS:
        targets += measure_targets(dataset) + train_targets(dataset)
    return targets
