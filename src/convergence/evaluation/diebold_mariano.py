"""Diebold-Mariano test of equal predictive accuracy, with the HLN correction.

For forecast errors ``e_a`` and ``e_b`` of two forecasts of the same targets,
the loss differential is ``d_t = L(e_a,t) - L(e_b,t)`` with ``L(e) = e^2``
(squared) or ``|e|`` (absolute). Under H0: ``E[d_t] = 0``.

Diebold & Mariano (1995), "Comparing predictive accuracy", *Journal of Business
& Economic Statistics* 13(3), 253-263::

    d_bar   = (1/n) sum_t d_t
    gamma_k = (1/n) sum_{t=k+1}^{n} (d_t - d_bar)(d_{t-k} - d_bar)
    V       = gamma_0 + 2 sum_{k=1}^{h-1} gamma_k      # long-run variance
    DM      = d_bar / sqrt(V / n)                       # ~ N(0, 1)

``h``-step forecast errors are at most ``(h-1)``-dependent under optimal
forecasting, hence the rectangular lag window of ``h - 1`` autocovariances.

Harvey, Leybourne & Newbold (1997), "Testing the equality of prediction mean
squared errors", *International Journal of Forecasting* 13(2), 281-291, correct
the small-sample size::

    DM* = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)        # ~ Student-t, n-1 df

Note ``n + 1 - 2h + h(h-1)/n = (n-h)(n-h+1)/n``, positive only for ``h < n``.

Sign: a positive statistic means forecast ``a`` has the larger mean loss, so
forecast ``b`` is more accurate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from convergence.errors import ConfigError, InputError

Loss = Literal["squared", "absolute"]


@dataclass(frozen=True)
class DMResult:
    """Outcome of :func:`diebold_mariano`.

    Attributes:
        statistic: DM (or HLN-corrected DM*) statistic; positive when forecast
            ``a`` has the larger mean loss. NaN when the test is undefined.
        p_value: two-sided p-value; NaN when the test is undefined.
        n: number of paired errors used.
        mean_loss_diff: ``d_bar = mean(L(e_a) - L(e_b))`` (NaN for ``n = 0``).
    """

    statistic: float
    p_value: float
    n: int
    mean_loss_diff: float


def _autocovariance(centered: NDArray[np.float64], lag: int) -> float:
    """``gamma_k = (1/n) sum_{t=k+1}^{n} c_t c_{t-k}`` for centred ``c`` (divisor n, not n-k)."""
    n = centered.size
    return float(np.dot(centered[lag:], centered[: n - lag]) / n)


def long_run_variance(loss_diff: ArrayLike, horizon: int) -> float:
    """``V = gamma_0 + 2 sum_{k=1}^{h-1} gamma_k`` of the loss differential (may be <= 0)."""
    d = np.asarray(loss_diff, dtype=np.float64).ravel()
    centered = d - d.mean()
    max_lag = min(horizon - 1, d.size - 1)
    return _autocovariance(centered, 0) + 2.0 * sum(
        _autocovariance(centered, k) for k in range(1, max_lag + 1)
    )


def diebold_mariano(
    errors_a: ArrayLike,
    errors_b: ArrayLike,
    *,
    horizon: int,
    loss: Loss = "squared",
    hln: bool = True,
) -> DMResult:
    """Two-sided Diebold-Mariano test that forecasts ``a`` and ``b`` are equally accurate.

    Args:
        errors_a: forecast errors of forecast ``a`` (actual - predicted), in time order.
        errors_b: errors of forecast ``b`` for the same targets and periods.
        horizon: forecast horizon ``h >= 1``; sets the ``h - 1`` autocovariance lags.
        loss: ``"squared"`` (``e^2``) or ``"absolute"`` (``|e|``).
        hln: apply the Harvey-Leybourne-Newbold correction and Student-t with
            ``n - 1`` df; otherwise the asymptotic standard normal.

    Returns:
        A :class:`DMResult`. Degenerate cases, documented choices:

        * ``n < 3`` or ``h >= n``: statistic and p-value NaN (too few loss
          differentials for the variance / the HLN factor is not positive).
        * every ``d_t`` equal to the same value: the variance is exactly 0.
          If that value is 0 (identical losses, e.g. identical errors) the
          result is statistic 0, p-value 1: no evidence of a difference. If it
          is non-zero the ratio is undefined and both are NaN.
        * ``V <= 0`` (negative autocovariances can outweigh ``gamma_0`` when
          ``h > 1``): ``V`` falls back to the lag-0 variance ``gamma_0``, which
          is then positive, as Diebold & Mariano (1995) do not guarantee a
          positive estimate with the rectangular window.

    Raises:
        InputError: shapes differ, or the errors are not finite.
        ConfigError: ``horizon < 1`` (``evaluation.horizon``) or an unknown
            ``loss`` (``evaluation.dm_loss``).
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError("evaluation.horizon", f"must be an integer >= 1, got {horizon!r}")
    if loss not in ("squared", "absolute"):
        raise ConfigError("evaluation.dm_loss", f"must be 'squared' or 'absolute', got {loss!r}")
    a = np.asarray(errors_a, dtype=np.float64)
    b = np.asarray(errors_b, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(
            f"errors_a and errors_b must have the same shape, got {a.shape} and {b.shape}"
        )
    a, b = a.ravel(), b.ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InputError("forecast errors must be finite; drop or fix NaN/inf before the DM test")

    d = a**2 - b**2 if loss == "squared" else np.abs(a) - np.abs(b)
    n = int(d.size)
    mean_diff = float(d.mean()) if n > 0 else float("nan")
    nan = float("nan")
    if n < 3 or horizon >= n:
        return DMResult(nan, nan, n, mean_diff)
    if np.all(d == d[0]):
        if d[0] == 0.0:
            return DMResult(0.0, 1.0, n, mean_diff)
        return DMResult(nan, nan, n, mean_diff)

    variance = long_run_variance(d, horizon)
    if variance <= 0.0:
        variance = _autocovariance(d - d.mean(), 0)
    statistic = mean_diff / math.sqrt(variance / n)
    if hln:
        statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
        p_value = 2.0 * float(stats.t.sf(abs(statistic), df=n - 1))
    else:
        p_value = 2.0 * float(stats.norm.sf(abs(statistic)))
    return DMResult(float(statistic), min(p_value, 1.0), n, mean_diff)


def holm_bonferroni(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm (1979) step-down adjusted p-values, controlling the family-wise error rate.

    With ``m`` p-values sorted ascending ``p_(1) <= ... <= p_(m)``::

        p_adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))

    The running maximum makes the adjusted values monotone in the raw ones.
    Results are returned in the input order. NaN entries (undefined tests) stay
    NaN and do not count towards ``m``.

    Raises:
        InputError: a p-value lies outside ``[0, 1]``.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    adjusted = np.full(p.shape, np.nan)
    defined = ~np.isnan(p)
    values = p[defined]
    if np.any((values < 0.0) | (values > 1.0)):
        raise InputError(f"p-values must lie in [0, 1], got {values.tolist()}")
    m = values.size
    if m == 0:
        return adjusted
    # stable sort keeps ties in input order, so equal p-values get equal adjustments
    order = np.argsort(values, kind="stable")
    multipliers = m - np.arange(m)
    stepped = np.maximum.accumulate(np.minimum(1.0, multipliers * values[order]))
    in_defined_order = np.empty(m)
    in_defined_order[order] = stepped
    adjusted[defined] = in_defined_order
    return adjusted
