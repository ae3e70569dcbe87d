"""Forecasting baselines on exactly the neural backtest's target, folds and test windows.

For every fold of the neural backtest (same :func:`covered_periods`, same
:func:`rolling_origin_folds` settings) the convergence index ``D`` is computed with the
measurement model fitted on that fold's training periods
(:func:`~convergence.backtest.windows.build_fold_windows`, which calls
:func:`~convergence.backtest.windows.fold_feature_frame`), and every baseline forecasts
``D`` at the fold's test periods for horizons ``1..H``. The entities scored are the
fold's test windows of ``build_fold_windows`` with the training ``window`` and
``horizon``, so the (fold, entity, origin, horizon, period, actual) rows are identical to
the networks' predictions. Predictions are clipped to [0, 1].

Baselines:

* ``naive``: the last observed ``D`` for every horizon.
* ``drift``: random walk with drift, ``y_T + h * (y_T - y_1) / (T - 1)`` on the history.
* ``ets``, ``arima``, ``theta``: statsforecast ``AutoETS``, ``AutoARIMA``, ``AutoTheta``
  with the data set's season length.
* ``ridge``: pooled linear autoregression on the networks' flattened input windows
  (same targets, change or level), ``alpha`` chosen on the validation windows from
  :data:`RIDGE_ALPHAS` (1e-6 .. 1e3, one per decade); how often the choice sits at an
  edge of that grid is logged (warning) and returned (:func:`ridge_alpha_report`).
* ``nhits``: one global neuralforecast ``NHITS`` per fold over the entities' histories
  (:mod:`convergence.models.nhits`; optional, not in the default config's list).

The per-series history of an entity is the trailing run of periods with finite ``D``
that ends at the fold origin (the last validation period); statsforecast needs a
regular series, so an earlier gap cuts it. A per-series model that fails (for example
on too short a history) or returns non-finite values is replaced by ``naive`` for that
series; such rows have ``fallback = True`` (NHITS: histories shorter than one full
window of ``window + horizon`` periods, or a failed fit).

MASE scales: per (fold, entity) the in-sample mean absolute seasonal-naive error
``mean |D_t - D_{t-m}|`` over all pairs of periods ``t - m, t <= origin`` in which the
entity's ``D`` is finite (``m`` = season length), ``NaN`` when there is no such pair.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from convergence.backtest.contract import (
    BASELINE_COLUMNS,
    SCALE_COLUMNS,
    backtest_folds,
    forecast_frame,
)
from convergence.backtest.windows import (
    TARGET_COLUMN,
    FoldWindows,
    build_fold_windows,
    entity_period_cube,
    fold_feature_frame,
)
from convergence.errors import ConfigError
from convergence.measures.index import MeasurementSpec
from convergence.models.nhits import NHITSSettings, nhits_forecasts
from convergence.settings import TrainingSettings

log = logging.getLogger(__name__)

BASELINES: tuple[str, ...] = ("naive", "drift", "ets", "arima", "theta", "ridge", "nhits")
#: ``seed`` column of every baseline prediction: the baselines draw no random numbers
#: (NHITS has its own fixed ``NHITSSettings.random_seed``).
BASELINE_SEED = 0
#: baselines fitted per series with statsforecast.
STATSFORECAST_BASELINES: tuple[str, ...] = ("ets", "arima", "theta")
#: ridge penalties tried on the validation windows (one per decade; issue 10: with the
#: old grid 1e-3..10 the choice sat at 1e-3 in every US fold).
RIDGE_ALPHAS: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: ridge penalty when a fold has no validation windows.
DEFAULT_RIDGE_ALPHA = 1.0
#: shortest history a statsforecast model is tried on; shorter ones fall back to naive.
MIN_STATSFORECAST_HISTORY = 4
SEASON_LENGTHS: dict[str, int] = {"annual": 1, "quarterly": 4, "monthly": 12}


def season_length_for(frequency: str) -> int:
    """Season length of a data set frequency (``annual`` 1, ``quarterly`` 4, ``monthly`` 12)."""
    key = str(frequency).lower()
    if key not in SEASON_LENGTHS:
        raise ConfigError("datasets.<name>.frequency", f"unknown frequency {frequency!r}")
    return SEASON_LENGTHS[key]


def check_baselines(baselines: Sequence[str]) -> list[str]:
    names = [str(b) for b in baselines]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise ConfigError("baselines", f"unknown baseline {unknown[0]!r}; known: {BASELINES}")
    if not names:
        raise ConfigError("baselines", "no baselines given")
    return names


# --------------------------------------------------------------------------- histories


def d_grid(features: pd.DataFrame, periods: Sequence[str]) -> dict[str, np.ndarray]:
    """``D`` per entity on the position grid of ``periods`` (NaN where missing)."""
    entities, cube = entity_period_cube(features[[TARGET_COLUMN]], periods)
    return {str(entity): cube[i, :, 0] for i, entity in enumerate(entities)}


def trailing_history(series: np.ndarray, origin: int) -> np.ndarray:
    """The run of finite values that ends at position ``origin`` (empty if it is NaN)."""
    upto = series[: origin + 1]
    finite = np.isfinite(upto)
    if not finite[-1]:
        return upto[:0]
    missing = np.flatnonzero(~finite)
    start = int(missing[-1]) + 1 if missing.size else 0
    return upto[start:]


def naive_scale(series: np.ndarray, origin: int, season_length: int) -> float:
    """Mean ``|y_t - y_{t-m}|`` over finite pairs with ``t <= origin``; NaN if none."""
    upto = series[: origin + 1]
    if upto.shape[0] <= season_length:
        return float("nan")
    diffs = upto[season_length:] - upto[:-season_length]
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(np.abs(diffs))) if diffs.size else float("nan")


# ------------------------------------------------------------------ per-series forecasts


def naive_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Last value repeated ``horizon`` times."""
    return np.full(horizon, float(history[-1]))


