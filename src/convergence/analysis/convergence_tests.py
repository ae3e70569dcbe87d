"""Beta, sigma and Phillips-Sul club convergence of one panel, as the pipeline reports them.

:func:`convergence_tests` takes one series (an entity x period matrix panel, or a long
Series indexed by (entity, period)) and keeps the block of complete, positive values that
every test then uses (all tests take logs or relative levels;
:func:`convergence.analysis.panel.balance_panel`). With the default rule
``entities_first`` a missing or non-positive value costs periods before it costs entities:
the block is the contiguous span of at least :func:`block_min_periods` periods (the more of
``min_period_share * T`` and the periods the log-t regression needs after trimming, 4 with
``r = 1/3``) in which the most entities have positive values in every period (ties: the
longer span, then the later one). What the block keeps and drops is
:attr:`ConvergenceTestResult.sample` and opens the verdict ("46 of 48 entities and 15 of 17
periods (2003-2017): ..."). It then runs

* :func:`convergence.analysis.beta.beta_convergence` -> ``beta.csv``, ``beta_points.csv``;
* :func:`convergence.analysis.sigma.sigma_table` and ``sigma_trend`` -> ``sigma.csv``,
  ``sigma_trend.csv``;
* :func:`convergence.analysis.phillips_sul.phillips_sul` -> ``log_t.csv``, ``clubs.csv``,
  ``transition.csv``.

Table columns (all rates per period):

``beta.csv``
    ``kind`` (absolute / conditional), ``series``, ``beta``, ``se`` (HC1 / clustered by
    entity), ``t``, ``p`` (two-sided, Student t), ``n`` (observations), ``n_entities``,
    ``r2`` (within R^2 for conditional), ``intercept`` (absolute only), ``speed``
    (``-ln(1 + beta T)/T``), ``half_life`` (``ln 2 / speed``), ``T`` (span or spell length
    in periods), ``note`` (why a value is NaN).
``beta_points.csv``
    ``entity``, ``initial`` (log level in the first period), ``growth`` (average log growth
    per period).
``sigma.csv``
    ``period``, ``measure`` (``std``, ``cv``, ``std_log``, ``gini``), ``value``, ``n``.
``sigma_trend.csv``
    ``measure`` (``std``, ``cv``, ``std_log``, ``ln_std_log``, ``gini``), ``slope`` (per
    period), ``intercept``, ``se`` (Newey-West, times ``sqrt(n / (n - 2))``), ``t``, ``df``
    (``n - 2``), ``p`` (two-sided, Student t with ``df``), ``n`` (periods), ``n_entities``,
    ``hac_lags``, ``converges`` (slope < 0 and p < alpha).
``log_t.csv``
    ``group`` (``all``, ``club 1``, ..., ``divergent``), ``n`` (entities), ``a``, ``b``,
    ``se``, ``t``, ``converges`` (t > critical_t), ``t0`` (first t of the regression),
    ``n_points``, ``hac_lags``.
``clubs.csv``
    ``entity``, ``club`` (1, 2, ... after merging; 0 = divergent; empty = not tested:
    dropped for non-positive values or by balancing), ``club_size``, ``final_rank``
    (clustering order, 1 = highest), ``initial_club`` (before merging).
``transition.csv``
    ``entity``, ``period``, ``h`` (relative transition of the filtered series), ``club``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import pandas as pd

from convergence.analysis.beta import BetaSettings, beta_convergence
from convergence.analysis.panel import (
    BALANCE_RULES,
    BalancedPanel,
    balance_panel,
    check_matrix,
    period_times,
    to_entity_period,
)
from convergence.analysis.phillips_sul import (
    CLUB_COLUMNS,
    PhillipsSulSettings,
    min_periods,
    phillips_sul,
)
from convergence.analysis.sigma import SigmaSettings, sigma_table, sigma_trend
from convergence.config import schema_default
from convergence.errors import ConfigError, InputError

__all__ = [
    "ConvergenceTestResult",
    "ConvergenceTestSettings",
    "block_min_periods",
    "convergence_tests",
]


@dataclass(frozen=True)
class ConvergenceTestSettings:
    """All conventions of :func:`convergence_tests`.

    Attributes
    ----------
    beta, sigma, phillips_sul
        :class:`BetaSettings`, :class:`SigmaSettings`, :class:`PhillipsSulSettings`
        (config sections ``beta``, ``sigma``, ``phillips_sul``).
    balance
        How a panel with gaps or non-positive values is made complete (config key
        ``balance``, default ``"entities_first"``: lose periods before entities; see
        :func:`convergence.analysis.panel.balance_panel`).
    min_period_share
        The block keeps at least this share of the panel's periods (config key
        ``min_period_share``, default 0.5), so that one entity with a bad value in mid-panel
        cannot cut the panel to a few periods: it is dropped instead
        (:func:`block_min_periods`).
    subsystems
        Also test each subsystem's composite index ``U_k`` of ``coupling.csv``, not only
        D (config key ``subsystems``, default true, from the schema). It decides which series the workflow tests, not how a series is tested,
        so :meth:`conventions` leaves it out (a series' ``config_sha256`` does not depend on
        it).
    """

    beta: BetaSettings = field(default_factory=BetaSettings)
    sigma: SigmaSettings = field(default_factory=SigmaSettings)
    phillips_sul: PhillipsSulSettings = field(default_factory=PhillipsSulSettings)
    balance: str = field(default_factory=lambda: schema_default("convergence_tests.balance"))
    min_period_share: float = field(
        default_factory=lambda: schema_default("convergence_tests.min_period_share")
    )
    subsystems: bool = field(default_factory=lambda: schema_default("convergence_tests.subsystems"))

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_RULES:
            raise InputError(f"balance: must be one of {BALANCE_RULES}, got {self.balance!r}")
        share = self.min_period_share
        if isinstance(share, bool) or not isinstance(share, Real) or not 0.0 <= share <= 1.0:
            raise InputError(f"min_period_share: must lie in [0, 1], got {share!r}")
        if not isinstance(self.subsystems, bool):
            raise InputError(f"subsystems: must be true or false, got {self.subsystems!r}")

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any] | None, *, key: str = "convergence_tests"
    ) -> ConvergenceTestSettings:
        """Build from a config mapping ``{balance, min_period_share, subsystems, beta: {...},
        sigma: {...}, phillips_sul: {...}}``.

        Missing keys take the dataclass defaults. Raises :class:`ConfigError` naming an
        unknown key or a bad value.
        """
        mapping = dict(mapping or {})
        sections = {
            "beta": BetaSettings,
            "sigma": SigmaSettings,
            "phillips_sul": PhillipsSulSettings,
        }
        top = ("balance", "min_period_share", "subsystems")
        unknown = sorted(set(mapping) - {*sections, *top})
        if unknown:
            raise ConfigError(
                f"{key}.{unknown[0]}", f"unknown key; known: {', '.join([*top, *sections])}"
            )
        built: dict[str, Any] = {}
        for name, kind in sections.items():
            section = mapping.get(name) or {}
            if not isinstance(section, Mapping):
                raise ConfigError(f"{key}.{name}", "must be a mapping")
            known = {item.name for item in dataclasses.fields(kind)}
            extra = sorted(set(section) - known)
            if extra:
                raise ConfigError(
                    f"{key}.{name}.{extra[0]}", f"unknown key; known: {sorted(known)}"
                )
            try:
                built[name] = kind(**section)
            except (InputError, TypeError) as error:
                raise ConfigError(f"{key}.{name}", str(error)) from error
        scalars = {name: mapping[name] for name in top if name in mapping}
        try:
            return cls(**scalars, **built)
        except InputError as error:
            raise ConfigError(f"{key}.{str(error).split(':')[0]}", str(error)) from error

    def conventions(self) -> dict[str, Any]:
        """Every setting as a flat ``{"section.field": value}`` dict (for provenance).

        Leaves out :attr:`subsystems`: it chooses the series, not the test, and adding it
        would change the ``config_sha256`` of every earlier D record.
        """
        flat: dict[str, Any] = {
            "balance": self.balance,
            "min_period_share": self.min_period_share,
        }
        for name in ("beta", "sigma", "phillips_sul"):
            for key, value in dataclasses.asdict(getattr(self, name)).items():
                flat[f"{name}.{key}"] = value
        return flat


@dataclass(frozen=True)
class ConvergenceTestResult:
    """Output of :func:`convergence_tests` (table columns: module doc).

    Attributes
    ----------
    series
        Name of the series tested.
    n_entities, n_periods
        Size of the balanced panel all tests used.
    sample
        The balancing: sizes before and after, the span, what was dropped and why.
    beta, beta_points, sigma, sigma_trend, log_t, clubs, transition
        The tables (``beta.csv`` ... ``transition.csv``).
    warnings
        Everything the tests dropped or skipped, with its reason (the balancing's own
        warnings are in ``sample.warnings``).
    conventions
        :meth:`ConvergenceTestSettings.conventions` of the settings used.
    verdict
        One sentence that opens with :meth:`BalancedPanel.basis`, e.g. ``"41 of 43
        entities and all 20 periods (1990-2009): no overall convergence (log-t b = -0.52,
        t = -12.3); 3 clubs of sizes 12, 20, 7 and 2 divergent"``.
    """

    series: str
    n_entities: int
    n_periods: int
    beta: pd.DataFrame
    beta_points: pd.DataFrame
    sigma: pd.DataFrame
    sigma_trend: pd.DataFrame
    log_t: pd.DataFrame
    clubs: pd.DataFrame
    transition: pd.DataFrame
    sample: BalancedPanel
    warnings: list[str]
    conventions: dict[str, Any]
    verdict: str

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables keyed by their file name (``beta.csv`` ...)."""
        return {
            "beta.csv": self.beta,
            "beta_points.csv": self.beta_points,
            "sigma.csv": self.sigma,
            "sigma_trend.csv": self.sigma_trend,
            "log_t.csv": self.log_t,
            "clubs.csv": self.clubs,
            "transition.csv": self.transition,
        }


