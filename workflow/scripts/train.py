"""Snakemake glue: backtest one model on one data set, every configured seed."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import train

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
train.run(
    dataset=snakemake.wildcards.dataset,
    numerics_isa=snakemake.params.numerics,
    canonical_path=snakemake.input.canonical,
    ingest_provenance_path=snakemake.input.provenance,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    model_name=snakemake.wildcards.model,
    model_cfg=snakemake.params.model_cfg,
    reference_cfg=snakemake.params.reference_cfg,
    choice_path=snakemake.input.choice[0] if snakemake.input.choice else None,
    training_cfg=snakemake.params.training_cfg,
    seeds=[int(seed) for seed in snakemake.params.seeds],
    tracking_uri=snakemake.params.tracking_uri,
    results_dir=snakemake.params.results_dir,
    experiments_path=snakemake.input.experiments,
    predictions_paths=list(snakemake.output.predictions),
    run_json_paths=list(snakemake.output.run),
    checkpoint_dirs=list(snakemake.output.checkpoints),
    curves_path=snakemake.output.curves,
    reference_runs=list(snakemake.input.get("reference_runs", [])),
    reference_predictions=list(snakemake.input.get("reference_predictions", [])),
    reference_curves=snakemake.input.get("reference_curves"),
)
