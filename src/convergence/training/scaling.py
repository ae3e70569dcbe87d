"""Input conditioning and target standardisation of a fold's windows.

Targets (changes of ``D``) have a standard deviation of 0.005-0.017 on the real data
sets, so an unscaled MSE is ~1e-5 and any weight penalty swamps it: the network then
learns the mean change and nothing else. Training therefore happens on a standardised
scale, with statistics of the fold's *training* windows only:

* **targets**: ``z_y[h] = (y[h] - mean_h) / std_h`` per horizon ``h``; predictions are
  mapped back with ``y = z * std_h + mean_h``;
* **inputs**: first an *input mode* (:data:`INPUT_MODES`) is applied to each window,
  then every feature is standardised with the mean and standard deviation of the
  transformed training windows (pooled over windows and time steps).

Input modes, per window ``x`` of shape ``(L, F)``:

* ``levels``: ``x`` as it is (features in [0, 1], dominated by the long-run level);
* ``relative_last``: ``x - x[L-1]``, each feature relative to its value at the origin
  (the last input period): the window's shape, not its level;
* ``revin``: instance normalisation (Kim et al., 2022, RevIN) per window and feature,
  ``(x - mean_window) / (std_window + eps)``. Only the *inputs* are normalised per
  window. The target is a change from the last observed ``D`` (location-free) and is
  not divided by the window's standard deviation: a flat window (std ~ 0) would blow
  the scaled target up. It is standardised with the global training statistics like
  in every other mode, so "de-normalising" the output is the global unscaling above.

``relative_last`` and ``revin`` drop the level of ``D``, so they require
``target="change"``.

The statistics are plain arrays here (:class:`ScalingStats`); the Lightning module
keeps them as registered buffers, so a checkpoint carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

InputMode = Literal["levels", "relative_last", "revin"]
INPUT_MODES: tuple[str, ...] = ("levels", "relative_last", "revin")
Scaling = Literal["standard", "none"]
SCALINGS: tuple[str, ...] = ("standard", "none")
#: standard deviations below this are treated as 1 (a constant feature or horizon).
MIN_STD = 1e-8
#: added to a window's standard deviation in ``revin`` mode.
REVIN_EPS = 1e-5


@dataclass(frozen=True)
class ScalingStats:
    """Standardisation statistics: ``x_mean``, ``x_std`` shape ``(F,)``; ``y_mean``,
    ``y_std`` shape ``(H,)``."""

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    @classmethod
    def identity(cls, n_features: int, horizon: int) -> ScalingStats:
        """No standardisation: means 0, standard deviations 1."""
        return cls(
            x_mean=np.zeros(n_features),
            x_std=np.ones(n_features),
            y_mean=np.zeros(horizon),
            y_std=np.ones(horizon),
        )


def apply_input_mode(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Transform windows ``(batch, L, F)`` by ``mode`` (see the module docstring)."""
    if mode == "levels":
        return x
    if mode == "relative_last":
        return x - x[:, -1:, :]
    if mode == "revin":
        mean = x.mean(dim=1, keepdim=True)
        std = x.std(dim=1, unbiased=False, keepdim=True)
        return (x - mean) / (std + REVIN_EPS)
    raise ValueError(f"unknown input mode {mode!r}; expected one of {INPUT_MODES}")


def _safe_std(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    std = values.std(axis=axis)
    return np.where(np.isfinite(std) & (std > MIN_STD), std, 1.0)


def fit_scaling(
    x_train: np.ndarray, y_train: np.ndarray, input_mode: str, scaling: str = "standard"
) -> ScalingStats:
    """Statistics of training windows ``x_train`` ``(n, L, F)`` and targets ``(n, H)``.

    With ``scaling="none"`` the identity (the unscaled training of earlier versions).
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; expected one of {SCALINGS}")
    n_features, horizon = x_train.shape[2], y_train.shape[1]
    if scaling == "none" or x_train.shape[0] == 0:
        return ScalingStats.identity(n_features, horizon)
    transformed = apply_input_mode(torch.as_tensor(x_train, dtype=torch.float64), input_mode)
    inputs = transformed.numpy()
    targets = np.asarray(y_train, dtype=np.float64)
    return ScalingStats(
        x_mean=inputs.mean(axis=(0, 1)),
        x_std=_safe_std(inputs, axis=(0, 1)),
        y_mean=targets.mean(axis=0),
        y_std=_safe_std(targets, axis=0),
    )
