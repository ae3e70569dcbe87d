"""Normalization of wide indicator panels.

A *wide* panel is a :class:`pandas.DataFrame` indexed by a two-level
:class:`pandas.MultiIndex` ``(entity, period)`` with one float column per indicator.
Every ``fit_*`` function uses only the rows it is given, so a caller that passes the
fit window alone gets parameters free of look-ahead; the matching ``apply_*``
function can then be used on any rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.errors import InputError

__all__ = [
    "DIRECTIONS",
    "NORMALIZATION_KEYS",
    "SCOPES",
    "MinMaxBounds",
    "ZScoreParams",
    "apply_minmax",
    "apply_zscore",
    "check_zero_range",
    "dominated_bounds_check",
    "fit_minmax",
    "fit_zscore",
    "invert_zscore",
    "normalization_settings",
]

#: Indicator directions: ``"benefit"`` (larger is better) or ``"cost"`` (smaller is better).
DIRECTIONS: tuple[str, ...] = ("benefit", "cost")
#: Scopes of min-max bounds: one pair per indicator, or one pair per (entity, indicator).
SCOPES: tuple[str, ...] = ("pooled", "per_entity")
#: Normalization settings, global (``measures.normalization``) or per data set.
NORMALIZATION_KEYS: tuple[str, ...] = ("scope", "headroom", "clip")
_NORMALIZATION_DEFAULTS = {"scope": "pooled", "headroom": 0.0, "clip": True}


def normalization_settings(
    measures: Mapping[str, object], dataset_spec: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Effective ``{scope, headroom, clip}`` of a data set.

    Defaults, then the global ``measures.normalization``, then the data set's own
    ``datasets.<name>.normalization`` (only the keys it gives replace the global ones).
    """
    settings: dict[str, object] = dict(_NORMALIZATION_DEFAULTS)
    for source in (measures.get("normalization"), (dataset_spec or {}).get("normalization")):
        if isinstance(source, Mapping):
            settings.update({k: v for k, v in source.items() if k in NORMALIZATION_KEYS})
    return settings


@dataclass(frozen=True)
class MinMaxBounds:
    """Fitted lower and upper bounds for min-max normalization.

    Attributes
    ----------
    lower, upper
        With ``scope == "pooled"``: Series indexed by indicator. With
        ``scope == "per_entity"``: DataFrame with index entity and columns indicator.
    scope
        ``"pooled"`` or ``"per_entity"``.
    """

    lower: pd.DataFrame | pd.Series
    upper: pd.DataFrame | pd.Series
    scope: str


@dataclass(frozen=True)
class ZScoreParams:
    """Fitted mean and standard deviation per indicator (Series indexed by indicator)."""

    mean: pd.Series
    std: pd.Series


def check_wide(wide: pd.DataFrame, *, what: str = "wide panel") -> None:
    """Raise :class:`InputError` unless ``wide`` is a DataFrame indexed by (entity, period).

    Parameters
    ----------
    wide
        Candidate wide panel.
    what
        Name of the argument, used in the error message.
    """
    if not isinstance(wide, pd.DataFrame):
        raise InputError(f"{what}: expected a pandas DataFrame, got {type(wide).__name__}")
    if not isinstance(wide.index, pd.MultiIndex) or wide.index.nlevels != 2:
        raise InputError(f"{what}: expected a two-level (entity, period) MultiIndex")


def entity_labels(wide: pd.DataFrame) -> pd.Index:
    """Return the entity label of every row (first index level) of a wide panel."""
    return wide.index.get_level_values(0)


def period_labels(wide: pd.DataFrame) -> pd.Index:
    """Return the period label of every row (second index level) of a wide panel."""
    return wide.index.get_level_values(1)


def _check_headroom(headroom: float) -> None:
    if not np.isfinite(headroom) or headroom < 0:
        raise InputError(f"headroom must be a finite number >= 0, got {headroom!r}")


