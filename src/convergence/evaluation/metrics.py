"""Point-forecast accuracy measures and grade (class) accuracy.

Definitions follow Hyndman & Koehler (2006), "Another look at measures of
forecast accuracy", *International Journal of Forecasting* 22(4), 679-688, with
forecast errors ``e_t = A_t - F_t`` for actuals ``A`` and forecasts ``F``:

* MAE   = mean |e_t|
* RMSE  = sqrt(mean e_t^2)
* sMAPE = mean 200 |e_t| / (|A_t| + |F_t|)   (0..200 scale; the absolute-value
  denominator of Makridakis & Hibon (2000) / the M4 competition keeps it bounded)
* MASE  = mean |e_t| / Q, with Q the in-sample mean absolute seasonal-naive
  one-step error  Q = 1/(n-m) * sum_{t=m+1}^{n} |Y_t - Y_{t-m}|

Inputs are flattened; actual and predicted must have the same shape. NaN in the
inputs propagates to a NaN metric (numpy semantics), so a failed forecast is
visible rather than silently skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convergence.errors import InputError, SeriesTooShortError


def _paired(
    actual: ArrayLike, predicted: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(predicted, dtype=np.float64)
    if a.shape != f.shape:
        raise InputError(
            f"actual and predicted must have the same shape, got {a.shape} and {f.shape}"
        )
    if a.size == 0:
        raise InputError("actual and predicted are empty; a metric needs at least one value")
    return a.ravel(), f.ravel()


def mae(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error, ``mean |A_t - F_t|``."""
    a, f = _paired(actual, predicted)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Root mean squared error, ``sqrt(mean (A_t - F_t)^2)``."""
    a, f = _paired(actual, predicted)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def smape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Symmetric mean absolute percentage error on the 0..200 scale.

    ``sMAPE = mean 200 |A_t - F_t| / (|A_t| + |F_t|)``; a term with
    ``A_t = F_t = 0`` is a perfect forecast and counts as 0 (instead of 0/0).
    """
    a, f = _paired(actual, predicted)
    numerator = 200.0 * np.abs(a - f)
    denominator = np.abs(a) + np.abs(f)
    both_zero = denominator == 0.0
    terms = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=~both_zero)
    # np.divide leaves NaN positions of `where` alone; keep NaN inputs visible
    terms[np.isnan(denominator)] = np.nan
    return float(np.mean(terms))


def naive_scale(insample: ArrayLike, season: int = 1) -> float:
    """In-sample mean absolute seasonal-naive one-step error.

    ``Q = 1/(n-m) * sum_{t=m+1}^{n} |Y_t - Y_{t-m}|`` for training series ``Y``
    of length ``n`` and season ``m`` (``m = 1``: the random-walk forecast).

    Raises:
        InputError: ``season`` is not a positive integer.
        SeriesTooShortError: ``n <= m``, so no naive error exists.
    """
    if isinstance(season, bool) or not isinstance(season, int | np.integer) or season < 1:
        raise InputError(f"season must be a positive integer, got {season!r}")
    y = np.asarray(insample, dtype=np.float64).ravel()
    if y.size <= season:
        raise SeriesTooShortError(
            f"MASE needs an in-sample series longer than the season ({season}), got {y.size} values"
        )
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: ArrayLike, predicted: ArrayLike, insample: ArrayLike, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler, 2006, sec. 3.4).

    ``MASE = mean |A_t - F_t| / Q`` with ``Q`` from :func:`naive_scale` on the
    training series ``insample``. ``MASE < 1`` means the forecast beats the
    in-sample one-step (seasonal) naive forecast on average.

    Returns:
        The MASE, or NaN when ``Q = 0``: a constant (or exactly
        ``m``-periodic) training series has no naive error to scale by, and the
        ratio is undefined; NaN (not inf) keeps such an entity out of averages
        taken with ``nanmean`` instead of dominating them.
    """
    scale = naive_scale(insample, season)
    error = mae(actual, predicted)
    if scale == 0.0:
        return float("nan")
    return error / scale


def grade_accuracy(actual_grades: Sequence[Any], predicted_grades: Sequence[Any]) -> float:
    """Share of periods whose predicted grade (class label) equals the actual one.

    ``accuracy = (1/n) * sum 1[g_t = g_hat_t]``; labels are compared with ``==``
    (strings such as ``"basic coordination"`` or integer grade codes).
    """
    actual = list(actual_grades)
    predicted = list(predicted_grades)
    if len(actual) != len(predicted):
        raise InputError(
            f"actual and predicted grades differ in length: {len(actual)} and {len(predicted)}"
        )
    if not actual:
        raise InputError("no grades to compare; accuracy needs at least one")
    hits = sum(1 for a, p in zip(actual, predicted, strict=True) if a == p)
    return hits / len(actual)
