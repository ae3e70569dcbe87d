"""Batches as index slices of tensors that live on the training device.

The window arrays of a fold are small (thousands of windows of a few dozen floats), so
they are copied to the trainer's device once in :meth:`WindowDataModule.setup` and each
batch is an index slice of those device tensors. This avoids a ``DataLoader`` (worker
processes, per-step host-to-device copies) whose overhead would dominate the step time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch

from convergence.backtest.windows import FoldWindows


class EpochShuffle:
    """Seeded permutation per epoch: epoch ``e`` uses generator seed ``seed + e``.

    Exposed as the ``sampler`` of :class:`DeviceBatches` so Lightning's fit loop calls
    :meth:`set_epoch` at the start of every epoch, as it does for a ``DataLoader``.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of epoch ``epoch``."""
        self.epoch = epoch

    def permutation(self, n: int, device: torch.device) -> torch.Tensor:
        """A permutation of ``0..n-1`` that depends only on the seed and the epoch."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(n, generator=generator).to(device)


def batch_bounds(n: int, batch_size: int, world_size: int = 1) -> list[tuple[int, int]]:
    """``(start, stop)`` of every batch of ``n`` windows; a trailing batch too small to give
    every rank two windows is merged into the previous one (see :class:`DeviceBatches`)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < 2 * world_size:
        starts.pop()
    return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


class DeviceBatches:
    """Iterable of batches sliced from tensors already on their device.

    With ``shuffle`` the order is an :class:`EpochShuffle` permutation. A trailing batch
    too small to give every rank two windows is merged into the previous one, because
    batch normalization cannot normalize a batch of one in training mode.

    Under data parallelism (``world_size > 1``) every rank draws the same global batches
    and keeps its share ``batch[rank::world_size]``, so the global batch is ``batch_size``
    whatever the number of ranks. Each item is then ``(x, y, loss_scale)`` with
    ``loss_scale = world_size * n_rank / n_global``: a rank's mean loss times this scale,
    averaged over ranks as DDP averages gradients, is exactly the mean loss of the global
    batch, even when the batch does not split evenly. With one rank items are ``(x, y)``.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank} of {world_size}")
        self.x = x
        self.y = y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.sampler = EpochShuffle(seed)
        # Lightning inspects ``sampler``/``batch_sampler`` like a DataLoader's.
        self.batch_sampler = None
        self._bounds = batch_bounds(x.shape[0], batch_size, world_size)

    def __len__(self) -> int:
        return len(self._bounds)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self.sampler.permutation(self.x.shape[0], self.x.device) if self.shuffle else None
        for start, stop in self._bounds:
            if self.world_size == 1:
                if order is None:
                    yield self.x[start:stop], self.y[start:stop]
                else:
                    index = order[start:stop]
                    yield self.x[index], self.y[index]
                continue
            index = torch.arange(start, stop, device=self.x.device)
            if order is not None:
                index = order[index]
            mine = index[self.rank :: self.world_size]
            scale = self.world_size * mine.shape[0] / (stop - start)
            yield self.x[mine], self.y[mine], torch.tensor(scale, device=self.x.device)


class WindowDataModule(pl.LightningDataModule):
    """Train/validation/test batches of one fold's windows.

    Args:
        windows: the fold's windows.
        batch_size: windows per training batch (validation and test use one batch per
            ``4 * batch_size`` windows; they need no gradient).
        seed: seed of the per-epoch shuffling of the training windows.
    """

    def __init__(self, windows: FoldWindows, batch_size: int, seed: int) -> None:
        super().__init__()
        self.windows = windows
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.device = torch.device("cpu")
        self._tensors: dict[str, torch.Tensor] = {}

    def _target_device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def setup(self, stage: str) -> None:
        """Copy every window array to the trainer's root device, once."""
        device = self._target_device()
        if self._tensors and self.device == device:
            return
        self.device = device
        w = self.windows
        arrays: dict[str, np.ndarray] = {
            "x_train": w.x_train,
            "y_train": w.y_train,
            "x_val": w.x_val,
            "y_val": w.y_val,
            "x_test": w.x_test,
            "y_test": w.y_test,
        }
        self._tensors = {
            name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)
            for name, array in arrays.items()
        }

    def _ranks(self) -> dict[str, int]:
        trainer = self.trainer
        if trainer is None:
            return {"rank": 0, "world_size": 1}
        return {"rank": int(trainer.global_rank), "world_size": int(trainer.world_size)}

    def train_dataloader(self) -> DeviceBatches:
        return DeviceBatches(
            self._tensors["x_train"],
            self._tensors["y_train"],
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            **self._ranks(),
        )

    def val_dataloader(self) -> DeviceBatches:
        # Sharded too; the module sums squared errors over ranks, so val_loss is global.
        return DeviceBatches(
            self._tensors["x_val"],
            self._tensors["y_val"],
            max(self.batch_size * 4, 1),
            shuffle=False,
            seed=self.seed,
            **self._ranks(),
        )

    def test_dataloader(self) -> DeviceBatches:
        return DeviceBatches(
            self._tensors["x_test"],
            self._tensors["y_test"],
            max(self.batch_size * 4, 1),
            shuffle=False,
            seed=self.seed,
        )