def fit_minmax(wide: pd.DataFrame, *, scope: str = "pooled", headroom: float = 0.0) -> MinMaxBounds:
    """Fit min-max bounds on the rows given.

    For each indicator ``j`` (and, with ``scope="per_entity"``, each entity)::

        r_j  = max_j - min_j
        lo_j = min_j - headroom * r_j
        hi_j = max_j + headroom * r_j

    NaNs are ignored. The headroom widens the fitted range so that values from later
    periods (outside the fit window) rarely leave [0, 1] after normalization.

    Parameters
    ----------
    wide
        Wide panel holding only the fit rows.
    scope
        ``"pooled"`` (one range per indicator over all entities) or ``"per_entity"``
        (one range per entity and indicator).
    headroom
        Fraction of the range added on each side, ``>= 0``.

    Returns
    -------
    MinMaxBounds

    Raises
    ------
    InputError
        Unknown scope, negative headroom, or an indicator (for ``per_entity``: an
        entity's indicator) that is all-NaN in the fit rows.
    """
    check_wide(wide)
    _check_headroom(headroom)
    if scope == "pooled":
        lower = wide.min(axis=0, skipna=True)
        upper = wide.max(axis=0, skipna=True)
        for indicator in wide.columns:
            if pd.isna(lower[indicator]):
                raise InputError(f"indicator {indicator!r} is all-NaN in the fit rows")
    elif scope == "per_entity":
        grouped = wide.groupby(level=0, sort=True)
        lower = grouped.min()
        upper = grouped.max()
        missing = np.argwhere(lower.isna().to_numpy())
        if len(missing) > 0:
            entity = lower.index[missing[0][0]]
            indicator = lower.columns[missing[0][1]]
            raise InputError(
                f"indicator {indicator!r} is all-NaN in the fit rows of entity {entity!r}"
            )
    else:
        raise InputError(f"scope must be one of {SCOPES}, got {scope!r}")
    spread = (upper - lower) * headroom
    return MinMaxBounds(lower=lower - spread, upper=upper + spread, scope=scope)


def _row_aligned(bound: pd.DataFrame | pd.Series, wide: pd.DataFrame, scope: str) -> np.ndarray:
    """Return ``bound`` as an array shaped like ``wide`` (rows x indicators)."""
    columns = list(wide.columns)
    if scope == "pooled":
        return np.broadcast_to(bound[columns].to_numpy(dtype=float), wide.shape)
    entities = entity_labels(wide)
    unknown = pd.Index(entities.unique()).difference(bound.index)
    if len(unknown) > 0:
        raise InputError(f"entity {unknown[0]!r} has no per_entity min-max bounds")
    return bound.loc[entities, columns].to_numpy(dtype=float)


def apply_minmax(
    wide: pd.DataFrame,
    bounds: MinMaxBounds,
    directions: Mapping[str, str],
    *,
    clip: bool = True,
) -> pd.DataFrame:
    """Min-max normalize every column of ``wide`` with fitted bounds.

    For benefit indicators ``x' = (x - lo) / (hi - lo)``; for cost indicators
    ``x' = (hi - x) / (hi - lo)``. An indicator with zero range (``hi == lo``) carries
    no information about position, so every non-missing value maps to the mid-point
    0.5. With ``clip`` the result is clipped to [0, 1] (values outside the fit range
    saturate); NaN stays NaN.

    Parameters
    ----------
    wide
        Wide panel to normalize; every column needs bounds and a direction.
    bounds
        Output of :func:`fit_minmax`.
    directions
        ``{indicator: "benefit" | "cost"}``; extra keys are ignored.
    clip
        Clip the result to [0, 1].

    Returns
    -------
    pandas.DataFrame
        Same index and columns as ``wide``.

    Raises
    ------
    InputError
        Missing or unknown direction, indicator without bounds, or (per_entity) an
        entity without bounds.
    """
    check_wide(wide)
    if bounds.scope not in SCOPES:
        raise InputError(f"scope must be one of {SCOPES}, got {bounds.scope!r}")
    bound_indicators = bounds.lower.index if bounds.scope == "pooled" else bounds.lower.columns
    is_cost = np.empty(wide.shape[1], dtype=bool)
    for position, indicator in enumerate(wide.columns):
        direction = directions.get(indicator)
        if direction not in DIRECTIONS:
            raise InputError(
                f"indicator {indicator!r}: direction must be one of {DIRECTIONS}, got {direction!r}"
            )
        if indicator not in bound_indicators:
            raise InputError(f"indicator {indicator!r} has no fitted min-max bounds")
        is_cost[position] = direction == "cost"

    values = wide.to_numpy(dtype=float)
    lower = _row_aligned(bounds.lower, wide, bounds.scope)
    upper = _row_aligned(bounds.upper, wide, bounds.scope)
    span = upper - lower
    zero_span = span == 0
    # A tiny positive span can overflow to inf; clipping (if on) saturates it.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = np.where(is_cost, upper - values, values - lower) / np.where(zero_span, 1.0, span)
    scaled = np.where(zero_span & ~np.isnan(values), 0.5, scaled)
    if clip:
        scaled = np.clip(scaled, 0.0, 1.0)
    return pd.DataFrame(scaled, index=wide.index, columns=wide.columns)


