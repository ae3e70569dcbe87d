"""Snakemake glue: the cross-data-set table and results/summary.md."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import evaluate

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
evaluate.run_cross_summary(
    summary_paths=list(snakemake.input.summaries),
    dm_paths=list(snakemake.input.dm_tests),
    leader_paths=list(snakemake.input.leaders),
    measure_provenance_paths=list(snakemake.input.measures),
    convergence_provenance_paths=list(snakemake.input.convergence),
    convergence_series_paths=list(snakemake.input.convergence_series),
    data_check_paths={
        dataset: {
            "ingest": ingest,
            "normalize": normalize,
            "measure": measure,
            "convergence": tests,
            "evaluate": evaluated,
        }
        for dataset, ingest, normalize, measure, tests, evaluated in zip(
            snakemake.params.datasets,
            snakemake.input.ingested,
            snakemake.input.normalized,
            snakemake.input.measures,
            snakemake.input.convergence,
            snakemake.input.evaluated,
            strict=True,
        )
    },
    selection_paths=list(snakemake.input.selection),
    reference=snakemake.params.reference,
    ablations=list(snakemake.params.ablations),
    baselines=list(snakemake.params.baselines),
    table_path=snakemake.output.table,
    table_md_path=snakemake.output.table_md,
    table_tex_path=snakemake.output.table_tex,
    summary_md_path=snakemake.output.summary_md,
)
