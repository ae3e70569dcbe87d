"""Industrial structure similarity and sigma-convergence.

A region's industrial structure is a share vector over sectors (non-negative, summing
to 1). Two regions converge structurally when their share vectors grow more alike;
a set of regions sigma-converges when the cross-sectional dispersion of a measure
shrinks over time.

References
----------
UNIDO (1979). *World Industry since 1960: Progress and Prospects*. United Nations
Industrial Development Organization, New York (structural similarity coefficient).
Krugman, P. (1991). *Geography and Trade*. MIT Press, Cambridge MA (specialisation
index).
Barro, R. J. & Sala-i-Martin, X. (1992). Convergence. *Journal of Political Economy*
100(2), 223-251 (sigma-convergence).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from convergence.errors import InputError
from convergence.measures.normalize import check_wide, entity_labels, period_labels

__all__ = [
    "PAIR_COLUMNS",
    "cosine_similarity",
    "krugman_index",
    "normalise_shares",
    "pairwise_structure",
    "sigma_convergence",
    "structure_convergence",
    "trend_slope",
]

#: Columns of the table returned by :func:`pairwise_structure`.
PAIR_COLUMNS: tuple[str, ...] = ("period", "entity_a", "entity_b", "cosine", "krugman")


def _share_arrays(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    first = np.asarray(a, dtype=float)
    second = np.asarray(b, dtype=float)
    if first.ndim == 0 or second.ndim == 0:
        raise InputError("share vectors must have at least one axis (sectors)")
    if first.shape[-1] != second.shape[-1]:
        raise InputError(
            f"share vectors need the same number of sectors, got {first.shape[-1]} "
            f"and {second.shape[-1]}"
        )
    if np.any(first < 0) or np.any(second < 0):
        raise InputError("share vectors must be non-negative")
    return first, second


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray | float:
    """Structural similarity coefficient (UNIDO), the cosine of two share vectors.

    ``S_ab = sum_k a_k b_k / sqrt(sum_k a_k^2 * sum_k b_k^2)``

    For non-negative input ``S`` lies in [0, 1]: 1 for proportional structures, 0 for
    structures with no sector in common. It is invariant to rescaling either vector.
    Undefined (NaN) when either vector is all zeros.

    Parameters
    ----------
    a, b
        Non-negative arrays whose last axis is sectors; other axes broadcast.

    Returns
    -------
    numpy.ndarray or float
        Shape of the broadcast leading axes (a scalar for two vectors).

    Raises
    ------
    InputError
        Negative values or a mismatched number of sectors.
    """
    first, second = _share_arrays(a, b)
    dot = np.sum(first * second, axis=-1)
    norms = np.sqrt(np.sum(first**2, axis=-1) * np.sum(second**2, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity = dot / norms
    similarity = np.where(norms == 0, np.nan, similarity)
    # Rounding can push identical directions a hair above 1.
    return np.clip(similarity, 0.0, 1.0)[()]


def krugman_index(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray | float:
    """Krugman specialisation (dissimilarity) index of two share vectors.

    ``K_ab = sum_k |a_k - b_k|``

    For share vectors (non-negative, each summing to 1) ``K`` lies in [0, 2]: 0 for
    identical structures, 2 for structures with no sector in common. Shares are not
    re-normalized here; see :func:`normalise_shares`.

    Parameters
    ----------
    a, b
        Non-negative arrays whose last axis is sectors; other axes broadcast.

    Returns
    -------
    numpy.ndarray or float
        Shape of the broadcast leading axes (a scalar for two vectors).

    Raises
    ------
    InputError
        Negative values or a mismatched number of sectors.
    """
    first, second = _share_arrays(a, b)
    return np.sum(np.abs(first - second), axis=-1)[()]


def normalise_shares(wide: pd.DataFrame) -> pd.DataFrame:
    """Turn sector levels into shares: each row divided by its sum.

    ``s_ik = x_ik / sum_k x_ik``. A row with any NaN or with sum 0 has no defined
    structure and becomes an all-NaN row.

    Raises
    ------
    InputError
        Negative values.
    """
    if not isinstance(wide, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(wide).__name__}")
    values = wide.to_numpy(dtype=float)
    if np.any(values < 0):
        raise InputError("sector values must be non-negative to form shares")
    totals = values.sum(axis=1, keepdims=True)  # NaN when the row holds a NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = values / totals
    shares[(totals[:, 0] == 0) | np.isnan(totals[:, 0])] = np.nan
    return pd.DataFrame(shares, index=wide.index, columns=wide.columns)


def pairwise_structure(shares: pd.DataFrame) -> pd.DataFrame:
    """Similarity of every unordered pair of entities within each period.

    Rows holding any NaN are dropped first, so a pair is formed only from entities
    observed in that period. Within a period entities are sorted, and each pair appears
    once with ``entity_a < entity_b``.

    Parameters
    ----------
    shares
        Wide panel of sector shares, index (entity, period), one column per sector.

    Returns
    -------
    pandas.DataFrame
        Columns ``period, entity_a, entity_b, cosine, krugman`` (see
        :func:`cosine_similarity`, :func:`krugman_index`), periods in sorted order.
    """
    check_wide(shares, what="shares")
    observed = shares.dropna(how="any")
    periods = period_labels(observed)
    blocks: list[pd.DataFrame] = []
    for period in pd.Index(periods.unique()).sort_values():
        in_period = observed[periods == period].sort_index(level=0)
        names = entity_labels(in_period).to_numpy()
        if len(names) < 2:
            continue
        first, second = np.triu_indices(len(names), k=1)
        matrix = in_period.to_numpy(dtype=float)
        blocks.append(
            pd.DataFrame(
                {
                    "period": period,
                    "entity_a": names[first],
                    "entity_b": names[second],
                    "cosine": cosine_similarity(matrix[first], matrix[second]),
                    "krugman": krugman_index(matrix[first], matrix[second]),
                }
            )
        )
    if not blocks:
        return pd.DataFrame(
            {
                "period": pd.Series(dtype=object),
                "entity_a": pd.Series(dtype=object),
                "entity_b": pd.Series(dtype=object),
                "cosine": pd.Series(dtype=float),
                "krugman": pd.Series(dtype=float),
            }
        )
    return pd.concat(blocks, ignore_index=True)


def structure_convergence(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-period summary of pairwise structural similarity.

    For each period: the number of pairs, and mean and sample standard deviation
    (ddof = 1) of the cosine and Krugman indices. Rising ``cosine_mean`` or falling
    ``krugman_mean`` over time indicates structural convergence.

    Parameters
    ----------
    pairs
        Output of :func:`pairwise_structure`.

    Returns
    -------
    pandas.DataFrame
        Index ``period`` (sorted); columns ``n_pairs, cosine_mean, cosine_std,
        krugman_mean, krugman_std``. A period with one pair has NaN standard deviations.

    Raises
    ------
    InputError
        A required column is missing.
    """
    missing = [column for column in ("period", "cosine", "krugman") if column not in pairs]
    if missing:
        raise InputError(f"pairs table lacks column {missing[0]!r}")
    grouped = pairs.groupby("period", sort=True)
    summary = pd.DataFrame(
        {
            "n_pairs": grouped.size(),
            "cosine_mean": grouped["cosine"].mean(),
            "cosine_std": grouped["cosine"].std(ddof=1),
            "krugman_mean": grouped["krugman"].mean(),
            "krugman_std": grouped["krugman"].std(ddof=1),
        }
    )
    summary.index.name = "period"
    return summary


