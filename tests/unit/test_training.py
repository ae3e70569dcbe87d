"""Training: the loss falls, checkpoints rebuild themselves, runs are deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from panels import TRENDING_SPEC, learnable_windows, trending_panel

from convergence.backtest.contract import PREDICTION_COLUMNS
from convergence.backtest.windows import FoldWindows
from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.backtest import HISTORY_COLUMNS, train_and_backtest
from convergence.training.datamodule import DeviceBatches, WindowDataModule
from convergence.training.module import ConvergenceForecaster


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    """One intra-op thread: tiny networks gain nothing from more, and a shared CPU
    with several busy threads slows them down by an order of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SPEC = TRENDING_SPEC


def make_panel(n_entities: int = 6, n_periods: int = 30, seed: int = 0) -> pd.DataFrame:
    """Wide panel of noisy trending indicators, annual periods from 1990."""
    return trending_panel(n_entities, n_periods, seed)


WINDOW, HORIZON, N_FEATURES = 4, 2, 3
NETWORK = {
    "architecture": "cnn_lstm",
    "n_features": N_FEATURES,
    "window": WINDOW,
    "horizon": HORIZON,
    "conv_channels": [8],
    "lstm_hidden": 8,
    "dense_hidden": 8,
    "dropout": 0.0,
}


def toy_windows(n: int = 256, seed: int = 0) -> FoldWindows:
    """A learnable target (a linear function of the last input step)."""
    return learnable_windows(n, window=WINDOW, seed=seed, train_share=0.8)


def fit_toy(tmp_path: Path, max_epochs: int) -> tuple[ConvergenceForecaster, pl.Trainer]:
    pl.seed_everything(3, workers=True, verbose=False)
    module = ConvergenceForecaster(
        network=NETWORK, penalty="l2", penalty_lambda=1e-5, learning_rate=1e-2
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        deterministic=True,
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=WindowDataModule(toy_windows(), batch_size=32, seed=3))
    return module, trainer


def test_device_batches_cover_all_rows_once_and_merge_singleton() -> None:
    x = torch.arange(9, dtype=torch.float32).reshape(9, 1)
    batches = DeviceBatches(x, x, batch_size=4, shuffle=True, seed=0)
    assert len(batches) == 2  # 4 + 5: a last batch of one window is merged
    seen = torch.cat([bx for bx, _ in batches]).flatten().sort().values
    assert torch.equal(seen, torch.arange(9, dtype=torch.float32))
    first = torch.cat([bx for bx, _ in batches])
    batches.sampler.set_epoch(1)
    assert not torch.equal(first, torch.cat([bx for bx, _ in batches]))


@pytest.mark.parametrize("n_rows, batch_size", [(23, 8), (20, 5), (9, 4)])
def test_rank_shards_partition_each_global_batch(n_rows: int, batch_size: int) -> None:
    x = torch.arange(n_rows, dtype=torch.float32).reshape(n_rows, 1)
    single = list(DeviceBatches(x, x, batch_size, shuffle=True, seed=5))
    ranks = [
        list(DeviceBatches(x, x, batch_size, shuffle=True, seed=5, rank=r, world_size=2))
        for r in range(2)
    ]
    assert len(ranks[0]) == len(ranks[1])  # DDP needs the same number of steps per rank
    for step, (global_x, _) in enumerate(single):
        shards = [ranks[r][step] for r in range(2)]
        together = torch.cat([shard[0] for shard in shards]).flatten().sort().values
        assert torch.equal(together, global_x.flatten().sort().values)
        assert all(shard[0].shape[0] >= 1 for shard in shards)
        # The scales average to one, weighting each rank by its share of the batch.
        scales = torch.stack([shard[2] for shard in shards])
        assert torch.isclose(scales.mean(), torch.tensor(1.0))


