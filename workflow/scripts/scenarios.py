"""Snakemake glue: scenario effects and attribution of one model on one data set."""

from pathlib import Path
from typing import TYPE_CHECKING

from convergence.evaluation.scenarios import run_scenarios
from convergence.logging import configure_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
run_scenarios(
    dataset=snakemake.wildcards.dataset,
    canonical_path=snakemake.input.canonical,
    spec=snakemake.params.spec,
    measures=snakemake.params.measures,
    training_cfg=snakemake.params.training_cfg,
    model_name=snakemake.params.model,
    run_dirs={int(seed): path for seed, path in dict(snakemake.params.run_dirs).items()},
    scenarios=list(snakemake.params.scenarios or []),
    out_dir=Path(snakemake.output.effects).parent,
)
