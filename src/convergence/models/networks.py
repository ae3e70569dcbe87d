"""Neural forecasters for the convergence index: CNN-LSTM and its ablations.

All networks map a window of ``L`` past periods with ``F`` features per entity,
a tensor of shape ``(batch, L, F)``, to forecasts for horizons ``1..H``, a tensor
of shape ``(batch, H)``. One network is fitted to all entities pooled (a global
model).

The "improved neural network" of the 2021 study is a CNN-LSTM trained with a
weight penalty (L1, L2 or elastic net), dropout and batch normalization:

* convolution blocks ``Conv1d -> norm -> ReLU -> dropout`` extract local
  temporal patterns; the convolutions are *causal* (Oord et al., 2016, WaveNet):
  the input is padded on the left by ``kernel_size - 1`` steps, so output step
  ``t`` depends only on inputs at steps ``<= t``;
* optional pooling shortens the sequence;
* an LSTM (Hochreiter & Schmidhuber, 1997) reads the feature sequence; its last
  hidden state feeds a dense head ``Linear -> ReLU -> dropout -> Linear``;
* the training loss is ``J(w) + R(w)`` with ``R`` from :func:`weight_penalty`.

``LSTMOnly``, ``CNNOnly`` and ``MLP`` remove parts of that design for ablation.

With ``skip=True`` any of them gets a linear skip path (:class:`LinearSkip`): a linear
autoregression on the flattened input window added to the network's output, the
lesson of DLinear (Zeng et al., 2023) and N-BEATS (Oreshkin et al., 2020) that a
linear term carries much of a short series' signal and leaves the network the rest.

Batch normalization (Ioffe & Szegedy, 2015) over conv channels uses statistics
pooled over batch *and* time while training; in evaluation mode it is a fixed
per-channel affine map, so causality holds exactly at inference.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from convergence.config import schema_default
from convergence.errors import ConfigError

Architecture = Literal["cnn_lstm", "lstm", "cnn", "mlp"]
Pooling = Literal["max", "avg", "none"]
Norm = Literal["batch", "layer", "none"]
PenaltyKind = Literal["none", "l1", "l2", "elastic_net"]

ARCHITECTURES: tuple[str, ...] = ("cnn_lstm", "lstm", "cnn", "mlp")
POOLINGS: tuple[str, ...] = ("max", "avg", "none")
NORMS: tuple[str, ...] = ("batch", "layer", "none")
PENALTY_KINDS: tuple[str, ...] = ("none", "l1", "l2", "elastic_net")


def _model_default(key: str) -> Any:
    """A dataclass field whose default is the schema's ``$defs.model.<key>`` default."""
    return field(default_factory=functools.partial(schema_default, f"$defs.model.{key}"))


def _require_int(key: str, value: object, minimum: int) -> None:
    # bool is an int subclass; `True` as a layer count is a config mistake
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {value}")


