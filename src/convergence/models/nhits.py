"""NHITS (neuralforecast) as a baseline: one global model per fold over a data set's entities.

The strongest neural peer in the same folds (issue 10): ``neuralforecast``'s ``NHITS``
(Challu et al. 2023) fitted on the same per-entity histories of ``D`` as the statistical
baselines (:func:`~convergence.models.baselines.trailing_history`: the run of finite ``D``
values that ends at the fold origin, ``D`` computed with the fold's fitted measurement
model), pooled over the fold's entities, and asked for ``D`` at horizons ``1..H``. Nothing
after the origin enters the fit or the forecast.

Settings are small, fixed and CPU-friendly (:class:`NHITSSettings`): input size = the
data set's ``window``, ``h`` = its ``horizon``, a fixed number of optimiser steps without
early stopping (so no periods are held out of the history), per-window ``robust``
scaling, MAE loss, a fixed ``random_seed`` and Lightning's deterministic algorithms on
the CPU. Lightning writes nothing into the repository (``logger=False``, no progress bar,
no checkpoints, ``default_root_dir`` a temporary folder) and its start-up messages are
silenced. Integer time stamps (``freq=1``) aligned so that every series ends at the
origin stand in for the data set's periods.

An entity whose history is shorter than ``input_size + horizon`` (not one full training
window) gets the naive forecast and is reported as a fallback, as are all entities when
the fit fails and any entity whose forecast is not finite.

``neuralforecast`` (and with it torch and Lightning) is imported inside the functions
that need it, so importing this module, and :mod:`convergence.models.baselines`, stays
light.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: column of the forecasts in neuralforecast's output (the model's alias).
ALIAS = "nhits"
#: loggers whose INFO messages (seed, accelerator, model summary) are silenced while fitting.
QUIET_LOGGERS: tuple[str, ...] = (
    "pytorch_lightning",
    "lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "lightning.fabric",
    "neuralforecast",
)


@dataclass(frozen=True)
class NHITSSettings:
    """Fixed NHITS hyperparameters (not config keys: the same for every data set).

    Attributes:
        max_steps: optimiser steps (batches of series) per fold; no early stopping.
        hidden_units: width of the two hidden layers of each of the three stacks' MLPs.
        learning_rate: Adam learning rate.
        batch_size: series per batch.
        windows_batch_size: training windows sampled from those series per step.
        scaler_type: neuralforecast's per-window temporal scaler.
        random_seed: seed of the weights and the window sampling.
        threads: torch CPU threads while fitting (restored afterwards).
        accelerator: Lightning accelerator of the fit: ``"cpu"`` (a small model; the
            thread pin above applies to it), whatever ``training.accelerator`` says.
    """

    max_steps: int = 200
    hidden_units: int = 64
    learning_rate: float = 1e-3
    batch_size: int = 32
    windows_batch_size: int = 256
    scaler_type: str = "robust"
    random_seed: int = 0
    threads: int = 1
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("max_steps", "hidden_units", "batch_size", "windows_batch_size", "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"NHITSSettings.{name} must be >= 1, got {getattr(self, name)}")


def min_history(input_size: int, horizon: int) -> int:
    """Shortest history NHITS is fitted on: one full window of inputs and targets."""
    return int(input_size) + int(horizon)


def nhits_frame(histories: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Long ``unique_id, ds, y`` frame of the histories, every series ending at one ``ds``.

    ``ds`` is an integer position (``freq=1``): the last value of every history (the fold
    origin) has ``ds = max_len - 1``, so the series are aligned on calendar periods.
    """
    if not histories:
        return pd.DataFrame({"unique_id": [], "ds": [], "y": []}).astype(
            {"unique_id": str, "ds": np.int64, "y": float}
        )
    longest = max(len(h) for h in histories.values())
    return pd.DataFrame(
        {
            "unique_id": np.concatenate([[str(e)] * len(h) for e, h in histories.items()]),
            "ds": np.concatenate(
                [np.arange(longest - len(h), longest, dtype=np.int64) for h in histories.values()]
            ),
            "y": np.concatenate([np.asarray(h, dtype=float) for h in histories.values()]),
        }
    )


