"""Snakemake glue: scores, seed summary and DM tests of one data set."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import evaluate

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
evaluate.run(
    dataset=snakemake.wildcards.dataset,
    prediction_paths=[*snakemake.input.predictions, snakemake.input.baselines],
    scales_path=snakemake.input.scales,
    grade_scale=snakemake.params.grade_scale,
    reference=snakemake.params.reference,
    scores_path=snakemake.output.scores,
    summary_path=snakemake.output.summary,
    summary_md_path=snakemake.output.summary_md,
    summary_tex_path=snakemake.output.summary_tex,
    dm_path=snakemake.output.dm,
    dm_md_path=snakemake.output.dm_md,
    dm_tex_path=snakemake.output.dm_tex,
    leader_path=snakemake.output.leader,
    intervals_path=snakemake.output.intervals,
    provenance_path=snakemake.output.provenance,
    coupling_path=snakemake.input.coupling,
    target_headroom=snakemake.params.training["target_headroom"],
)