def _require_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class NetworkConfig:
    """Hyper-parameters of one forecasting network.

    Attributes:
        architecture: ``"cnn_lstm"``, ``"lstm"``, ``"cnn"`` or ``"mlp"``.
        n_features: features per period, ``F``.
        window: past periods per sample, ``L``.
        horizon: forecast horizons ``1..H`` predicted jointly.
        conv_channels: output channels of each causal convolution block.
        kernel_size: temporal width of every convolution.
        pooling: ``"max"``, ``"avg"`` or ``"none"``, applied once after the
            convolution blocks over non-overlapping groups of ``pool_size`` steps.
        pool_size: steps per pooling group.
        lstm_hidden: LSTM hidden units.
        lstm_layers: stacked LSTM layers.
        dense_hidden: hidden units of the dense head.
        norm: ``"batch"``, ``"layer"`` or ``"none"`` normalization in conv
            blocks (over channels) and in the MLP (over hidden units).
        dropout: drop probability after conv blocks, between LSTM layers (when
            ``lstm_layers > 1``) and in the head.
        skip: add a linear skip path (:class:`LinearSkip`) to the network's output.

    Defaults of the optional fields are those of a ``models`` entry in the config schema
    (``$defs.model``), read from the schema, so they cannot drift from it.

    Raises:
        ConfigError: a field is out of range (key ``models.<field>``).
    """

    architecture: Architecture
    n_features: int
    window: int
    horizon: int
    conv_channels: list[int] = _model_default("conv_channels")
    kernel_size: int = _model_default("kernel_size")
    pooling: Pooling = _model_default("pooling")
    pool_size: int = _model_default("pool_size")
    lstm_hidden: int = _model_default("lstm_hidden")
    lstm_layers: int = _model_default("lstm_layers")
    dense_hidden: int = _model_default("dense_hidden")
    norm: Norm = _model_default("norm")
    dropout: float = _model_default("dropout")
    skip: bool = _model_default("skip")

    def __post_init__(self) -> None:
        _require_choice("models.architecture", self.architecture, ARCHITECTURES)
        _require_choice("models.pooling", self.pooling, POOLINGS)
        _require_choice("models.norm", self.norm, NORMS)
        _require_int("models.n_features", self.n_features, 1)
        _require_int("models.window", self.window, 1)
        _require_int("models.horizon", self.horizon, 1)
        _require_int("models.kernel_size", self.kernel_size, 1)
        _require_int("models.pool_size", self.pool_size, 1)
        _require_int("models.lstm_hidden", self.lstm_hidden, 1)
        _require_int("models.lstm_layers", self.lstm_layers, 1)
        _require_int("models.dense_hidden", self.dense_hidden, 1)
        if not isinstance(self.conv_channels, list | tuple) or len(self.conv_channels) == 0:
            raise ConfigError(
                "models.conv_channels",
                f"must be a non-empty list of channel counts, got {self.conv_channels!r}",
            )
        if not isinstance(self.skip, bool):
            raise ConfigError("models.skip", f"must be true or false, got {self.skip!r}")
        for channels in self.conv_channels:
            _require_int("models.conv_channels", channels, 1)
        self.conv_channels = list(self.conv_channels)
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, int | float)
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ConfigError("models.dropout", f"must be a number in [0, 1), got {self.dropout!r}")
        if self.uses_convolution and self.pooled_length < 1:
            raise ConfigError(
                "models.pool_size",
                f"pooling by {self.pool_size} shrinks a window of {self.window} periods "
                "to length 0; lower models.pool_size, raise models.window "
                "or set models.pooling to 'none'",
            )

    @property
    def uses_convolution(self) -> bool:
        """Whether the architecture has the causal convolution stack."""
        return self.architecture in ("cnn_lstm", "cnn")

    @property
    def pooled_length(self) -> int:
        """Sequence length after pooling: ``floor(L / pool_size)``, or ``L`` without pooling."""
        if self.pooling == "none":
            return self.window
        return self.window // self.pool_size


class CausalConvBlock(nn.Module):
    """``Conv1d -> norm -> ReLU -> dropout`` with left padding ``kernel_size - 1``.

    Input and output are ``(batch, channels, time)`` with the same ``time``.
    Output step ``t`` is a function of input steps ``t - kernel_size + 1 .. t``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, norm: Norm, dropout: float
    ) -> None:
        super().__init__()
        self.left_padding = kernel_size - 1
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size)
        self.norm = _channel_norm(norm, out_channels)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (self.left_padding, 0))
        return self.dropout(self.activation(self.norm(self.conv(x))))


class ChannelLayerNorm(nn.Module):
    """Layer normalization over channels at each time step of ``(batch, channels, time)``.

    Normalizing per time step (not over the whole sequence) keeps the block causal.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(x.transpose(1, 2)).transpose(1, 2)


