"""Tests for convergence.models.networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from convergence.errors import ConfigError
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

ARCHITECTURES = ["cnn_lstm", "lstm", "cnn", "mlp"]
EXPECTED_CLASSES = {"cnn_lstm": CNNLSTM, "lstm": LSTMOnly, "cnn": CNNOnly, "mlp": MLP}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_output_shape_is_batch_by_horizon(architecture: str) -> None:
    cfg = NetworkConfig(architecture=architecture, n_features=6, window=8, horizon=3)
    net = build_network(cfg)
    assert isinstance(net, EXPECTED_CLASSES[architecture])
    out = net(torch.randn(5, 8, 6))
    assert out.shape == (5, 3)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
@pytest.mark.parametrize("pooling", ["max", "avg", "none"])
def test_output_shape_for_norm_and_pooling_variants(
    architecture: str, norm: str, pooling: str
) -> None:
    # window 7 is odd, so pooling by 2 must drop one (the oldest) step cleanly
    cfg = NetworkConfig(
        architecture=architecture,
        n_features=4,
        window=7,
        horizon=2,
        conv_channels=[8, 12],
        lstm_layers=2,
        norm=norm,
        pooling=pooling,
    )
    out = build_network(cfg)(torch.randn(3, 7, 4))
    assert out.shape == (3, 2)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_default_parameter_count_is_small(architecture: str) -> None:
    net = build_network(NetworkConfig(architecture=architecture, n_features=6, window=8, horizon=3))
    n_params = sum(p.numel() for p in net.parameters())
    assert 0 < n_params < 50_000


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_conv_stack_is_causal(norm: str) -> None:
    torch.manual_seed(0)
    stack = CausalConvStack(
        n_features=3, conv_channels=[5, 7], kernel_size=3, norm=norm, dropout=0.2
    ).eval()
    x = torch.randn(4, 10, 3)
    perturbed = x.clone()
    perturbed[:, -1, :] += 5.0
    with torch.no_grad():
        before, after = stack(x), stack(perturbed)
    assert before.shape == (4, 7, 10)  # causal padding keeps the length
    torch.testing.assert_close(before[..., :-1], after[..., :-1], rtol=0, atol=0)
    assert not torch.equal(before[..., -1], after[..., -1])


def test_conv_stack_is_causal_at_every_step() -> None:
    torch.manual_seed(1)
    stack = CausalConvStack(3, [4], kernel_size=2, norm="batch", dropout=0.0).eval()
    x = torch.randn(2, 6, 3)
    for t in range(6):
        perturbed = x.clone()
        perturbed[:, t, :] += 1.0
        with torch.no_grad():
            diff = (stack(x) - stack(perturbed)).abs().sum(dim=(0, 1))
        assert torch.all(diff[:t] == 0)


class _Tiny(nn.Module):
    """Linear(2->2) with hand-set weights, a bias and a BatchNorm that must be ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.norm = nn.BatchNorm1d(2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
            self.linear.bias.copy_(torch.tensor([100.0, -100.0]))
            self.norm.weight.fill_(50.0)
            self.norm.bias.fill_(-50.0)


# Hand computation for W = [[1, -2], [0.5, 0]]:
#   sum|w|  = 1 + 2 + 0.5 + 0 = 3.5
#   sum w^2 = 1 + 4 + 0.25 + 0 = 5.25
#   lam = 0.1, alpha = 0.4:
#   l1          = 0.1 * 3.5                      = 0.35
#   l2          = 0.1 * 5.25                     = 0.525
#   elastic_net = 0.1 * (0.4 * 3.5 + 0.6 * 5.25) = 0.1 * (1.4 + 3.15) = 0.455
# Biases (+-100) and BatchNorm scale/shift (+-50) would dominate if included.
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("none", 0.0), ("l1", 0.35), ("l2", 0.525), ("elastic_net", 0.455)],
)
def test_weight_penalty_known_values(kind: str, expected: float) -> None:
    value = weight_penalty(_Tiny(), kind, lam=0.1, alpha=0.4)
    assert value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_weight_penalty_elastic_net_default_alpha_is_half() -> None:
    # 0.1 * (0.5 * 3.5 + 0.5 * 5.25) = 0.4375
    assert weight_penalty(_Tiny(), "elastic_net", lam=0.1).item() == pytest.approx(0.4375)


