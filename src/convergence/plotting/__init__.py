"""Figures (matplotlib, Agg): one function per figure, reading small result tables.

The figure names below are the one list the workflow expands its targets from; each plot
module maps the same names to its functions. This module imports no matplotlib.
"""

MEASURE_FIGURES: dict[str, tuple[str, ...]] = {
    "trajectories": ("coupling",),
    "heatmap": ("coupling",),
    "grades": ("grades",),
    "structure": ("structure", "sigma"),
}
"""Per data set, from the measure stage (``structure`` only for data sets with one): figure
name -> its input tables, named as the measure rule's outputs and the plot function's
arguments."""

EVALUATION_FIGURES: tuple[str, ...] = (
    "forecasts",
    "error_by_horizon",
    "model_comparison",
    "ablation",
    "dm_heatmap",
)
"""Per data set, from the evaluate stage."""

SCENARIO_FIGURES: tuple[str, ...] = ("scenarios", "attribution")
"""Per data set, from the scenarios stage."""
