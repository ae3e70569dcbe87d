"""The fitted measurement model: indicators -> subsystem indices -> coupling coordination.

Fitting learns min-max bounds and per-subsystem entropy weights from the fit rows only;
applying uses those fitted parameters on any rows. The same model therefore serves the
descriptive measurement (fit on everything) and each backtest fold (fit on the training
window), without information from outside the fit rows leaking into the parameters.

Pipeline for each row ``i``::

    x'_ij = min-max normalized indicator j                    (normalize.apply_minmax)
    U_si  = sum_{j in s} w_sj x'_ij                           (entropy weights w_sj)
    T_i   = sum_s a_s U_si                                    (equal a_s by default)
    C_i   = classical coupling degree of (U_si)_s
    C*_i  = adjusted coupling degree (Wang et al. 2021)
    D_i   = sqrt(C_i T_i),  D*_i = sqrt(C*_i T_i)

Under per-entity bounds an indicator constant in an entity's fit rows (an absent category)
is left out of that entity's ``U_si`` and the other weights are rescaled
(``normalize.uninformative_cells``, ``coupling.composite_index``); the measure stage and
every forecast fold go through :func:`fit_measurement` and :func:`apply_measurement`, so
they follow the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from convergence import diagnostics
from convergence.config import schema_default
from convergence.errors import InputError
from convergence.measures.coupling import (
    DEFAULT_GRADE_SCALE,
    adjusted_coupling_degree,
    composite_index,
    comprehensive_index,
    coordination_grade,
    coupling_coordination_degree,
    coupling_degree,
    validate_grade_scale,
)
from convergence.measures.entropy import entropy_weights
from convergence.measures.normalize import (
    DIRECTIONS,
    SCOPES,
    MinMaxBounds,
    apply_minmax,
    check_wide,
    fit_minmax,
    uninformative_cells,
)

__all__ = [
    "MeasurementModel",
    "MeasurementSpec",
    "apply_measurement",
    "fit_measurement",
    "measure_columns",
    "time_index_check",
]

#: Tolerance for subsystem weights summing to 1.
_WEIGHT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MeasurementSpec:
    """What to measure and how.

    Attributes
    ----------
    subsystems
        ``{subsystem: {indicator: "benefit" | "cost"}}``; at least two subsystems, each
        with at least one indicator, and no indicator in two subsystems.
    scope
        Min-max scope, ``"pooled"`` or ``"per_entity"`` (see ``fit_minmax``).
    headroom
        Fraction of the fitted range added on each side of the min-max bounds.
    clip
        Clip normalized indicators to [0, 1]. With ``clip=False`` rows outside the fit
        range may give negative subsystem indices, for which coupling is undefined.
    subsystem_weights
        ``{subsystem: a_s}`` for the comprehensive index ``T``, summing to 1; equal
        weights when None.
    grade_scale
        Grade scale for ``D`` (see ``coupling.validate_grade_scale``).
    entropy_eps
        Shift added before computing entropy weights (see ``entropy_weights``).

    Raises
    ------
    InputError
        On construction, when any field is invalid; the message names the
        ``measures.*`` key.
    """

    subsystems: dict[str, dict[str, str]]
    scope: str = field(default_factory=lambda: schema_default("measures.normalization.scope"))
    headroom: float = field(
        default_factory=lambda: schema_default("measures.normalization.headroom")
    )
    clip: bool = field(default_factory=lambda: schema_default("measures.normalization.clip"))
    subsystem_weights: dict[str, float] | None = field(
        default_factory=lambda: schema_default("measures.subsystem_weights")
    )
    grade_scale: Sequence[Mapping[str, Any]] = DEFAULT_GRADE_SCALE
    entropy_eps: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.subsystems, Mapping) or len(self.subsystems) < 2:
            raise InputError("measures.subsystems: need a mapping with at least 2 subsystems")
        owner: dict[str, str] = {}
        for name, indicators in self.subsystems.items():
            if not isinstance(indicators, Mapping) or len(indicators) == 0:
                raise InputError(
                    f"measures.subsystems.{name}: need a mapping of indicator -> direction"
                )
            for indicator, direction in indicators.items():
                if direction not in DIRECTIONS:
                    raise InputError(
                        f"measures.subsystems.{name}.{indicator}: direction must be one of "
                        f"{DIRECTIONS}, got {direction!r}"
                    )
                if indicator in owner:
                    raise InputError(
                        f"measures.subsystems: indicator {indicator!r} is in both "
                        f"{owner[indicator]!r} and {name!r}"
                    )
                owner[indicator] = name
        if self.scope not in SCOPES:
            raise InputError(
                f"measures.normalization.scope (or datasets.<name>.normalization.scope): must be one of {SCOPES}, got {self.scope!r}"
            )
        if not np.isfinite(self.headroom) or self.headroom < 0:
            raise InputError(
                f"measures.normalization.headroom (or datasets.<name>.normalization.headroom): must be >= 0, got {self.headroom!r}"
            )
        if not np.isfinite(self.entropy_eps) or self.entropy_eps < 0:
            raise InputError(f"measures.entropy_eps: must be >= 0, got {self.entropy_eps!r}")
        if self.subsystem_weights is not None:
            if set(self.subsystem_weights) != set(self.subsystems):
                raise InputError(
                    "measures.subsystem_weights: keys must be exactly the subsystems "
                    f"{sorted(self.subsystems)}, got {sorted(self.subsystem_weights)}"
                )
            weights = np.array([float(w) for w in self.subsystem_weights.values()])
            if np.any(~np.isfinite(weights)) or np.any(weights < 0):
                raise InputError("measures.subsystem_weights: weights must be >= 0")
            if abs(weights.sum() - 1.0) > _WEIGHT_TOLERANCE:
                raise InputError(
                    f"measures.subsystem_weights: weights must sum to 1, got {weights.sum()!r}"
                )
        validate_grade_scale(self.grade_scale)

    @property
    def subsystem_names(self) -> list[str]:
        """Subsystem names in spec order."""
        return list(self.subsystems)

    @property
    def indicators(self) -> list[str]:
        """All indicators, subsystem by subsystem, in spec order."""
        return [indicator for group in self.subsystems.values() for indicator in group]

    @property
    def directions(self) -> dict[str, str]:
        """``{indicator: direction}`` over all subsystems."""
        return {
            indicator: direction
            for group in self.subsystems.values()
            for indicator, direction in group.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy of the spec."""
        return {
            "subsystems": {name: dict(group) for name, group in self.subsystems.items()},
            "scope": self.scope,
            "headroom": float(self.headroom),
            "clip": bool(self.clip),
            "subsystem_weights": (
                None
                if self.subsystem_weights is None
                else {name: float(w) for name, w in self.subsystem_weights.items()}
            ),
            "grade_scale": [
                {"upper": float(entry["upper"]), "label": str(entry["label"])}
                for entry in self.grade_scale
            ],
            "entropy_eps": float(self.entropy_eps),
        }

    @classmethod
    def from_config(
        cls, dataset: Mapping[str, Any], measures: Mapping[str, Any]
    ) -> MeasurementSpec:
        """The spec of a data set from its config entry and the ``measures`` section (the
        data set's own ``normalization`` keys override the global ones)."""
        from convergence.measures.normalize import normalization_settings

        return cls.from_dict(
            {
                "subsystems": dataset["subsystems"],
                **normalization_settings(measures, dataset),
                "subsystem_weights": measures.get("subsystem_weights"),
                "grade_scale": measures.get("grades") or DEFAULT_GRADE_SCALE,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasurementSpec:
        """Rebuild a spec from :meth:`to_dict` output (or an equivalent config mapping)."""
        return cls(
            subsystems={name: dict(group) for name, group in data["subsystems"].items()},
            scope=data.get("scope", "pooled"),
            headroom=float(data.get("headroom", 0.0)),
            clip=bool(data.get("clip", True)),
            subsystem_weights=data.get("subsystem_weights"),
            grade_scale=data.get("grade_scale", DEFAULT_GRADE_SCALE),
            entropy_eps=float(data.get("entropy_eps", 0.0)),
        )


def _bounds_to_dict(bound: pd.DataFrame | pd.Series) -> dict[str, Any]:
    if isinstance(bound, pd.Series):
        return {str(indicator): float(value) for indicator, value in bound.items()}
    return {
        str(entity): {str(indicator): float(value) for indicator, value in row.items()}
        for entity, row in bound.iterrows()
    }


def _bounds_from_dict(data: Mapping[str, Any], scope: str) -> pd.DataFrame | pd.Series:
    if scope == "pooled":
        return pd.Series(data, dtype=float)
    return pd.DataFrame.from_dict(data, orient="index", dtype=float)


def subsystem_indicators(dataset: Mapping[str, Any]) -> list[str]:
    """Indicators of a data set's subsystems (its config entry), in config order."""
    return [ind for indicators in dataset["subsystems"].values() for ind in indicators]


@dataclass(frozen=True)
class MeasurementModel:
    """A measurement spec with its fitted parameters.

    Attributes
    ----------
    spec
        The :class:`MeasurementSpec` it was fitted for.
    bounds
        Min-max bounds fitted on the fit rows.
    indicator_weights
        ``{subsystem: entropy weights (Series indexed by indicator)}``, fitted on the
        normalized fit rows.
    """

    spec: MeasurementSpec
    bounds: MinMaxBounds
    indicator_weights: dict[str, pd.Series]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable record of the spec and fitted parameters (for provenance)."""
        return {
            "spec": self.spec.to_dict(),
            "bounds": {
                "scope": self.bounds.scope,
                "lower": _bounds_to_dict(self.bounds.lower),
                "upper": _bounds_to_dict(self.bounds.upper),
            },
            "indicator_weights": {
                name: {str(indicator): float(w) for indicator, w in weights.items()}
                for name, weights in self.indicator_weights.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasurementModel:
        """Rebuild a model from :meth:`to_dict` output."""
        scope = data["bounds"]["scope"]
        return cls(
            spec=MeasurementSpec.from_dict(data["spec"]),
            bounds=MinMaxBounds(
                lower=_bounds_from_dict(data["bounds"]["lower"], scope),
                upper=_bounds_from_dict(data["bounds"]["upper"], scope),
                scope=scope,
            ),
            indicator_weights={
                name: pd.Series(weights, dtype=float, name="weight")
                for name, weights in data["indicator_weights"].items()
            },
        )


def measure_columns(spec: MeasurementSpec) -> list[str]:
    """Column names of :func:`apply_measurement` output, in order."""
    return [
        *(f"U_{name}" for name in spec.subsystem_names),
        "T",
        "C",
        "C_adjusted",
        "D",
        "D_adjusted",
        "grade",
        "grade_adjusted",
    ]


def _require_indicators(wide: pd.DataFrame, spec: MeasurementSpec) -> None:
    for name, group in spec.subsystems.items():
        for indicator in group:
            if indicator not in wide.columns:
                raise InputError(
                    f"indicator {indicator!r} (subsystem {name!r}) is missing from the panel"
                )


def _fit_rows(wide: pd.DataFrame, fit_mask: pd.Series | None) -> pd.DataFrame:
    if fit_mask is None:
        return wide
    if not isinstance(fit_mask, pd.Series) or not pd.api.types.is_bool_dtype(fit_mask):
        raise InputError("fit_mask must be a boolean pandas Series aligned to the panel index")
    if not fit_mask.index.equals(wide.index):
        if not fit_mask.index.is_unique:
            raise InputError("fit_mask index must match the panel index")
        aligned = fit_mask.reindex(wide.index)
        if aligned.isna().any():
            raise InputError("fit_mask does not cover every row of the panel")
        fit_mask = aligned.astype(bool)
    return wide.loc[fit_mask.to_numpy()]


def _subsystem_weights(normalized: pd.DataFrame, excluded: pd.DataFrame, eps: float) -> pd.Series:
    """Entropy weights of one subsystem, on the fit rows without their excluded cells
    (:func:`~convergence.measures.normalize.uninformative_cells`). An indicator excluded in
    all but one row has nothing to weight by and gets weight 0."""
    mask = excluded.loc[:, list(normalized.columns)].to_numpy()
    if not mask.any():
        return entropy_weights(normalized, eps=eps)
    kept = normalized.mask(mask)
    usable = [c for c in kept.columns if kept[c].notna().sum() >= 2]
    if not usable:
        return pd.Series(1.0 / normalized.shape[1], index=normalized.columns.copy(), name="weight")
    weights = entropy_weights(kept.loc[:, usable], eps=eps)
    return weights.reindex(normalized.columns, fill_value=0.0).rename("weight")


def fit_measurement(
    wide: pd.DataFrame, spec: MeasurementSpec, fit_mask: pd.Series | None = None
) -> MeasurementModel:
    """Fit min-max bounds and entropy weights on the fit rows of a wide panel.

    Bounds come from :func:`~convergence.measures.normalize.fit_minmax` on the fit
    rows; the fit rows are then normalized with them, and each subsystem's indicator
    weights are :func:`~convergence.measures.entropy.entropy_weights` of its normalized
    columns. Rows outside ``fit_mask`` do not influence the result.

    Parameters
    ----------
    wide
        Wide panel, index (entity, period), holding at least the spec's indicators.
    spec
        What to measure.
    fit_mask
        Boolean Series aligned to ``wide.index`` selecting the fit rows; None = all rows.

    Returns
    -------
    MeasurementModel

    Raises
    ------
    InputError
        A spec indicator is missing from ``wide`` (named), a bad ``fit_mask``, no fit
        rows, or a fitting error (all-NaN indicator, too few rows for entropy weights).
    """
    check_wide(wide)
    _require_indicators(wide, spec)
    fit_rows = _fit_rows(wide, fit_mask).loc[:, spec.indicators]
    if fit_rows.empty:
        raise InputError("fit_mask selects no rows")
    bounds = fit_minmax(fit_rows, scope=spec.scope, headroom=spec.headroom)
    normalized = apply_minmax(fit_rows, bounds, spec.directions, clip=spec.clip)
    excluded = pd.DataFrame(
        uninformative_cells(bounds, fit_rows), index=fit_rows.index, columns=fit_rows.columns
    )
    indicator_weights = {
        name: _subsystem_weights(normalized.loc[:, list(group)], excluded, spec.entropy_eps)
        for name, group in spec.subsystems.items()
    }
    return MeasurementModel(spec=spec, bounds=bounds, indicator_weights=indicator_weights)


def apply_measurement(model: MeasurementModel, wide: pd.DataFrame) -> pd.DataFrame:
    """Compute subsystem indices and coupling coordination measures for every row.

    See the module docstring for the formulas. With ``spec.clip`` the subsystem indices
    and ``T`` are clipped to [0, 1]; they lie there mathematically, and the clip only
    removes floating-point overshoot (weights sum to 1 up to rounding).

    Parameters
    ----------
    model
        Output of :func:`fit_measurement`.
    wide
        Wide panel holding the spec's indicators (any rows).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``wide``, columns ``U_<subsystem>`` for each subsystem, ``T``,
        ``C``, ``C_adjusted``, ``D`` (= sqrt(C T)), ``D_adjusted`` (= sqrt(C_adjusted
        T)), ``grade`` (from ``D``), ``grade_adjusted`` (from ``D_adjusted``). A row
        missing an indicator gets NaN measures and None grades.

    Raises
    ------
    InputError
        A spec indicator is missing from ``wide``, an entity has no per-entity bounds,
        or (with ``clip=False``) a subsystem index is negative or ``D`` exceeds 1.
    """
    spec = model.spec
    check_wide(wide)
    _require_indicators(wide, spec)
    normalized = apply_minmax(
        wide.loc[:, spec.indicators], model.bounds, spec.directions, clip=spec.clip
    )
    names = spec.subsystem_names
    excluded = uninformative_cells(model.bounds, normalized)
    position = {indicator: k for k, indicator in enumerate(spec.indicators)}

    def index_of(name: str) -> np.ndarray:
        weights = model.indicator_weights[name]
        columns = [position[indicator] for indicator in weights.index]
        return composite_index(normalized, weights, excluded[:, columns]).to_numpy()

    levels = np.column_stack([index_of(name) for name in names])
    if spec.clip:
        levels = np.clip(levels, 0.0, 1.0)
    elif np.any(levels < 0):
        raise InputError(
            "a subsystem index is negative (values outside the fitted range with "
            "measures.normalization.clip = false); coupling is undefined — enable clip or add headroom"
        )
    subsystem_weights = (
        None if spec.subsystem_weights is None else [spec.subsystem_weights[name] for name in names]
    )
    development = comprehensive_index(levels, subsystem_weights)
    if spec.clip:
        development = np.clip(development, 0.0, 1.0)
    coupling = coupling_degree(levels)
    coupling_adjusted = adjusted_coupling_degree(levels)
    coordination = coupling_coordination_degree(coupling, development)
    coordination_adjusted = coupling_coordination_degree(coupling_adjusted, development)

    columns: dict[str, Any] = {f"U_{name}": levels[:, k] for k, name in enumerate(names)}
    columns.update(
        T=development,
        C=coupling,
        C_adjusted=coupling_adjusted,
        D=coordination,
        D_adjusted=coordination_adjusted,
        grade=coordination_grade(coordination, spec.grade_scale),
        grade_adjusted=coordination_grade(coordination_adjusted, spec.grade_scale),
    )
    return pd.DataFrame(columns, index=wide.index)


#: |Spearman correlation of D with time| at or above which one entity's D counts as
#: near-monotone, and the share of entities above which D is flagged as a time index.
TIME_INDEX_RHO: float = 0.9
TIME_INDEX_SHARE: float = 0.5
#: Fewest periods of D an entity needs to enter the time-index check.
TIME_INDEX_MIN_PERIODS: int = 5


def time_index_check(
    coupling: pd.DataFrame, *, scope: str, dataset: str | None = None, stage: str = "measure"
) -> dict[str, Any] | None:
    """Data check when a per-entity ``D`` mostly tracks time.

    Per-entity bounds put each entity's own minimum at 0 and maximum at 1; on trending data
    ``D`` then rises from ~0 to ~1 in every entity and measures the calendar, not how the
    entities compare. Flagged (``per_entity_d_tracks_time``) when, among entities with at
    least :data:`TIME_INDEX_MIN_PERIODS` periods of ``D``, more than
    :data:`TIME_INDEX_SHARE` have ``|Spearman(D, period)| >=`` :data:`TIME_INDEX_RHO`.
    ``coupling`` has columns ``entity``, ``period``, ``D``. Pooled scope: None.
    """
    if scope != "per_entity":
        return None
    rows = coupling.dropna(subset=["D"])
    rhos: dict[str, float] = {}
    for entity, group in rows.groupby("entity", sort=True):
        if len(group) < TIME_INDEX_MIN_PERIODS or group["D"].nunique() < 2:
            continue
        order = group.sort_values("period")
        ranks_d = order["D"].rank().to_numpy()
        ranks_t = np.arange(1, len(order) + 1, dtype=float)
        rhos[str(entity)] = float(np.corrcoef(ranks_d, ranks_t)[0, 1])
    if not rhos:
        return None
    monotone = sorted(e for e, rho in rhos.items() if abs(rho) >= TIME_INDEX_RHO)
    if len(monotone) <= TIME_INDEX_SHARE * len(rhos):
        return None
    name = dataset or "<name>"
    median = float(np.median(list(rhos.values())))
    return diagnostics.check(
        stage,
        "per_entity_d_tracks_time",
        f"under per_entity bounds D is near-monotone in time in {len(monotone)} of "
        f"{len(rhos)} entities (|Spearman(D, period)| >= {TIME_INDEX_RHO:g}; median "
        f"{median:.2f}): each entity's D runs from its own minimum to its own maximum, so it "
        "measures time rather than coordination that can be compared across entities. "
        f"Compare entities with pooled bounds (datasets.{name}.normalization.scope: pooled) "
        f"on intensive indicators (datasets.{name}.derived).",
        entities=monotone,
        n_entities=len(rhos),
        median_spearman=round(median, 4),
        limit=TIME_INDEX_RHO,
    )
