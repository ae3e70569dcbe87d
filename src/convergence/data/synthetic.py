"""Synthetic panel of two coupled industries per entity, with known coupling strength.

Each entity ``i`` has two industries, ``x`` (e.g. agriculture) and ``y`` (e.g. ICT), whose
output levels follow discrete-time logistic growth with a linear coupling term that pulls
each level towards the other (a Lotka-Volterra-style cooperative system)::

    x[t+1] = x[t] + r_x[i] * x[t] * (1 - x[t] / K_x) + kappa[i] * (y[t] - x[t]) + noise * x[t] * e_x[t]
    y[t+1] = y[t] + r_y[i] * y[t] * (1 - y[t] / K_y) + kappa[i] * (x[t] - y[t]) + noise * y[t] * e_y[t]

with carrying capacities ``K_x = 1`` and ``K_y = 2`` (so uncoupled industries settle one
unit apart), ``e`` independent standard normal shocks (noise proportional to the level),
``kappa[i]`` evenly spaced over ``[coupling_min, coupling_max]`` across entities, and per
entity (seeded) random growth rates ``r_x ~ U(0.05, 0.30)``, ``r_y ~ U(0.10, 0.50)`` and
starting levels ``x[0] ~ U(0.10, 0.40) K_x``, ``y[0] ~ U(0.02, 0.20) K_y``.

Levels stay positive: with ``r <= 0.5`` and ``kappa <= 0.5`` the deterministic update of a
level below ``2 K`` is a sum of non-negative terms; a floor of ``1e-6 K`` guards against
large noise. A larger ``kappa`` gives a smaller gap ``|x - y|`` at the end, which is what a
convergence measure should recover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from convergence.errors import InputError

CAPACITY_X = 1.0
CAPACITY_Y = 2.0
GROWTH_RATE_X_RANGE = (0.05, 0.30)
GROWTH_RATE_Y_RANGE = (0.10, 0.50)
START_FRACTION_X_RANGE = (0.10, 0.40)
START_FRACTION_Y_RANGE = (0.02, 0.20)
MAX_COUPLING = 0.5
LEVEL_FLOOR_FRACTION = 1e-6

SYNTHETIC_INDICATORS: tuple[str, ...] = ("x_output", "x_share", "y_output", "y_share")
"""Indicators of the synthetic panel, in sorted order."""


def _check_parameters(
    n_entities: int,
    n_periods: int,
    coupling_min: float,
    coupling_max: float,
    noise: float,
    seed: int,
    start_period: int,
) -> None:
    """Raise :class:`InputError` naming the first invalid parameter."""
    if isinstance(n_entities, bool) or not isinstance(n_entities, (int, np.integer)):
        raise InputError(f"n_entities: must be an integer, got {n_entities!r}")
    if n_entities < 1:
        raise InputError(f"n_entities: must be at least 1, got {n_entities}")
    if isinstance(n_periods, bool) or not isinstance(n_periods, (int, np.integer)):
        raise InputError(f"n_periods: must be an integer, got {n_periods!r}")
    if n_periods < 2:
        raise InputError(f"n_periods: must be at least 2, got {n_periods}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed: must be an integer, got {seed!r}")
    if isinstance(start_period, bool) or not isinstance(start_period, (int, np.integer)):
        raise InputError(f"start_period: must be an integer year, got {start_period!r}")
    if start_period < 1000 or start_period + n_periods - 1 > 9999:
        raise InputError("start_period: years must have four digits so labels sort as text")
    if not 0.0 <= coupling_min <= coupling_max <= MAX_COUPLING:
        raise InputError(
            f"coupling_min, coupling_max: need 0 <= coupling_min <= coupling_max <= "
            f"{MAX_COUPLING} (larger coupling overshoots), got {coupling_min}, {coupling_max}"
        )
    if not noise >= 0.0:
        raise InputError(f"noise: must be >= 0, got {noise}")


def simulate_coupled_industries(
    n_entities: int,
    n_periods: int,
    *,
    coupling_min: float = 0.0,
    coupling_max: float = 0.5,
    noise: float = 0.01,
    seed: int,
    start_period: int = 1950,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate two coupled logistic industries per entity (equations in the module doc).

    Returns ``(panel, truth)``. ``panel`` is a long frame with columns ``entity``
    (``"s0000"``, ``"s0001"``, ...), ``period`` (annual labels from ``start_period``),
    ``indicator`` (``x_output``, ``x_share`` = x / (x + y), ``y_output``, ``y_share``) and
    ``value``, sorted by entity, period and indicator. ``truth`` has one row per entity
    with columns ``entity``, ``coupling`` (kappa), ``r_x`` and ``r_y``.

    The same ``seed`` gives identical output. Raises :class:`InputError` naming the
    parameter for invalid arguments.
    """
    _check_parameters(n_entities, n_periods, coupling_min, coupling_max, noise, seed, start_period)
    rng = np.random.default_rng(seed)
    coupling = np.linspace(coupling_min, coupling_max, n_entities)
    growth_x = rng.uniform(*GROWTH_RATE_X_RANGE, size=n_entities)
    growth_y = rng.uniform(*GROWTH_RATE_Y_RANGE, size=n_entities)
    x = rng.uniform(*START_FRACTION_X_RANGE, size=n_entities) * CAPACITY_X
    y = rng.uniform(*START_FRACTION_Y_RANGE, size=n_entities) * CAPACITY_Y
    # Draw all shocks at once so the stream (and the output) depends only on the seed.
    shocks = rng.standard_normal(size=(n_periods - 1, 2, n_entities))

    levels_x = np.empty((n_periods, n_entities))
    levels_y = np.empty((n_periods, n_entities))
    levels_x[0], levels_y[0] = x, y
    for t in range(n_periods - 1):
        next_x = (
            x
            + growth_x * x * (1.0 - x / CAPACITY_X)
            + coupling * (y - x)
            + noise * x * shocks[t, 0]
        )
        next_y = (
            y
            + growth_y * y * (1.0 - y / CAPACITY_Y)
            + coupling * (x - y)
            + noise * y * shocks[t, 1]
        )
        x = np.maximum(next_x, LEVEL_FLOOR_FRACTION * CAPACITY_X)
        y = np.maximum(next_y, LEVEL_FLOOR_FRACTION * CAPACITY_Y)
        levels_x[t + 1], levels_y[t + 1] = x, y

    total = levels_x + levels_y
    # Shape (entity, period, indicator), indicators in SYNTHETIC_INDICATORS order.
    values = np.stack([levels_x, levels_x / total, levels_y, levels_y / total], axis=-1).transpose(
        1, 0, 2
    )

    width = max(4, len(str(n_entities - 1)))
    entities = np.array([f"s{i:0{width}d}" for i in range(n_entities)], dtype=object)
    periods = np.array([str(start_period + t) for t in range(n_periods)], dtype=object)
    n_indicators = len(SYNTHETIC_INDICATORS)
    panel = pd.DataFrame(
        {
            "entity": np.repeat(entities, n_periods * n_indicators),
            "period": np.tile(np.repeat(periods, n_indicators), n_entities),
            "indicator": np.tile(
                np.array(SYNTHETIC_INDICATORS, dtype=object), n_entities * n_periods
            ),
            "value": values.reshape(-1),
        }
    )
    truth = pd.DataFrame(
        {"entity": entities, "coupling": coupling, "r_x": growth_x, "r_y": growth_y}
    )
    return panel, truth