def _number(value: float, digits: int = 3) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}g}"


def block_min_periods(n_periods_total: int, settings: ConvergenceTestSettings) -> int:
    """Fewest periods the balanced block may keep:
    ``max(min_periods(phillips_sul), ceil(min_period_share * n_periods_total))``, where
    :func:`convergence.analysis.phillips_sul.min_periods` is what the log-t regression needs
    after trimming (4 with ``r = 1/3``; the sigma trend needs 3)."""
    share = math.ceil(settings.min_period_share * n_periods_total - 1e-9)
    return max(min_periods(settings.phillips_sul), share)


def _verdict(sample: BalancedPanel, log_t: pd.DataFrame, clubs: pd.DataFrame) -> str:
    overall = log_t.iloc[0]
    head = f"{sample.basis()}: "
    stats = f"(log-t b = {_number(overall['b'])}, t = {_number(overall['t'])})"
    if overall["converges"]:
        return head + f"overall convergence {stats}"
    tested = clubs.dropna(subset=["club"])
    sizes = tested[tested["club"] > 0].groupby("club").size().sort_index().tolist()
    n_divergent = int((tested["club"] == 0).sum())
    if sizes:
        club_words = f"{len(sizes)} club{'s' if len(sizes) != 1 else ''} of size"
        club_words += f"{'s' if len(sizes) != 1 else ''} {', '.join(str(s) for s in sizes)}"
    else:
        club_words = "no club"
    return head + f"no overall convergence {stats}; {club_words} and {n_divergent} divergent"


