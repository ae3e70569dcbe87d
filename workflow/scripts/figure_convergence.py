"""Snakemake glue: one convergence-test figure."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import convergence

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
convergence.run_figure(
    figure=snakemake.params.figure,
    inputs=dict(snakemake.input.items()),
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
    title=snakemake.wildcards.dataset,
)
