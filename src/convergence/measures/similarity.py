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

from collections.abc import Iterator
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
    "STRUCTURE_COLUMNS",
    "pairwise_structure",
    "sample_pairs",
    "sigma_convergence",
    "structure_convergence",
    "structure_summary",
    "trend_slope",
]

#: Columns of the table returned by :func:`pairwise_structure`.
PAIR_COLUMNS: tuple[str, ...] = ("period", "entity_a", "entity_b", "cosine", "krugman")

#: Columns of the per-period summary (:func:`structure_convergence`,
#: :func:`structure_summary`), after the ``period`` index.
STRUCTURE_COLUMNS: tuple[str, ...] = (
    "n_pairs",
    "cosine_mean",
    "cosine_std",
    "krugman_mean",
    "krugman_std",
)

#: Elements of one block of pairwise differences in :func:`structure_summary` (8 bytes
#: each: 2 MB, two such buffers), so memory stays bounded whatever the number of
#: entities; blocks this small stay in cache (8x faster than 32 MB blocks at N = 3,000).
BLOCK_ELEMENTS = 1 << 18


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


def _period_blocks(shares: pd.DataFrame) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """``(period, entity names, share matrix)`` of every period with two or more rows.

    Rows holding any NaN are dropped first; periods come in sorted order and, within a
    period, entities in sorted order (the order of :func:`pairwise_structure`). One sort
    of the whole panel, then contiguous slices: no per-period scan of the panel.
    """
    check_wide(shares, what="shares")
    observed = shares.dropna(how="any")
    if len(observed) < 2:
        return
    frame = pd.DataFrame(
        {"period": period_labels(observed), "entity": entity_labels(observed)}
    ).reset_index(drop=True)
    order = frame.sort_values(["period", "entity"], kind="stable").index.to_numpy()
    periods = frame["period"].to_numpy()[order]
    names = frame["entity"].to_numpy()[order]
    values = observed.to_numpy(dtype=float)[order]
    if np.any(values < 0):
        raise InputError("share vectors must be non-negative")
    codes, uniques = pd.factorize(periods)
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for start, stop in zip(
        np.concatenate([[0], bounds]), np.concatenate([bounds, [len(codes)]]), strict=True
    ):
        if stop - start >= 2:
            yield uniques[codes[start]], names[start:stop], values[start:stop]


def _std_from_squares(sum_squares: float, count: int) -> float:
    """Sample standard deviation (ddof = 1) from a sum of squared deviations."""
    if count < 2:
        return float("nan")
    return float(np.sqrt(max(sum_squares, 0.0) / (count - 1)))


def _cosine_moments(matrix: np.ndarray) -> tuple[float, float]:
    """Mean and sample std of the cosine over the pairs of rows, in O(m K^2).

    Pairs with an all-zero row have no cosine (NaN in :func:`pairwise_structure`) and are
    left out, as ``pandas`` leaves NaN out of a mean. With the ``q`` non-zero rows scaled
    to unit length ``u_i`` and ``P = q (q - 1) / 2``::

        sum_{i<j} u_i . u_j     = (||sum_i u_i||^2 - sum_i ||u_i||^2) / 2
        sum_{i<j} (u_i . u_j)^2 = (||U^T U||_F^2 - sum_i ||u_i||^4) / 2

    mean = first / P and variance = (second - P mean^2) / (P - 1).
    """
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    # Extended precision (where the platform has it) for the sums over entities: the
    # second moment then loses no digits to cancellation against the mean.
    unit = (matrix[norms > 0] / norms[norms > 0, None]).astype(np.longdouble)
    count = len(unit) * (len(unit) - 1) // 2
    if count == 0:
        return float("nan"), float("nan")
    self_dot = np.einsum("ij,ij->i", unit, unit)
    total = unit.sum(axis=0)
    first = (total @ total - self_dot.sum()) / 2
    gram = np.einsum("ik,il->kl", unit, unit)
    second = (np.sum(gram * gram) - np.sum(self_dot**2)) / 2
    mean = first / count
    return float(mean), _std_from_squares(float(second - count * mean**2), count)


