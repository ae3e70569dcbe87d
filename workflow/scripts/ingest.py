"""Snakemake glue: ingest one data set into the canonical long table."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import ingest

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
ingest.run(
    name=snakemake.params.name,
    spec=snakemake.params.spec,
    canonical_path=snakemake.output.canonical,
    provenance_path=snakemake.output.provenance,
)
