"""Snakemake glue: create MLflow experiments before training jobs fan out."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.training.stage import run_mlflow_init

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_mlflow_init(
    datasets=snakemake.params.datasets,
    tracking_uri=snakemake.params.tracking_uri,
    results_dir=snakemake.params.results_dir,
    experiments_path=snakemake.output.experiments,
)
