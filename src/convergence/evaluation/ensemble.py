"""The seed ensemble of the reference model as a model of its own.

Two different numbers describe a multi-seed model, and the tables keep both:

* the model's own rows (``<model>``) are scored **per seed**; the seed summary then
  reports the mean (and std) over seeds of these per-seed scores;
* ``<reference>_ensemble`` is the **seed-averaged forecast** of the reference model: per
  forecast ``(fold, entity, origin, horizon)`` the mean of the seeds' predictions, scored
  like any other model (seed 0). Its MASE is not the mean of the per-seed MASEs (an
  average of forecasts usually errs less than the average forecast errs).

The Diebold-Mariano tests (:mod:`convergence.evaluation.comparisons`) compare seed-averaged
forecasts, so for the reference they test exactly the ``_ensemble`` forecast; the
``_ensemble`` model is left out of the tests for that reason.
"""

from __future__ import annotations

import pandas as pd

from convergence.errors import InputError

ENSEMBLE_SUFFIX = "_ensemble"
"""Suffix of the seed-ensemble model's name."""

_ENSEMBLE_KEYS: list[str] = ["dataset", "fold", "entity", "origin", "horizon", "period"]


def ensemble_name(model: str) -> str:
    """Name of the seed ensemble of ``model`` (``cnn_lstm`` -> ``cnn_lstm_ensemble``)."""
    return f"{model}{ENSEMBLE_SUFFIX}"


def _join_ids(values: pd.Series) -> str:
    ids = set()
    for joined in values.astype(str):
        ids.update(part for part in joined.split(";") if part)
    return ";".join(sorted(ids))


def seed_ensemble(predictions: pd.DataFrame, model: str) -> pd.DataFrame:
    """Prediction rows of the seed-averaged forecast of ``model``; empty below two seeds.

    Per data set and forecast (``fold, entity, origin, horizon, period``): ``predicted``
    is the mean over the model's seeds (NaN predictions are skipped, as in
    :func:`~convergence.evaluation.scores.seed_mean_forecasts`), ``actual`` and
    ``last_observed`` are the seeds' common values, ``run_id`` joins the seeds' run ids
    (``;``, sorted; empty if they have none), ``fallback`` is true if any seed fell back,
    ``model`` is :func:`ensemble_name` and ``seed`` 0. A data set where the model has fewer
    than two seeds contributes no rows. Columns and their order follow ``predictions``.
    """
    rows = predictions[predictions["model"] == model]
    frames = []
    for _, by_dataset in rows.groupby("dataset", sort=True):
        if by_dataset["seed"].nunique() < 2:
            continue
        grouped = by_dataset.groupby(_ENSEMBLE_KEYS, sort=True)
        frame = grouped.agg(
            actual=("actual", "first"),
            predicted=("predicted", "mean"),
            last_observed=("last_observed", "first"),
            run_id=("run_id", _join_ids),
        ).reset_index()
        if "fallback" in by_dataset.columns:
            frame["fallback"] = grouped["fallback"].any().to_numpy()
        frames.append(frame)
    if not frames:
        return predictions.iloc[0:0].copy()
    ensemble = pd.concat(frames, ignore_index=True)
    ensemble["model"] = ensemble_name(model)
    ensemble["seed"] = 0
    return ensemble.loc[:, list(predictions.columns)]


def add_seed_ensemble(predictions: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``predictions`` with the rows of :func:`seed_ensemble` of ``reference`` appended.

    Raises:
        InputError: the predictions already hold a model named like the ensemble.
    """
    name = ensemble_name(reference)
    if (predictions["model"] == name).any():
        raise InputError(
            f"a model is already named {name!r}; that name is reserved for the seed "
            f"ensemble of the reference model {reference!r}"
        )
    ensemble = seed_ensemble(predictions, reference)
    if ensemble.empty:
        return predictions
    return pd.concat([predictions, ensemble], ignore_index=True)
