"""Snakemake glue: one figure of the descriptive measures."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import figures

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
figures.run(
    figure=snakemake.params.figure,
    inputs=dict(snakemake.input.items()),
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
    title=snakemake.wildcards.dataset,
)
