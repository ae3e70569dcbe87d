"""The seeds of one network as one vectorised ensemble: S members run in the same kernels.

A train job fits the same network once per seed. These networks are tiny (about 8k
weights), so each training step is dozens of small kernels whose launch and dispatch
cost more than their arithmetic. :class:`SeedEnsemble` holds the S members' parameters
*stacked* (every tensor of the single network's ``state_dict`` gets a leading member
axis) and runs one forward pass for all members, each on its own batch:

* a causal convolution is one batched matrix product of the members' weights
  ``(S, out, in * kernel)`` with their left-padded, unfolded time windows, giving
  ``(S, channels, batch * time)``; batch normalisation over that layout is one
  ``batch_norm`` call on ``(1, S * channels, batch * time)`` whose per-channel
  statistics are exactly each member's own; ReLU, dropout and pooling are elementwise
  or per channel. (A grouped ``conv1d`` with ``groups = S`` was measured first: on CPU
  its forward and backward cost 2.5 times as much as S single-network convolutions.)
* the LSTM, the dense head, the MLP and the linear skip path are batched matrix
  products (``baddbmm``) over ``(S, batch, features)``; the LSTM is written out as its
  cell (gate order ``i, f, g, o`` and the bias placement of ``torch.nn.LSTM``);
* the weight penalty is one reduction over all penalised weights of all members (one
  ``cat``), returning each member's penalty.

Why not ``torch.func.stack_module_state`` + ``functional_call`` under ``torch.vmap``,
which would reuse :mod:`convergence.models.networks` unchanged: ``vmap`` has no batching
rule for ``aten::lstm`` ("Batching rule not implemented for aten::lstm.input. We could
not generate a fallback"), so the LSTM would have to be rewritten anyway, and the
batch-norm running statistics would be in-place updates under ``vmap``. Writing the
batched forward directly keeps every member's arithmetic visible, needs no functorch
transforms in the training step, and works the same on CPU and CUDA.

Members are independent: the parameters, batch-norm statistics, batches and dropout
masks of member ``m`` never mix with another member's, so the gradient of the *sum* of
the members' losses with respect to member ``m``'s parameters is the gradient of its own
loss, and Adam (elementwise) over the stacked tensors is S independent Adams. Without
dropout a member therefore follows the sequentially trained seed up to the order of
floating-point sums (tested in ``tests/unit/test_vectorised_seeds.py``); its dropout
masks are drawn differently (:meth:`SeedEnsemble._dropout`, cheaper), from its own
generator, so with dropout it is the same training in distribution.

:meth:`SeedEnsemble.member_state_dict` extracts one member as the ``state_dict`` of the
network :func:`~convergence.models.networks.build_network` builds, so a member's
checkpoint rebuilds a plain single network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional

from convergence.errors import ConfigError
from convergence.models.networks import (
    PENALTY_KINDS,
    NetworkConfig,
    build_network,
    penalized_weights,
)

#: ``torch.nn.BatchNorm1d`` / ``LayerNorm`` defaults, as the single networks use them.
NORM_EPS = 1e-5
BATCH_NORM_MOMENTUM = 0.1


def _attribute(key: str) -> str:
    """A ``state_dict`` key as a module attribute name (dots are not allowed there)."""
    return key.replace(".", "__")


def template_network(cfg: NetworkConfig) -> nn.Module:
    """The single network of ``cfg`` on the meta device: names and shapes only.

    The global random number generator is left untouched, so building the template
    never changes the initial weights of a network built after it.
    """
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return build_network(cfg)


class SeedEnsemble(nn.Module):
    """S networks of one :class:`NetworkConfig`, their tensors stacked on a member axis.

    Args:
        cfg: the network's configuration (every member has the same).
        states: one ``state_dict`` per member, of the network ``build_network(cfg)``
            builds (its initial or warm-start weights).

    :meth:`forward` maps standardised windows ``(S, batch, window, n_features)`` (member
    ``m`` gets row ``m``) to ``(S, batch, horizon)``; in training mode with
    ``generators`` (one ``torch.Generator`` per member) member ``m``'s dropout masks are
    drawn from its own generator, so they do not depend on the other members.
    """

    def __init__(self, cfg: NetworkConfig, states: Sequence[Mapping[str, torch.Tensor]]) -> None:
        super().__init__()
        if not states:
            raise ValueError("a seed ensemble needs at least one member")
        self.cfg = cfg
        template = template_network(cfg)
        parameters = dict(template.named_parameters())
        penalised = {id(weight) for weight in penalized_weights(template)}
        self.keys: list[str] = list(template.state_dict())
        self.penalized_keys: list[str] = [
            key for key, parameter in parameters.items() if id(parameter) in penalised
        ]
        for key in self.keys:
            stacked = torch.stack([state[key].detach() for state in states])
            if key in parameters:
                self.register_parameter(_attribute(key), nn.Parameter(stacked))
            else:
                self.register_buffer(_attribute(key), stacked)

    # ------------------------------------------------------------------ members

    def tensor(self, key: str) -> torch.Tensor:
        """The stacked tensor of one ``state_dict`` key, shape ``(S, *single shape)``."""
        return getattr(self, _attribute(key))

    @property
    def members(self) -> int:
        """S, the number of members."""
        return int(self.tensor(self.keys[0]).shape[0])

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` as the ``state_dict`` of a single network (detached copies)."""
        return {key: self.tensor(key)[member].detach().clone() for key in self.keys}

    def single_network(self, member: int) -> nn.Module:
        """A plain network (:func:`build_network`) holding member ``member``'s weights."""
        with torch.random.fork_rng(devices=[]):
            network = build_network(self.cfg)
        network.load_state_dict(self.member_state_dict(member))
        return network.to(self.tensor(self.keys[0]).device)

    @torch.no_grad()
    def keep_members(self, index: Sequence[int]) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Keep only the members at positions ``index`` (in that order).

        Returns ``(old, new)`` for every parameter, so an optimiser's state can follow
        (see :func:`convergence.training.seed_ensemble.keep_adam_members`).
        """
        device = self.tensor(self.keys[0]).device
        positions = torch.as_tensor(list(index), dtype=torch.long, device=device)
        pairs: list[tuple[nn.Parameter, nn.Parameter]] = []
        for key in self.keys:
            old = self.tensor(key)
            kept = old.detach().index_select(0, positions).clone()
            if isinstance(old, nn.Parameter):
                new = nn.Parameter(kept, requires_grad=old.requires_grad)
                setattr(self, _attribute(key), new)
                pairs.append((old, new))
            else:
                setattr(self, _attribute(key), kept)
        return pairs

    # ------------------------------------------------------------------ penalty

    def penalty(self, kind: str, lam: float, alpha: float = 0.5) -> torch.Tensor:
        """Each member's :func:`~convergence.models.networks.weight_penalty`, shape ``(S,)``.

        One reduction over the penalised weights of every member at once. ``lam`` and
        ``alpha`` are taken as given (the forecaster validated them when it was built).
        """
        if kind not in PENALTY_KINDS:
            raise ConfigError("models.penalty", f"must be one of {', '.join(PENALTY_KINDS)}")
        zero = self.tensor(self.keys[0]).new_zeros(self.members)
        if kind == "none" or not self.penalized_keys:
            return zero
        flat = torch.cat([self.tensor(key).flatten(start_dim=1) for key in self.penalized_keys], 1)
        if kind == "l1":
            return lam * flat.abs().sum(dim=1)
        if kind == "l2":
            return lam * flat.pow(2).sum(dim=1)
        return lam * (alpha * flat.abs().sum(dim=1) + (1.0 - alpha) * flat.pow(2).sum(dim=1))

    # ------------------------------------------------------------------ forward

    def forward(
        self, x: torch.Tensor, generators: Sequence[torch.Generator] | None = None
    ) -> torch.Tensor:
        """``(S, batch, window, n_features)`` -> ``(S, batch, horizon)``."""
        cfg = self.cfg
        members, batch, window, n_features = x.shape
        if members != self.members:
            raise ValueError(f"input for {members} members, the ensemble has {self.members}")
        if generators is not None and len(generators) != members:
            raise ValueError(f"{len(generators)} generators for {members} members")
        base = "base." if cfg.skip else ""
        if cfg.architecture == "mlp":
            out = self._mlp(x, base + "layers.", generators)
        else:
            if cfg.uses_convolution:
                h = self._pool(self._conv_stack(x, base + "features.blocks.", generators))
                channels, steps = h.shape[1], h.shape[3]  # (S, channels, batch, time)
                if cfg.architecture == "cnn":
                    # CNNOnly flattens (channels, time) channel-major.
                    z = h.permute(0, 2, 1, 3).reshape(members, batch, channels * steps)
                else:
                    z = self._lstm(h.permute(0, 3, 2, 1), base + "lstm.", generators)
            else:
                z = self._lstm(x.transpose(1, 2), base + "lstm.", generators)
            out = self._dense_head(z, base + "head.layers.", generators)
        if cfg.skip:
            out = out + self._linear(x.reshape(members, batch, window * n_features), "linear.")
        return out

    def _linear(self, z: torch.Tensor, prefix: str) -> torch.Tensor:
        """``nn.Linear`` per member: ``(S, batch, in)`` -> ``(S, batch, out)``."""
        weight, bias = self.tensor(prefix + "weight"), self.tensor(prefix + "bias")
        return torch.baddbmm(bias.unsqueeze(1), z, weight.transpose(1, 2))

    def _dropout(
        self, h: torch.Tensor, generators: Sequence[torch.Generator] | None
    ) -> torch.Tensor:
        """Dropout of ``h`` ``(S, ...)``; member ``m``'s mask comes from ``generators[m]``.

        A mask element keeps its activation when a uniform 16-bit integer is at least
        ``round(p * 2**16)``: the drop probability is ``p`` rounded to a multiple of
        ``2**-16`` (``p_eff``), and kept activations are scaled by ``1 / (1 - p_eff)``.
        Each 64-bit draw gives four mask elements, which makes the masks about four
        times cheaper than ``bernoulli_`` on CPU (there, the masks were a fifth of a
        training step). Without ``generators``, ``torch.nn.functional.dropout``.
        """
        p = self.cfg.dropout
        if not self.training or p == 0.0:
            return h
        if generators is None:
            return functional.dropout(h, p, training=True)
        members, per_member = h.shape[0], h[0].numel()
        words = torch.empty(members, -(-per_member // 4), dtype=torch.int64, device=h.device)
        for row, generator in zip(words, generators, strict=True):
            row.random_(-(2**63), None, generator=generator)
        dropped = round(p * 2**16)
        lanes = words.view(torch.int16)[:, :per_member]
        keep = (lanes >= dropped - 2**15).reshape(h.shape)
        return h * keep.to(h.dtype).mul_(2**16 / (2**16 - dropped))

    def _conv_stack(
        self, x: torch.Tensor, prefix: str, generators: Sequence[torch.Generator] | None
    ) -> torch.Tensor:
        """Causal conv blocks: ``(S, batch, time, features)`` -> ``(S, channels, batch, time)``.

        Each convolution is one batched matrix product of the members' weights
        ``(S, out, in * kernel)`` with their left-padded time windows.
        """
        cfg = self.cfg
        members, batch, steps = x.shape[:3]
        k = cfg.kernel_size
        # (S, batch, time, in) -> windows (S, batch * time, in * kernel), index c * k + j.
        windows = functional.pad(x, (0, 0, k - 1, 0)).unfold(2, k, 1)
        h = x.new_empty(0)
        for index, channels in enumerate(cfg.conv_channels):
            block = f"{prefix}{index}."
            if index > 0:  # h: (S, channels, batch, time)
                windows = functional.pad(h, (k - 1, 0)).unfold(3, k, 1).permute(0, 2, 3, 1, 4)
            weight = self.tensor(block + "conv.weight")  # (S, out, in, kernel)
            h = torch.baddbmm(
                self.tensor(block + "conv.bias").unsqueeze(2),
                weight.reshape(members, channels, -1),
                windows.reshape(members, batch * steps, -1).transpose(1, 2),
            )  # (S, out, batch * time)
            h = functional.relu(self._channel_norm(h, block + "norm."))
            h = self._dropout(h.reshape(members, channels, batch, steps), generators)
        return h

    def _channel_norm(self, h: torch.Tensor, prefix: str) -> torch.Tensor:
        """Norm of a conv block's output ``(S, channels, positions)``, per member."""
        norm = self.cfg.norm
        members, channels, positions = h.shape
        if norm == "batch":
            return self._batch_norm(h.reshape(1, members * channels, positions), prefix).view(
                members, channels, positions
            )
        if norm == "layer":
            # ChannelLayerNorm: over each member's channels at every position.
            z = functional.layer_norm(h.transpose(1, 2), (channels,), eps=NORM_EPS)
            z = z * self.tensor(prefix + "layer_norm.weight").unsqueeze(1)
            z = z + self.tensor(prefix + "layer_norm.bias").unsqueeze(1)
            return z.transpose(1, 2)
        return h

    def _batch_norm(self, h: torch.Tensor, prefix: str) -> torch.Tensor:
        """``BatchNorm1d`` per member on ``(N, S * channels[, positions])``: per-channel
        statistics are each member's own."""
        running_mean = self.tensor(prefix + "running_mean")
        running_var = self.tensor(prefix + "running_var")
        out = functional.batch_norm(
            h,
            running_mean.view(-1),  # views: the in-place update reaches the buffers
            running_var.view(-1),
            self.tensor(prefix + "weight").reshape(-1),
            self.tensor(prefix + "bias").reshape(-1),
            training=self.training,
            momentum=BATCH_NORM_MOMENTUM,
            eps=NORM_EPS,
        )
        if self.training:
            self.tensor(prefix + "num_batches_tracked").add_(1)
        return out

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        """TemporalPool on ``(S, channels, batch, time)``: drop the oldest
        ``time mod pool_size`` steps, then max or average over groups of ``pool_size``."""
        cfg = self.cfg
        if cfg.pooling == "none":
            return h
        steps = h.shape[-1] // cfg.pool_size
        grouped = h[..., h.shape[-1] % cfg.pool_size :].unflatten(-1, (steps, cfg.pool_size))
        if cfg.pooling == "max":
            return grouped.max(dim=-1).values
        return grouped.mean(dim=-1)

    def _lstm(
        self,
        sequence: torch.Tensor,
        prefix: str,
        generators: Sequence[torch.Generator] | None,
    ) -> torch.Tensor:
        """``nn.LSTM`` per member on a time-major ``(S, time, batch, in)`` sequence ->
        last hidden state of the last layer ``(S, batch, hidden)``."""
        cfg = self.cfg
        members, steps, batch = sequence.shape[:3]
        h = sequence
        state: torch.Tensor | None = None
        for layer in range(cfg.lstm_layers):
            w_ih = self.tensor(f"{prefix}weight_ih_l{layer}")
            w_hh = self.tensor(f"{prefix}weight_hh_l{layer}")
            bias = self.tensor(f"{prefix}bias_ih_l{layer}") + self.tensor(
                f"{prefix}bias_hh_l{layer}"
            )
            # The input projection of every time step at once, both biases folded in.
            projected = torch.baddbmm(
                bias.unsqueeze(1), h.reshape(members, steps * batch, -1), w_ih.transpose(1, 2)
            ).view(members, steps, batch, -1)
            state, cell = None, None
            outputs = []
            for gates in projected.unbind(1):
                if state is not None:
                    gates = torch.baddbmm(gates, state, w_hh.transpose(1, 2))
                i, f, g, o = gates.chunk(4, dim=2)
                i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
                cell = i * g if cell is None else f * cell + i * g
                state = o * torch.tanh(cell)
                outputs.append(state)
            if layer + 1 < cfg.lstm_layers:
                # As nn.LSTM: dropout between layers, on every time step's output.
                h = self._dropout(torch.stack(outputs, dim=1), generators)
        if state is None:
            raise ValueError("the LSTM needs at least one time step")
        return state

    def _dense_head(
        self, z: torch.Tensor, prefix: str, generators: Sequence[torch.Generator] | None
    ) -> torch.Tensor:
        """DenseHead: ``Linear -> ReLU -> dropout -> Linear`` per member."""
        h = functional.relu(self._linear(z, prefix + "0."))
        h = self._dropout(h, generators)
        return self._linear(h, prefix + "3.")

    def _mlp(
        self, x: torch.Tensor, prefix: str, generators: Sequence[torch.Generator] | None
    ) -> torch.Tensor:
        """MLP: flatten -> ``Linear -> norm -> ReLU -> dropout -> Linear`` per member."""
        members, batch = x.shape[:2]
        h = self._linear(x.reshape(members, batch, -1), prefix + "1.")
        hidden = h.shape[-1]
        if self.cfg.norm == "batch":
            flat = h.transpose(0, 1).reshape(batch, members * hidden)
            h = self._batch_norm(flat, prefix + "2.").reshape(batch, members, hidden)
            h = h.transpose(0, 1)
        elif self.cfg.norm == "layer":
            h = functional.layer_norm(h, (hidden,), eps=NORM_EPS)
            h = h * self.tensor(prefix + "2.weight").unsqueeze(1)
            h = h + self.tensor(prefix + "2.bias").unsqueeze(1)
        h = functional.relu(h)
        h = self._dropout(h, generators)
        return self._linear(h, prefix + "5.")