def test_scaled_rank_gradients_average_to_the_global_gradient() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    x, y = torch.randn(7, 3), torch.randn(7, 1)

    def gradient(loss: torch.Tensor) -> torch.Tensor:
        layer.zero_grad()
        loss.backward()
        return layer.weight.grad.clone()

    full = gradient(torch.nn.functional.mse_loss(layer(x), y))
    shards = [
        next(iter(DeviceBatches(x, y, 7, shuffle=False, seed=0, rank=r, world_size=2)))
        for r in range(2)
    ]
    per_rank = [
        gradient(torch.nn.functional.mse_loss(layer(bx), by) * scale) for bx, by, scale in shards
    ]
    torch.testing.assert_close((per_rank[0] + per_rank[1]) / 2, full)


def test_device_batches_reject_bad_rank() -> None:
    x = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="rank 2 of 2"):
        DeviceBatches(x, x, 2, shuffle=False, seed=0, rank=2, world_size=2)


def test_loss_falls_and_checkpoint_round_trip(tmp_path: Path) -> None:
    module, trainer = fit_toy(tmp_path, max_epochs=25)
    history = module.history
    assert len(history) == 25
    assert history[-1]["train_mse"] < 0.3 * history[0]["train_mse"]
    assert history[-1]["val_loss"] < 0.3 * history[0]["val_loss"]

    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    reloaded = ConvergenceForecaster.load_from_checkpoint(path)
    assert reloaded.hparams.network == NETWORK
    x = toy_windows().x_test
    np.testing.assert_array_equal(module.predict_array(x), reloaded.predict_array(x))


MODEL_CFG = {
    "architecture": "cnn_lstm",
    "conv_channels": [4],
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "penalty": "elastic_net",
    "penalty_lambda": 1e-4,
}
TRAINING_CFG = {
    "window": 5,
    "horizon": 2,
    "n_origins": 2,
    "step": 1,
    "val_size": 3,
    "min_train": 15,
    "max_epochs": 3,
    "patience": 2,
    "batch_size": 16,
    "learning_rate": 1e-2,
    "target": "change",
    "accelerator": "cpu",
    "devices": 1,
    "deterministic": True,
}


def backtest(tmp_path: Path, seed: int) -> pd.DataFrame:
    return train_and_backtest(
        dataset="toy",
        wide=make_panel(),
        mspec=SPEC,
        model_name="cnn_lstm",
        model=ModelSettings.from_mapping(MODEL_CFG),
        settings=TrainingSettings.from_mapping(TRAINING_CFG),
        seed=seed,
        out_dir=tmp_path / f"seed{seed}",
        tracking=None,
    )


def test_backtest_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = backtest(tmp_path / "a", seed=1)
    second = backtest(tmp_path / "b", seed=1)
    other = backtest(tmp_path / "c", seed=2)

    assert list(first.columns) == list(PREDICTION_COLUMNS)
    assert len(first) == 2 * 6 * 2  # folds x entities x horizon
    assert first["predicted"].between(0.0, 1.0).all()
    pd.testing.assert_frame_equal(first, second)
    assert not np.allclose(first["predicted"], other["predicted"])
    # A train job trains its seeds one after another in one process: a seed's numbers
    # must not depend on the seeds trained before it.
    pd.testing.assert_frame_equal(first, backtest(tmp_path / "d", seed=1))
    for fold in (0, 1):
        assert (tmp_path / "a" / "seed1" / f"fold{fold}" / "best.ckpt").is_file()
    history = pd.read_csv(tmp_path / "a" / "seed1" / "history.csv")
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert sorted(history["fold"].unique()) == [0, 1]
    # Epochs count from 0 within each fold; the losses are finite.
    assert (history.groupby("fold")["epoch"].min() == 0).all()
    assert np.isfinite(history[["train_loss", "train_mse", "val_loss"]].to_numpy()).all()