def coupling_recovery(coupling_table: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """How well measured convergence ranks entities by their simulated coupling ``kappa``.

    Uses the last period of ``coupling_table`` (the measure stage's per entity-period table
    with ``entity``, ``period``, ``C`` and ``U_<subsystem>`` columns) and ``truth`` from
    :func:`simulate_coupled_industries`. Returns Spearman rank correlations of ``kappa``
    with the coupling degree ``C`` (expected positive: coupled industries end closer, and
    ``C`` is largest for equal indices) and with the gap ``max U - min U`` over the
    subsystems (expected negative), plus ``n_entities`` and ``final_period``.
    A correlation is NaN when ``kappa`` or the measure does not vary across entities.
    """
    u_columns = [c for c in coupling_table.columns if str(c).startswith("U_")]
    if len(u_columns) < 2:
        raise InputError(f"coupling table needs two or more U_<subsystem> columns, has {u_columns}")
    final_period = max(coupling_table["period"].astype(str))
    final = coupling_table[coupling_table["period"].astype(str) == final_period].set_index("entity")
    kappa = truth.set_index("entity")["coupling"].reindex(final.index)
    if kappa.isna().any():
        missing = list(kappa.index[kappa.isna()][:3])
        raise InputError(f"entities without ground truth, e.g. {missing}")
    gap = final[u_columns].max(axis=1) - final[u_columns].min(axis=1)
    return {
        "spearman_coupling_C": float(kappa.corr(final["C"], method="spearman")),
        "spearman_coupling_gap": float(kappa.corr(gap, method="spearman")),
        "n_entities": float(len(final)),
        "final_period": final_period,
    }
