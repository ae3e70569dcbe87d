"""Applying a data set's chosen configuration to a model, without importing torch.

The ``select`` stage (:mod:`convergence.training.selection`) chooses some model keys per
data set on validation data; every trained model then takes the choice for the keys it
shares with the reference (:func:`apply_choice`). An ablation that switches off exactly
what the choice switched off becomes the reference itself (``cnn_lstm_no_skip`` when the
choice is ``skip=False``): :func:`may_equal_reference` says, before any choice is known,
which models can end up so, and :func:`model_values` compares two effective
configurations. The train stage uses both to reuse the reference's forecasts instead of
training the same network again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from convergence.settings import ModelSettings


def model_values(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Every network field and module hyperparameter of ``model_cfg`` (schema defaults
    filled in): two configurations with equal values train the same network."""
    settings = ModelSettings.from_mapping(model_cfg)
    return {**settings.network, **settings.module_hparams()}


def apply_choice(
    model_cfg: Mapping[str, Any], reference_cfg: Mapping[str, Any], choice: Mapping[str, Any]
) -> dict[str, Any]:
    """``model_cfg`` with the chosen values for every key it shares with the reference.

    A key whose value in ``model_cfg`` differs from the reference's (after schema
    defaults) is the model's own design (``cnn_lstm_no_skip``'s ``skip: false``) and is
    kept; the other chosen keys replace the model's values. The reference itself thus
    becomes ``{**reference_cfg, **choice}``.
    """
    model, reference = model_values(model_cfg), model_values(reference_cfg)
    effective = dict(model_cfg)
    for key, value in choice.items():
        if model.get(key) == reference.get(key):
            effective[key] = value
    return effective


def may_equal_reference(
    model_cfg: Mapping[str, Any], reference_cfg: Mapping[str, Any], searched: Iterable[str]
) -> bool:
    """Whether some choice over the ``searched`` keys makes ``model_cfg`` the reference.

    True when every key in which the model differs from the reference is searched (and
    the model differs at all): a choice can then set the reference's value of each of
    them to the model's. The train rule makes such a model wait for the reference's
    outputs, to reuse them when the choice did make the two equal.
    """
    model, reference = model_values(model_cfg), model_values(reference_cfg)
    differing = {
        key for key in model.keys() | reference.keys() if model.get(key) != reference.get(key)
    }
    return bool(differing) and differing <= set(searched)
