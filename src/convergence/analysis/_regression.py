"""One-regressor OLS with Newey-West (HAC) standard errors, through statsmodels."""

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
