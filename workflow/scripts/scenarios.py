"""Snakemake glue: scenario effects and attribution of the reference model on one data set."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import scenarios

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
scenarios.run(
    dataset=snakemake.wildcards.dataset,
    numerics_isa=snakemake.params.numerics,
    canonical_path=snakemake.input.canonical,
    checkpoint_dirs={int(seed): path for seed, path in snakemake.params.checkpoint_dirs.items()},
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    training_cfg=snakemake.params.training_cfg,
    model_name=snakemake.params.model,
    scenarios=list(snakemake.params.scenarios or []),
    effects_path=snakemake.output.effects,
    summary_path=snakemake.output.summary,
    attribution_path=snakemake.output.attribution,
    provenance_path=snakemake.output.provenance,
)
