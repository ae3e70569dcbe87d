"""Data-parallel scaling: 1 vs 2 DDP processes on CPU (gloo) and, with CUDA, CPU vs GPU.

Trains the CNN-LSTM on the synthetic generator (N entities x 60 periods, window 8,
horizon 3; the windows of training_overhead.py) for a fixed number of epochs through the
project's WindowDataModule: each rank trains on its share of every global batch, so the
global batch and the samples per epoch are the same for every row. Prints samples/s and epoch time side by side in one table.

    .venv/bin/python benchmarks/multi_process.py --entities 10000 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
from training_overhead import MODEL, make_windows  # same model and windows

from convergence.training.datamodule import WindowDataModule
from convergence.training.devices import trainer_device_kwargs
from convergence.training.module import ConvergenceForecaster


class EpochTimer(pl.Callback):
    """Rank 0 writes the wall time of every training epoch to a JSON file."""

    def __init__(self, path: str) -> None:
        self.path, self.start, self.times = path, 0.0, []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.start)
        if trainer.is_global_zero:
            Path(self.path).write_text(json.dumps(self.times))


def run(windows, *, accelerator: str, devices: int, strategy: str, epochs: int, batch: int):
    pl.seed_everything(0, workers=True, verbose=False)
    network = {**MODEL, "n_features": windows.n_features, "window": windows.window,
               "horizon": windows.horizon}  # fmt: skip
    module = ConvergenceForecaster(network=network, penalty="elastic_net", penalty_lambda=1e-4)
    with tempfile.TemporaryDirectory() as tmp:
        timer = EpochTimer(os.path.join(tmp, "epochs.json"))
        settings = {"accelerator": accelerator, "devices": devices, "strategy": strategy}
        trainer = pl.Trainer(
            **trainer_device_kwargs(settings), max_epochs=epochs, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer], default_root_dir=tmp,
        )  # fmt: skip
        start = time.perf_counter()
        trainer.fit(module, datamodule=WindowDataModule(windows, batch_size=batch, seed=0))
        total = time.perf_counter() - start
        epoch_times = json.loads(Path(timer.path).read_text())
    # The first epoch carries process start-up and the gloo rendezvous; report the rest.
    steady = epoch_times[1:] or epoch_times
    return total, sum(steady) / len(steady)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256, help="global batch size")
    parser.add_argument("--strategy", default="ddp_fork", help="ddp_fork, ddp_spawn or ddp")
    args = parser.parse_args()
    windows = make_windows(args.entities)
    n_train = len(windows.x_train)
    threads = torch.get_num_threads()
    # (name, accelerator, processes, strategy, threads per process)
    cases = [("cpu x1", "cpu", 1, "auto", threads)]
    if threads > 1:  # the per-process baseline for the 2-process row
        half = threads // 2
        cases.append((f"cpu x1, {half} thread{'s' * (half > 1)}", "cpu", 1, "auto", half))
    cases.append(("cpu x2 ddp/gloo", "cpu", 2, args.strategy, max(1, threads // 2)))
    if torch.cuda.is_available():
        cases.append(("gpu x1", "gpu", 1, "auto", threads))
    rows = []
    for name, accelerator, devices, strategy, case_threads in cases:
        torch.set_num_threads(case_threads)
        total, epoch_s = run(windows, accelerator=accelerator, devices=devices,
                             strategy=strategy, epochs=args.epochs, batch=args.batch_size)  # fmt: skip
        rows.append({
            "setup": name, "processes": devices, "threads_per_process": torch.get_num_threads(),
            "samples_per_s": n_train / epoch_s, "epoch_s": epoch_s, "fit_s_total": total,
        })  # fmt: skip
        print(f"{name} done", flush=True)
    torch.set_num_threads(threads)
    table = pd.DataFrame(rows)
    table["speedup"] = table["samples_per_s"] / table["samples_per_s"].iloc[0]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"\n{args.entities} entities, {n_train} train windows, epochs: {args.epochs} "
          f"(epoch time = mean of epochs 2..), global batch: {args.batch_size}, "
          f"strategy: {args.strategy}, {os.cpu_count()} CPUs, {device}")  # fmt: skip
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 160):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
