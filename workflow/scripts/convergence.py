"""Snakemake glue: convergence tests of D (rule ``convergence``) or of one subsystem index
``U_k`` (rule ``convergence_series``, wildcard ``series``) on one data set."""

from convergence.forkserver import delegate

delegate()  # in the run's forkserver, if there is one; then this exits

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.stages import convergence

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
convergence.run(
    dataset=snakemake.wildcards.dataset,
    coupling_path=snakemake.input.coupling,
    measure_provenance_path=snakemake.input.provenance,
    settings=snakemake.params.settings,
    beta_path=snakemake.output.beta,
    points_path=snakemake.output.points,
    sigma_path=snakemake.output.sigma,
    sigma_trend_path=snakemake.output.sigma_trend,
    log_t_path=snakemake.output.log_t,
    clubs_path=snakemake.output.clubs,
    transition_path=snakemake.output.transition,
    provenance_path=snakemake.output.provenance,
    series=snakemake.wildcards.get("series", "D"),
)
