"""Snakemake glue: convergence measures of one data set."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import measure

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
measure.run(
    canonical_path=snakemake.input.canonical,
    model_path=snakemake.input.model,
    ingest_provenance_path=snakemake.input.provenance,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    coupling_path=snakemake.output.coupling,
    grades_path=snakemake.output.grades,
    sigma_path=snakemake.output.sigma,
    structure_path=snakemake.output.structure,
    pairs_path=snakemake.output.pairs,
    provenance_path=snakemake.output.provenance,
)
