"""Entropy weight method for indicator weighting.

Reference: Shannon, C. E. (1948). A mathematical theory of communication. *Bell System
Technical Journal* 27(3), 379-423; applied to multi-criteria weighting as the entropy
weight method, e.g. Zou, Z., Yun, Y. & Sun, J. (2006). Entropy method for determination
of weight of evaluating indicators in fuzzy synthetic evaluation for water quality
assessment. *Journal of Environmental Sciences* 18(5), 1020-1023.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from convergence.errors import InputError

__all__ = ["DISPERSION_TOLERANCE", "entropy_weights"]

#: Degrees of divergence ``d_j`` below this are rounding noise and count as zero
#: (a constant column gives ``e_j = 1`` only up to floating-point error).
DISPERSION_TOLERANCE: float = 1e-12


def _divergence(column: pd.Series, eps: float) -> float:
    """Degree of divergence ``d_j = 1 - e_j`` of one indicator, NaN rows dropped."""
    values = column.dropna().to_numpy(dtype=float) + eps
    n_rows = values.size
    if n_rows < 2:
        raise InputError(
            f"indicator {column.name!r}: entropy weights need at least 2 non-missing rows, "
            f"got {n_rows}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(
            f"indicator {column.name!r}: entropy weights need finite non-negative values"
        )
    total = values.sum()
    if total == 0:
        # All zeros: the proportions are undefined, and there is no dispersion.
        return 0.0
    shares = values / total
    positive = shares[shares > 0]  # 0 ln 0 = 0
    entropy = -np.sum(positive * np.log(positive)) / np.log(n_rows)
    divergence = 1.0 - entropy
    return divergence if divergence > DISPERSION_TOLERANCE else 0.0


def entropy_weights(normalized: pd.DataFrame, *, eps: float = 0.0) -> pd.Series:
    """Entropy weights of the columns of a normalized indicator table.

    For each indicator ``j`` with ``n`` non-missing rows ``x_ij >= 0``::

        p_ij = x_ij / sum_i x_ij
        e_j  = -(1 / ln n) * sum_i p_ij ln p_ij        (0 ln 0 = 0)
        d_j  = 1 - e_j
        w_j  = d_j / sum_k d_k

    An indicator whose values are all equal (or all zero) has ``e_j = 1`` and
    ``d_j = 0``: it does not discriminate and gets weight 0. When no indicator
    discriminates (all ``d_j = 0``) there is no information to weight by, so equal
    weights ``1 / m`` are returned. A single indicator always gets weight 1.

    Parameters
    ----------
    normalized
        Rows are observations, columns indicators, values non-negative (typically
        min-max normalized to [0, 1]). NaN rows are dropped per column.
    eps
        Non-negative shift added to every value before computing ``p_ij``; a small
        ``eps`` (e.g. 1e-4) is a common way to keep the minimum of a min-max
        normalized column from contributing a zero share.

    Returns
    -------
    pandas.Series
        Weights indexed by indicator, non-negative, summing to 1, named ``"weight"``.

    Raises
    ------
    InputError
        No columns, negative ``eps``, a column with fewer than 2 non-missing rows, or
        negative / infinite values.
    """
    if not isinstance(normalized, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(normalized).__name__}")
    if normalized.shape[1] == 0:
        raise InputError("entropy weights need at least one indicator column")
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    if not normalized.columns.is_unique:
        raise InputError("entropy weights need unique indicator column names")
    divergence = np.array(
        [_divergence(normalized.iloc[:, j], eps) for j in range(normalized.shape[1])]
    )
    total = divergence.sum()
    # No indicator discriminates: nothing to weight by, so weigh them equally.
    no_dispersion = total == 0
    weights = (
        np.full(divergence.size, 1.0 / divergence.size) if no_dispersion else divergence / total
    )
    return pd.Series(weights, index=normalized.columns.copy(), name="weight")
