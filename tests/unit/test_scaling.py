"""Scaled training: target/input standardisation, input modes, skip path, refit.

The known-value test pins the contract that predictions come back unscaled
(network output x training std + training mean, per horizon); the penalty test pins
that at the default lambda the penalty no longer swamps the data loss on any built-in
data set; the refit test pins that nothing from the test span reaches a fitted value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from panels import TRENDING_SPEC, trending_panel

from convergence.backtest.contract import backtest_folds
from convergence.backtest.inputs import forecast_measurement_spec
from convergence.backtest.windows import FoldWindows, build_fold_windows
from convergence.config import load_config
from convergence.data.canonical import to_wide
from convergence.data.ingest import ingest_dataset
from convergence.errors import ConfigError
from convergence.measures.index import subsystem_indicators
from convergence.models.networks import LinearSkip, NetworkConfig, build_network
from convergence.provenance import PROJECT_ROOT
from convergence.settings import ModelSettings, TrainingSettings, training_settings
from convergence.training.backtest import train_and_backtest
from convergence.training.fitting import best_epoch_count, build_module, refit_windows
from convergence.training.module import ConvergenceForecaster
from convergence.training.scaling import (
    INPUT_MODES,
    apply_input_mode,
    fit_scaling,
)


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


WINDOW, HORIZON, N_FEATURES = 4, 3, 2
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


def loss_settings(model_cfg: dict) -> dict:
    """The module's hyperparameters of a model entry (schema defaults filled in)."""
    return ModelSettings.from_mapping({"architecture": "cnn_lstm", **model_cfg}).module_hparams()


def random_windows(n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, size=(n, WINDOW, N_FEATURES)).astype(np.float32)
    y = (rng.normal(0.0, 0.01, size=(n, HORIZON)) + [0.001, 0.002, 0.003]).astype(np.float32)
    return x, y


# --------------------------------------------------------------------------- scaling


def test_stats_are_those_of_the_training_windows() -> None:
    x, y = random_windows()
    stats = fit_scaling(x, y, "levels")
    np.testing.assert_allclose(stats.y_mean, y.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.y_std, y.astype(np.float64).std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.x_mean, x.astype(np.float64).mean(axis=(0, 1)), rtol=1e-6)
    identity = fit_scaling(x, y, "levels", scaling="none")
    np.testing.assert_array_equal(identity.y_std, np.ones(HORIZON))
    np.testing.assert_array_equal(identity.x_mean, np.zeros(N_FEATURES))


def test_constant_target_gets_unit_std() -> None:
    x, y = random_windows()
    y[:, 1] = 0.5
    stats = fit_scaling(x, y, "levels")
    assert stats.y_std[1] == 1.0
    assert stats.y_mean[1] == pytest.approx(0.5)


def test_predictions_are_network_output_times_train_std_plus_mean() -> None:
    """Known value: unscaled prediction == network(scaled input) * std_h + mean_h."""
    x, y = random_windows()
    torch.manual_seed(0)
    module = build_module(NETWORK, loss_settings({}), 1e-3, x, y)
    module.eval()
    y64 = y.astype(np.float64)
    x64 = x.astype(np.float64)
    scaled_x = (x64 - x64.mean(axis=(0, 1))) / x64.std(axis=(0, 1))
    with torch.no_grad():
        raw = module.network(torch.as_tensor(scaled_x, dtype=torch.float32)).numpy()
    expected = raw * y64.std(axis=0) + y64.mean(axis=0)
    np.testing.assert_allclose(module.predict_array(x), expected, rtol=1e-5, atol=1e-7)
    # The standardised loss: the scaled training targets have mean 0 and std 1.
    z = module.scale_targets(torch.as_tensor(y)).numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-4)


def test_checkpoint_restores_scaling_buffers(tmp_path: Path) -> None:
    x, y = random_windows()
    module = build_module(NETWORK, loss_settings({"input_mode": "revin"}), 1e-3, x, y)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu", devices=1)
    trainer.strategy.connect(module)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    reloaded = ConvergenceForecaster.load_from_checkpoint(path)
    assert reloaded.hparams.input_mode == "revin"
    for name in ("x_mean", "x_std", "y_mean", "y_std"):
        torch.testing.assert_close(getattr(reloaded, name), getattr(module, name))
    assert float(reloaded.y_std[0]) != 1.0
    np.testing.assert_array_equal(reloaded.predict_array(x), module.predict_array(x))


def test_scaling_none_keeps_the_identity() -> None:
    x, y = random_windows()
    module = build_module(NETWORK, loss_settings({"scaling": "none"}), 1e-3, x, y)
    stats = module.scaling_stats()
    np.testing.assert_array_equal(stats.y_mean, np.zeros(HORIZON))
    np.testing.assert_array_equal(stats.x_std, np.ones(N_FEATURES))