def sigma_convergence(values: pd.Series) -> pd.DataFrame:
    """Cross-sectional dispersion of a measure in each period.

    For each period ``t`` over the ``n_t`` entities with a value::

        mean_t = (1 / n_t) sum_i y_it
        std_t  = sqrt( sum_i (y_it - mean_t)^2 / (n_t - 1) )
        cv_t   = std_t / mean_t

    Sigma-convergence is a falling ``std_t`` (or ``cv_t``) over time (Barro &
    Sala-i-Martin 1992). Periods with ``n_t < 2`` get NaN ``std`` and ``cv``; a zero
    mean gives NaN ``cv``.

    Parameters
    ----------
    values
        Series indexed by (entity, period); NaN values are dropped.

    Returns
    -------
    pandas.DataFrame
        Index ``period`` (sorted); columns ``n, mean, std, cv``.

    Raises
    ------
    InputError
        ``values`` is not a Series with a two-level MultiIndex.
    """
    if not isinstance(values, pd.Series):
        raise InputError(f"expected a pandas Series, got {type(values).__name__}")
    if not isinstance(values.index, pd.MultiIndex) or values.index.nlevels != 2:
        raise InputError("values: expected a two-level (entity, period) MultiIndex")
    observed = values.dropna().astype(float)
    grouped = observed.groupby(level=1, sort=True)
    summary = pd.DataFrame(
        {"n": grouped.size(), "mean": grouped.mean(), "std": grouped.std(ddof=1)}
    )
    summary["cv"] = summary["std"] / summary["mean"].where(summary["mean"] != 0)
    summary.index.name = "period"
    return summary


