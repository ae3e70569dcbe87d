"""Typed settings, one object per config section, built once from the validated config.

Every default lives in the config schema (``convergence/schemas/config.schema.yaml``): the
schema gives each key its description and default, :func:`convergence.config.validate_config`
fills them in, and the objects here are built from that filled config. Code that is called
with a partial mapping (a test, a REPL session) gets the same defaults from the schema through
:func:`schema_defaults`, never from a second table.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from convergence.config import load_schema
from convergence.errors import ConfigError


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema()


def schema_defaults(pointer: str) -> dict[str, Any]:
    """Defaults of the properties of one schema object, e.g. ``"training"`` or ``"$defs/model"``."""
    node: Any = _schema()
    parts = pointer.split("/")
    if parts[0] != "$defs":
        node = node["properties"]
    for part in parts:
        node = node[part]
    return {
        key: sub["default"] for key, sub in node.get("properties", {}).items() if "default" in sub
    }


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` section merged with one data set's ``forecast`` overrides.

    Field meanings and defaults: ``training`` in the config schema. ``target_headroom``
    widens the min-max bounds fitted on each fold's training periods (forecast target only;
    ``measures.normalization.headroom`` is the descriptive measures' own setting).
    """

    window: int
    horizon: int
    n_origins: int
    step: int
    val_size: int
    min_train: int
    target: str
    max_epochs: int
    patience: int
    batch_size: int
    learning_rate: float
    accelerator: str
    devices: str | int
    strategy: str
    num_nodes: int
    target_headroom: float
    threads: int
    gpus_per_job: int
    deterministic: bool
    refit: bool
    warm_start: bool
    vectorise_seeds: bool

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingSettings:
        """Build from a (possibly partial) ``training`` mapping; missing keys take the
        schema defaults; an unknown key or an invalid value raises :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"training.{unknown[0]}", f"unknown key; known keys: {sorted(names)}")
        merged = {**schema_defaults("training"), **values}
        missing = sorted(names - set(merged))
        if missing:
            raise ConfigError(f"training.{missing[0]}", "required key is missing")
        settings = cls(**{name: merged[name] for name in names})
        if int(settings.val_size) < 1:
            raise ConfigError(
                "training.val_size", "must be >= 1: early stopping needs validation periods"
            )
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (for MLflow params and config hashes)."""
        return dataclasses.asdict(self)


def training_settings(config: Mapping[str, Any], dataset: str) -> TrainingSettings:
    """Training settings of one data set: global ``training`` with its ``forecast`` overrides."""
    merged = dict(config["training"])
    merged.update(config["datasets"][dataset].get("forecast", {}))
    return TrainingSettings.from_mapping(merged)


#: model keys that configure the loss rather than the network.
PENALTY_KEYS: tuple[str, ...] = ("penalty", "penalty_lambda", "penalty_alpha")
#: model keys of the Lightning module (loss, target/input scaling), not of the network.
MODULE_KEYS: tuple[str, ...] = (*PENALTY_KEYS, "input_mode", "scaling")


@dataclass(frozen=True)
class ModelSettings:
    """One entry of ``models``: the network's fields, the loss penalty and the scaling.

    Attributes:
        network: :class:`~convergence.models.networks.NetworkConfig` fields except the data
            shape (``n_features``, ``window``, ``horizon``, added per fold).
        penalty, penalty_lambda, penalty_alpha: the weight penalty of the loss.
        input_mode: per-window input conditioning (``levels``, ``relative_last``, ``revin``).
        scaling: ``standard`` (targets and inputs standardised with training statistics)
            or ``none``.
    """

    network: dict[str, Any]
    penalty: str
    penalty_lambda: float
    penalty_alpha: float
    input_mode: str
    scaling: str

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelSettings:
        """Build from a ``models.<name>`` mapping, missing keys from the schema's defaults."""
        merged = {**schema_defaults("$defs/model"), **values}
        return cls(
            network={k: v for k, v in merged.items() if k not in MODULE_KEYS},
            penalty=str(merged["penalty"]),
            penalty_lambda=float(merged["penalty_lambda"]),
            penalty_alpha=float(merged["penalty_alpha"]),
            input_mode=str(merged["input_mode"]),
            scaling=str(merged["scaling"]),
        )

    def loss(self) -> dict[str, Any]:
        """Penalty settings as the Lightning module's typed hyperparameters.

        The same values go to the module and to the child run's params: Lightning's logger
        logs the module's hyperparameters too, and MLflow rejects a param logged twice with
        different text (``0`` vs ``0.0``).
        """
        return {
            "penalty": self.penalty,
            "penalty_lambda": self.penalty_lambda,
            "penalty_alpha": self.penalty_alpha,
        }

    def module_hparams(self) -> dict[str, Any]:
        """Everything the Lightning module takes besides the network and learning rate:
        :meth:`loss` plus ``input_mode`` and ``scaling`` (typed, as for :meth:`loss`)."""
        return {**self.loss(), "input_mode": self.input_mode, "scaling": self.scaling}

    def network_fields(self, n_features: int, window: int, horizon: int) -> dict[str, Any]:
        """NetworkConfig fields plus the data shape of a fold."""
        return {**self.network, "n_features": n_features, "window": window, "horizon": horizon}
