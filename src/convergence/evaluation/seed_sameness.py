"""Are two sets of per-seed scores the same in distribution? (sequential vs vectorised seeds)

Seeds trained as one vectorised ensemble (``training.vectorise_seeds``) follow the
sequentially trained seeds up to the order of floating-point sums, so they are not the
same numbers, but they should be the same *training*: per data set and model, the
per-seed scores of the two paths should differ by no more than seed noise.
:func:`compare_seed_scores` puts the two score tables (``score_table`` rows, one per seed)
side by side per data set and model and reports, for one metric:

* the difference of the means over seeds (vectorised minus sequential), in units of the
  pooled seed standard deviation (``standardised``) and against its standard error
  (``se``, the pooled seed sd times ``sqrt(1/n_a + 1/n_b)``);
* an exact two-sided permutation test of the difference of means (every split of the
  pooled seeds when there are at most 20,000, else 20,000 seeded random splits);
* the Mann-Whitney U test (two-sided; exact for small samples).

:func:`sameness_summary` pools the rows: how many rows reject at ``alpha`` against the
``alpha * rows`` expected when both paths train the same distribution (with its binomial
tail probability), and whether the standardised differences are centred on 0 (one-sample
t test), which would show a systematic shift that single rows of five seeds cannot.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Most splits enumerated exactly by the permutation test.
MAX_EXACT_SPLITS = 20_000


def permutation_pvalue(a: Sequence[float], b: Sequence[float], seed: int = 0) -> float:
    """Two-sided permutation p-value of ``mean(b) - mean(a)`` (pooled values re-split)."""
    a_values, b_values = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a_values, b_values])
    n_a, n = len(a_values), len(pooled)
    if n_a == 0 or n_a == n:
        return float("nan")
    observed = abs(b_values.mean() - a_values.mean())
    total = pooled.sum()
    if math.comb(n, n_a) <= MAX_EXACT_SPLITS:
        splits = np.array(list(itertools.combinations(range(n), n_a)))
    else:
        rng = np.random.default_rng(seed)
        splits = np.array([rng.permutation(n)[:n_a] for _ in range(MAX_EXACT_SPLITS)])
    sum_a = pooled[splits].sum(axis=1)
    differences = np.abs((total - sum_a) / (n - n_a) - sum_a / n_a)
    # A small tolerance so that splits equal to the observed one count despite rounding.
    return float(np.mean(differences >= observed - 1e-12 * max(1.0, observed)))


def compare_seed_scores(
    sequential: pd.DataFrame,
    vectorised: pd.DataFrame,
    metric: str = "MASE",
    horizon: str = "all",
    keys: Sequence[str] = ("dataset", "model"),
) -> pd.DataFrame:
    """Per ``keys`` group, the per-seed ``metric`` of both paths compared (module doc).

    Both tables hold one row per seed (and horizon), as ``score_table`` writes them
    (``results/<dataset>/evaluation/scores.csv``); rows of other horizons are left out.
    Groups in only one table are left out. Columns: ``keys``, ``n_sequential``,
    ``n_vectorised``, ``mean_sequential``, ``mean_vectorised``, ``sd_sequential``,
    ``sd_vectorised``, ``difference``, ``seed_sd``, ``standardised``, ``se``,
    ``permutation_p``, ``mannwhitney_p``.
    """
    from scipy import stats

    def values(table: pd.DataFrame) -> dict[tuple[Any, ...], np.ndarray]:
        rows = table if "horizon" not in table else table[table["horizon"].astype(str) == horizon]
        return {
            key if isinstance(key, tuple) else (key,): group[metric].to_numpy(dtype=float)
            for key, group in rows.groupby(list(keys), sort=True)
        }

    a_groups, b_groups = values(sequential), values(vectorised)
    records = []
    for key in sorted(set(a_groups) & set(b_groups)):
        a, b = a_groups[key], b_groups[key]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        n_a, n_b = len(a), len(b)
        sd_a = float(np.std(a, ddof=1)) if n_a > 1 else float("nan")
        sd_b = float(np.std(b, ddof=1)) if n_b > 1 else float("nan")
        pooled_var = (
            ((n_a - 1) * sd_a**2 + (n_b - 1) * sd_b**2) / (n_a + n_b - 2)
            if n_a > 1 and n_b > 1
            else float("nan")
        )
        seed_sd = math.sqrt(pooled_var) if math.isfinite(pooled_var) else float("nan")
        difference = float(b.mean() - a.mean()) if n_a and n_b else float("nan")
        se = seed_sd * math.sqrt(1.0 / n_a + 1.0 / n_b) if n_a and n_b else float("nan")
        mannwhitney = (
            float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
            if n_a and n_b
            else float("nan")
        )
        records.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_sequential": n_a,
                "n_vectorised": n_b,
                "mean_sequential": float(a.mean()) if n_a else float("nan"),
                "mean_vectorised": float(b.mean()) if n_b else float("nan"),
                "sd_sequential": sd_a,
                "sd_vectorised": sd_b,
                "difference": difference,
                "seed_sd": seed_sd,
                "standardised": difference / seed_sd if seed_sd > 0 else float("nan"),
                "se": se,
                "permutation_p": permutation_pvalue(a, b),
                "mannwhitney_p": mannwhitney,
            }
        )
    columns = [
        *keys,
        "n_sequential",
        "n_vectorised",
        "mean_sequential",
        "mean_vectorised",
        "sd_sequential",
        "sd_vectorised",
        "difference",
        "seed_sd",
        "standardised",
        "se",
        "permutation_p",
        "mannwhitney_p",
    ]
    return pd.DataFrame(records, columns=columns)


def sameness_summary(comparison: pd.DataFrame, alpha: float = 0.05) -> dict[str, float]:
    """Pooled verdict over the rows of :func:`compare_seed_scores`.

    ``rejected``: rows whose permutation p-value is below ``alpha``; ``expected``:
    ``alpha * rows``; ``binomial_p``: probability of at least ``rejected`` rejections
    among ``rows`` independent tests of a true null; ``mean_standardised`` and
    ``shift_p``: mean of the standardised differences and the one-sample t test p-value
    of mean 0 (NaN with fewer than two rows).
    """
    from scipy import stats

    p_values = comparison["permutation_p"].to_numpy(dtype=float)
    p_values = p_values[np.isfinite(p_values)]
    rows = len(p_values)
    rejected = int(np.sum(p_values < alpha))
    standardised = comparison["standardised"].to_numpy(dtype=float)
    standardised = standardised[np.isfinite(standardised)]
    shift_p = (
        float(stats.ttest_1samp(standardised, 0.0).pvalue)
        if len(standardised) > 1 and np.std(standardised) > 0
        else float("nan")
    )
    return {
        "rows": float(rows),
        "rejected": float(rejected),
        "expected": alpha * rows,
        "binomial_p": float(stats.binom.sf(rejected - 1, rows, alpha)) if rows else float("nan"),
        "mean_standardised": float(np.mean(standardised)) if len(standardised) else float("nan"),
        "shift_p": shift_p,
    }
