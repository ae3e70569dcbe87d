"""What scaled training, input modes, the skip path and the refit buy: MASE per data set.

Runs the project's backtest (``train_and_backtest``: same folds, windows and training
settings as the default config) for a few training variants of the default ``cnn_lstm``
and prints one table of MASE (the project's scales: in-sample seasonal-naive MAE up to
each origin, as in ``evaluation.baselines`` / ``evaluation.compare``), mean over seeds,
with ridge and naive from the same folds. No MLflow tracking; checkpoints go to a
temporary folder.

    PYTHONPATH=src .venv/bin/python benchmarks/probe_training.py --seeds 0 1
    PYTHONPATH=src .venv/bin/python benchmarks/probe_training.py --datasets us_employment \\
        --n-origins 4 --variants scaled relative_last

``--n-origins`` keeps only the last N origins of every data set (fewer test points,
faster); the table says when it was used. Time on one CPU thread, one seed, the four
default variants: China ~20 s, GGDC ~1.5 min, US employment ~4.5 min (8 origins; the
no-pooling and refit variants train 2-5x longer), so ``--n-origins 4`` for a quick look.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from convergence.backtest.inputs import forecast_measurement_spec
from convergence.config import load_config
from convergence.data.canonical import to_wide
from convergence.data.ingest import ingest_dataset
from convergence.measures.index import subsystem_indicators
from convergence.models.baselines import baseline_backtest, season_length_for
from convergence.provenance import PROJECT_ROOT
from convergence.settings import ModelSettings, TrainingSettings, training_settings
from convergence.training.backtest import train_and_backtest

#: variant name -> (model_cfg overrides, training_cfg overrides)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "unscaled (old)": (
        {"scaling": "none", "input_mode": "levels", "skip": False},
        {"refit": False},
    ),
    "scaled": ({"scaling": "standard", "input_mode": "levels", "skip": False}, {"refit": False}),
    "scaled+relative_last+no_pool": (
        {"scaling": "standard", "input_mode": "relative_last", "pooling": "none", "skip": False},
        {"refit": False},
    ),
    "scaled+revin+no_pool": (
        {"scaling": "standard", "input_mode": "revin", "pooling": "none", "skip": False},
        {"refit": False},
    ),
    "scaled+skip+refit": (
        {"scaling": "standard", "input_mode": "levels", "skip": True},
        {"refit": True},
    ),
    "scaled+skip": (
        {"scaling": "standard", "input_mode": "levels", "skip": True},
        {"refit": False},
    ),
    "scaled+refit": (
        {"scaling": "standard", "input_mode": "levels", "skip": False},
        {"refit": True},
    ),
    "scaled+relative_last+no_pool+skip+refit": (
        {"scaling": "standard", "input_mode": "relative_last", "pooling": "none", "skip": True},
        {"refit": True},
    ),
}
DEFAULT_VARIANTS = ["unscaled (old)", "scaled", "scaled+relative_last+no_pool", "scaled+skip+refit"]
SHORT = {name: name for name in VARIANTS}


def load_panel(config: dict[str, Any], name: str) -> tuple[pd.DataFrame, Any, TrainingSettings]:
    """Wide panel, forecast measurement spec and training settings of a configured data set."""
    spec = config["datasets"][name]
    canonical, _ = ingest_dataset(name, spec, root=PROJECT_ROOT)
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    settings = training_settings(config, name)
    mspec = forecast_measurement_spec(spec, config["measures"], settings.target_headroom)
    return wide, mspec, settings


def mase(predictions: pd.DataFrame, scales: pd.DataFrame) -> float:
    merged = predictions.merge(scales, on=["fold", "entity", "origin"], how="left")
    scale = merged["scale"].to_numpy(dtype=float)
    error = (merged["actual"] - merged["predicted"]).abs().to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(scale > 0, error / scale, np.nan)
    return float(np.nanmean(terms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["china", "ggdc", "us_employment"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--n-origins", type=int, default=None, help="last N origins only")
    parser.add_argument("--config", default=str(PROJECT_ROOT / "config.yaml"))
    parser.add_argument("--csv", default=None, help="also write the long results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    config = load_config(args.config)
    base_model = dict(config["models"]["cnn_lstm"])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            wide, mspec, settings = load_panel(config, dataset)
            settings = dataclasses.replace(settings, accelerator="cpu", devices=1)
            if args.n_origins is not None:
                n_origins = min(args.n_origins, settings.n_origins)
                settings = dataclasses.replace(settings, n_origins=n_origins)
            frequency = config["datasets"][dataset]["frequency"]
            baselines, scales = baseline_backtest(
                dataset=dataset,
                wide=wide,
                mspec=mspec,
                settings=settings,
                baselines=["naive", "ridge"],
                season_length=season_length_for(frequency),
            )
            for name, group in baselines.groupby("model"):
                rows.append(
                    {
                        "dataset": dataset,
                        "variant": name,
                        "seed": 0,
                        "MASE": mase(group, scales),
                        "seconds": 0.0,
                    }
                )
            for variant in args.variants:
                model_over, training_over = VARIANTS[variant]
                for seed in args.seeds:
                    started = time.perf_counter()
                    predictions = train_and_backtest(
                        dataset=dataset,
                        wide=wide,
                        mspec=mspec,
                        model_name="cnn_lstm",
                        model=ModelSettings.from_mapping({**base_model, **model_over}),
                        settings=dataclasses.replace(settings, **training_over),
                        seed=seed,
                        out_dir=Path(tmp) / dataset / variant.replace(" ", "_") / str(seed),
                        tracking=None,
                    )
                    seconds = time.perf_counter() - started
                    score = mase(predictions, scales)
                    rows.append(
                        {
                            "dataset": dataset,
                            "variant": variant,
                            "seed": seed,
                            "MASE": score,
                            "seconds": seconds,
                        }
                    )
                    print(
                        f"{dataset:14s} {variant:42s} seed {seed}: MASE {score:.3f} ({seconds:.0f}s)",
                        flush=True,
                    )
    results = pd.DataFrame(rows)
    if args.csv:
        results.to_csv(args.csv, index=False)
    table = results.pivot_table(index="variant", columns="dataset", values="MASE", aggfunc="mean")
    order = [v for v in [*args.variants, "ridge", "naive"] if v in table.index]
    table = table.loc[order, [d for d in args.datasets if d in table.columns]]
    seeds = ", ".join(str(s) for s in args.seeds)
    origins = f", last {args.n_origins} origins only" if args.n_origins else ""
    print(f"\nMASE (mean over seeds {seeds}{origins}; ridge/naive deterministic)\n")
    print(table.to_markdown(floatfmt=".3f"))
    seconds = results[results["seconds"] > 0].groupby("dataset")["seconds"].sum()
    print(
        "\ntraining seconds per data set: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
    )


if __name__ == "__main__":
    main()
