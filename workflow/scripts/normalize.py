"""Snakemake glue: fit the measurement model on the fit window and normalize indicators."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import normalize

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
normalize.run(
    canonical_path=snakemake.input.canonical,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    normalized_path=snakemake.output.normalized,
    model_path=snakemake.output.model,
)