def drift_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Random walk with drift; needs at least two values."""
    if history.shape[0] < 2:
        raise ValueError("drift needs at least two observations")
    slope = (history[-1] - history[0]) / (history.shape[0] - 1)
    return history[-1] + slope * np.arange(1, horizon + 1)


def _statsforecast_model(name: str, season_length: int) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    if name == "ets":
        return AutoETS(season_length=season_length, alias=name)
    if name == "arima":
        return AutoARIMA(season_length=season_length, alias=name)
    if name == "theta":
        return AutoTheta(season_length=season_length, alias=name)
    raise ConfigError("baselines", f"{name!r} is not a statsforecast baseline")


def _run_statsforecast(
    name: str,
    histories: Mapping[str, np.ndarray],
    horizon: int,
    season_length: int,
    n_jobs: int = 1,
) -> dict[str, np.ndarray]:
    """Forecasts of one statsforecast model for every series; raises if any series fails.

    ``n_jobs`` processes fit the series (each series alone, so the forecasts do not
    depend on it)."""
    from statsforecast import StatsForecast

    frame = pd.DataFrame(
        {
            "unique_id": np.concatenate([[e] * len(h) for e, h in histories.items()]),
            "ds": np.concatenate([np.arange(len(h)) for h in histories.values()]),
            "y": np.concatenate(list(histories.values())),
        }
    )
    model = StatsForecast(
        models=[_statsforecast_model(name, season_length)], freq=1, n_jobs=int(n_jobs)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.forecast(df=frame, h=horizon)
    out = out.reset_index() if "unique_id" not in out.columns else out
    values = out[name].to_numpy(dtype=float)
    steps = out["ds"].to_numpy()
    result: dict[str, np.ndarray] = {}
    for entity, rows in out.groupby("unique_id", sort=False).indices.items():
        result[str(entity)] = values[rows[np.argsort(steps[rows], kind="stable")]]
    return result


def statsforecast_forecasts(
    name: str,
    histories: Mapping[str, np.ndarray],
    horizon: int,
    season_length: int,
    n_jobs: int = 1,
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Forecasts of ``name`` per entity and the entities that fell back to naive.

    All series long enough go through one ``StatsForecast`` call; if that raises (one bad
    series fails the whole call) every series is retried alone. Series shorter than
    :data:`MIN_STATSFORECAST_HISTORY`, failing series and non-finite forecasts get the
    naive forecast.
    """
    eligible = {e: h for e, h in histories.items() if h.shape[0] >= MIN_STATSFORECAST_HISTORY}
    forecasts: dict[str, np.ndarray] = {}
    if eligible:
        try:
            forecasts = _run_statsforecast(name, eligible, horizon, season_length, n_jobs)
        except Exception as error:  # statsforecast raises assorted errors on short series
            log.info("%s failed on the pooled call (%s); fitting series one by one", name, error)
            for entity, history in eligible.items():
                try:
                    forecasts.update(
                        _run_statsforecast(name, {entity: history}, horizon, season_length)
                    )
                except Exception as series_error:
                    log.debug("%s failed on %s: %s", name, entity, series_error)
    result: dict[str, np.ndarray] = {}
    fallback: set[str] = set()
    for entity, history in histories.items():
        values = forecasts.get(entity)
        if values is None or values.shape != (horizon,) or not np.all(np.isfinite(values)):
            result[entity] = naive_forecast(history, horizon)
            fallback.add(entity)
        else:
            result[entity] = values
    return result, fallback