def trend_slope(periods_numeric: npt.ArrayLike, values: npt.ArrayLike) -> dict[str, Any]:
    """Ordinary least squares trend ``y_t = a + b x_t + e_t``.

    ``b = S_xy / S_xx``, ``a = mean(y) - b mean(x)``,
    ``se(b) = sqrt( sum e_t^2 / (n - 2) / S_xx )``, ``t = b / se(b)``, and the
    two-sided p-value from Student's t with ``n - 2`` degrees of freedom. Applied to
    a dispersion series (e.g. ``sigma_convergence(...)["std"]``), a significantly
    negative slope is evidence of sigma-convergence. Pairs with a NaN are dropped.

    Parameters
    ----------
    periods_numeric
        Numeric time values ``x_t`` (e.g. years).
    values
        Observations ``y_t``, same length.

    Returns
    -------
    dict
        ``slope, intercept, stderr, t, p_value`` (floats) and ``n`` (int). With an
        exact fit (``stderr = 0``) ``t`` is +/-inf and ``p_value`` 0, or, for a
        constant ``y``, ``t = 0`` and ``p_value = 1``.

    Raises
    ------
    InputError
        Mismatched lengths, fewer than 3 usable points, or constant ``x``.
    """
    x = np.asarray(periods_numeric, dtype=float).ravel()
    y = np.asarray(values, dtype=float).ravel()
    if x.size != y.size:
        raise InputError(f"trend needs equally long inputs, got {x.size} and {y.size}")
    usable = ~(np.isnan(x) | np.isnan(y))
    x, y = x[usable], y[usable]
    if x.size < 3:
        raise InputError(f"trend needs at least 3 non-missing points, got {x.size}")
    if np.all(x == x[0]):
        raise InputError("trend needs at least two distinct periods")
    x_centred = x - x.mean()
    sxx = float(np.sum(x_centred**2))
    slope = float(np.sum(x_centred * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * x.mean())
    residuals = y - (intercept + slope * x)
    dof = x.size - 2
    stderr = float(np.sqrt(np.sum(residuals**2) / dof / sxx))
    if stderr > 0:
        # Imported here: scipy.stats costs ~0.5 s, and most importers of the measures
        # (every figure job) never test a trend.
        from scipy import stats

        t_stat = slope / stderr
        p_value = float(2.0 * stats.t.sf(abs(t_stat), dof))
    elif slope == 0:  # constant y: no trend at all
        t_stat, p_value = 0.0, 1.0
    else:  # exact line: infinitely strong evidence
        t_stat, p_value = float(np.copysign(np.inf, slope)), 0.0
    return {
        "slope": slope,
        "intercept": intercept,
        "stderr": stderr,
        "t": t_stat,
        "p_value": p_value,
        "n": int(x.size),
    }
