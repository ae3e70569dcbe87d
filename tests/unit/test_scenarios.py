"""Scenario (what-if) effects and permutation attribution of forecast models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from panels import trending_panel

from convergence.analysis.scenarios import (
    counterfactual_inputs,
    last_fold,
    permutation_importance,
    resolve_scenarios,
    scenario_effect,
    summarise_scenario,
)
from convergence.backtest.windows import build_fold_windows
from convergence.errors import ConfigError
from convergence.measures.index import MeasurementSpec, fit_measurement
from convergence.measures.normalize import apply_minmax
from convergence.plotting.scenarios import plot_attribution, plot_scenarios
from convergence.settings import ModelSettings, TrainingSettings
from convergence.stages.scenarios import run as run_scenarios
from convergence.training.backtest import train_and_backtest
from convergence.training.module import ConvergenceForecaster


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SPEC = {
    "subsystems": {
        "farm": {"farm_output": "benefit", "farm_labour": "cost"},
        "ict": {"ict_output": "benefit", "ict_share": "benefit"},
    }
}
MEASURES: dict = {}
WINDOW, HORIZON = 4, 2
TRAINING = {
    "window": WINDOW,
    "horizon": HORIZON,
    "n_origins": 1,
    "val_size": 2,
    "min_train": 10,
    "max_epochs": 2,
    "patience": 2,
    "batch_size": 64,
    "target": "level",
    "accelerator": "cpu",
    "devices": 1,
}
MODEL_CFG = {"architecture": "mlp", "dense_hidden": 4, "norm": "none", "dropout": 0.0}


def make_panel(n_entities: int = 5, n_periods: int = 24, seed: int = 0) -> pd.DataFrame:
    """Wide toy panel (see :mod:`panels`)."""
    return trending_panel(n_entities, n_periods, seed)


def hand_set_checkpoint(path: Path, n_features: int, feature: int, target_weight: float) -> Path:
    """MLP whose every horizon is ``target_weight * (x[last, feature] + 0.1)``."""
    module = ConvergenceForecaster(
        network={
            "architecture": "mlp",
            "n_features": n_features,
            "window": WINDOW,
            "horizon": HORIZON,
            "dense_hidden": 1,
            "norm": "none",
            "dropout": 0.0,
        }
    )
    first, second = module.network.layers[1], module.network.layers[5]
    with torch.no_grad():
        first.weight.zero_()
        first.weight[0, (WINDOW - 1) * n_features + feature] = 1.0
        first.bias.fill_(0.1)
        second.weight.fill_(target_weight)
        second.bias.zero_()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": pl.__version__,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


def setup(panel: pd.DataFrame):
    mspec = MeasurementSpec.from_config(SPEC, MEASURES)
    fold = last_fold(panel, TrainingSettings.from_mapping(TRAINING))
    return mspec, fold


def test_counterfactual_keeps_fitted_measurement_model(panel: pd.DataFrame) -> None:
    mspec, fold = setup(panel)
    inputs = counterfactual_inputs(
        wide=panel,
        mspec=mspec,
        fold=fold,
        settings=TrainingSettings.from_mapping(TRAINING),
        indicator="ict_output",
        change=0.5,
    )
    observed_fit = fit_measurement(
        panel,
        mspec,
        fit_mask=pd.Series(
            panel.index.get_level_values("period").isin(fold.train_periods), index=panel.index
        ),
    )
    assert inputs.measurement_model is inputs.windows.measurement_model
    assert inputs.measurement_model.to_dict() == observed_fit.to_dict()
    # The input window overlaps the training periods, so a refit would have moved bounds.
    assert set(inputs.input_periods) & set(fold.train_periods)
    refit = fit_measurement(
        inputs.wide_scenario,
        mspec,
        fit_mask=pd.Series(
            panel.index.get_level_values("period").isin(fold.train_periods), index=panel.index
        ),
    )
    assert refit.to_dict() != observed_fit.to_dict()
    # The scaled indicator is normalized with the observed bounds.
    names = inputs.windows.feature_names
    f = names.index("ict_output")
    expected = apply_minmax(
        inputs.wide_scenario[mspec.indicators], observed_fit.bounds, mspec.directions, clip=True
    )
    entity = inputs.windows.test_entities[0]
    want = expected.loc[entity].reindex(inputs.input_periods)["ict_output"].to_numpy()
    np.testing.assert_allclose(inputs.x_scenario[0, :, f], want, atol=1e-6)
    # Only the input periods were scaled; other indicators' features are untouched.
    outside = ~panel.index.get_level_values("period").isin(inputs.input_periods)
    pd.testing.assert_frame_equal(panel[outside], inputs.wide_scenario[outside])
    for name in ("farm_output", "farm_labour", "ict_share", "U_farm"):
        k = names.index(name)
        np.testing.assert_array_equal(inputs.x_baseline[:, :, k], inputs.x_scenario[:, :, k])
    np.testing.assert_array_equal(inputs.x_baseline, inputs.windows.x_test)


def test_delta_sign_follows_monotone_model(panel: pd.DataFrame, tmp_path: Path) -> None:
    mspec, fold = setup(panel)
    windows = build_fold_windows(panel, mspec, fold, window=WINDOW, horizon=HORIZON, target="level")
    f = windows.feature_names.index("ict_output")
    ckpts = {
        s: hand_set_checkpoint(tmp_path / f"s{s}.ckpt", windows.n_features, f, w)
        for s, w in ((0, 0.5), (1, 0.3))
    }
    down = scenario_effect(
        wide=panel,
        mspec=mspec,
        fold=fold,
        settings=TrainingSettings.from_mapping(TRAINING),
        checkpoint_paths=ckpts,
        indicator="ict_output",
        change=-0.3,
    )
    assert len(down) == 2 * len(windows.test_entities) * HORIZON
    assert (down["delta"] <= 1e-7).all()
    assert down["delta"].mean() < 0
    # The model reads only the ict_output column: scaling farm_output changes nothing.
    farm = scenario_effect(
        wide=panel,
        mspec=mspec,
        fold=fold,
        settings=TrainingSettings.from_mapping(TRAINING),
        checkpoint_paths=ckpts,
        indicator="farm_output",
        change=0.3,
    )
    assert (farm["delta"] == 0.0).all()
    summary = summarise_scenario(down)
    assert list(summary["horizon"]) == [1, 2]
    assert (summary["n_seeds"] == 2).all()
    assert (summary["mean_delta"] < 0).all()
    per_seed = down.groupby(["horizon", "seed"])["delta"].mean().groupby("horizon")
    np.testing.assert_allclose(summary["mean_delta"], per_seed.mean().to_numpy())
    np.testing.assert_allclose(summary["std_delta"], per_seed.std().to_numpy())


def test_permutation_importance_of_ignored_feature_is_zero(
    panel: pd.DataFrame, tmp_path: Path
) -> None:
    mspec, fold = setup(panel)
    windows = build_fold_windows(panel, mspec, fold, window=WINDOW, horizon=HORIZON, target="level")
    f = windows.feature_names.index("ict_output")
    ckpts = {0: hand_set_checkpoint(tmp_path / "m.ckpt", windows.n_features, f, 0.5)}
    table = permutation_importance(model_checkpoints=ckpts, windows=windows, n_repeats=3, seed=0)
    assert list(table["feature"]) == windows.feature_names
    by_name = table.set_index("feature")
    ignored = [name for name in windows.feature_names if name != "ict_output"]
    assert (by_name.loc[ignored, "importance_mean"].abs() < 1e-12).all()
    assert by_name.loc["ict_output", "importance_mean"] > 0
    assert (table["n_repeats"] == 3).all() and (table["n_seeds"] == 1).all()


def test_unknown_indicator_names_config_key() -> None:
    with pytest.raises(ConfigError) as excinfo:
        resolve_scenarios("toy", SPEC, [{"indicator": "nope", "change": 0.1}])
    assert excinfo.value.key == "scenarios.toy.indicator"
    assert "ict_output" in str(excinfo.value)
    with pytest.raises(ConfigError, match=r"scenarios\.toy\.change"):
        resolve_scenarios("toy", SPEC, [{"indicator": "ict_output", "change": -1.5}])
    assert resolve_scenarios("toy", SPEC, []) == [{"indicator": "ict_output", "change": 0.1}]


def test_run_scenarios_end_to_end(panel: pd.DataFrame, tmp_path: Path) -> None:
    training = {**TRAINING, "target": "change"}  # the other target branch
    canonical = panel.rename_axis(columns="indicator").stack().rename("value").reset_index()
    canonical["subsystem"] = canonical["indicator"].str.split("_").str[0]
    canonical_path = tmp_path / "canonical.csv"
    canonical[["entity", "period", "subsystem", "indicator", "value"]].to_csv(
        canonical_path, index=False
    )
    mspec = MeasurementSpec.from_config(SPEC, MEASURES)
    checkpoint_dirs = {}
    for seed in (0, 1):
        run_dir = tmp_path / "train" / f"mlp-seed{seed}"
        train_and_backtest(
            dataset="toy",
            wide=panel,
            mspec=mspec,
            model_name="mlp",
            model=ModelSettings.from_mapping(MODEL_CFG),
            settings=TrainingSettings.from_mapping(training),
            seed=seed,
            out_dir=run_dir,
            tracking=None,
        )
        checkpoint_dirs[seed] = run_dir
    out = tmp_path / "scen"
    run_scenarios(
        dataset="toy",
        numerics_isa="native",  # torch is loaded already in the test process
        canonical_path=canonical_path,
        spec=SPEC,
        measures=MEASURES,
        training_cfg=training,
        model_name="mlp",
        checkpoint_dirs=checkpoint_dirs,
        scenarios=[
            {"indicator": "ict_output", "change": 0.0},
            {"indicator": "ict_share", "change": 0.1},
        ],
        effects_path=out / "scenario_effects.csv",
        summary_path=out / "scenario_summary.csv",
        attribution_path=out / "attribution.csv",
        provenance_path=out / "provenance.json",
        n_repeats=2,
    )
    effects = pd.read_csv(out / "scenario_effects.csv")
    zero = effects[effects["change"] == 0.0]
    assert len(zero) > 0 and (zero["delta"] == 0.0).all()
    summary = pd.read_csv(out / "scenario_summary.csv")
    assert len(summary) == 2 * HORIZON
    attribution = pd.read_csv(out / "attribution.csv")
    assert len(attribution) == 7
    record = json.loads((out / "provenance.json").read_text())
    assert set(record["checkpoints"]) == {"0", "1"}
    assert record["checkpoints"]["0"]["path"].endswith("fold0/best.ckpt")
    assert "not a causal effect" in record["note"]
    plot_scenarios(out / "scenario_summary.csv", out / "s.png", out / "s.pdf", title="toy")
    plot_attribution(out / "attribution.csv", out / "a.png", None, title="toy")
    assert (out / "s.png").stat().st_size > 0 and (out / "a.png").stat().st_size > 0