def fit_zscore(wide: pd.DataFrame) -> ZScoreParams:
    """Fit per-indicator mean and population standard deviation on the rows given.

    ``mu_j = mean_i x_ij`` and ``sigma_j = sqrt(mean_i (x_ij - mu_j)^2)`` (ddof = 0),
    NaNs ignored. A zero (or undefined, single-value) standard deviation is replaced
    by 1 so that constant indicators map to 0 instead of dividing by zero.

    Raises
    ------
    InputError
        An indicator is all-NaN in the rows given.
    """
    if not isinstance(wide, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(wide).__name__}")
    mean = wide.mean(axis=0, skipna=True)
    for indicator in wide.columns:
        if pd.isna(mean[indicator]):
            raise InputError(f"indicator {indicator!r} is all-NaN in the fit rows")
    std = wide.std(axis=0, ddof=0, skipna=True)
    std = std.where((std > 0) & std.notna(), 1.0)
    return ZScoreParams(mean=mean.astype(float), std=std.astype(float))


def _zscore_columns(params: ZScoreParams, columns: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in columns if c not in params.mean.index]
    if missing:
        raise InputError(f"indicator {missing[0]!r} has no fitted z-score parameters")
    return (
        params.mean[list(columns)].to_numpy(dtype=float),
        params.std[list(columns)].to_numpy(dtype=float),
    )


def apply_zscore(wide: pd.DataFrame, params: ZScoreParams) -> pd.DataFrame:
    """Standardize every column: ``z_ij = (x_ij - mu_j) / sigma_j``.

    Raises
    ------
    InputError
        A column has no fitted parameters.
    """
    mean, std = _zscore_columns(params, wide.columns)
    return pd.DataFrame(
        (wide.to_numpy(dtype=float) - mean) / std, index=wide.index, columns=wide.columns
    )


def invert_zscore(
    standardized: pd.DataFrame | pd.Series, params: ZScoreParams
) -> pd.DataFrame | pd.Series:
    """Undo :func:`apply_zscore`: ``x_ij = z_ij * sigma_j + mu_j``.

    A Series is taken to be one indicator, named by ``Series.name``.

    Raises
    ------
    InputError
        A column (or the Series name) has no fitted parameters.
    """
    if isinstance(standardized, pd.Series):
        mean, std = _zscore_columns(params, pd.Index([standardized.name]))
        return standardized.astype(float) * std[0] + mean[0]
    mean, std = _zscore_columns(params, standardized.columns)
    return pd.DataFrame(
        standardized.to_numpy(dtype=float) * std + mean,
        index=standardized.index,
        columns=standardized.columns,
    )


