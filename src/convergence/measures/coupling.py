"""Coupling coordination degree model.

Subsystem development levels ``U`` are passed as a 2-D array of shape
``(n_obs, n_subsystems)`` with values in [0, 1]; every function is vectorised over rows
and returns a 1-D array of length ``n_obs``. A row holding a NaN gives NaN.

References
----------
Classical model: Liao, C. (1999). Quantitative judgement and classification system for
coordinated development of environment and economy. *Tropical Geography* 19(2), 171-177.
Adjusted model: Wang, S., Kong, W., Ren, L., Zhi, D. & Dai, B. (2021). Research on
misuses and modification of coupling coordination degree model in China. *Journal of
Natural Resources* 36(3), 793-810.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from convergence.errors import InputError

__all__ = [
    "DEFAULT_GRADE_SCALE",
    "adjusted_coupling_degree",
    "composite_index",
    "comprehensive_index",
    "coordination_grade",
    "coupling_coordination_degree",
    "coupling_degree",
    "validate_grade_scale",
]

#: Tolerance for weights summing to 1 and for D sitting just outside [0, 1] by rounding.
_TOLERANCE = 1e-9

_GRADE_LEVELS = (
    (0.1, "extreme disorder"),
    (0.2, "severe disorder"),
    (0.3, "moderate disorder"),
    (0.4, "mild disorder"),
    (0.5, "on the verge of disorder"),
    (0.6, "barely coordinated"),
    (0.7, "primary coordination"),
    (0.8, "intermediate coordination"),
    (0.9, "good coordination"),
    (1.0, "high-quality coordination"),
)

#: The common ten-level scale of the coupling coordination degree D: grade ``k`` covers
#: ``[upper_{k-1}, upper_k)`` with ``upper_0 = 0``, and D = 1 is the last grade.
#: Plain dicts so the scale serialises as-is (JSON, YAML); treat it as read-only.
DEFAULT_GRADE_SCALE: tuple[Mapping[str, Any], ...] = tuple(
    {"upper": upper, "label": label} for upper, label in _GRADE_LEVELS
)


def composite_index(
    normalized: pd.DataFrame, weights: pd.Series, excluded: np.ndarray | None = None
) -> pd.Series:
    """Weighted composite index of one subsystem: ``U_i = sum_j w_j x_ij``.

    With ``excluded`` (boolean, rows x weighted indicators in ``weights`` order), the
    excluded cells are left out of their row and the row's weights are rescaled to sum to 1
    over the rest: ``U_i = sum_j w_j m_ij x_ij / sum_j w_j m_ij`` with ``m_ij = 1`` where
    kept. If the kept indicators all have weight 0, they count equally; a row with every
    indicator excluded gets NaN (no index).

    Parameters
    ----------
    normalized
        Normalized indicators (rows observations, columns indicators); columns not in
        ``weights`` are ignored.
    weights
        Non-negative weights indexed by indicator, summing to 1 (e.g. entropy weights).

    Returns
    -------
    pandas.Series
        Indexed like ``normalized``; NaN where any weighted indicator is NaN.

    Raises
    ------
    InputError
        A weighted indicator is missing, or the weights are negative, non-finite or do
        not sum to 1.
    """
    missing = [indicator for indicator in weights.index if indicator not in normalized.columns]
    if missing:
        raise InputError(f"indicator {missing[0]!r} has a weight but no column")
    weight_values = weights.to_numpy(dtype=float)
    _check_weights(weight_values, what="indicator weights")
    values = normalized.loc[:, list(weights.index)].to_numpy(dtype=float)
    if excluded is None or not np.any(excluded):
        # Matrix product propagates NaN, so a row missing any indicator gets NaN.
        return pd.Series(values @ weight_values, index=normalized.index, name="U")
    kept = ~np.asarray(excluded, dtype=bool)
    if kept.shape != values.shape:
        raise InputError(f"excluded mask has shape {kept.shape}, expected {values.shape}")
    row_weights = np.where(kept, weight_values[None, :], 0.0)
    totals = row_weights.sum(axis=1, keepdims=True)
    # Kept indicators that all have weight 0 count equally (there is nothing else to use).
    row_weights = np.where(totals > 0, row_weights, kept.astype(float))
    totals = row_weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = row_weights / totals
    # NaN in a kept cell still propagates (0 * NaN is NaN); excluded cells contribute 0.
    index = np.sum(np.where(kept, values, 0.0) * shares, axis=1)
    index = np.where(kept.any(axis=1), index, np.nan)
    return pd.Series(index, index=normalized.index, name="U")


def _check_weights(weights: np.ndarray, *, what: str) -> None:
    if weights.size == 0:
        raise InputError(f"{what}: need at least one weight")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputError(f"{what} must be finite and non-negative, got {weights.tolist()}")
    if abs(weights.sum() - 1.0) > _TOLERANCE:
        raise InputError(f"{what} must sum to 1, got sum {weights.sum()!r}")


def _subsystem_matrix(U: npt.ArrayLike, *, min_subsystems: int) -> np.ndarray:
    """Validate ``U`` as a 2-D non-negative float array with enough subsystems."""
    matrix = np.asarray(U, dtype=float)
    if matrix.ndim != 2:
        raise InputError(
            f"U must be 2-D (n_obs, n_subsystems), got an array with {matrix.ndim} dimensions"
        )
    if matrix.shape[1] < min_subsystems:
        raise InputError(
            f"need at least {min_subsystems} subsystems (columns of U), got {matrix.shape[1]}"
        )
    if np.any(np.isinf(matrix)) or np.any(matrix < 0):
        raise InputError("U must hold finite non-negative values (or NaN)")
    return matrix


def coupling_degree(U: npt.ArrayLike) -> np.ndarray:
    """Classical coupling degree: geometric over arithmetic mean of the subsystems.

    ``C = n * (prod_i U_i)^(1/n) / sum_i U_i``; for ``n = 2`` this is
    ``2 sqrt(U1 U2) / (U1 + U2)``. By the AM-GM inequality ``C`` lies in [0, 1] and
    equals 1 exactly when all subsystems are equal. ``C`` is defined as 0 when all
    ``U_i`` are 0 (nothing is developed, so nothing is coupled). The result is clipped
    to [0, 1] to remove floating-point overshoot.

    Parameters
    ----------
    U
        Array of shape ``(n_obs, n)`` with ``n >= 2`` and values ``>= 0``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_obs,)``.

    Raises
    ------
    InputError
        ``U`` is not 2-D, has fewer than 2 columns, or holds negative / infinite values.

    References
    ----------
    Liao (1999), *Tropical Geography* 19(2), 171-177.
    """
    matrix = _subsystem_matrix(U, min_subsystems=2)
    n_subsystems = matrix.shape[1]
    total = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Geometric mean in log space: a plain product underflows for tiny levels.
        geometric_mean = np.exp(np.log(matrix).mean(axis=1))
        degree = n_subsystems * geometric_mean / total
    degree = np.where(total == 0, 0.0, degree)
    return np.clip(degree, 0.0, 1.0)


def adjusted_coupling_degree(U: npt.ArrayLike) -> np.ndarray:
    """Adjusted coupling degree of Wang, Kong, Ren, Zhi & Dai (2021).

    ::

        C = sqrt( [1 - sum_{i>j} |U_i - U_j| / sum_{m=1}^{n-1} m]
                  * [prod_i (U_i / max_k U_k)]^(1/(n-1)) )

    For ``n = 2``: ``C = sqrt((1 - |U1 - U2|) * min(U) / max(U))``. Unlike the
    classical degree, it is spread over [0, 1] instead of crowding near 1, and it
    penalises both the gaps between subsystems and their imbalance. ``C`` is defined as
    0 when ``max U = 0``. For ``U`` in [0, 1] the first factor lies in [0, 1]; it is
    clipped at 0 for inputs above 1, and the result is clipped to [0, 1].

    Parameters
    ----------
    U
        Array of shape ``(n_obs, n)`` with ``n >= 2`` and values in [0, 1].

    Returns
    -------
    numpy.ndarray
        Shape ``(n_obs,)``.

    Raises
    ------
    InputError
        ``U`` is not 2-D, has fewer than 2 columns, or holds negative / infinite values.

    References
    ----------
    Wang, S. et al. (2021), *Journal of Natural Resources* 36(3), 793-810.
    """
    matrix = _subsystem_matrix(U, min_subsystems=2)
    n_subsystems = matrix.shape[1]
    peak = matrix.max(axis=1)  # NaN when the row holds a NaN
    # Each unordered pair appears twice in the full difference matrix.
    pair_gap_sum = np.abs(matrix[:, :, None] - matrix[:, None, :]).sum(axis=(1, 2)) / 2.0
    n_pairs = n_subsystems * (n_subsystems - 1) / 2.0  # = sum_{m=1}^{n-1} m
    evenness = np.clip(1.0 - pair_gap_sum / n_pairs, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = matrix / peak[:, None]
        balance = np.prod(relative, axis=1) ** (1.0 / (n_subsystems - 1))
        degree = np.sqrt(evenness * balance)
    degree = np.where(peak == 0, 0.0, degree)
    return np.clip(degree, 0.0, 1.0)


def comprehensive_index(
    U: npt.ArrayLike, weights: Sequence[float] | npt.ArrayLike | None = None
) -> np.ndarray:
    """Comprehensive development index ``T = sum_i a_i U_i``.

    Parameters
    ----------
    U
        Array of shape ``(n_obs, n)``.
    weights
        Subsystem weights ``a_i`` (length ``n``, non-negative, summing to 1); equal
        weights ``1 / n`` when None.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_obs,)``.

    Raises
    ------
    InputError
        Bad ``U``, or weights of the wrong length, negative, or not summing to 1.
    """
    matrix = _subsystem_matrix(U, min_subsystems=1)
    n_subsystems = matrix.shape[1]
    if weights is None:
        weight_values = np.full(n_subsystems, 1.0 / n_subsystems)
    else:
        weight_values = np.asarray(weights, dtype=float).ravel()
        if weight_values.size != n_subsystems:
            raise InputError(
                f"subsystem weights: expected {n_subsystems} weights, got {weight_values.size}"
            )
    _check_weights(weight_values, what="subsystem weights")
    return matrix @ weight_values


def coupling_coordination_degree(C: npt.ArrayLike, T: npt.ArrayLike) -> np.ndarray:
    """Coupling coordination degree ``D = sqrt(C * T)``.

    Parameters
    ----------
    C
        Coupling degree(s), in [0, 1].
    T
        Comprehensive index(es), in [0, 1]; broadcast against ``C``.

    Returns
    -------
    numpy.ndarray
        Broadcast shape of ``C`` and ``T``; NaN where either is NaN.

    Raises
    ------
    InputError
        A negative ``C`` or ``T``.
    """
    coupling = np.asarray(C, dtype=float)
    development = np.asarray(T, dtype=float)
    if np.any(coupling < 0) or np.any(development < 0):
        raise InputError("C and T must be non-negative")
    return np.sqrt(coupling * development)


def validate_grade_scale(scale: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, list[str]]:
    """Check a grade scale and return its upper bounds and labels.

    A valid scale is a non-empty sequence of ``{"upper": float, "label": str}`` with
    strictly increasing uppers in (0, 1] and the last upper equal to 1.

    Raises
    ------
    InputError
        The message names ``measures.grades`` and the problem.
    """
    if isinstance(scale, (str, bytes, Mapping)) or not isinstance(scale, Sequence):
        raise InputError("measures.grades: expected a list of {upper, label} entries")
    if len(scale) == 0:
        raise InputError("measures.grades: the grade scale is empty")
    uppers: list[float] = []
    labels: list[str] = []
    for position, entry in enumerate(scale):
        if not isinstance(entry, Mapping) or "upper" not in entry or "label" not in entry:
            raise InputError(
                f"measures.grades[{position}]: expected a mapping with keys 'upper' and 'label'"
            )
        upper, label = entry["upper"], entry["label"]
        if isinstance(upper, bool) or not isinstance(upper, (int, float)):
            raise InputError(f"measures.grades[{position}].upper: expected a number, got {upper!r}")
        if not isinstance(label, str):
            raise InputError(f"measures.grades[{position}].label: expected a string, got {label!r}")
        uppers.append(float(upper))
        labels.append(label)
    bounds = np.array(uppers)
    if not np.all(np.isfinite(bounds)) or bounds[0] <= 0:
        raise InputError("measures.grades: uppers must be finite and > 0")
    if np.any(np.diff(bounds) <= 0):
        raise InputError(f"measures.grades: uppers must be strictly increasing, got {uppers}")
    if bounds[-1] != 1.0:
        raise InputError(f"measures.grades: the last upper must be 1.0, got {uppers[-1]}")
    return bounds, labels


def coordination_grade(
    D: npt.ArrayLike, scale: Sequence[Mapping[str, Any]] = DEFAULT_GRADE_SCALE
) -> np.ndarray:
    """Classify coupling coordination degrees into grades.

    ``D`` in ``[upper_{k-1}, upper_k)`` (with ``upper_0 = 0``) gets ``label_k``;
    ``D = 1`` gets the last label; NaN gets None. Values outside [0, 1] by no more than
    1e-9 (rounding) are treated as the nearest end.

    Parameters
    ----------
    D
        Coupling coordination degree(s) in [0, 1].
    scale
        Grade scale, see :func:`validate_grade_scale`; defaults to
        :data:`DEFAULT_GRADE_SCALE`.

    Returns
    -------
    numpy.ndarray
        Object array of labels (or None), same shape as ``D``.

    Raises
    ------
    InputError
        Invalid scale (message names ``measures.grades``) or ``D`` outside [0, 1].
    """
    uppers, labels = validate_grade_scale(scale)
    degree = np.asarray(D, dtype=float)
    outside = (degree < -_TOLERANCE) | (degree > 1.0 + _TOLERANCE)
    if np.any(outside):
        raise InputError(
            f"coordination degree D must lie in [0, 1], got {degree[outside].ravel()[0]!r}"
        )
    missing = np.isnan(degree)
    # side="right" puts a value equal to an upper bound into the next grade.
    position = np.searchsorted(uppers, np.clip(degree, 0.0, 1.0), side="right")
    position = np.minimum(position, len(labels) - 1)
    # One extra slot holds None for missing D.
    label_table = np.array([*labels, None], dtype=object)
    return label_table[np.where(missing, len(labels), position)]