@contextlib.contextmanager
def _quiet_cpu_fit(threads: int) -> Iterator[None]:
    """Silence Lightning's and neuralforecast's messages and warnings; pin torch threads."""
    import torch

    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    previous_threads = torch.get_num_threads()
    try:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        torch.set_num_threads(int(threads))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.set_num_threads(previous_threads)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _nhits_model(input_size: int, horizon: int, settings: NHITSSettings, root_dir: str) -> Any:
    """The NHITS model of one fold (three stacks of one block each, small MLPs)."""
    from neuralforecast.models import NHITS

    units = int(settings.hidden_units)
    return NHITS(
        h=int(horizon),
        input_size=int(input_size),
        mlp_units=3 * [[units, units]],
        n_pool_kernel_size=[2, 2, 1],
        n_freq_downsample=[4, 2, 1],
        max_steps=int(settings.max_steps),
        learning_rate=float(settings.learning_rate),
        batch_size=int(settings.batch_size),
        windows_batch_size=int(settings.windows_batch_size),
        scaler_type=settings.scaler_type,
        early_stop_patience_steps=-1,
        random_seed=int(settings.random_seed),
        alias=ALIAS,
        # Lightning Trainer arguments
        accelerator=settings.accelerator,
        devices=1,
        deterministic=True,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=root_dir,
    )


def fit_predict_nhits(
    frame: pd.DataFrame, *, input_size: int, horizon: int, settings: NHITSSettings
) -> dict[str, np.ndarray]:
    """Fit one NHITS on ``frame`` (:func:`nhits_frame`) and forecast ``horizon`` steps.

    Returns the forecast of every ``unique_id`` in ``frame`` (in ``ds`` order). Raises
    whatever neuralforecast raises.
    """
    from neuralforecast import NeuralForecast

    with tempfile.TemporaryDirectory(prefix="nhits-") as root_dir, _quiet_cpu_fit(settings.threads):
        model = _nhits_model(input_size, horizon, settings, root_dir)
        forecaster = NeuralForecast(models=[model], freq=1)
        forecaster.fit(df=frame, val_size=0)
        out = forecaster.predict()
    out = out.reset_index() if "unique_id" not in out.columns else out
    return {
        str(entity): rows.sort_values("ds")[ALIAS].to_numpy(dtype=float)
        for entity, rows in out.groupby("unique_id", sort=False)
    }


def nhits_forecasts(
    histories: Mapping[str, np.ndarray],
    horizon: int,
    *,
    input_size: int,
    settings: NHITSSettings | None = None,
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Level forecasts of one global NHITS per entity, and the entities that fell back to naive.

    Args:
        histories: per entity the values of ``D`` up to and including the fold origin.
        horizon: forecast steps ``H``.
        input_size: NHITS input window (the data set's ``window``).
        settings: fixed hyperparameters (defaults: :class:`NHITSSettings`).

    Entities shorter than :func:`min_history` are left out of the fit and get the naive
    forecast; if the fit fails, or a forecast is missing or not finite, those entities
    get it too. Every such entity is in the returned fallback set.
    """
    settings = settings or NHITSSettings()
    needed = min_history(input_size, horizon)
    eligible = {e: h for e, h in histories.items() if h.shape[0] >= needed}
    forecasts: dict[str, np.ndarray] = {}
    if eligible:
        try:
            forecasts = fit_predict_nhits(
                nhits_frame(eligible), input_size=input_size, horizon=horizon, settings=settings
            )
        except Exception as error:  # a failed fit must not stop the other baselines
            log.warning("nhits failed on %d series (%s); naive instead", len(eligible), error)
    result: dict[str, np.ndarray] = {}
    fallback: set[str] = set()
    for entity, history in histories.items():
        values = forecasts.get(str(entity))
        if values is None or values.shape != (horizon,) or not np.all(np.isfinite(values)):
            result[entity] = np.full(horizon, float(history[-1]))
            fallback.add(entity)
        else:
            result[entity] = values
    return result, fallback
