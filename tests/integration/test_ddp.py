"""Backtest with devices=2 on CPU (gloo): both ranks train, rank 0 alone writes and tracks.

``ddp_fork`` (the CPU choice inside a Snakemake job, whose script has no ``__main__``
guard) and ``ddp_spawn`` run in-process; ``strategy="ddp"`` would re-run pytest in rank 1.

Each rank trains on its share of every global batch
(:class:`~convergence.training.datamodule.DeviceBatches` with ``rank``/``world_size``) with
its loss scaled by its share, so the averaged gradient is the global batch's gradient: for
a network without batch normalization or dropout the result equals a one-device run with
the same (global) batch size, up to all-reduce rounding. The logged losses are sums
reduced over both ranks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from panels import TRENDING_SPEC, trending_panel

from convergence.settings import ModelSettings, TrainingSettings
from convergence.tracking.mlflow_tracking import TrackingContext, init_experiments, parent_run
from convergence.training.backtest import train_and_backtest

pytestmark = pytest.mark.slow

SPEC = TRENDING_SPEC
# Layer norm, not batch norm: per-rank batch statistics would differ from the global ones.
MODEL = {"architecture": "mlp", "dense_hidden": 8, "dropout": 0.0, "norm": "layer"}
TRAINING = {
    "window": 4,
    "horizon": 2,
    "n_origins": 1,
    "val_size": 3,
    "min_train": 12,
    "max_epochs": 3,
    "patience": 3,
    "batch_size": 32,
    "target": "change",
    "accelerator": "cpu",
}


def make_panel(n_entities: int = 6, n_periods: int = 24, seed: int = 0) -> pd.DataFrame:
    """Wide toy panel (see :mod:`panels`)."""
    return trending_panel(n_entities, n_periods, seed)


def backtest(tmp_path: Path, name: str, **device: object) -> tuple[pd.DataFrame, Path, str]:
    """Tracked backtest in ``tmp_path/name``; returns predictions, out dir, MLflow URI."""
    root = tmp_path / name
    uri = f"sqlite:///{root / 'mlflow.db'}"
    experiment = init_experiments(uri, ["toy"], root)["toy"]
    with parent_run(uri, experiment, "mlp-seed0", {"seed": 0}, {"dataset": "toy"}) as run_id:
        predictions = train_and_backtest(
            dataset="toy",
            wide=make_panel(),
            mspec=SPEC,
            model_name="mlp",
            model=ModelSettings.from_mapping(MODEL),
            settings=TrainingSettings.from_mapping({**TRAINING, **device}),
            seed=0,
            out_dir=root / "out",
            tracking=TrackingContext(uri, experiment, run_id),
        )
    return predictions, root / "out", uri


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    torch.set_num_threads(1)
    return backtest(tmp_path_factory.mktemp("single"), "single", devices=1)[0]


@pytest.fixture
def rank_log(tmp_path: Path) -> Iterator[Path]:
    """Lightning's INFO lines in a file; forked ranks inherit the handler and append."""
    path = tmp_path / "ranks.log"
    handler = logging.FileHandler(path)
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield path
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
    handler.close()


@pytest.mark.parametrize("strategy", ["ddp_fork", "ddp_spawn"])
def test_two_cpu_ranks_match_one_device(
    strategy: str, single: pd.DataFrame, tmp_path: Path, rank_log: Path
) -> None:
    torch.set_num_threads(1)
    predictions, out_dir, uri = backtest(tmp_path, strategy, devices=2, strategy=strategy)
    if strategy == "ddp_fork":  # spawned ranks start with fresh logging: no handler to see
        text = rank_log.read_text()
        for rank in (0, 1):
            assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in text, text
        assert "distributed_backend=gloo" in text

    # Rank 0 alone wrote files: one checkpoint, one predictions file, one history.
    # With refit (the default) the early-stopping model is kept beside the refitted one.
    assert sorted(p.name for p in (out_dir / "fold0").iterdir()) == [
        "best.ckpt",
        "early_stopping.ckpt",
        "predictions.csv",
    ]
    assert sorted(p.name for p in out_dir.glob("*.csv")) == ["history.csv"]
    assert not list(out_dir.rglob("history.json"))

    # One parent run with one child run per fold, all finished, with history and metrics.
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 1
    assert {r.info.status for r in runs} == {"FINISHED"}
    child = children[0]
    assert child.data.metrics["epochs"] == TRAINING["max_epochs"]
    assert np.isfinite(child.data.metrics["best_val_loss"])
    assert len(client.get_metric_history(child.info.run_id, "val_loss")) == TRAINING["max_epochs"]
    assert set(predictions["run_id"]) == {child.info.run_id}

    # Shards of the same global batches: the averaged gradient is the one-device gradient.
    np.testing.assert_allclose(
        predictions["predicted"].to_numpy(), single["predicted"].to_numpy(), rtol=0, atol=1e-5
    )
