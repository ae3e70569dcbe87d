"""Policy what-if scenarios and driver attribution for trained forecasters.

**What this measures.** Everything here is the *sensitivity of a fitted forecast model*:
how the network's forecast of the coupling coordination degree ``D`` moves when one of
its inputs is changed, and how much its error grows when a feature is scrambled. It is
**not a causal effect** of a policy on ``D``: the networks are trained on observational
panels, inputs are correlated, and nothing identifies how ``D`` would really respond to
an intervention. Read a scenario delta as "the model's forecast reacts like this", never
as "raising the indicator would raise ``D`` by this much".

Scenario (:func:`scenario_effect`). For the last backtest fold, every entity's test
window ends at the fold origin and has input periods ``origin-L+1 .. origin``. The
counterfactual raw panel multiplies ``indicator`` by ``1 + change`` over exactly those
periods (for every entity, other periods untouched). Features are recomputed with the
measurement model *fitted on the fold's training periods of the observed panel* (no
refit: bounds and entropy weights stay fixed, so the scenario cannot move the scale the
model was trained on). Both input sets go through each seed's checkpoint; predictions are
turned into ``D`` levels as the backtest does (a predicted change is added to the last
observed ``D`` of that input set, levels are clipped to [0, 1]).

Attribution (:func:`permutation_importance`). Per feature, the increase in MSE (on the
fold's validation and test windows, in the model's target units) when that feature is
permuted across windows, all time steps of a window together (Breiman 2001; Fisher,
Rudin & Dominici 2019). It too describes the model, not the economy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convergence.backtest.contract import backtest_folds
from convergence.backtest.folds import Fold
from convergence.backtest.windows import (
    TARGET_COLUMN,
    FoldWindows,
    build_fold_windows,
    entity_period_cube,
    features_with_model,
)
from convergence.errors import ConfigError, DataFileError, InputError
from convergence.measures.index import MeasurementModel, MeasurementSpec, subsystem_indicators
from convergence.settings import TrainingSettings
from convergence.training.module import ConvergenceForecaster

log = logging.getLogger(__name__)

SENSITIVITY_NOTE = "forecast-model sensitivity, not a causal effect"
DEFAULT_CHANGE = 0.10
EFFECT_COLUMNS: tuple[str, ...] = (
    "indicator",
    "change",
    "seed",
    "fold",
    "entity",
    "origin",
    "horizon",
    "period",
    "last_observed_baseline",
    "last_observed_scenario",
    "baseline",
    "scenario",
    "delta",
    "delta_output",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "indicator",
    "change",
    "horizon",
    "mean_delta",
    "std_delta",
    "n_seeds",
    "n_entities",
)
ATTRIBUTION_COLUMNS: tuple[str, ...] = (
    "feature",
    "importance_mean",
    "importance_std",
    "baseline_mse",
    "n_repeats",
    "n_seeds",
    "n_windows",
)


@dataclass
class CounterfactualInputs:
    """Test-window inputs of one fold under the observed and the counterfactual panel.

    Attributes:
        windows: the fold's windows built from the observed panel.
        x_baseline, x_scenario: inputs ``(n_test, window, n_features)`` (float32), both
            built with ``windows.measurement_model``.
        last_d_baseline, last_d_scenario: ``D`` at the origin per test window.
        input_periods: the periods whose ``indicator`` values were scaled.
        wide_scenario: the counterfactual raw panel.
        measurement_model: the model used for both input sets (the fold's, unchanged).
    """

    windows: FoldWindows
    x_baseline: np.ndarray
    x_scenario: np.ndarray
    last_d_baseline: np.ndarray
    last_d_scenario: np.ndarray
    input_periods: list[str]
    wide_scenario: pd.DataFrame
    measurement_model: MeasurementModel


def _test_inputs(
    features: pd.DataFrame, entities: Sequence[str], periods: Sequence[str]
) -> np.ndarray:
    """Inputs ``(entity, period, feature)`` of ``entities`` over ``periods`` (NaN where a
    row is missing), float32; one dense array for all entities, no per-entity lookup."""
    if not len(entities):
        return np.zeros((0, len(periods), features.shape[1]), dtype=np.float32)
    wanted = {str(period) for period in periods}
    in_periods = features.index.get_level_values("period").astype(str).isin(list(wanted))
    labels, cube = entity_period_cube(features[in_periods], list(periods))
    row_of = {str(label): i for i, label in enumerate(labels)}
    missing = [entity for entity in entities if str(entity) not in row_of]
    if missing:
        raise KeyError(missing[0])
    return cube[[row_of[str(entity)] for entity in entities]].astype(np.float32)


def counterfactual_inputs(
    *,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    fold: Fold,
    settings: TrainingSettings,
    indicator: str,
    change: float,
) -> CounterfactualInputs:
    """Rebuild the fold's test windows and their counterfactual (see the module doc)."""
    if indicator not in wide.columns or indicator not in mspec.indicators:
        raise InputError(
            f"indicator {indicator!r} is not one of the panel's indicators {mspec.indicators}"
        )
    window, horizon = settings.window, settings.horizon
    windows = build_fold_windows(
        wide, mspec, fold, window=window, horizon=horizon, target=settings.target
    )
    all_periods = sorted(set(wide.index.get_level_values("period").astype(str)))
    origin = all_periods.index(windows.test_origin)
    input_periods = all_periods[origin - window + 1 : origin + 1]

    wide_scenario = wide.copy()
    in_window = wide_scenario.index.get_level_values("period").astype(str).isin(input_periods)
    wide_scenario.loc[in_window, indicator] = wide_scenario.loc[in_window, indicator] * (
        1.0 + float(change)
    )

    model = windows.measurement_model
    base_features = features_with_model(wide, model)
    scenario_features = features_with_model(wide_scenario, model)
    if list(base_features.columns) != windows.feature_names:
        raise InputError(
            f"feature columns {list(base_features.columns)} differ from the fold's "
            f"{windows.feature_names}"
        )
    x_baseline = _test_inputs(base_features, windows.test_entities, input_periods)
    x_scenario = _test_inputs(scenario_features, windows.test_entities, input_periods)
    if not np.allclose(x_baseline, windows.x_test, atol=1e-6, equal_nan=True):
        raise InputError("rebuilt baseline test inputs differ from the fold's test windows")
    d_position = windows.feature_names.index(TARGET_COLUMN)
    return CounterfactualInputs(
        windows=windows,
        x_baseline=x_baseline,
        x_scenario=x_scenario,
        last_d_baseline=x_baseline[:, -1, d_position].astype(np.float64),
        last_d_scenario=x_scenario[:, -1, d_position].astype(np.float64),
        input_periods=list(input_periods),
        wide_scenario=wide_scenario,
        measurement_model=model,
    )


def load_forecaster(path: str | Path) -> ConvergenceForecaster:
    """Load a checkpoint on the CPU in evaluation mode."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(str(path), "checkpoint not found")
    module = ConvergenceForecaster.load_from_checkpoint(path, map_location="cpu")
    module.eval()
    return module


def _to_level(output: np.ndarray, last_d: np.ndarray, target: str) -> np.ndarray:
    levels = output.astype(np.float64)
    if target == "change":
        levels = last_d[:, None] + levels
    return np.clip(levels, 0.0, 1.0)


def scenario_effect(
    *,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    fold: Fold,
    settings: TrainingSettings,
    checkpoint_paths: Mapping[int, str | Path],
    indicator: str,
    change: float,
) -> pd.DataFrame:
    """Forecast of ``D`` with ``indicator`` scaled by ``1 + change`` at the origin window.

    Sensitivity of the forecast model, **not a causal effect** (see the module doc).
    ``fold`` should be the backtest's last fold, whose checkpoints are
    ``checkpoint_paths`` (seed -> ``.../fold<k>/best.ckpt``).

    Returns one row per seed, entity and horizon (:data:`EFFECT_COLUMNS`): ``baseline``
    and ``scenario`` are predicted ``D`` levels, ``delta = scenario - baseline``;
    ``delta_output`` is the change of the raw network output (the predicted ``D``
    change or level, before adding the last observed ``D`` and clipping).
    """
    inputs = counterfactual_inputs(
        wide=wide,
        mspec=mspec,
        fold=fold,
        settings=settings,
        indicator=indicator,
        change=change,
    )
    windows = inputs.windows
    n_test, horizon = inputs.x_baseline.shape[0], windows.horizon
    frames = []
    for seed, path in sorted(checkpoint_paths.items()):
        module = load_forecaster(path)
        out_base = module.predict_array(inputs.x_baseline).astype(np.float64)
        out_scen = module.predict_array(inputs.x_scenario).astype(np.float64)
        baseline = _to_level(out_base, inputs.last_d_baseline, windows.target)
        scenario = _to_level(out_scen, inputs.last_d_scenario, windows.target)
        frames.append(
            pd.DataFrame(
                {
                    "indicator": indicator,
                    "change": float(change),
                    "seed": int(seed),
                    "fold": fold.index,
                    "entity": np.repeat(windows.test_entities, horizon),
                    "origin": windows.test_origin,
                    "horizon": np.tile(np.arange(1, horizon + 1), n_test),
                    "period": np.tile(windows.test_periods, n_test),
                    "last_observed_baseline": np.repeat(inputs.last_d_baseline, horizon),
                    "last_observed_scenario": np.repeat(inputs.last_d_scenario, horizon),
                    "baseline": baseline.reshape(-1),
                    "scenario": scenario.reshape(-1),
                    "delta": (scenario - baseline).reshape(-1),
                    "delta_output": (out_scen - out_base).reshape(-1),
                },
                columns=list(EFFECT_COLUMNS),
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def summarise_scenario(effects: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and horizon: mean ``delta`` over entities per seed, then mean/std over seeds.

    ``std_delta`` is the sample standard deviation across seeds (NaN with one seed).
    """
    keys = [k for k in ("indicator", "change") if k in effects.columns]
    if effects.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    per_seed = (
        effects.groupby([*keys, "horizon", "seed"], sort=True)
        .agg(delta=("delta", "mean"), n_entities=("entity", "nunique"))
        .reset_index()
    )
    summary = (
        per_seed.groupby([*keys, "horizon"], sort=True)
        .agg(
            mean_delta=("delta", "mean"),
            std_delta=("delta", "std"),
            n_seeds=("seed", "nunique"),
            n_entities=("n_entities", "max"),
        )
        .reset_index()
    )
    return summary.reindex(columns=[*keys, *SUMMARY_COLUMNS[2:]])


def permutation_importance(
    *,
    model_checkpoints: Mapping[int, str | Path],
    windows: FoldWindows,
    n_repeats: int = 5,
    seed: int,
) -> pd.DataFrame:
    """Increase in MSE per feature when it is permuted across windows (model, not causal).

    Uses the fold's validation and test windows. For each repeat one permutation of the
    windows is drawn (``numpy.random.default_rng(seed)``) and applied to each feature in
    turn, all time steps together; the increase over the unpermuted MSE is averaged over
    repeats and checkpoints (``importance_std`` is the standard deviation over those
    ``n_repeats * n_seeds`` values). Columns: :data:`ATTRIBUTION_COLUMNS`.
    """
    if n_repeats < 1:
        raise InputError(f"n_repeats must be >= 1, got {n_repeats}")
    x = np.concatenate([windows.x_val, windows.x_test]).astype(np.float32)
    y = np.concatenate([windows.y_val, windows.y_test]).astype(np.float64)
    n_windows = x.shape[0]
    names = list(windows.feature_names)
    increases: dict[str, list[float]] = {name: [] for name in names}
    baselines: list[float] = []
    for model_seed, path in sorted(model_checkpoints.items()):
        module = load_forecaster(path)
        base_mse = float(np.mean((module.predict_array(x).astype(np.float64) - y) ** 2))
        baselines.append(base_mse)
        rng = np.random.default_rng([int(seed), int(model_seed)])
        for _ in range(n_repeats):
            order = rng.permutation(n_windows)
            for f, name in enumerate(names):
                permuted = x.copy()
                permuted[:, :, f] = x[order, :, f]
                mse = float(np.mean((module.predict_array(permuted).astype(np.float64) - y) ** 2))
                increases[name].append(mse - base_mse)
    rows = []
    for name in names:
        values = np.asarray(increases[name], dtype=float)
        rows.append(
            {
                "feature": name,
                "importance_mean": float(values.mean()) if values.size else float("nan"),
                "importance_std": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                "baseline_mse": float(np.mean(baselines)) if baselines else float("nan"),
                "n_repeats": int(n_repeats),
                "n_seeds": len(baselines),
                "n_windows": int(n_windows),
            }
        )
    return pd.DataFrame(rows, columns=list(ATTRIBUTION_COLUMNS))


def resolve_scenarios(
    dataset: str, spec: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Validated ``[{"indicator", "change"}]``; empty means +10% on the second subsystem's
    first indicator (the "information"-like industry; the first subsystem's if only one).

    Raises:
        ConfigError: key ``scenarios.<dataset>.indicator`` for an unknown indicator (the
            message lists the valid ones), ``scenarios.<dataset>.change`` for a change
            that is not a number > -1.
    """
    valid = subsystem_indicators(spec)
    if not scenarios:
        subsystems = list(spec["subsystems"].values())
        chosen = subsystems[1] if len(subsystems) > 1 else subsystems[0]
        return [{"indicator": next(iter(chosen)), "change": DEFAULT_CHANGE}]
    resolved = []
    for item in scenarios:
        indicator = item.get("indicator") if isinstance(item, Mapping) else None
        if indicator not in valid:
            raise ConfigError(
                f"scenarios.{dataset}.indicator",
                f"unknown indicator {indicator!r}; valid indicators: {valid}",
            )
        change = item.get("change", DEFAULT_CHANGE)
        if (
            isinstance(change, bool)
            or not isinstance(change, int | float)
            or not np.isfinite(change)
            or change <= -1.0
        ):
            raise ConfigError(
                f"scenarios.{dataset}.change", f"must be a number > -1, got {change!r}"
            )
        resolved.append({"indicator": str(indicator), "change": float(change)})
    return resolved


def last_fold(wide: pd.DataFrame, settings: TrainingSettings) -> Fold:
    """The backtest's last fold, built exactly as :func:`train_and_backtest` builds folds."""
    return backtest_folds(wide, settings)[-1]