def per_series_forecasts(
    name: str,
    histories: Mapping[str, np.ndarray],
    horizon: int,
    season_length: int,
    n_jobs: int = 1,
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Level forecasts of a per-series baseline for each entity, and the fallback entities.

    ``n_jobs``: processes for the statsforecast baselines (``training.threads``)."""
    if name == "naive":
        return {e: naive_forecast(h, horizon) for e, h in histories.items()}, set()
    if name == "drift":
        result: dict[str, np.ndarray] = {}
        fallback: set[str] = set()
        for entity, history in histories.items():
            if history.shape[0] >= 2:
                result[entity] = drift_forecast(history, horizon)
            else:
                result[entity] = naive_forecast(history, horizon)
                fallback.add(entity)
        return result, fallback
    return statsforecast_forecasts(name, histories, horizon, season_length, n_jobs)


# ------------------------------------------------------------------------------- ridge


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def ridge_forecast(windows: FoldWindows) -> tuple[np.ndarray, float]:
    """Pooled ridge autoregression; returns predictions in the windows' target convention.

    ``alpha`` minimises validation MSE when trained on the training windows; the model is
    then refitted on training + validation windows and applied to the test windows.
    """
    x_train, y_train = _flat(windows.x_train), windows.y_train.astype(np.float64)
    x_val, y_val = _flat(windows.x_val), windows.y_val.astype(np.float64)
    alpha = DEFAULT_RIDGE_ALPHA
    if x_val.shape[0]:
        errors = []
        for candidate in RIDGE_ALPHAS:
            fitted = Ridge(alpha=candidate).fit(x_train, y_train)
            errors.append(float(np.mean((fitted.predict(x_val) - y_val) ** 2)))
        alpha = RIDGE_ALPHAS[int(np.argmin(errors))]
    else:
        log.warning("no validation windows: ridge uses alpha=%g", alpha)
    model = Ridge(alpha=alpha).fit(
        np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    )
    if windows.x_test.shape[0] == 0:
        return np.zeros((0, windows.horizon or windows.y_train.shape[1])), alpha
    return model.predict(_flat(windows.x_test)).reshape(windows.x_test.shape[0], -1), alpha


def ridge_alpha_report(chosen: Sequence[float]) -> dict[str, Any]:
    """How the validation choice of ridge's ``alpha`` fell on :data:`RIDGE_ALPHAS`.

    ``chosen`` holds the alpha of each fold in fold order. Returns ``grid``, ``chosen``,
    ``n_folds`` and ``n_at_lower_edge`` / ``n_at_upper_edge``: folds whose alpha is the
    smallest / largest of the grid, where the grid may cut off a better value.
    """
    values = [float(a) for a in chosen]
    return {
        "grid": list(RIDGE_ALPHAS),
        "chosen": values,
        "n_folds": len(values),
        "n_at_lower_edge": sum(a == RIDGE_ALPHAS[0] for a in values),
        "n_at_upper_edge": sum(a == RIDGE_ALPHAS[-1] for a in values),
    }


# ---------------------------------------------------------------------------- backtest


def _fold_frame(
    windows: FoldWindows,
    predicted: np.ndarray,
    *,
    level: bool,
    fallback: np.ndarray,
    dataset: str,
    name: str,
    fold: int,
) -> pd.DataFrame:
    """Prediction rows of one baseline in one fold (levels or target convention)."""
    source = replace(windows, target="level") if level else windows
    frame = forecast_frame(
        source,
        predicted,
        dataset=dataset,
        model_name=name,
        seed=BASELINE_SEED,
        fold=fold,
        run_id="",
    )
    frame["fallback"] = np.repeat(fallback, windows.test_actual.shape[1])
    return frame


def baseline_backtest(
    *,
    dataset: str,
    wide: pd.DataFrame,
    mspec: MeasurementSpec,
    settings: TrainingSettings,
    baselines: Sequence[str],
    season_length: int = 1,
    nhits_settings: NHITSSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest the baselines over the neural backtest's folds.

    ``nhits_settings`` overrides NHITS's fixed hyperparameters (tests use a few steps).

    Returns:
        ``(predictions, scales)``: predictions with :data:`PREDICTION_COLUMNS` (``model``
        is the baseline name, ``seed`` 0, ``run_id`` empty) plus a boolean ``fallback``
        column; scales with columns ``fold, entity, origin, scale`` (in-sample mean
        absolute seasonal-naive error of ``D`` up to the origin, for MASE). When ridge ran,
        ``predictions.attrs["ridge_alpha"]`` holds :func:`ridge_alpha_report` of its
        per-fold choices.
    """
    names = check_baselines(baselines)
    if int(season_length) < 1:
        raise ConfigError("season_length", f"must be >= 1, got {season_length}")
    window, horizon = settings.window, settings.horizon
    folds = backtest_folds(wide, settings)
    all_periods = sorted(set(wide.index.get_level_values("period").astype(str)))
    position_of = {p: i for i, p in enumerate(all_periods)}
    frames: list[pd.DataFrame] = []
    scale_rows: list[dict[str, Any]] = []
    ridge_alphas: list[float] = []
    for fold in folds:
        started = time.perf_counter()
        windows = build_fold_windows(
            wide, mspec, fold, window=window, horizon=horizon, target=settings.target
        )
        # Same fit as inside build_fold_windows (deterministic): D of every row.
        features, _ = fold_feature_frame(wide, mspec, fold.train_periods)
        grids = d_grid(features, all_periods)
        origin = position_of[windows.test_origin]
        histories = {e: trailing_history(grids[e], origin) for e in windows.test_entities}
        for entity in windows.test_entities:
            scale_rows.append(
                {
                    "fold": fold.index,
                    "entity": entity,
                    "origin": windows.test_origin,
                    "scale": naive_scale(grids[entity], origin, int(season_length)),
                }
            )
        summary = []
        for name in names:
            if windows.x_test.shape[0] == 0:
                continue
            if name == "ridge":
                predicted, alpha = ridge_forecast(windows)
                ridge_alphas.append(alpha)
                fallback = np.zeros(len(windows.test_entities), dtype=bool)
                frame = _fold_frame(
                    windows,
                    predicted,
                    level=False,
                    fallback=fallback,
                    dataset=dataset,
                    name=name,
                    fold=fold.index,
                )
                summary.append(f"ridge alpha={alpha:g}")
            else:
                if name == "nhits":
                    nhits_started = time.perf_counter()
                    forecasts, fell_back = nhits_forecasts(
                        histories, horizon, input_size=window, settings=nhits_settings
                    )
                    summary.append(f"nhits {time.perf_counter() - nhits_started:.1f}s")
                else:
                    forecasts, fell_back = per_series_forecasts(
                        name, histories, horizon, int(season_length), n_jobs=settings.threads
                    )
                predicted = np.stack([forecasts[e] for e in windows.test_entities])
                fallback = np.array([e in fell_back for e in windows.test_entities])
                frame = _fold_frame(
                    windows,
                    predicted,
                    level=True,
                    fallback=fallback,
                    dataset=dataset,
                    name=name,
                    fold=fold.index,
                )
                if fell_back:
                    log.warning(
                        "fold %d: %s fell back to naive for %d of %d series",
                        fold.index,
                        name,
                        len(fell_back),
                        len(histories),
                    )
            mae = float((frame["predicted"] - frame["actual"]).abs().mean())
            summary.append(f"{name} MAE {mae:.4g}")
            frames.append(frame)
        log.info(
            "%s baselines fold %d/%d (origin %s): %d test entities (%d skipped), %s [%.1fs]",
            dataset,
            fold.index + 1,
            len(folds),
            windows.test_origin,
            len(windows.test_entities),
            windows.n_test_skipped,
            "; ".join(summary),
            time.perf_counter() - started,
        )
    predictions = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(BASELINE_COLUMNS))
    )
    predictions["fallback"] = predictions["fallback"].astype(bool)
    scales = pd.DataFrame(scale_rows, columns=list(SCALE_COLUMNS))
    predictions = predictions[list(BASELINE_COLUMNS)]
    if ridge_alphas:
        report = ridge_alpha_report(ridge_alphas)
        predictions.attrs["ridge_alpha"] = report
        at_edge = report["n_at_lower_edge"] + report["n_at_upper_edge"]
        if at_edge:
            log.warning(
                "%s: ridge alpha chosen at the edge of its grid (%g..%g) in %d of %d folds "
                "(%d at the lower, %d at the upper edge)",
                dataset,
                RIDGE_ALPHAS[0],
                RIDGE_ALPHAS[-1],
                at_edge,
                report["n_folds"],
                report["n_at_lower_edge"],
                report["n_at_upper_edge"],
            )
    return predictions, scales
