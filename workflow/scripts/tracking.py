"""Snakemake glue: create MLflow experiments before training jobs fan out."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import tracking

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
tracking.run(
    datasets=snakemake.params.datasets,
    tracking_uri=snakemake.params.tracking_uri,
    results_dir=snakemake.params.results_dir,
    experiments_path=snakemake.output.experiments,
)
