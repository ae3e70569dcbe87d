"""Snakemake glue: choose the reference model's configuration for one data set."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import select

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
select.run(
    dataset=snakemake.wildcards.dataset,
    numerics_isa=snakemake.params.numerics,
    canonical_path=snakemake.input.canonical,
    ingest_provenance_path=snakemake.input.provenance,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    reference=snakemake.params.reference,
    reference_cfg=snakemake.params.reference_cfg,
    training_cfg=snakemake.params.training_cfg,
    grid=snakemake.params.grid,
    seeds=[int(seed) for seed in snakemake.params.seeds],
    min_validation_windows=snakemake.params.min_validation_windows,
    max_folds=snakemake.params.max_folds,
    margin=snakemake.params.margin,
    max_entities=snakemake.params.max_entities,
    warm_start=snakemake.params.warm_start,
    tracking_uri=snakemake.params.tracking_uri,
    results_dir=snakemake.params.results_dir,
    experiments_path=snakemake.input.experiments,
    choice_path=snakemake.output.choice,
    trials_path=snakemake.output.trials,
    ranking_path=snakemake.output.ranking,
    ranking_md_path=snakemake.output.ranking_md,
    ranking_tex_path=snakemake.output.ranking_tex,
)
