"""Rolling-origin (expanding-window) backtest folds over a period axis.

Rolling-origin evaluation (Tashman, 2000; Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., sec. 5.10 "time series cross-validation")
fits a model on all periods up to a forecast origin ``o`` and scores it on
periods ``o+1 .. o+h``. Origins step backwards from the end of the series so
the last fold's test span ends at the last observed period.

Within each fold's training span ``0 .. o``, the last ``val_size`` periods are
held out for early stopping; the model is fitted on the periods before them.
For fold ``k = 0 .. K-1`` (oldest first) with ``N`` periods::

    origin_k = (N - 1 - horizon) - step * (K - 1 - k)
    train    = periods[0 : origin_k + 1 - val_size]
    val      = periods[origin_k + 1 - val_size : origin_k + 1]
    test     = periods[origin_k + 1 : origin_k + 1 + horizon]

The oldest fold must keep at least ``min_train`` training periods, so::

    N >= min_train + val_size + horizon + step * (K - 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convergence.config import schema_default
from convergence.errors import ConfigError, InputError, SeriesTooShortError


@dataclass(frozen=True)
class Fold:
    """One backtest fold.

    Attributes:
        index: fold number, 0 for the oldest origin.
        origin: position (0-based) of the last training period (the last
            validation period when ``val_size > 0``) in the sorted period list.
        train_periods: periods the model is fitted on (before the validation span).
        val_periods: the last ``val_size`` periods up to the origin, for early stopping.
        test_periods: periods ``origin+1 .. origin+horizon``, scored out of sample.
    """

    index: int
    origin: int
    train_periods: list[str]
    val_periods: list[str]
    test_periods: list[str]


def _require_int(key: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {value}")
    return value


def periods_needed(
    *, n_origins: int, horizon: int, step: int, val_size: int, min_train: int
) -> int:
    """Fewest periods a backtest needs: ``min_train + val_size + horizon + step * (n_origins - 1)``."""
    return min_train + val_size + horizon + step * (n_origins - 1)


def rolling_origin_folds(
    periods: Sequence[str],
    *,
    n_origins: int,
    horizon: int,
    step: int | None = None,
    val_size: int,
    min_train: int,
) -> list[Fold]:
    """Expanding-window folds whose last test span ends at the last period.

    Args:
        periods: distinct period labels in ascending time order. The given
            order is taken as time order and not re-sorted, because string
            order is wrong for labels such as ``2005M9`` < ``2005M10``.
        n_origins: number of forecast origins (folds), ``>= 1``.
        horizon: test periods per fold, ``>= 1``.
        step: periods between consecutive origins, ``>= 1``; None: the schema default of
            ``training.step``.
        val_size: validation periods at the end of each training span, ``>= 0``.
        min_train: fewest training periods (before validation) in any fold, ``>= 1``.

    Returns:
        ``n_origins`` folds, oldest origin first.

    Raises:
        ConfigError: a knob is not a valid integer (key ``evaluation.<knob>``).
        InputError: ``periods`` has duplicates.
        SeriesTooShortError: fewer periods than
            ``min_train + val_size + horizon + step * (n_origins - 1)``.
    """
    _require_int("evaluation.n_origins", n_origins, 1)
    _require_int("evaluation.horizon", horizon, 1)
    if step is None:
        step = schema_default("training.step")
    _require_int("evaluation.step", step, 1)
    _require_int("evaluation.val_size", val_size, 0)
    _require_int("evaluation.min_train", min_train, 1)
    labels = [str(p) for p in periods]
    if len(set(labels)) != len(labels):
        raise InputError("periods contain duplicates; each period must appear once")

    n_periods = len(labels)
    needed = periods_needed(
        n_origins=n_origins, horizon=horizon, step=step, val_size=val_size, min_train=min_train
    )
    if n_periods < needed:
        raise SeriesTooShortError(
            f"the series has {n_periods} periods but the backtest needs {needed} = "
            f"min_train ({min_train}) + val_size ({val_size}) + horizon ({horizon}) "
            f"+ step ({step}) * (n_origins ({n_origins}) - 1); "
            "lower n_origins, step, val_size, min_train or horizon, or supply more periods"
        )

    last_origin = n_periods - 1 - horizon
    folds: list[Fold] = []
    for index in range(n_origins):
        origin = last_origin - step * (n_origins - 1 - index)
        val_start = origin + 1 - val_size
        folds.append(
            Fold(
                index=index,
                origin=origin,
                train_periods=labels[:val_start],
                val_periods=labels[val_start : origin + 1],
                test_periods=labels[origin + 1 : origin + 1 + horizon],
            )
        )
    return folds