def _channel_norm(norm: Norm, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm1d(channels)
    if norm == "layer":
        return ChannelLayerNorm(channels)
    return nn.Identity()


class CausalConvStack(nn.Module):
    """Causal convolution blocks mapping ``(batch, L, F)`` to ``(batch, C_last, L)``."""

    def __init__(
        self,
        n_features: int,
        conv_channels: list[int],
        kernel_size: int,
        norm: Norm,
        dropout: float,
    ) -> None:
        super().__init__()
        in_channels = [n_features, *conv_channels[:-1]]
        self.blocks = nn.Sequential(
            *(
                CausalConvBlock(c_in, c_out, kernel_size, norm, dropout)
                for c_in, c_out in zip(in_channels, conv_channels, strict=True)
            )
        )
        self.out_channels = conv_channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Conv1d wants channels before time
        return self.blocks(x.transpose(1, 2))


class TemporalPool(nn.Module):
    """Non-overlapping max/avg pooling over time that keeps the most recent step.

    Plain ``MaxPool1d`` drops the *last* ``L mod p`` steps when ``p`` does not
    divide ``L``; for forecasting the newest periods matter most, so the oldest
    ``L mod p`` steps are dropped instead. Output length is ``floor(L / p)``.
    """

    def __init__(self, pooling: Pooling, pool_size: int) -> None:
        super().__init__()
        self.pool_size = pool_size
        self.pool: nn.Module
        if pooling == "max":
            self.pool = nn.MaxPool1d(pool_size)
        elif pooling == "avg":
            self.pool = nn.AvgPool1d(pool_size)
        else:
            self.pool = nn.Identity()
        self.active = pooling != "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        surplus = x.shape[-1] % self.pool_size
        return self.pool(x[..., surplus:])


class DenseHead(nn.Module):
    """``Linear -> ReLU -> dropout -> Linear`` from a feature vector to ``H`` outputs."""

    def __init__(self, in_features: int, hidden: int, horizon: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, horizon),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _lstm(input_size: int, cfg: NetworkConfig) -> nn.LSTM:
    # nn.LSTM applies dropout between layers only; it warns if set with one layer
    between_layers = cfg.dropout if cfg.lstm_layers > 1 else 0.0
    return nn.LSTM(
        input_size,
        cfg.lstm_hidden,
        num_layers=cfg.lstm_layers,
        batch_first=True,
        dropout=between_layers,
    )


class CNNLSTM(nn.Module):
    """Causal conv blocks -> pooling -> LSTM -> last hidden state -> dense head."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.features = CausalConvStack(
            cfg.n_features, cfg.conv_channels, cfg.kernel_size, cfg.norm, cfg.dropout
        )
        self.pool = TemporalPool(cfg.pooling, cfg.pool_size)
        self.lstm = _lstm(self.features.out_channels, cfg)
        self.head = DenseHead(cfg.lstm_hidden, cfg.dense_hidden, cfg.horizon, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = self.pool(self.features(x)).transpose(1, 2)
        _, (hidden, _) = self.lstm(sequence)
        return self.head(hidden[-1])


class LSTMOnly(nn.Module):
    """LSTM over the raw window -> last hidden state -> dense head."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.lstm = _lstm(cfg.n_features, cfg)
        self.head = DenseHead(cfg.lstm_hidden, cfg.dense_hidden, cfg.horizon, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(x)
        return self.head(hidden[-1])


class CNNOnly(nn.Module):
    """Causal conv blocks -> pooling -> flatten -> dense head."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.features = CausalConvStack(
            cfg.n_features, cfg.conv_channels, cfg.kernel_size, cfg.norm, cfg.dropout
        )
        self.pool = TemporalPool(cfg.pooling, cfg.pool_size)
        flat_size = self.features.out_channels * cfg.pooled_length
        self.head = DenseHead(flat_size, cfg.dense_hidden, cfg.horizon, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(start_dim=1))


class MLP(nn.Module):
    """Flattened window -> ``Linear -> norm -> ReLU -> dropout -> Linear``."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        hidden_norm: nn.Module
        if cfg.norm == "batch":
            hidden_norm = nn.BatchNorm1d(cfg.dense_hidden)
        elif cfg.norm == "layer":
            hidden_norm = nn.LayerNorm(cfg.dense_hidden)
        else:
            hidden_norm = nn.Identity()
        self.layers = nn.Sequential(
            nn.Flatten(start_dim=1),
            nn.Linear(cfg.window * cfg.n_features, cfg.dense_hidden),
            hidden_norm,
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.dense_hidden, cfg.horizon),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LinearSkip(nn.Module):
    """``base(x) + Linear(flatten(x))``: a network plus a linear autoregression on the window.

    The linear map from the ``L * F`` window values to the ``H`` outputs starts at zero,
    so at initialisation the output is the base network's. Its weight is penalised like
    every other weight (a ridge/elastic-net autoregression inside the network).
    """

    def __init__(self, base: nn.Module, cfg: NetworkConfig) -> None:
        super().__init__()
        self.base = base
        self.linear = nn.Linear(cfg.window * cfg.n_features, cfg.horizon)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.linear(x.flatten(start_dim=1))


def build_network(cfg: NetworkConfig) -> nn.Module:
    """Instantiate the network named by ``cfg.architecture`` (wrapped in
    :class:`LinearSkip` when ``cfg.skip``).

    Returns a module mapping ``(batch, window, n_features)`` to ``(batch, horizon)``.
    """
    base: nn.Module
    if cfg.architecture == "cnn_lstm":
        base = CNNLSTM(cfg)
    elif cfg.architecture == "lstm":
        base = LSTMOnly(cfg)
    elif cfg.architecture == "cnn":
        base = CNNOnly(cfg)
    elif cfg.architecture == "mlp":
        base = MLP(cfg)
    else:
        # unreachable after NetworkConfig validation; kept for configs mutated later
        raise ConfigError("models.architecture", f"unknown architecture {cfg.architecture!r}")
    return LinearSkip(base, cfg) if cfg.skip else base


_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
)


def penalized_weights(module: nn.Module) -> list[torch.Tensor]:
    """Weight tensors subject to the penalty: every parameter named ``weight*``
    (``weight``, LSTM ``weight_ih_l0``, ``weight_hh_l0``, ...) outside normalization
    layers. Biases and normalization scales/shifts are not penalized, as usual for
    weight decay (Goodfellow, Bengio & Courville, 2016, sec. 7.1)."""
    weights: list[torch.Tensor] = []
    for submodule in module.modules():
        if isinstance(submodule, _NORM_TYPES):
            continue
        for name, parameter in submodule.named_parameters(recurse=False):
            if name.startswith("weight"):
                weights.append(parameter)
    return weights


def weight_penalty(
    module: nn.Module, kind: str, lam: float, alpha: float | None = None
) -> torch.Tensor:
    """Penalty ``R(w)`` added to the data loss ``J(w)``: the objective is ``J(w) + R(w)``.

    Over the weights ``w`` of :func:`penalized_weights`:

    * ``"none"``: ``R = 0``
    * ``"l1"`` (lasso, Tibshirani 1996): ``R = lam * sum |w|``
    * ``"l2"`` (ridge / weight decay): ``R = lam * sum w^2``
    * ``"elastic_net"`` (Zou & Hastie 2005):
      ``R = lam * (alpha * sum |w| + (1 - alpha) * sum w^2)``

    Args:
        module: network whose weights are penalized.
        kind: one of ``"none"``, ``"l1"``, ``"l2"``, ``"elastic_net"``.
        lam: penalty strength, ``>= 0``.
        alpha: L1 share of the elastic net, in ``[0, 1]``; ignored otherwise. None: the
            schema default of ``models.<name>.penalty_alpha``.

    Returns:
        A scalar tensor, differentiable with respect to the weights.

    Raises:
        ConfigError: unknown ``kind`` (``models.penalty``), negative ``lam``
            (``models.penalty_lambda``) or ``alpha`` outside ``[0, 1]``
            (``models.penalty_alpha``).
    """
    _require_choice("models.penalty", kind, PENALTY_KINDS)
    if alpha is None:
        alpha = float(schema_default("$defs.model.penalty_alpha"))
    if not lam >= 0.0:
        raise ConfigError("models.penalty_lambda", f"must be >= 0, got {lam!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError("models.penalty_alpha", f"must be in [0, 1], got {alpha!r}")
    weights = penalized_weights(module)
    reference = next(iter(weights), None)
    zero = (
        torch.zeros((), dtype=reference.dtype, device=reference.device)
        if reference is not None
        else torch.zeros(())
    )
    if kind == "none" or not weights:
        return zero
    l1 = sum((w.abs().sum() for w in weights), zero)
    l2 = sum((w.pow(2).sum() for w in weights), zero)
    if kind == "l1":
        return lam * l1
    if kind == "l2":
        return lam * l2
    return lam * (alpha * l1 + (1.0 - alpha) * l2)
