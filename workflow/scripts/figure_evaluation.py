"""Snakemake glue: one evaluation figure, chosen by ``params.figure``.

``params.figure`` is a key of :data:`convergence.plotting.evaluation.FIGURES`; the rule's
single input (``input.predictions`` for ``forecasts``, else ``input.table``) is passed as
the first argument, ``params.options`` (a dict, optional) as keyword arguments.
"""

from typing import TYPE_CHECKING

from convergence.logging import configure_logging
from convergence.plotting.evaluation import FIGURES

if TYPE_CHECKING:
    from snakemake.script import snakemake

configure_logging(snakemake.log[0])
figure = snakemake.params.figure
if figure not in FIGURES:
    raise ValueError(f"params.figure must be one of {sorted(FIGURES)}, got {figure!r}")
options = dict(getattr(snakemake.params, "options", None) or {})
source = list(snakemake.input.predictions) if figure == "forecasts" else snakemake.input.table
FIGURES[figure](
    source,
    snakemake.output.png,
    snakemake.output.pdf,
    title=snakemake.wildcards.get("dataset"),
    **options,
)
