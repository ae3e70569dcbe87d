"""Trainer device settings inside a SLURM job: the trainer uses the devices it was given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from panels import learnable_windows

from convergence.backtest.windows import FoldWindows
from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.backtest import train_fold
from convergence.training.devices import trainer_device_kwargs

#: What `srun -n1` inside `sbatch --ntasks=1 --cpus-per-task=2` exports (a Snakemake job).
ONE_TASK_JOB = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOBID": "4242",
    "SLURM_JOB_NAME": "snakejob",
    "SLURM_NTASKS": "1",
    "SLURM_NPROCS": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NNODES": "1",
    "SLURM_JOB_NUM_NODES": "1",
    "SLURM_NODELIST": "localhost",
    "SLURM_CPUS_PER_TASK": "2",
    "SLURM_STEP_ID": "0",
}
WINDOW, HORIZON, N_FEATURES = 4, 2, 3
NETWORK = {
    "architecture": "cnn_lstm",
    "n_features": N_FEATURES,
    "window": WINDOW,
    "horizon": HORIZON,
    "conv_channels": [4],
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "dropout": 0.0,
}
SETTINGS = {
    "window": WINDOW,
    "horizon": HORIZON,
    "n_origins": 1,
    "val_size": 1,
    "min_train": 4,
    "max_epochs": 2,
    "patience": 2,
    "batch_size": 32,
    "accelerator": "cpu",
    "devices": 1,
}


@pytest.fixture
def slurm_job(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ONE_TASK_JOB.items():
        monkeypatch.setenv(key, value)
    torch.set_num_threads(1)


def tiny_windows(n: int = 96) -> FoldWindows:
    return learnable_windows(n, window=WINDOW)


def test_defaults_pin_lightning_environment_on_one_node() -> None:
    kwargs = trainer_device_kwargs(TrainingSettings.from_mapping(SETTINGS))
    assert kwargs["strategy"] == "auto" and kwargs["num_nodes"] == 1
    assert [type(p) for p in kwargs["plugins"]] == [LightningEnvironment]
    # Several nodes: leave SLURM/torchrun detection to Lightning (ranks come from srun).
    assert "plugins" not in trainer_device_kwargs(
        TrainingSettings.from_mapping({**SETTINGS, "num_nodes": 2})
    )
    with pytest.raises(ValueError, match="num_nodes"):
        trainer_device_kwargs(TrainingSettings.from_mapping({**SETTINGS, "num_nodes": 0}))


def test_plain_trainer_would_pick_slurm_environment(slurm_job: None) -> None:
    """The problem being fixed: without the plugin Lightning adopts the SLURM job."""
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False)
    assert isinstance(trainer._accelerator_connector.cluster_environment, SLURMEnvironment)


def test_two_devices_in_a_one_task_job_give_world_size_two(slurm_job: None) -> None:
    kwargs = trainer_device_kwargs(
        TrainingSettings.from_mapping({**SETTINGS, "devices": 2, "strategy": "ddp_fork"})
    )
    trainer = pl.Trainer(**kwargs, logger=False)
    assert isinstance(trainer._accelerator_connector.cluster_environment, LightningEnvironment)
    assert trainer.world_size == 2 and trainer.num_devices == 2


def test_one_task_job_trains_a_fold_with_world_size_one(slurm_job: None, tmp_path: Path) -> None:
    pl.seed_everything(0, workers=True, verbose=False)
    best, best_path, best_val, trainer = train_fold(
        tiny_windows(),
        network=NETWORK,
        model=ModelSettings.from_mapping({"penalty": "none"}),
        settings=TrainingSettings.from_mapping(SETTINGS),
        fold_dir=tmp_path / "fold0",
        root_dir=tmp_path,
        seed=0,
    )
    assert trainer.world_size == 1
    assert isinstance(trainer._accelerator_connector.cluster_environment, LightningEnvironment)
    assert len(best.history) == 2 and Path(best_path).is_file()
    assert best_val is not None and np.isfinite(best_val)
    assert best_val == pytest.approx(min(row["val_loss"] for row in best.history), rel=1e-6)