def _krugman_moments(matrix: np.ndarray, block_elements: int) -> tuple[float, float]:
    """Mean and sample std of the Krugman index over the pairs of rows.

    The mean needs no pairs: per sector, with values sorted ascending ``x_(1..m)``,
    ``sum_{i<j} |x_i - x_j| = sum_i x_(i) (2 i - m - 1)``, summed over sectors and
    divided by ``P = m (m - 1) / 2``. The spread has no such form: ``sum_{i<j}
    (K_ij - mean)^2`` is accumulated over blocks of rows against the rows after them
    (at most ``block_elements`` pair values in memory at once; time O(m^2 K)).
    """
    rows = len(matrix)
    count = rows * (rows - 1) // 2
    weights = 2.0 * np.arange(1, rows + 1) - rows - 1.0
    mean = float(np.sum(weights @ np.sort(matrix, axis=0))) / count
    if count < 2:
        return mean, float("nan")
    step = max(1, block_elements // rows)
    squares = 0.0
    for start in range(0, rows - 1, step):
        stop = min(start + step, rows - 1)
        height = stop - start
        # Rows start..stop-1 against rows start..m-1: in the leading height x height
        # square only the pairs above the diagonal (j > i) count, to its right all do.
        deviation = np.full((height, rows - start), -mean)
        scratch = np.empty_like(deviation)
        for sector in range(matrix.shape[1]):
            np.subtract(matrix[start:stop, sector, None], matrix[None, start:, sector], out=scratch)
            np.abs(scratch, out=scratch)
            deviation += scratch
        square = np.triu(deviation[:, :height], k=1)
        squares += float(np.einsum("ij,ij->", square, square))
        rest = deviation[:, height:]
        squares += float(np.einsum("ij,ij->", rest, rest))
    return mean, _std_from_squares(squares, count)


def structure_summary(
    shares: pd.DataFrame, *, block_elements: int = BLOCK_ELEMENTS
) -> pd.DataFrame:
    """Per-period summary of pairwise structural similarity, without the pair table.

    Equal (to rounding) to ``structure_convergence(pairwise_structure(shares))``, the
    same pairs (rows with a NaN dropped, periods with fewer than two entities absent) and
    the same NaN rules, but in O(m K^2) for the cosine moments (:func:`_cosine_moments`),
    O(m log m K) for the Krugman mean and O(m^2 K) time with bounded memory for the
    Krugman standard deviation (:func:`_krugman_moments`), per period of ``m`` entities.

    Parameters
    ----------
    shares
        Wide panel of non-negative sector shares, index (entity, period), one column per
        sector.
    block_elements
        Most pair values held at once by the Krugman spread.

    Returns
    -------
    pandas.DataFrame
        Index ``period`` (sorted); columns :data:`STRUCTURE_COLUMNS`.

    Raises
    ------
    InputError
        Not an (entity, period) panel, or a negative share.
    """
    records = []
    for period, names, matrix in _period_blocks(shares):
        cosine = _cosine_moments(matrix)
        krugman = _krugman_moments(matrix, block_elements)
        records.append((period, len(names) * (len(names) - 1) // 2, *cosine, *krugman))
    summary = pd.DataFrame.from_records(records, columns=["period", *STRUCTURE_COLUMNS]).astype(
        {"n_pairs": "int64", **{c: float for c in STRUCTURE_COLUMNS[1:]}}
    )
    return summary.set_index("period")


def _upper_pairs(flat: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the ``flat``-th pair of ``np.triu_indices(rows, k=1)``."""
    first = np.arange(rows - 1)
    starts = first * (2 * rows - first - 1) // 2
    row = np.searchsorted(starts, flat, side="right") - 1
    return row, flat - starts[row] + row + 1


def sample_pairs(
    shares: pd.DataFrame, max_pairs: int, *, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The pair table of :func:`pairwise_structure`, bounded to ``max_pairs`` rows.

    When the panel has at most ``max_pairs`` pairs (over all periods) the table is
    exactly :func:`pairwise_structure`'s. Otherwise it is a uniform sample without
    replacement of ``max_pairs`` pairs over all periods, drawn with
    ``numpy.random.default_rng(seed)`` from the pair indices (never materialising the
    pairs left out), in the same order (period, ``entity_a``, ``entity_b``).

    Returns
    -------
    tuple
        ``(table, info)``: the table (columns :data:`PAIR_COLUMNS`) and ``info`` with
        ``total_pairs``, ``written_pairs``, ``sampled`` (bool), ``max_pairs``, ``seed``
        and ``method`` (words).

    Raises
    ------
    InputError
        ``max_pairs < 1``, or as :func:`structure_summary`.
    """
    if max_pairs < 1:
        raise InputError(f"max_pairs must be at least 1, got {max_pairs}")
    blocks = list(_period_blocks(shares))
    counts = np.array(
        [len(names) * (len(names) - 1) // 2 for _, names, _ in blocks], dtype=np.int64
    )
    total = int(counts.sum())
    sampled = total > max_pairs
    chosen = (
        np.sort(np.random.default_rng(seed).choice(total, size=max_pairs, replace=False))
        if sampled
        else None
    )
    offsets = np.concatenate([[0], np.cumsum(counts)])
    tables: list[pd.DataFrame] = []
    for number, (period, names, matrix) in enumerate(blocks):
        if chosen is None:
            first, second = np.triu_indices(len(names), k=1)
        else:
            low, high = np.searchsorted(chosen, offsets[number : number + 2])
            first, second = _upper_pairs(chosen[low:high] - offsets[number], len(names))
        tables.append(
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
    table = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(
            {
                c: pd.Series(dtype=float if c in ("cosine", "krugman") else object)
                for c in PAIR_COLUMNS
            }
        )
    )
    info = {
        "total_pairs": total,
        "written_pairs": len(table),
        "sampled": sampled,
        "max_pairs": int(max_pairs),
        "seed": int(seed),
        "method": (
            f"uniform sample without replacement of {max_pairs} of {total} entity pairs "
            f"(all periods pooled), numpy default_rng({seed})"
            if sampled
            else f"all {total} entity pairs"
        ),
    }
    return table, info


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