def check_zero_range(fit_rows: pd.DataFrame, scope: str, *, dataset: str | None = None) -> None:
    """Raise :class:`InputError` when an indicator is constant in the fit rows.

    A zero-range indicator (pooled: the same value for every entity and period of the fit
    window; ``per_entity``: the same value in every fit period of one entity) carries no
    information: :func:`apply_minmax` would map it to 0.5 everywhere and silently make its
    subsystem index meaningless. The error names every such indicator (and entity).
    NaNs are ignored; an all-NaN indicator is :func:`fit_minmax`'s error.
    """
    check_wide(fit_rows)
    where = f"datasets.{dataset}.subsystems" if dataset else "the subsystems"
    if scope == "per_entity":
        grouped = fit_rows.groupby(level=0, sort=True)
        span = grouped.max() - grouped.min()
        constant = [
            (str(entity), str(indicator))
            for entity, row in span.iterrows()
            for indicator, value in row.items()
            if value == 0
        ]
        if constant:
            shown = "; ".join(f"indicator {i!r} of entity {e!r}" for e, i in constant[:10])
            more = f" and {len(constant) - 10} more" if len(constant) > 10 else ""
            raise InputError(
                f"zero range in the fit window (scope per_entity): {shown}{more} is constant, "
                "so its normalized value carries no information; use scope: pooled "
                f"(datasets.<name>.normalization), drop the entity, or remove the indicator "
                f"from {where}"
            )
        return
    span = fit_rows.max(axis=0) - fit_rows.min(axis=0)
    constant_indicators = [str(i) for i, value in span.items() if value == 0]
    if constant_indicators:
        values = {i: fit_rows[i].dropna().iloc[0] for i in constant_indicators}
        shown = ", ".join(f"{i!r} (always {values[i]:g})" for i in constant_indicators)
        raise InputError(
            f"zero range in the fit window (scope pooled): indicator(s) {shown} are the same "
            "for every entity and period, so their normalized value carries no information; "
            f"remove them from {where} or check the data"
        )


def dominated_bounds_check(
    fit_rows: pd.DataFrame, *, stage: str = "normalize", dataset: str | None = None
) -> dict | None:
    """Data check when one entity alone sets the pooled min or max of most indicators.

    With pooled bounds, an entity that is much larger (or smaller) than the rest sets
    the maximum (minimum) of most indicators, and ``D`` then mostly ranks entities by size.
    An entity counts as setting a bound only when it alone holds the extreme value (ties,
    e.g. zeros from ``fill_missing``, do not count). Flagged when, for some entity, the
    indicators whose max (or min) it sets are more than half of them; needs at least 3
    entities and 2 indicators. Returns the reported check dict, or None.
    """
    check_wide(fit_rows)
    entities = entity_labels(fit_rows)
    n_entities = entities.nunique()
    n_indicators = fit_rows.shape[1]
    if n_entities < 3 or n_indicators < 2:
        return None
    setters: dict[str, dict[str, list[str]]] = {"max": {}, "min": {}}
    for indicator in fit_rows.columns:
        column = fit_rows[indicator]
        for side, extreme in (("max", column.max()), ("min", column.min())):
            if pd.isna(extreme):
                continue
            holders = pd.Index(entities[(column == extreme).to_numpy()]).unique()
            if len(holders) == 1:
                setters[side].setdefault(str(holders[0]), []).append(str(indicator))
    flagged = {
        side: {e: inds for e, inds in by_entity.items() if len(inds) > n_indicators / 2}
        for side, by_entity in setters.items()
    }
    if not any(flagged.values()):
        return None
    names = sorted({e for by_entity in flagged.values() for e in by_entity})
    parts = [
        f"{entity} sets the {side} of {len(inds)} of {n_indicators} indicators"
        for side, by_entity in flagged.items()
        for entity, inds in sorted(by_entity.items())
    ]
    key = f"datasets.{dataset}.normalization.scope" if dataset else "normalization.scope"
    return diagnostics.check(
        stage,
        "pooled_bounds_dominated",
        f"pooled min-max bounds are dominated by one entity: {'; '.join(parts)}. D then "
        "largely ranks entities by that entity's distance (often: by size); "
        f"scope: per_entity exists ({key}) to normalize each entity on its own range.",
        entities=names,
        counts={
            f"{entity} ({side})": len(inds)
            for side, by_entity in flagged.items()
            for entity, inds in sorted(by_entity.items())
        },
        indicators_by_entity={
            f"{entity} ({side})": inds
            for side, by_entity in flagged.items()
            for entity, inds in sorted(by_entity.items())
        },
        n_indicators=n_indicators,
    )