def test_training_settings_take_schema_defaults_and_reject_unknown_keys() -> None:
    from convergence.errors import ConfigError
    from convergence.settings import schema_defaults

    cfg = {k: v for k, v in TRAINING_CFG.items() if k != "patience"}
    assert TrainingSettings.from_mapping(cfg).patience == schema_defaults("training")["patience"]
    with pytest.raises(ConfigError, match="training.patiense"):
        TrainingSettings.from_mapping({**TRAINING_CFG, "patiense": 3})
    with pytest.raises(ConfigError, match="training.val_size"):
        TrainingSettings.from_mapping({**TRAINING_CFG, "val_size": 0})


def test_warm_start_chains_early_stopping_weights_between_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fold 0 starts fresh; fold 1's early stopping and refit both start from fold 0's
    early-stopping weights (fitted on fold 0's training windows only), never from the
    refit model; without warm_start every fold starts fresh."""
    import convergence.training.backtest as backtest_module

    real_train_fold = backtest_module.train_fold
    real_refit = backtest_module.refit_module
    calls: list[tuple[str, int, dict | None, dict]] = []

    def snapshot(module) -> dict:
        return {k: v.detach().clone() for k, v in module.network.state_dict().items()}

    def recording_train_fold(windows, **kwargs):
        best, path, val, trainer = real_train_fold(windows, **kwargs)
        calls.append(("early_stopping", len(calls), kwargs.get("initial_state"), snapshot(best)))
        return best, path, val, trainer

    def recording_refit(windows, **kwargs):
        best, path = real_refit(windows, **kwargs)
        calls.append(("refit", len(calls), kwargs.get("initial_state"), snapshot(best)))
        return best, path

    monkeypatch.setattr(backtest_module, "train_fold", recording_train_fold)
    monkeypatch.setattr(backtest_module, "refit_module", recording_refit)
    settings = TrainingSettings.from_mapping({**TRAINING_CFG, "refit": True, "warm_start": True})
    train_and_backtest(
        dataset="toy",
        wide=make_panel(),
        mspec=SPEC,
        model_name="cnn_lstm",
        model=ModelSettings.from_mapping(MODEL_CFG),
        settings=settings,
        seed=0,
        out_dir=tmp_path / "warm",
        tracking=None,
    )
    kinds = [call[0] for call in calls]
    assert kinds == ["early_stopping", "refit", "early_stopping", "refit"]
    assert calls[0][2] is None and calls[1][2] is None  # fold 0: fresh
    fold0_early_stopping = calls[0][3]
    for _, _, start, _ in calls[2:]:  # fold 1: both fits start from fold 0's ES weights
        assert start is not None and start.keys() == fold0_early_stopping.keys()
        for key, value in start.items():
            torch.testing.assert_close(value, fold0_early_stopping[key])
    assert any(not torch.equal(calls[1][3][k], v) for k, v in fold0_early_stopping.items())

    calls.clear()
    train_and_backtest(
        dataset="toy",
        wide=make_panel(),
        mspec=SPEC,
        model_name="cnn_lstm",
        model=ModelSettings.from_mapping(MODEL_CFG),
        settings=TrainingSettings.from_mapping({**TRAINING_CFG, "refit": True}),
        seed=0,
        out_dir=tmp_path / "fresh",
        tracking=None,
    )
    assert [call[2] for call in calls] == [None] * 4


def test_build_module_starts_from_the_given_weights() -> None:
    from convergence.training.fitting import build_module

    windows = toy_windows()
    hparams = ModelSettings.from_mapping(MODEL_CFG).module_hparams()
    network = ModelSettings.from_mapping(MODEL_CFG).network_fields(N_FEATURES, WINDOW, HORIZON)
    torch.manual_seed(0)
    source = build_module(network, hparams, 1e-2, windows.x_train, windows.y_train)
    state = {k: v + 0.5 for k, v in source.network.state_dict().items() if v.is_floating_point()}
    state = {**source.network.state_dict(), **state}
    torch.manual_seed(1)
    warm = build_module(network, hparams, 1e-2, windows.x_train, windows.y_train, state)
    for key, value in warm.network.state_dict().items():
        torch.testing.assert_close(value, state[key])
