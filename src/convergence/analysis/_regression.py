"""One-regressor OLS with HAC standard errors: Newey-West (Bartlett kernel, through
statsmodels) or the quadratic-spectral long-run variance with Andrews' AR(1) bandwidth."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import statsmodels.api as sm
from scipy import stats

from convergence.errors import InputError


def newey_west_lags(n_obs: int) -> int:
    """Newey & West (1994) rule of thumb ``floor(4 (n / 100)^(2/9))`` for the Bartlett kernel."""
    return int(math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0)))


def ols_hac(
    x: npt.ArrayLike, y: npt.ArrayLike, maxlags: int | None, *, small_sample: bool = False
) -> dict[str, Any]:
    """OLS ``y = a + b x + u`` with a Bartlett-kernel (Newey-West) HAC standard error of ``b``.

    ``maxlags`` None uses :func:`newey_west_lags`. statsmodels' HAC covariance is the
    sandwich ``(X'X)^-1 S (X'X)^-1`` with ``S`` the Bartlett-weighted sum of the score
    autocovariances up to ``maxlags``. By default there is no small-sample correction and
    the p-value is normal (as the Phillips-Sul log-t test, which only compares ``t`` with a
    critical value, uses it). With ``small_sample`` the variance is multiplied by
    ``n / (n - 2)`` and the p-value is Student t with ``n - 2`` degrees of freedom (the
    sigma-convergence trend). An exact fit (``se = 0``) gives ``t = +/-inf`` (or 0 for
    ``b = 0``).

    Returns
    -------
    dict
        ``a, b, se, t`` (floats), ``p_two_sided``, ``n``, ``lags`` and ``df`` (ints; ``df``
        is ``n - 2``, used only with ``small_sample``).
    """
    x_values = np.asarray(x, dtype=float)
    y_values = np.asarray(y, dtype=float)
    usable = np.isfinite(x_values) & np.isfinite(y_values)
    x_values, y_values = x_values[usable], y_values[usable]
    n_obs = int(x_values.size)
    if n_obs < 3:
        raise InputError(f"trend regression needs at least 3 points, got {n_obs}")
    lags = newey_west_lags(n_obs) if maxlags is None else int(maxlags)
    design = sm.add_constant(x_values, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = sm.OLS(y_values, design).fit(
            cov_type="HAC", cov_kwds={"maxlags": lags, "kernel": "bartlett"}
        )
    a, b = float(fit.params[0]), float(fit.params[1])
    se = float(fit.bse[1])
    if small_sample:
        se *= math.sqrt(n_obs / (n_obs - 2))
    if not se > 1e-14 * max(1.0, abs(b)):  # exact fit (or NaN): no residual variation
        se = 0.0
        t_stat = math.copysign(math.inf, b) if b != 0 else 0.0
    else:
        t_stat = b / se
    reference = stats.t(n_obs - 2) if small_sample else stats.norm
    p_value = float(2.0 * reference.sf(abs(t_stat)))
    return {
        "a": a,
        "b": b,
        "se": se,
        "t": t_stat,
        "p_two_sided": p_value,
        "n": n_obs,
        "lags": lags,
        "df": n_obs - 2,
    }


#: Andrews (1991) constant of the AR(1) plug-in bandwidth of the quadratic-spectral kernel.
QS_BANDWIDTH_CONSTANT = 1.3221


def qs_kernel(x: npt.ArrayLike) -> np.ndarray:
    """Quadratic-spectral kernel (Andrews 1991, eq. 2.7), ``k(0) = 1``:

    ``k(x) = 25 / (12 pi^2 x^2) * (sin(6 pi x / 5) / (6 pi x / 5) - cos(6 pi x / 5))``.

    ``x = +inf`` gives 0 (the limit); ``x = 0`` gives 1.
    """
    values = np.abs(np.asarray(x, dtype=float))
    angle = 1.2 * math.pi * values
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 3.0 / angle**2 * (np.sin(angle) / angle - np.cos(angle))
        # Near 0 the bracket cancels; its Taylor series 1 - a^2/10 + a^4/280 is exact to 1e-16.
        series = 1.0 - angle**2 / 10.0 + angle**4 / 280.0
    weights = np.where(angle < 1e-2, series, weights)
    return np.where(np.isinf(values), 0.0, weights)


def qs_andrews_lrv(residuals: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-run variance of regression residuals as R ``ConvergenceClubs`` computes it for
    the log-t test (its ``andrs2``/``ps_andrews_hac``, documented as adapted from Phillips &
    Sul's GAUSS code; Stata ``psecta`` uses the same estimator), one per row.

    For residuals ``e_1, ..., e_n`` (the last axis):

    * AR(1) coefficient without intercept: ``rho = sum_{s=2..n} e_{s-1} e_s / sum_{s=1..n-1} e_s^2``;
    * Andrews (1991) plug-in bandwidth of the QS kernel:
      ``S = 1.3221 (alpha n)^(1/5)`` with ``alpha = 4 rho^2 / (1 - rho)^4``; no cap;
    * ``LRV = [sum_{s=1..n} e_s^2 + 2 sum_{j=1..n-2} k(j / S) sum_{s=1..n-1-j} e_s e_{s+j}] / (n - 1)``
      with ``k`` the QS kernel (:func:`qs_kernel`).

    The autocovariances run over the first ``n - 1`` residuals and everything is divided by
    ``n - 1``, as in that code (not the textbook ``n`` residuals over ``n``): this is what
    makes the clubs equal the packages'. Limits where the formula breaks down: ``rho = 1``
    gives ``S = inf`` and every weight 1 (the packages return NaN there); ``rho = 0`` gives
    ``S = 0`` and every weight 0 (the plain variance); all residuals 0 give ``LRV = 0``
    (an exact fit). ``rho`` near or above 1 gives a bandwidth well beyond ``n``, where the
    weights of all lags are near 1 and the LRV is close to the square of the residuals' sum
    (small for OLS residuals with an intercept); the LRV may then be 0 or negative, and
    the caller must treat a non-positive LRV as "no standard error".

    Returns
    -------
    (lrv, bandwidth, rho)
        Arrays of the leading shape (a scalar array for one series).
    """
    values = np.asarray(residuals, dtype=float)
    n_obs = values.shape[-1]
    if n_obs < 3:
        raise InputError(f"the QS long-run variance needs at least 3 residuals, got {n_obs}")
    head, tail = values[..., :-1], values[..., 1:]
    denominator = np.sum(head**2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.sum(head * tail, axis=-1) / denominator
        alpha = 4.0 * rho**2 / (1.0 - rho) ** 4
        bandwidth = QS_BANDWIDTH_CONSTANT * (alpha * n_obs) ** 0.2
    rho = np.where(denominator > 0, rho, 0.0)
    bandwidth = np.where(denominator > 0, bandwidth, 0.0)
    total = np.sum(values**2, axis=-1)
    first = values[..., : n_obs - 1]
    for lag in range(1, n_obs - 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = qs_kernel(np.where(bandwidth > 0, lag / bandwidth, np.inf))
        cross = np.sum(first[..., : n_obs - 1 - lag] * first[..., lag:], axis=-1)
        total = total + 2.0 * weight * cross
    return total / (n_obs - 1), bandwidth, rho


def ols_qs_andrews(x: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, Any]:
    """OLS ``y = a + b x + u`` with ``Var(b) = LRV * [(X'X)^-1]_bb``, the LRV of the residuals
    from :func:`qs_andrews_lrv` (the log-t test's convention in ``psecta`` and
    ``ConvergenceClubs``). An exact fit gives ``se = 0`` and ``t = +/-inf`` (0 for ``b = 0``);
    a non-positive LRV of non-zero residuals gives ``se = t = NaN``.

    Returns
    -------
    dict
        ``a, b, se, t, bandwidth, rho`` (floats) and ``n`` (int).
    """
    x_values = np.asarray(x, dtype=float)
    y_values = np.asarray(y, dtype=float)
    n_obs = int(x_values.size)
    if n_obs < 3:
        raise InputError(f"trend regression needs at least 3 points, got {n_obs}")
    design = np.column_stack([np.ones(n_obs), x_values])
    inverse = np.linalg.inv(design.T @ design)
    a, b = inverse @ design.T @ y_values
    residuals = y_values - design @ np.array([a, b])
    lrv, bandwidth, rho = (float(item) for item in qs_andrews_lrv(residuals))
    with np.errstate(invalid="ignore"):
        se = math.sqrt(lrv * inverse[1, 1]) if lrv > 0 else (0.0 if lrv == 0 else math.nan)
    if se == 0.0 or (math.isfinite(se) and not se > 1e-14 * max(1.0, abs(b))):
        se = 0.0
        t_stat = math.copysign(math.inf, b) if b != 0 else 0.0
    else:
        t_stat = b / se
    return {
        "a": float(a),
        "b": float(b),
        "se": se,
        "t": t_stat,
        "bandwidth": bandwidth,
        "rho": rho,
        "n": n_obs,
    }
