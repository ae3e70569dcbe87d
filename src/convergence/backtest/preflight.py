"""Checks that stop a run before any job starts: a data set too short for its backtest.

Snakemake calls :func:`check_backtest_spans` while it builds the DAG (``common.smk``), so
``snakemake -n`` already fails, naming ``datasets.<name>.forecast``, instead of the select
or baselines job failing after the measures ran. Reading a data set costs well under a
second on the default data (the readers are the ingest stage's own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from convergence.backtest.contract import covered_periods
from convergence.backtest.folds import periods_needed
from convergence.data.canonical import to_wide
from convergence.data.ingest import ingest_dataset
from convergence.errors import ConfigError, InputError
from convergence.measures.index import subsystem_indicators
from convergence.settings import TrainingSettings

__all__ = ["MANY_ENTITIES", "backtest_span_problem", "check_backtest_spans", "scale_note"]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the ingest stage's data-check warnings: the ingest job reports them."""
    logger = logging.getLogger("convergence")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def backtest_span_problem(n_periods: int, settings: TrainingSettings) -> str | None:
    """Why ``n_periods`` covered periods cannot hold the backtest, or None when they can.

    Two conditions: ``n_periods >= min_train + val_size + horizon + step * (n_origins - 1)``
    (:func:`~convergence.backtest.folds.periods_needed`), and ``min_train >= window +
    horizon`` so that the oldest fold has at least one training window.
    """
    needed = periods_needed(
        n_origins=settings.n_origins,
        horizon=settings.horizon,
        step=settings.step,
        val_size=settings.val_size,
        min_train=settings.min_train,
    )
    if n_periods < needed:
        spare = n_periods - settings.min_train - settings.val_size - settings.horizon
        fits = (
            f"n_origins: {spare // settings.step + 1} fits; "
            if spare >= 0
            else "even one origin does not fit: lower min_train, val_size or horizon; "
        )
        return (
            f"the data set has {n_periods} periods that most entities cover, but the backtest "
            f"needs {needed} = min_train ({settings.min_train}) + val_size "
            f"({settings.val_size}) + horizon ({settings.horizon}) + step ({settings.step}) "
            f"* (n_origins ({settings.n_origins}) - 1); {fits}or supply more periods"
        )
    if settings.min_train < settings.window + settings.horizon:
        return (
            f"min_train ({settings.min_train}) < window ({settings.window}) + horizon "
            f"({settings.horizon}): the oldest fold has no training window; raise min_train "
            "or lower window or horizon"
        )
    return None


def check_backtest_spans(
    datasets: Mapping[str, Mapping[str, Any]],
    settings_by_dataset: Mapping[str, TrainingSettings],
    *,
    root: Path,
) -> dict[str, tuple[int, int]]:
    """Raise :class:`ConfigError` (key ``datasets.<name>.forecast``) for the first data set
    whose covered periods cannot hold its backtest; return ``{name: (entities, periods)}``.

    A data set that cannot be read is skipped here (and left out of the result): its
    ingest job reports the file and line. ``settings_by_dataset`` holds the effective
    training settings (global ``training`` with the data set's ``forecast`` overrides).
    """
    sizes: dict[str, tuple[int, int]] = {}
    for name, spec in datasets.items():
        settings = settings_by_dataset[name]
        try:
            with _quiet():
                canonical, _ = ingest_dataset(name, spec, root=root)
        except InputError:
            continue
        wide = to_wide(canonical, indicators=subsystem_indicators(spec))
        periods = covered_periods(wide)
        problem = backtest_span_problem(len(periods), settings)
        if problem:
            raise ConfigError(f"datasets.{name}.forecast", problem)
        sizes[name] = (int(wide.index.get_level_values(0).nunique()), len(periods))
    return sizes


#: Entities above which a data set gets the scale note at DAG build.
MANY_ENTITIES = 300


def scale_note(name: str, n_entities: int, n_periods: int) -> str | None:
    """A line for the user when a data set has many entities: how each stage scales and
    where the measured costs are (``benchmarks/results/scale.md``). None below
    :data:`MANY_ENTITIES`."""
    if n_entities <= MANY_ENTITIES:
        return None
    return (
        f"data set {name}: {n_entities} entities x {n_periods} periods. Stages scale about "
        "linearly in entities x periods (ingest, normalize, measure, convergence tests, "
        "training windows, baselines, evaluation); structural similarity is summarised "
        "per period without the pair table (measures.structure_pairs makes it opt-in); "
        "selection chooses on a sample of selection.max_entities entities; figures show "
        "quantile bands and a few named entities. Measured time, memory and output per "
        "size: benchmarks/results/scale.md (README, 'Regional panels')."
    )
