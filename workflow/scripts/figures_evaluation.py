"""Snakemake glue: one evaluation or scenario figure."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import figures_evaluation

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
figure = snakemake.params.figure
figures_evaluation.run(
    figure=figure,
    source=(
        [*snakemake.input.predictions, snakemake.input.baselines]
        if figure == "forecasts"
        else snakemake.input.table
    ),
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
    title=snakemake.wildcards.get("dataset"),
    options=dict(getattr(snakemake.params, "options", None) or {}),
    spec=getattr(snakemake.params, "spec", None),
)