def convergence_tests(
    panel: pd.DataFrame | pd.Series,
    settings: ConvergenceTestSettings | None = None,
    *,
    series: str = "value",
) -> ConvergenceTestResult:
    """Run beta, sigma and Phillips-Sul club convergence on one series.

    Parameters
    ----------
    panel
        Entity x period DataFrame (columns in time order, equally spaced), or a long
        Series indexed by (entity, period) (converted by
        :func:`convergence.analysis.panel.to_entity_period`).
    settings
        :class:`ConvergenceTestSettings`; default all defaults.
    series
        Name of the series, written into ``beta.csv``.

    Returns
    -------
    ConvergenceTestResult

    Raises
    ------
    InputError
        (a ``ValueError``) naming the problem: fewer than 2 entities, too few periods for
        the log-t regression (with ``r = 1/3`` at least 4 periods), or no block of 2 or more
        entities with positive values over :func:`block_min_periods` consecutive periods.
    """
    settings = settings or ConvergenceTestSettings()
    matrix = to_entity_period(panel) if isinstance(panel, pd.Series) else panel
    check_matrix(matrix)
    all_entities = list(matrix.index)
    if len(all_entities) < 2:
        raise InputError(
            f"convergence tests need at least 2 entities, got {len(all_entities)} ({all_entities})"
        )
    min_block = block_min_periods(matrix.shape[1], settings)
    needed = min_periods(settings.phillips_sul)
    if matrix.shape[1] < needed:
        raise InputError(
            f"too few periods: {matrix.shape[1]} periods; the log-t regression needs {needed} "
            f"(3 points after trimming; trim_fraction {settings.phillips_sul.trim_fraction:.3g})"
        )
    sample = balance_panel(matrix, settings.balance, min_periods=min_block, positive=True)
    balanced = sample.panel
    n_entities, n_periods = balanced.shape
    warnings: list[str] = []
    _, time_warnings = period_times(balanced.columns)
    warnings.extend(time_warnings)

    beta = beta_convergence(balanced, settings.beta, series=series)
    warnings.extend(beta.warnings)
    sigma, sigma_warnings = sigma_table(balanced)
    warnings.extend(sigma_warnings)
    trend = sigma_trend(sigma, settings.sigma)
    clubs = phillips_sul(balanced, settings.phillips_sul)
    warnings.extend(clubs.warnings)

    club_table = clubs.club_table.set_index("entity").reindex(
        list(clubs.club_table["entity"]) + [e for e in all_entities if e not in set(balanced.index)]
    )
    club_table = club_table.rename_axis("entity").reset_index()[list(CLUB_COLUMNS)]
    return ConvergenceTestResult(
        series=series,
        n_entities=n_entities,
        n_periods=n_periods,
        beta=beta.table,
        beta_points=beta.points,
        sigma=sigma,
        sigma_trend=trend,
        log_t=clubs.log_t,
        clubs=club_table,
        transition=clubs.transition,
        sample=sample,
        warnings=warnings,
        conventions=settings.conventions(),
        verdict=_verdict(sample, clubs.log_t, club_table),
    )
