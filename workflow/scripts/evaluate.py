"""Snakemake glue: scores, seed summary and DM tests of one data set."""

from typing import TYPE_CHECKING

from convergence.evaluation.compare import run_evaluate
from convergence.logging import configure_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_evaluate(
    dataset=snakemake.wildcards.dataset,
    prediction_paths=list(snakemake.input.predictions),
    scales_path=snakemake.input.scales,
    grade_scale=snakemake.params.grade_scale,
    reference=snakemake.params.reference,
    out_dir=snakemake.params.out_dir,
)
