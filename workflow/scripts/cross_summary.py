"""Snakemake glue: the cross-data-set table and results/summary.md."""

from typing import TYPE_CHECKING

from convergence.evaluation.compare import run_cross_summary
from convergence.logging import configure_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_cross_summary(
    summary_paths=list(snakemake.input.summaries),
    dm_paths=list(snakemake.input.dm_tests),
    measure_provenance_paths=list(snakemake.input.measures),
    out_dir=snakemake.params.out_dir,
    summary_md_path=snakemake.output.summary_md,
)
