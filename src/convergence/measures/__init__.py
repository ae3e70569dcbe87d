"""Measures of industry convergence.

* :mod:`~convergence.measures.normalize` -- min-max and z-score normalization fitted on
  chosen rows.
* :mod:`~convergence.measures.entropy` -- entropy weight method.
* :mod:`~convergence.measures.coupling` -- classical and adjusted coupling coordination
  degree, comprehensive index and grades.
* :mod:`~convergence.measures.similarity` -- structural similarity (cosine, Krugman),
  pairwise structure and sigma-convergence.
* :mod:`~convergence.measures.index` -- the fitted measurement model tying them together.
"""

from convergence.measures.coupling import (
    DEFAULT_GRADE_SCALE,
    adjusted_coupling_degree,
    composite_index,
    comprehensive_index,
    coordination_grade,
    coupling_coordination_degree,
    coupling_degree,
    validate_grade_scale,
)
from convergence.measures.entropy import entropy_weights
from convergence.measures.index import (
    MeasurementModel,
    MeasurementSpec,
    apply_measurement,
    fit_measurement,
    measure_columns,
)
from convergence.measures.normalize import (
    DIRECTIONS,
    SCOPES,
    MinMaxBounds,
    ZScoreParams,
    apply_minmax,
    apply_zscore,
    fit_minmax,
    fit_zscore,
    invert_zscore,
)
from convergence.measures.similarity import (
    cosine_similarity,
    krugman_index,
    normalise_shares,
    pairwise_structure,
    sigma_convergence,
    structure_convergence,
    trend_slope,
)

__all__ = [
    "DEFAULT_GRADE_SCALE",
    "DIRECTIONS",
    "SCOPES",
    "MeasurementModel",
    "MeasurementSpec",
    "MinMaxBounds",
    "ZScoreParams",
    "adjusted_coupling_degree",
    "apply_measurement",
    "apply_minmax",
    "apply_zscore",
    "composite_index",
    "comprehensive_index",
    "coordination_grade",
    "cosine_similarity",
    "coupling_coordination_degree",
    "coupling_degree",
    "entropy_weights",
    "fit_measurement",
    "fit_minmax",
    "fit_zscore",
    "invert_zscore",
    "krugman_index",
    "measure_columns",
    "normalise_shares",
    "pairwise_structure",
    "sigma_convergence",
    "structure_convergence",
    "trend_slope",
    "validate_grade_scale",
]
