"""Snakemake glue: the heatmap figure of one data set."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.plotting.measures import plot_heatmap

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
plot_heatmap(
    **dict(snakemake.input.items()),
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
    title=snakemake.wildcards.dataset,
)
