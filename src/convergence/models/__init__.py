"""models subpackage: neural forecasters (CNN-LSTM and ablations) and weight penalties."""

from convergence.models.networks import (
    CNNLSTM,
    MLP,
    CausalConvStack,
    CNNOnly,
    LSTMOnly,
    NetworkConfig,
    build_network,
    penalized_weights,
    weight_penalty,
)

__all__ = [
    "CNNLSTM",
    "MLP",
    "CNNOnly",
    "CausalConvStack",
    "LSTMOnly",
    "NetworkConfig",
    "build_network",
    "penalized_weights",
    "weight_penalty",
]