def test_bad_module_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="models.input_mode"):
        ConvergenceForecaster(network=NETWORK, input_mode="diff")
    with pytest.raises(ConfigError, match="models.scaling"):
        ConvergenceForecaster(network=NETWORK, scaling="minmax")
    with pytest.raises(ConfigError, match="models.skip"):
        NetworkConfig(**{**NETWORK, "skip": "yes"})


# ----------------------------------------------------------------------- input modes


def test_relative_last_and_revin_transforms() -> None:
    x = torch.as_tensor(random_windows()[0])
    relative = apply_input_mode(x, "relative_last")
    torch.testing.assert_close(relative[:, -1, :], torch.zeros_like(x[:, -1, :]))
    torch.testing.assert_close(relative[:, 0, :], x[:, 0, :] - x[:, -1, :])
    revin = apply_input_mode(x, "revin")
    torch.testing.assert_close(revin.mean(dim=1), torch.zeros_like(x[:, 0, :]), atol=1e-5, rtol=0)
    # Instance normalisation ignores each window's own level and scale.
    shifted = apply_input_mode(3.0 * x + 0.7, "revin")
    torch.testing.assert_close(shifted, revin, atol=1e-3, rtol=1e-3)
    assert torch.equal(apply_input_mode(x, "levels"), x)


@pytest.mark.parametrize("mode", INPUT_MODES)
@pytest.mark.parametrize("architecture", ["cnn_lstm", "lstm", "cnn", "mlp"])
@pytest.mark.parametrize("pooling", ["max", "none"])
@pytest.mark.parametrize("skip", [False, True])
def test_every_mode_with_every_pooling_and_skip(
    mode: str, architecture: str, pooling: str, skip: bool
) -> None:
    x, y = random_windows()
    network = {**NETWORK, "architecture": architecture, "pooling": pooling, "skip": skip}
    module = build_module(network, loss_settings({"input_mode": mode}), 1e-3, x, y)
    out = module.predict_array(x)
    assert out.shape == (x.shape[0], HORIZON)
    assert np.isfinite(out).all()


def test_level_target_rejects_relative_modes(tmp_path: Path) -> None:
    cfg = {**TRAINING_CFG, "target": "level"}
    with pytest.raises(ConfigError, match="models.input_mode"):
        backtest(tmp_path, {**MODEL_CFG, "input_mode": "relative_last"}, cfg, make_panel())


# ------------------------------------------------------------------------- skip path


def test_skip_starts_at_the_base_network_and_is_linear() -> None:
    cfg = NetworkConfig(**{**NETWORK, "skip": True})
    torch.manual_seed(1)
    net = build_network(cfg)
    assert isinstance(net, LinearSkip)
    net.eval()
    x = torch.randn(5, WINDOW, N_FEATURES)
    torch.testing.assert_close(net(x), net.base(x))
    with torch.no_grad():
        net.linear.weight.fill_(0.5)
    expected = net.base(x) + 0.5 * x.flatten(start_dim=1).sum(dim=1, keepdim=True)
    torch.testing.assert_close(net(x), expected)
    assert not isinstance(build_network(NetworkConfig(**NETWORK)), LinearSkip)


# ----------------------------------------------------- penalty on the standardised loss

BUILT_IN = ["china", "ggdc", "us_employment", "synthetic"]


@pytest.fixture(scope="module")
def project_config() -> dict:
    return load_config(PROJECT_ROOT / "config.yaml")


def first_fold_windows(config: dict, name: str):
    spec = config["datasets"][name]
    canonical, _ = ingest_dataset(name, spec, root=PROJECT_ROOT)
    wide = to_wide(canonical, indicators=subsystem_indicators(spec))
    settings = training_settings(config, name)
    mspec = forecast_measurement_spec(spec, config["measures"], settings.target_headroom)
    fold = backtest_folds(wide, settings)[0]
    return build_fold_windows(
        wide, mspec, fold, window=settings.window, horizon=settings.horizon, target=settings.target
    )


@pytest.mark.parametrize("dataset", BUILT_IN)
def test_default_penalty_is_a_bounded_fraction_of_the_data_loss(
    project_config: dict, dataset: str
) -> None:
    windows = first_fold_windows(project_config, dataset)
    model_cfg = project_config["models"]["cnn_lstm"]
    assert model_cfg["penalty_lambda"] > 0 and model_cfg["scaling"] == "standard"
    model = ModelSettings.from_mapping(model_cfg)
    network = model.network_fields(windows.n_features, windows.window, windows.horizon)

    def penalty_share(cfg: dict) -> float:
        torch.manual_seed(0)
        module = build_module(network, loss_settings(cfg), 1e-3, windows.x_train, windows.y_train)
        module.eval()
        with torch.no_grad():
            x = torch.as_tensor(windows.x_train)
            y = module.scale_targets(torch.as_tensor(windows.y_train))
            data_loss = float(torch.nn.functional.mse_loss(module(x), y))
            return float(module._penalty()) / data_loss

    scaled, raw = penalty_share(model_cfg), penalty_share({**model_cfg, "scaling": "none"})
    print(f"{dataset}: penalty / data loss at init: scaled {scaled:.3g}, raw {raw:.3g}")
    assert scaled < 0.5
    # The same lambda on the raw scale (the old training) outweighs the data loss.
    assert raw > 1.0


