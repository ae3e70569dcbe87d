"""Diebold-Mariano comparisons of the reference model against every other model.

Per horizon, the reference model against every other model. Multi-seed models are first
averaged over seeds per forecast (the seed-ensemble forecast,
:func:`~convergence.evaluation.scores.seed_mean_forecasts`), so the tests compare
seed-averaged forecasts, while the model rows of the seed summary are means of per-seed
scores. The reference's own seed ensemble (``<reference>_ensemble``,
:mod:`convergence.evaluation.ensemble`) is that same averaged forecast and is not tested. Forecasts are aligned on
``(fold, entity, origin, horizon)``, ordered by entity then origin, and tested with
:func:`~convergence.evaluation.diebold_mariano.diebold_mariano` (HLN correction, ``h`` =
horizon). ``errors_a`` is the reference, so a positive statistic and
``mean_loss_diff > 0`` mean the other model is more accurate. Holm-Bonferroni runs over
all *testable* comparisons of one data set: a comparison below the effective-sample rule
of :func:`~convergence.evaluation.forecast_checks.dm_testable` (at least
:data:`~convergence.evaluation.forecast_checks.MIN_DM_FORECASTS` aligned loss
differentials and :data:`~convergence.evaluation.forecast_checks.MIN_DM_ORIGINS` distinct
origins) keeps its raw p-value but gets no Holm p-value (NaN), ``testable`` False and the
verdict ``"neither"``: it is not counted as a test made, and it never decides anything.
"""

from __future__ import annotations

import math

import pandas as pd

from convergence.errors import InputError
from convergence.evaluation.diebold_mariano import diebold_mariano, holm_bonferroni
from convergence.evaluation.ensemble import ensemble_name
from convergence.evaluation.forecast_checks import dm_testable
from convergence.evaluation.scores import FORECAST_KEY, seed_mean_forecasts

DM_COLUMNS: tuple[str, ...] = (
    "dataset",
    "horizon",
    "reference",
    "model",
    "statistic",
    "p_value",
    "p_holm",
    "n",
    "n_origins",
    "testable",
    "mean_loss_diff",
    "better",
)
"""Columns of :func:`dm_tests`."""

SIGNIFICANCE = 0.05
"""Family-wise level of the DM tests after Holm-Bonferroni."""


def dm_tests(
    predictions: pd.DataFrame,
    *,
    reference: str,
    horizon_col: str = "horizon",
    loss: str = "squared",
) -> pd.DataFrame:
    """Diebold-Mariano tests of the reference model against every other model, per horizon.

    See the module docstring for seed averaging, alignment and sign. ``better`` is
    ``"reference"`` when the Holm-adjusted p-value is below 5 % and the reference has the
    smaller mean loss, ``"model"`` when the other model has, else ``"neither"`` (always for
    a comparison that is not ``testable``). ``n_origins`` counts the distinct forecast
    origins among the ``n`` aligned forecasts.

    Raises:
        InputError: the reference model has no predictions in a data set.
    """
    frame = (
        predictions.rename(columns={horizon_col: "horizon"})
        if horizon_col != "horizon"
        else predictions
    )
    averaged = seed_mean_forecasts(frame)
    averaged["error"] = averaged["actual"] - averaged["predicted"]
    results = []
    for dataset, by_dataset in averaged.groupby("dataset", sort=True):
        # The reference's seed ensemble is the averaged reference forecast itself.
        models = sorted(set(by_dataset["model"]) - {reference, ensemble_name(reference)})
        if reference not in set(by_dataset["model"]):
            raise InputError(
                f"data set {dataset!r}: reference model {reference!r} has no predictions; "
                f"models present: {sorted(set(by_dataset['model']))}"
            )
        rows = []
        for horizon, by_horizon in by_dataset.groupby("horizon", sort=True):
            ref = by_horizon[by_horizon["model"] == reference]
            for model in models:
                other = by_horizon[by_horizon["model"] == model]
                aligned = ref.merge(other, on=FORECAST_KEY, suffixes=("_ref", "_model")).dropna(
                    subset=["error_ref", "error_model"]
                )
                aligned = aligned.sort_values(["entity", "origin", "fold"], kind="stable")
                result = diebold_mariano(
                    aligned["error_ref"].to_numpy(),
                    aligned["error_model"].to_numpy(),
                    horizon=int(horizon),
                    loss=loss,  # type: ignore[arg-type]
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "horizon": int(horizon),
                        "reference": reference,
                        "model": model,
                        "statistic": result.statistic,
                        "p_value": result.p_value,
                        "n": result.n,
                        "n_origins": int(aligned["origin"].nunique()),
                        "mean_loss_diff": result.mean_loss_diff,
                    }
                )
        table = pd.DataFrame(
            rows, columns=[c for c in DM_COLUMNS if c not in ("p_holm", "testable", "better")]
        )
        table["testable"] = [
            dm_testable(n, o) for n, o in zip(table["n"], table["n_origins"], strict=True)
        ]
        tested = table["p_value"].where(table["testable"]).to_numpy(dtype=float)
        table["p_holm"] = holm_bonferroni(tested) if rows else []
        table["better"] = [
            _verdict(p, diff)
            for p, diff in zip(table["p_holm"], table["mean_loss_diff"], strict=True)
        ]
        results.append(table.loc[:, list(DM_COLUMNS)])
    if not results:
        return pd.DataFrame(columns=list(DM_COLUMNS))
    return pd.concat(results, ignore_index=True)


def _verdict(p_holm: float, mean_loss_diff: float) -> str:
    if not (isinstance(p_holm, float | int) and math.isfinite(p_holm)) or p_holm >= SIGNIFICANCE:
        return "neither"
    return "model" if mean_loss_diff > 0 else "reference"


def leader_tests(predictions: pd.DataFrame, *, leader: str, reference: str) -> pd.DataFrame:
    """Diebold-Mariano tests of the leader (the model with the lowest score) against every
    other model, per horizon, Holm-adjusted over all of them (:data:`DM_COLUMNS`; the
    ``reference`` column names the leader).

    The leader's seed-averaged forecast is tested, as in :func:`dm_tests`. When the
    leader is ``<reference>_ensemble`` that forecast is the reference's, so the tests run
    with the reference as leader; otherwise the reference's ensemble rows are left out
    (they would repeat the reference's test). The reference and its ensemble are never
    tested against each other: they are the same forecasts scored two ways.
    """
    ensemble = ensemble_name(reference)
    tested = reference if leader == ensemble else leader
    frame = predictions if tested == reference else predictions[predictions["model"] != ensemble]
    table = dm_tests(frame, reference=tested)
    table["reference"] = leader
    return table
