"""Snakemake glue: the scenario or attribution figure of one model on one data set."""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.plotting.scenarios import plot_attribution, plot_scenarios

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
PLOTS = {"scenarios": plot_scenarios, "attribution": plot_attribution}
PLOTS[snakemake.params.figure](
    snakemake.input[0],
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
    title=f"{snakemake.wildcards.dataset} {getattr(snakemake.wildcards, 'model', '')}".strip(),
)