# ------------------------------------------------------------------------------ refit

SPEC = TRENDING_SPEC
MODEL_CFG = {
    "architecture": "cnn_lstm",
    "conv_channels": [4],
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "penalty": "elastic_net",
    "penalty_lambda": 1e-4,
    "skip": True,
}
TRAINING_CFG = {
    "window": 5,
    "horizon": 2,
    "n_origins": 1,
    "step": 1,
    "val_size": 3,
    "min_train": 15,
    "max_epochs": 4,
    "patience": 2,
    "batch_size": 16,
    "learning_rate": 1e-2,
    "target": "change",
    "accelerator": "cpu",
    "devices": 1,
    "deterministic": True,
    "refit": True,
}


def make_panel() -> pd.DataFrame:
    return trending_panel(6, 30, 0)


def backtest(tmp_path: Path, model_cfg: dict, training_cfg: dict, wide: pd.DataFrame):
    return train_and_backtest(
        dataset="toy",
        wide=wide,
        mspec=SPEC,
        model_name="m",
        model=ModelSettings.from_mapping(model_cfg),
        settings=TrainingSettings.from_mapping(training_cfg),
        seed=4,
        out_dir=tmp_path,
        tracking=None,
    )


def test_best_epoch_count_and_refit_windows() -> None:
    history = [{"val_loss": v} for v in (3.0, 1.0, 2.0, float("nan"))]
    assert best_epoch_count(history) == 2
    assert best_epoch_count([]) == 1
    x, y = random_windows()
    windows = FoldWindows(
        x_train=x[:30],
        y_train=y[:30],
        x_val=x[30:],
        y_val=y[30:],
        x_test=x[:2],
        y_test=y[:2],
        feature_names=["a", "b"],
        test_entities=["a", "b"],
        test_origin="2000",
        test_periods=["2001", "2002", "2003"],
        test_last_observed=np.zeros(2),
        test_actual=np.zeros((2, 3)),
        n_test_skipped=0,
        measurement_model=None,  # type: ignore[arg-type]
        target="change",
    )
    merged = refit_windows(windows)
    np.testing.assert_array_equal(merged.x_train, x)
    np.testing.assert_array_equal(merged.y_train, y)
    assert merged.x_val.shape == (0, WINDOW, N_FEATURES)
    assert merged.x_test is windows.x_test


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_refit_uses_nothing_from_the_test_span(tmp_path: Path) -> None:
    wide = make_panel()
    settings = TrainingSettings.from_mapping(TRAINING_CFG)
    (fold,) = backtest_folds(wide, settings)
    before = backtest(tmp_path / "a", MODEL_CFG, TRAINING_CFG, wide)

    changed = wide.copy()
    test_rows = changed.index.get_level_values("period").isin(fold.test_periods)
    rng = np.random.default_rng(7)
    changed.loc[test_rows] = rng.uniform(0.0, 50.0, size=(int(test_rows.sum()), wide.shape[1]))
    after = backtest(tmp_path / "b", MODEL_CFG, TRAINING_CFG, changed)

    for name in ("best.ckpt", "early_stopping.ckpt"):
        first, second = (
            state(tmp_path / "a" / "fold0" / name),
            state(tmp_path / "b" / "fold0" / name),
        )
        assert first.keys() == second.keys()
        for key in first:  # every fitted parameter and the scaling buffers
            torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    np.testing.assert_array_equal(before["predicted"], after["predicted"])
    assert not np.array_equal(before["actual"], after["actual"])  # the change reached the data

    # The forecasting model is the refit: other weights than the early-stopping one,
    # scaling statistics of the training + validation windows.
    refit, early = (
        state(tmp_path / "a" / "fold0" / "best.ckpt"),
        state(tmp_path / "a" / "fold0" / "early_stopping.ckpt"),
    )
    assert not torch.equal(refit["network.linear.weight"], early["network.linear.weight"])
    windows = build_fold_windows(wide, SPEC, fold, window=5, horizon=2)
    merged = refit_windows(windows)
    expected = fit_scaling(merged.x_train, merged.y_train, "levels")
    np.testing.assert_allclose(refit["y_mean"].numpy(), expected.y_mean, rtol=1e-5)
    np.testing.assert_allclose(
        early["y_mean"].numpy(),
        fit_scaling(windows.x_train, windows.y_train, "levels").y_mean,
        rtol=1e-5,
    )
