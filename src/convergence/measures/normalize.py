"""Normalization of wide indicator panels.

A *wide* panel is a :class:`pandas.DataFrame` indexed by a two-level
:class:`pandas.MultiIndex` ``(entity, period)`` with one float column per indicator.
Every ``fit_*`` function uses only the rows it is given, so a caller that passes the
fit window alone gets parameters free of look-ahead; the matching ``apply_*``
function can then be used on any rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "BETWEEN_SHARE_LIMIT",
    "apply_zscore",
    "between_entity_share",
    "check_zero_range",
    "dominated_bounds_check",
    "fit_minmax",
    "fit_zscore",
    "invert_zscore",
    "normalization_settings",
    "size_dominated_levels_check",
    "uninformative_cells",
    "zero_range_pairs",
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


def uninformative_cells(bounds: MinMaxBounds, wide: pd.DataFrame) -> np.ndarray:
    """Boolean array shaped like ``wide``: True where the row's per-entity range is zero.

    The one rule for an indicator without a range in an entity's fit rows under
    ``per_entity`` bounds (e.g. a fuel or sector the entity never has): it carries no
    information about the entity's position, so it is left out of that entity's subsystem
    index and the other indicators' weights are rescaled
    (:func:`convergence.measures.index.apply_measurement`). The measure stage and every
    forecasting fold use it through that function. Pooled bounds give all False: an
    indicator constant over every entity and period is an error in the measure stage
    (:func:`check_zero_range`) and has entropy weight 0 in a forecasting fold.
    """
    check_wide(wide)
    if bounds.scope != "per_entity":
        return np.zeros(wide.shape, dtype=bool)
    lower = _row_aligned(bounds.lower, wide, bounds.scope)
    upper = _row_aligned(bounds.upper, wide, bounds.scope)
    return np.asarray(upper - lower == 0)


def zero_range_pairs(fit_rows: pd.DataFrame, scope: str) -> list[tuple[str, str]]:
    """``(entity, indicator)`` pairs constant in the fit rows (pooled: entity ``"*"``)."""
    check_wide(fit_rows)
    if scope == "per_entity":
        grouped = fit_rows.groupby(level=0, sort=True)
        span = grouped.max() - grouped.min()
        return [
            (str(entity), str(indicator))
            for entity, row in span.iterrows()
            for indicator, value in row.items()
            if value == 0
        ]
    span = fit_rows.max(axis=0) - fit_rows.min(axis=0)
    return [("*", str(i)) for i, value in span.items() if value == 0]


def check_zero_range(
    fit_rows: pd.DataFrame,
    scope: str,
    *,
    dataset: str | None = None,
    subsystems: Mapping[str, Sequence[str]] | None = None,
    stage: str = "normalize",
) -> dict | None:
    """Zero-range indicators in the fit rows: an error when nothing can be measured, a
    data check when the documented rule (:func:`uninformative_cells`) applies.

    * ``pooled``: an indicator that is the same for every entity and period is an error
      (:class:`InputError` naming it): it is a configuration mistake, not a property of
      some entities.
    * ``per_entity``: each ``(entity, indicator)`` pair constant in the entity's fit
      periods is left out of that entity's index, weights rescaled; returned as the data
      check ``per_entity_constant_indicators``. An indicator constant in every entity is
      an error. An entity for which every indicator of a subsystem is constant has no
      index for it (its ``D`` is missing); the check names it.

    Returns the data check dict, or None when no indicator is constant. NaNs are ignored;
    an all-NaN indicator is :func:`fit_minmax`'s error.
    """
    check_wide(fit_rows)
    where = f"datasets.{dataset}.subsystems" if dataset else "the subsystems"
    pairs = zero_range_pairs(fit_rows, scope)
    if scope != "per_entity":
        if pairs:
            values = {i: fit_rows[i].dropna().iloc[0] for _, i in pairs}
            shown = ", ".join(f"{i!r} (always {values[i]:g})" for i in values)
            raise InputError(
                f"zero range in the fit window (scope pooled): indicator(s) {shown} are the "
                "same for every entity and period, so their normalized value carries no "
                f"information; remove them from {where} or check the data"
            )
        return None
    if not pairs:
        return None
    n_entities = entity_labels(fit_rows).nunique()
    by_indicator: dict[str, list[str]] = {}
    for entity, indicator in pairs:
        by_indicator.setdefault(indicator, []).append(entity)
    everywhere = [i for i, entities in by_indicator.items() if len(entities) == n_entities]
    if everywhere:
        raise InputError(
            f"zero range in the fit window (scope per_entity): indicator(s) "
            f"{', '.join(map(repr, everywhere))} are constant in every entity, so they carry "
            f"no information; remove them from {where} or check the data"
        )
    constant = {(e, i) for e, i in pairs}
    without_index = sorted(
        f"{entity} ({name})"
        for entity in sorted({e for e, _ in pairs})
        for name, members in (subsystems or {}).items()
        if members and all((entity, i) in constant for i in members)
    )
    key = f"datasets.{dataset}.normalization.scope" if dataset else "normalization.scope"
    lost = (
        f" Every indicator of a subsystem is constant for {', '.join(without_index)}: no index, "
        "so no D, for these (left out of the measures and the forecasts)."
        if without_index
        else ""
    )
    return diagnostics.check(
        stage,
        "per_entity_constant_indicators",
        f"{len(pairs)} entity-indicator pair(s) are constant in the fit window under "
        f"per_entity bounds ({key}) (an absent category, e.g. a fuel an entity never "
        "uses): each is left out of that entity's subsystem index and the other "
        f"indicators' weights are rescaled, for the measures and every forecast fold.{lost}",
        entities=sorted({e for e, _ in pairs}),
        indicators=sorted(by_indicator),
        counts={i: len(entities) for i, entities in sorted(by_indicator.items())},
        entities_without_index=without_index,
        rule="constant (entity, indicator) left out of the entity's index; weights rescaled",
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
        "largely ranks entities by that entity's distance (often: by size). Remedy: "
        f"intensive indicators (ratio, share, log or growth: datasets.{dataset or '<name>'}."
        "derived) with pooled bounds; "
        f"scope: per_entity ({key}) normalizes each entity on its own range instead, which "
        "compares each entity only with itself (on trending data D then tracks time).",
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


#: Share of an indicator's variance that lies between entities (variance of the entity
#: means over the total variance) above which its pooled min-max position is mostly the
#: entity's size: within-entity change is then < ~22 % of the total standard deviation.
BETWEEN_SHARE_LIMIT: float = 0.95


def between_entity_share(fit_rows: pd.DataFrame) -> pd.Series:
    """Per indicator: ``1 - mean within-entity variance / total variance`` (ddof 0), the
    share of the variance that is between entity means; NaN for a constant indicator."""
    check_wide(fit_rows)
    entities = entity_labels(fit_rows)
    total = fit_rows.var(axis=0, ddof=0)
    within = (fit_rows - fit_rows.groupby(entities).transform("mean")).pow(2).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 1.0 - within / total.where(total > 0)
    return share.astype(float)


def size_dominated_levels_check(
    fit_rows: pd.DataFrame,
    *,
    dataset: str | None = None,
    derived: Sequence[str] = (),
    stage: str = "normalize",
) -> dict | None:
    """Data check when pooled min-max would rank entities rather than track them.

    Flags each indicator (not one of ``derived``, which are intensive by construction)
    whose :func:`between_entity_share` is at least :data:`BETWEEN_SHARE_LIMIT` in the fit
    rows, on at least 3 entities. The message gives the remedy as config lines: derived
    intensive indicators (``datasets.<name>.derived``) used in place of the levels.
    """
    check_wide(fit_rows)
    if entity_labels(fit_rows).nunique() < 3:
        return None
    share = between_entity_share(fit_rows)
    flagged = [
        str(i)
        for i, value in share.items()
        if str(i) not in set(derived) and np.isfinite(value) and value >= BETWEEN_SHARE_LIMIT
    ]
    if not flagged:
        return None
    name = dataset or "<name>"
    first = flagged[0]
    if len(flagged) > 1:
        ratio = f"{first}_per_{flagged[1]}: {{op: ratio, of: {first}, per: {flagged[1]}}}"
    else:
        ratio = f"{first}_per_capita: {{op: ratio, of: {first}, per: <population indicator>}}"
    lines = f"datasets.{name}.derived: {{{ratio}, {first}_growth: {{op: growth, of: {first}}}}}"
    return diagnostics.check(
        stage,
        "size_dominated_levels",
        f"{len(flagged)} indicator(s) vary far more between entities than within them "
        f"(between-entity share of variance >= {BETWEEN_SHARE_LIMIT:g}: "
        f"{', '.join(f'{i} {share[i]:.3f}' for i in flagged)}). With pooled bounds their "
        "normalized value is mostly the entity's size, so D ranks entities by size. Use "
        "intensive indicators instead, e.g. "
        f"`{lines}`, and name them in datasets.{name}.subsystems in place of the levels "
        '(README, "Adding a data set").',
        indicators=flagged,
        between_share={i: round(float(share[i]), 4) for i in flagged},
        limit=BETWEEN_SHARE_LIMIT,
    )
