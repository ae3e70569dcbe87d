"""Sequential seeds vs one vectorised seed ensemble: training samples/s, side by side.

Trains the default config's CNN-LSTM (skip path, elastic net, batch 512, learning rate
0.01) on the synthetic generator (N entities x 60 periods, window 8, horizon 3, one
fold) for a fixed number of epochs, S seeds:

* **sequential**: what a train job does with ``training.vectorise_seeds: false``, one
  seed after another, each through
  :func:`convergence.training.backtest.train_fold` (Lightning Trainer, early stopping
  and best-weights callbacks, one checkpoint written);
* **ensemble**: ``training.vectorise_seeds: true``, the S seeds as one ensemble
  (:func:`convergence.training.seed_ensemble.build_members` +
  :func:`~convergence.training.seed_ensemble.fit_members`, one checkpoint per member).

Both validate every epoch (patience larger than the epochs, so every seed trains every
epoch) and run deterministic algorithms, as the pipeline does. Samples/s counts training
windows of every seed: ``epochs * train windows * S / seconds``. The two sides alternate
``--repeats`` times; the median time is reported.

    .venv/bin/python benchmarks/seed_ensemble.py --entities 1000 10000 --epochs 3
    .venv/bin/python benchmarks/seed_ensemble.py --device cuda --entities 1000 10000 100000
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch
from training_overhead import MODEL, make_windows

from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.backtest import train_fold
from convergence.training.seed_ensemble import (
    build_members,
    ensemble_device,
    fit_members,
    member_module,
    save_member_checkpoint,
    set_determinism,
)

LOSS = {"penalty": "elastic_net", "penalty_lambda": 1e-4, "penalty_alpha": 0.5, "skip": True}


def settings_for(args: argparse.Namespace) -> TrainingSettings:
    return TrainingSettings.from_mapping(
        {
            "max_epochs": args.epochs,
            "patience": args.epochs + 1,
            "batch_size": args.batch_size,
            "learning_rate": 0.01,
            "accelerator": "gpu" if args.device == "cuda" else "cpu",
            "devices": 1,
            "deterministic": True,
        }
    )


def network_of(windows) -> dict:
    return {
        **MODEL,
        "skip": True,
        "n_features": windows.n_features,
        "window": windows.window,
        "horizon": windows.horizon,
    }


def sequential(windows, seeds: list[int], settings: TrainingSettings, folder: Path) -> float:
    """Seconds to train every seed one after another (the sequential train job)."""
    model = ModelSettings.from_mapping({**MODEL, **LOSS})
    started = time.perf_counter()
    for seed in seeds:
        pl.seed_everything(seed, workers=True, verbose=False)
        train_fold(
            windows,
            network=network_of(windows),
            model=model,
            settings=settings,
            fold_dir=folder / f"seed{seed}",
            root_dir=folder,
            seed=seed,
        )
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def ensemble(windows, seeds: list[int], settings: TrainingSettings, folder: Path) -> float:
    """Seconds to train every seed as one ensemble (``training.vectorise_seeds``)."""
    model = ModelSettings.from_mapping({**MODEL, **LOSS})
    started = time.perf_counter()
    device = ensemble_device(settings)
    set_determinism(settings.deterministic)
    members = build_members(
        network_of(windows),
        model.module_hparams(),
        settings.learning_rate,
        windows.x_train,
        windows.y_train,
        seeds,
    )
    fits = fit_members(
        members,
        seeds,
        windows.x_train,
        windows.y_train,
        windows.x_val,
        windows.y_val,
        batch_size=settings.batch_size,
        epochs=[settings.max_epochs] * len(seeds),
        patience=settings.patience,
        device=device,
    )
    for member, fit, seed in zip(members, fits, seeds, strict=True):
        save_member_checkpoint(
            member_module(member, fit.state),
            folder / f"seed{seed}" / "best.ckpt",
            best_score=fit.best_score,
            best_epoch=fit.best_epoch,
            epochs=len(fit.history),
            steps=fit.steps,
        )
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs per side")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--output", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    settings = settings_for(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n, threads in itertools.product(args.entities, args.threads):
            torch.set_num_threads(threads)
            windows = make_windows(n)
            samples = args.epochs * len(windows.x_train) * len(seeds)
            # Warm-up: one-off start-up costs (allocator, kernels) billed to neither side.
            warm = settings_for(argparse.Namespace(**{**vars(args), "epochs": 1}))
            ensemble(windows, seeds[:1], warm, folder / "warm")
            times: dict[str, list[float]] = {"sequential": [], "ensemble": []}
            for repeat in range(args.repeats):
                times["sequential"].append(sequential(windows, seeds, settings, folder / "s"))
                times["ensemble"].append(ensemble(windows, seeds, settings, folder / "e"))
                print(f"{n} entities, {threads} threads, repeat {repeat + 1}: {times}", flush=True)
            seq_s, ens_s = (statistics.median(times[k]) for k in ("sequential", "ensemble"))
            rows.append(
                {
                    "entities": f"{n:,}",
                    "threads": threads,
                    "train windows": f"{len(windows.x_train):,}",
                    "sequential samples/s": f"{samples / seq_s:,.0f}",
                    "ensemble samples/s": f"{samples / ens_s:,.0f}",
                    "ratio": f"{seq_s / ens_s:.2f}",
                    "sequential s": f"{seq_s:.1f}",
                    "ensemble s": f"{ens_s:.1f}",
                }
            )
    table = pd.DataFrame(rows)
    header = (
        f"device: {args.device} ({device_name(args.device)}), "
        f"seeds: {args.seeds}, epochs: {args.epochs}, batch size: {args.batch_size}, "
        f"repeats: {args.repeats}, torch {torch.__version__}"
    )
    markdown = table.to_markdown(index=False, stralign="right")
    print(f"\n{header}\n\n{markdown}")
    print("ratio: ensemble samples/s / sequential samples/s (target on 2 CPU cores: >= 3)")
    if args.output is not None:
        args.output.write_text(
            f"# benchmarks/seed_ensemble.py: recorded output\n\n"
            f"`{' '.join(['benchmarks/seed_ensemble.py', *_cli(args)])}`\n\n"
            f"{header}\n\n{markdown}\n\n"
            "ratio: ensemble samples/s / sequential samples/s (target on 2 CPU cores: >= 3)\n"
        )


def _cli(args: argparse.Namespace) -> list[str]:
    entities = " ".join(str(n) for n in args.entities)
    threads = " ".join(str(n) for n in args.threads)
    return [
        f"--entities {entities}",
        f"--epochs {args.epochs}",
        f"--seeds {args.seeds}",
        f"--batch-size {args.batch_size}",
        f"--threads {threads}",
        f"--repeats {args.repeats}",
        f"--device {args.device}",
    ]


if __name__ == "__main__":
    main()