def test_penalized_weights_exclude_biases_and_norm_parameters() -> None:
    tiny = _Tiny()
    weights = penalized_weights(tiny)
    assert len(weights) == 1 and weights[0] is tiny.linear.weight


def test_penalized_weights_include_lstm_weight_matrices() -> None:
    net = build_network(NetworkConfig("cnn_lstm", n_features=2, window=4, horizon=1))
    names = {
        name for name, p in net.named_parameters() if any(p is w for w in penalized_weights(net))
    }
    assert "lstm.weight_ih_l0" in names and "lstm.weight_hh_l0" in names
    assert not any("bias" in name or ".norm." in name for name in names)


def test_weight_penalty_is_differentiable() -> None:
    tiny = _Tiny()
    weight_penalty(tiny, "l1", lam=1.0).backward()
    torch.testing.assert_close(tiny.linear.weight.grad, torch.tensor([[1.0, -1.0], [1.0, 0.0]]))
    assert tiny.linear.bias.grad is None


def test_weight_penalty_rejects_unknown_kind_and_bad_strengths() -> None:
    with pytest.raises(ConfigError, match="models.penalty"):
        weight_penalty(_Tiny(), "l3", lam=0.1)
    with pytest.raises(ConfigError, match="models.penalty_lambda"):
        weight_penalty(_Tiny(), "l2", lam=-1.0)
    with pytest.raises(ConfigError, match="models.penalty_alpha"):
        weight_penalty(_Tiny(), "elastic_net", lam=0.1, alpha=1.5)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"architecture": "transformer"}, "models.architecture"),
        ({"pooling": "median"}, "models.pooling"),
        ({"norm": "group"}, "models.norm"),
        ({"window": 0}, "models.window"),
        ({"horizon": 0}, "models.horizon"),
        ({"lstm_layers": True}, "models.lstm_layers"),
        ({"conv_channels": []}, "models.conv_channels"),
        ({"conv_channels": [8, 0]}, "models.conv_channels"),
        ({"dropout": 1.0}, "models.dropout"),
        ({"window": 3, "pool_size": 4}, "models.pool_size"),
    ],
)
def test_config_validation_names_the_key(overrides: dict[str, object], key: str) -> None:
    fields: dict[str, object] = {
        "architecture": "cnn_lstm",
        "n_features": 2,
        "window": 8,
        "horizon": 1,
    }
    fields.update(overrides)
    with pytest.raises(ConfigError, match=key):
        NetworkConfig(**fields)  # type: ignore[arg-type]


def test_pooling_to_zero_length_is_fine_without_convolution() -> None:
    cfg = NetworkConfig("lstm", n_features=2, window=3, horizon=1, pool_size=4)
    assert build_network(cfg)(torch.randn(2, 3, 2)).shape == (2, 1)


def _sine_windows(n_samples: int, window: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of a zero-mean two-tone series (features: value and its lag-1 change)."""
    t = torch.arange(n_samples + window + horizon, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 12) + 0.5 * torch.sin(2 * math.pi * t / 5)
    change = torch.diff(series, prepend=series[:1])
    features = torch.stack([series, change], dim=1)
    x = torch.stack([features[i : i + window] for i in range(n_samples)])
    y = torch.stack([series[i + window : i + window + horizon] for i in range(n_samples)])
    return x, y


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_learnability_on_deterministic_sine(architecture: str) -> None:
    # contract: each architecture can fit an easy series; the series is zero-mean,
    # so predicting a constant does not reach the 50% reduction
    torch.manual_seed(0)
    x, y = _sine_windows(n_samples=200, window=8, horizon=3)
    cfg = NetworkConfig(architecture, n_features=2, window=8, horizon=3, dropout=0.0)
    net = build_network(cfg)
    loss_fn = nn.MSELoss()

    def eval_mse() -> float:
        net.eval()
        with torch.no_grad():
            return loss_fn(net(x), y).item()

    initial = eval_mse()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(150):
        optimizer.zero_grad()
        loss = loss_fn(net(x), y) + weight_penalty(net, "elastic_net", lam=1e-5)
        loss.backward()
        optimizer.step()
    final = eval_mse()
    assert final <= 0.5 * initial, (initial, final)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_eval_mode_is_deterministic(architecture: str) -> None:
    torch.manual_seed(0)
    cfg = NetworkConfig(architecture, n_features=3, window=6, horizon=2, dropout=0.5)
    net = build_network(cfg)
    x = torch.randn(4, 6, 3)
    net.train()
    net(x)  # update BatchNorm running statistics once
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
