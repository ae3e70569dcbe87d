"""Lightning vs a plain PyTorch loop: samples/s, epoch time and peak memory, side by side.

Trains the CNN-LSTM on the synthetic generator (N entities x 60 periods, window 8,
horizon 3) for a fixed number of epochs, once through the project's Lightning path
(ConvergenceForecaster + WindowDataModule + Trainer) and once with a hand-written loop
over the same device tensors, same batch size, optimizer and loss; and the Lightning path
once more with the garbage collector frozen (``gc.freeze``, as in the forkserver's jobs).
Prints one table.

    .venv/bin/python benchmarks/training_overhead.py --entities 1000 10000 --epochs 3
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from convergence.backtest.folds import rolling_origin_folds
from convergence.backtest.windows import build_fold_windows
from convergence.data.synthetic import simulate_coupled_industries
from convergence.measures.index import MeasurementSpec
from convergence.training.datamodule import DeviceBatches, WindowDataModule
from convergence.training.module import ConvergenceForecaster

MODEL = {
    "architecture": "cnn_lstm",
    "conv_channels": [16],
    "kernel_size": 3,
    "pooling": "max",
    "pool_size": 2,
    "lstm_hidden": 32,
    "lstm_layers": 1,
    "dense_hidden": 32,
    "norm": "batch",
    "dropout": 0.1,
}
SPEC = MeasurementSpec(
    subsystems={
        "agriculture": {"x_output": "benefit", "x_share": "benefit"},
        "ict": {"y_output": "benefit", "y_share": "benefit"},
    }
)


def make_windows(n_entities: int, n_periods: int = 60, window: int = 8, horizon: int = 3):
    panel, _ = simulate_coupled_industries(n_entities, n_periods, seed=1)
    wide = panel.pivot_table(index=["entity", "period"], columns="indicator", values="value")
    periods = sorted(wide.index.get_level_values("period").unique())
    fold = rolling_origin_folds(periods, n_origins=1, horizon=horizon, val_size=3, min_train=20)[0]
    return build_fold_windows(wide, SPEC, fold, window=window, horizon=horizon)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class EpochTimer(pl.Callback):
    """Wall time of every training epoch (fit start-up excluded)."""

    def __init__(self) -> None:
        self.start, self.times = 0.0, []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.start)


def lightning_run(windows, epochs: int, batch_size: int) -> tuple[float, list[float]]:
    """Seconds for the whole ``Trainer.fit`` and the time of each epoch."""
    pl.seed_everything(0, workers=True, verbose=False)
    network = {
        **MODEL,
        "n_features": windows.n_features,
        "window": windows.window,
        "horizon": windows.horizon,
    }
    module = ConvergenceForecaster(network=network, penalty="elastic_net", penalty_lambda=1e-4)
    data = WindowDataModule(windows, batch_size=batch_size, seed=0)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="auto",
        devices=1,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer := EpochTimer()],
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    return time.perf_counter() - start, timer.times


def plain_run(windows, epochs: int, batch_size: int) -> tuple[float, list[float]]:
    """Seconds for the whole loop (tensors to device included) and each epoch."""
    from convergence.models.networks import NetworkConfig, build_network, weight_penalty

    torch.manual_seed(0)
    start = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network = build_network(
        NetworkConfig(
            **MODEL, n_features=windows.n_features, window=windows.window, horizon=windows.horizon
        )
    )
    network.to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    x = torch.as_tensor(windows.x_train, device=device)
    y = torch.as_tensor(windows.y_train, device=device)
    batches = DeviceBatches(x, y, batch_size, shuffle=True, seed=0)
    times = []
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        batches.sampler.set_epoch(epoch)
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(network(xb), yb)
            loss = loss + weight_penalty(network, "elastic_net", 1e-4, 0.5)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - epoch_start)
    return time.perf_counter() - start, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Both sides run deterministic algorithms, as the pipeline's Trainer does.
    torch.use_deterministic_algorithms(True)
    rows = []
    for n in args.entities:
        windows = make_windows(n)
        per_epoch = len(windows.x_train)
        # Warm-up so one-off start-up costs (allocator, kernels) are not billed to either side.
        plain_run(windows, 1, args.batch_size)
        # Alternate the two sides and take medians: a shared machine drifts by 10-20%.
        t_plain, t_light, plain_epochs, light_epochs, frozen_epochs = [], [], [], [], []
        for _ in range(args.repeats):
            total, epochs = plain_run(windows, args.epochs, args.batch_size)
            t_plain.append(total)
            plain_epochs += epochs
            total, epochs = lightning_run(windows, args.epochs, args.batch_size)
            t_light.append(total)
            light_epochs += epochs
            gc.collect()
            gc.freeze()
            try:
                frozen_epochs += lightning_run(windows, args.epochs, args.batch_size)[1]
            finally:
                gc.unfreeze()
        plain_epoch, light_epoch = np.median(plain_epochs), np.median(light_epochs)
        frozen_epoch = np.median(frozen_epochs)
        rows.append(
            {
                "entities": n,
                "train_windows": per_epoch,
                "plain_samples_per_s": per_epoch / plain_epoch,
                "lightning_samples_per_s": per_epoch / light_epoch,
                "lightning_gc_frozen_samples_per_s": per_epoch / frozen_epoch,
                "plain_epoch_s": plain_epoch,
                "lightning_epoch_s": light_epoch,
                "epoch_ratio": light_epoch / plain_epoch,
                "fit_ratio": np.median(t_light) / np.median(t_plain),
                "gc_frozen_ratio": frozen_epoch / light_epoch,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        print(f"{n} entities done", flush=True)
    table = pd.DataFrame(rows)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(
        f"\ndevice: {device}, threads: {args.threads}, epochs: {args.epochs}, "
        f"batch size: {args.batch_size}, repeats: {args.repeats}"
    )
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 160):
        print(table.to_string(index=False))
    print(
        "epoch_ratio: median epoch time, Lightning / plain (target <= 1.2); fit_ratio: whole "
        "fit including Trainer start-up; gc_frozen_ratio: median epoch time, Lightning with "
        "the garbage collector frozen / Lightning; peak_rss_mb: process peak so far (cumulative)"
    )


if __name__ == "__main__":
    main()
