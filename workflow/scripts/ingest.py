"""Snakemake glue: ingest one data set into the canonical long table."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import run_ingest

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_ingest(
    name=snakemake.params.name,
    spec=snakemake.params.spec,
    canonical_path=snakemake.output.canonical,
    provenance_path=snakemake.output.provenance,
)
