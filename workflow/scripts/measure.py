"""Snakemake glue: convergence measures of one data set."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import run_measure

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_measure(
    canonical_path=snakemake.input.canonical,
    model_path=snakemake.input.model,
    ingest_provenance_path=snakemake.input.provenance,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    outputs=dict(snakemake.output.items()),
)
