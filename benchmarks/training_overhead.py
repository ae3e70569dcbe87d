"""Lightning vs a plain PyTorch loop: samples/s, epoch time and peak memory, side by side.

Trains the CNN-LSTM on the synthetic generator (N entities x 60 periods, window 8,
horizon 3) for a fixed number of epochs, once through the project's Lightning path
(ConvergenceForecaster + WindowDataModule + Trainer) and once with a hand-written loop
over the same device tensors, same batch size, optimizer and loss. Prints one table.

    .venv/bin/python benchmarks/training_overhead.py --entities 1000 10000 --epochs 3
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from convergence.data.synthetic import simulate_coupled_industries
from convergence.evaluation.folds import rolling_origin_folds
from convergence.measures.index import MeasurementSpec
from convergence.training.datamodule import DeviceBatches, WindowDataModule
from convergence.training.module import ConvergenceForecaster
from convergence.training.windows import build_fold_windows

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


def lightning_run(windows, epochs: int, batch_size: int) -> float:
    pl.seed_everything(0, workers=True)
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
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    return time.perf_counter() - start


def plain_run(windows, epochs: int, batch_size: int) -> float:
    from convergence.models.networks import NetworkConfig, build_network, weight_penalty

    torch.manual_seed(0)
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
    start = time.perf_counter()
    for epoch in range(epochs):
        batches.sampler.set_epoch(epoch)
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(network(xb), yb)
            loss = loss + weight_penalty(network, "elastic_net", 1e-4, 0.5)
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.entities:
        windows = make_windows(n)
        samples = len(windows.x_train) * args.epochs
        # Warm-up so one-off start-up costs (allocator, kernels) are not billed to either side.
        plain_run(windows, 1, args.batch_size)
        t_plain = plain_run(windows, args.epochs, args.batch_size)
        t_light = lightning_run(windows, args.epochs, args.batch_size)
        rows.append(
            {
                "entities": n,
                "train_windows": len(windows.x_train),
                "plain_samples_per_s": samples / t_plain,
                "lightning_samples_per_s": samples / t_light,
                "plain_epoch_s": t_plain / args.epochs,
                "lightning_epoch_s": t_light / args.epochs,
                "overhead_ratio": t_light / t_plain,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
        print(f"{n} entities done", flush=True)
    table = pd.DataFrame(rows)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(
        f"\ndevice: {device}, threads: {args.threads}, epochs: {args.epochs}, "
        f"batch size: {args.batch_size}"
    )
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 160):
        print(table.to_string(index=False))
    print(f"max overhead ratio: {np.max(table['overhead_ratio']):.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
