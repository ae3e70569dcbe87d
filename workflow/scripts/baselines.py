"""Snakemake glue: backtest the forecasting baselines on one data set."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import baselines

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
baselines.run(
    dataset=snakemake.wildcards.dataset,
    numerics_isa=snakemake.params.numerics,
    canonical_path=snakemake.input.canonical,
    ingest_provenance_path=snakemake.input.provenance,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    training_cfg=snakemake.params.training_cfg,
    baselines=list(snakemake.params.baselines),
    frequency=snakemake.params.frequency,
    tracking_uri=snakemake.params.tracking_uri,
    results_dir=snakemake.params.results_dir,
    experiments_path=snakemake.input.experiments,
    predictions_path=snakemake.output.predictions,
    scales_path=snakemake.output.scales,
    run_json_path=snakemake.output.run,
)
