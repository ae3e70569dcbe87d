"""Seeds trained as one vectorised ensemble (``training.vectorise_seeds``): the same training.

Members start from the sequential seeds' weights, one ensemble step is S independent
steps, early stopping and the refit epoch count are per member, a member's checkpoint
is a plain single network, the train stage writes the same files per seed, and the
sameness tool compares per-seed scores of the two paths.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from panels import TINY_CNN_LSTM, TRENDING_SPEC, learnable_windows, trending_panel

from convergence.backtest.windows import FoldWindows
from convergence.evaluation.seed_sameness import (
    compare_seed_scores,
    permutation_pvalue,
    sameness_summary,
)
from convergence.models.networks import ARCHITECTURES, PENALTY_KINDS, NetworkConfig, build_network
from convergence.models.seed_ensemble import SeedEnsemble
from convergence.settings import ModelSettings, TrainingSettings
from convergence.training.callbacks import best_score_in_checkpoint
from convergence.training.seed_ensemble import (
    ADAM_OPTIONS,
    StoppingRule,
    build_members,
    fit_members,
    member_generators,
    member_module,
    save_member_checkpoint,
    train_step,
)

CPU = torch.device("cpu")
WINDOW, HORIZON, N_FEATURES = 6, 2, 3
NETWORK = {
    "architecture": "cnn_lstm",
    "n_features": N_FEATURES,
    "window": WINDOW,
    "horizon": HORIZON,
    "conv_channels": [4],
    "lstm_hidden": 5,
    "dense_hidden": 4,
    "dropout": 0.2,
    "skip": True,
}
SEEDS = [0, 1, 2]
#: For comparisons over many steps: with batch norm the conv bias has a zero gradient in
#: exact arithmetic, and Adam turns either path's rounding noise there into +-lr steps
#: (see test_ensemble_steps_equal_independent_steps).
LAYER_NORM = {**NETWORK, "norm": "layer", "dropout": 0.0}
#: Members draw their dropout masks differently from torch.nn.Dropout: comparisons with
#: single networks, step by step, train without dropout.
NO_DROPOUT = {**NETWORK, "dropout": 0.0}


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hparams(penalty: str = "elastic_net") -> dict:
    return {
        "penalty": penalty,
        "penalty_lambda": 1e-2,
        "penalty_alpha": 0.3,
        "input_mode": "levels",
        "scaling": "standard",
    }


def toy_windows(n: int = 120, seed: int = 0) -> FoldWindows:
    """A learnable target (a linear function of the last input step)."""
    return learnable_windows(n, window=WINDOW, seed=seed, train_share=0.75)


def assert_states_close(
    actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], atol: float
) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, rtol=0, atol=atol, msg=key)


def test_members_start_from_the_sequential_initial_weights() -> None:
    w = toy_windows()
    members = build_members(NETWORK, hparams(), 1e-2, w.x_train, w.y_train, SEEDS)
    ensemble = SeedEnsemble(NetworkConfig(**NETWORK), [m.network.state_dict() for m in members])
    singles = []
    for position, seed in enumerate(SEEDS):
        pl.seed_everything(seed, workers=True, verbose=False)
        single = build_network(NetworkConfig(**NETWORK))
        assert_states_close(ensemble.member_state_dict(position), single.state_dict(), atol=0)
        singles.append(single)
    first, second = (s.state_dict()["base.lstm.weight_ih_l0"] for s in singles[:2])
    assert not torch.equal(first, second)


@pytest.mark.parametrize(
    ("architecture", "norm", "layers"),
    [
        *[(arch, norm, 1) for arch, norm in itertools.product(ARCHITECTURES, ["batch", "layer"])],
        ("lstm", "none", 2),
    ],
)
def test_ensemble_forward_equals_each_single_network(
    architecture: str, norm: str, layers: int
) -> None:
    cfg = NetworkConfig(
        **{**NO_DROPOUT, "architecture": architecture, "norm": norm, "lstm_layers": layers}
    )
    networks = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        network = build_network(cfg)
        torch.nn.init.normal_(network.linear.weight, std=0.1)  # the skip path starts at 0
        networks.append(network)
    ensemble = SeedEnsemble(cfg, [n.state_dict() for n in networks])
    x = torch.randn(len(SEEDS), 9, WINDOW, N_FEATURES)
    ensemble.eval()
    out = ensemble(x)
    for position, network in enumerate(networks):
        torch.testing.assert_close(out[position], network.eval()(x[position]), atol=1e-5, rtol=0)
    # Training mode: batch statistics per member.
    ensemble.train()
    out = ensemble(x, member_generators(SEEDS, CPU))
    for position, network in enumerate(networks):
        expected = network.train()(x[position])
        torch.testing.assert_close(out[position], expected, atol=1e-5, rtol=0)
        # Batch-norm running statistics moved exactly as the single network's did.
        assert_states_close(ensemble.member_state_dict(position), network.state_dict(), 1e-6)


def test_member_dropout_masks_are_its_own() -> None:
    cfg = NetworkConfig(**{**NETWORK, "dropout": 0.3})
    ensemble = SeedEnsemble(cfg, [build_network(cfg).state_dict() for _ in SEEDS]).train()
    h = torch.ones(len(SEEDS), 64, 5, 40)
    masks = ensemble._dropout(h, member_generators(SEEDS, CPU))
    keep = 1.0 - round(0.3 * 2**16) / 2**16
    # Values 0 or 1 / keep, about a share `keep` kept, the expectation unchanged.
    assert masks.unique().tolist() == pytest.approx([0.0, 1.0 / keep])
    assert float((masks > 0).float().mean()) == pytest.approx(keep, abs=0.01)
    assert float(masks.mean()) == pytest.approx(1.0, abs=0.02)
    # Member 0's mask depends on its own generator only: not on the other members'.
    others = member_generators([0, 7, 8], CPU)
    torch.testing.assert_close(ensemble._dropout(h, others)[0], masks[0], rtol=0, atol=0)
    assert not torch.equal(masks[0], masks[1])
    # Evaluation mode: no dropout.
    torch.testing.assert_close(ensemble.eval()._dropout(h, others), h)


@pytest.mark.parametrize(("penalty", "norm"), itertools.product(PENALTY_KINDS, ["batch", "layer"]))
def test_ensemble_steps_equal_independent_steps(penalty: str, norm: str) -> None:
    w = toy_windows()
    network = {**NO_DROPOUT, "norm": norm}
    members = build_members(network, hparams(penalty), 1e-2, w.x_train, w.y_train, SEEDS)
    singles = [copy.deepcopy(member) for member in members]
    ensemble = SeedEnsemble(NetworkConfig(**network), [m.network.state_dict() for m in members])
    ensemble.train()
    generators = member_generators(SEEDS, CPU)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=1e-2, **ADAM_OPTIONS)
    x_raw = torch.from_numpy(w.x_train)
    y_raw = torch.from_numpy(w.y_train)
    x, y = members[0].scale_inputs(x_raw), members[0].scale_targets(y_raw)
    # Every member its own batches.
    batches = [
        torch.stack(
            [
                torch.randperm(len(x), generator=torch.Generator().manual_seed(10 * s + k))[:16]
                for s in SEEDS
            ]
        )
        for k in range(3)
    ]
    first_gradients = {}
    for step, index in enumerate(batches):
        mse, objective = train_step(
            ensemble, optimizer, x[index], y[index], generators, (penalty, 1e-2, 0.3)
        )
        assert mse.shape == objective.shape == (len(SEEDS),)
        if step == 0:
            first_gradients = {key: ensemble.tensor(key).grad.clone() for key in ensemble.keys
                               if ensemble.tensor(key).grad is not None}  # fmt: skip
    for position, single in enumerate(singles):
        single_optimizer = torch.optim.Adam(single.parameters(), lr=1e-2)
        single.train()
        for step, index in enumerate(batches):
            loss = single.training_step((x_raw[index[position]], y_raw[index[position]]), 0)
            single_optimizer.zero_grad()
            loss.backward()
            if step == 0:
                # The sum of the members' losses: each member gets its own gradient.
                for key, gradient in first_gradients.items():
                    expected_gradient = single.network.get_parameter(key).grad
                    torch.testing.assert_close(
                        gradient[position], expected_gradient, rtol=0, atol=1e-6, msg=key
                    )
            single_optimizer.step()
        actual, expected = ensemble.member_state_dict(position), single.network.state_dict()
        if norm == "batch":
            # A conv bias followed by batch norm has a gradient of exactly 0 in exact
            # arithmetic: what either path computes is rounding noise, which Adam turns
            # into steps of +-lr. That bias (and the running mean it shifts) is cancelled
            # by the normalisation; every other tensor must agree.
            bias = "base.features.blocks.0.conv.bias"
            assert single.network.get_parameter(bias).grad.abs().max() < 1e-6
            for key in (bias, "base.features.blocks.0.norm.running_mean"):
                actual.pop(key), expected.pop(key)
        # Adam divides by sqrt(v) + eps: for a gradient near 0 a rounding difference of
        # the gradient becomes a difference of the step of up to a few 1e-4 * lr.
        assert_states_close(actual, expected, atol=1e-5)


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 0.9, 0.95, 0.96, 0.8],
        [1.0, 1.0, 1.0],
        [1.0, 0.5, float("nan"), 0.1],
        [3.0, 2.0, 1.0, 0.5, 0.4],
        [1.0, 1.1, 0.9, 1.2, 1.3, 0.1],
    ],
)
def test_stopping_rule_is_lightnings_early_stopping(values: list[float]) -> None:
    from pytorch_lightning.callbacks import EarlyStopping

    lightning = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    ours = StoppingRule(2)
    for value in values:
        expected, _ = lightning._evaluate_stopping_criteria(torch.tensor(value))
        assert ours.should_stop(value) == expected
        if expected:
            break


def fit_alone(seed: int, epochs: int, w: FoldWindows) -> dict[str, torch.Tensor]:
    members = build_members(LAYER_NORM, hparams(), 1e-2, w.x_train, w.y_train, [seed])
    fit = fit_members(
        members, [seed], w.x_train, w.y_train, None, None,
        batch_size=16, epochs=[epochs], patience=None, device=CPU,
    )[0]  # fmt: skip
    return fit.state


def test_a_member_stops_at_its_own_epoch_count_and_is_frozen() -> None:
    w = toy_windows()
    epochs = [1, 3, 2]
    members = build_members(LAYER_NORM, hparams(), 1e-2, w.x_train, w.y_train, SEEDS)
    fits = fit_members(
        members, SEEDS, w.x_train, w.y_train, None, None,
        batch_size=16, epochs=epochs, patience=None, device=CPU,
    )  # fmt: skip
    assert [len(fit.history) for fit in fits] == epochs
    assert all(np.isnan(row["val_loss"]) for fit in fits for row in fit.history)
    # A stopped member leaves the ensemble with its weights of that epoch; the others
    # train on as if they had been alone.
    for seed, fit, count in zip(SEEDS, fits, epochs, strict=True):
        assert_states_close(fit.state, fit_alone(seed, count, w), atol=1e-5)


def test_early_stopping_is_per_member() -> None:
    w = toy_windows()
    members = build_members(NETWORK, hparams(), 0.2, w.x_train, w.y_train, SEEDS)
    fits = fit_members(
        members, SEEDS, w.x_train, w.y_train, w.x_val, w.y_val,
        batch_size=16, epochs=[12] * 3, patience=2, device=CPU,
    )  # fmt: skip
    lengths = []
    for fit in fits:
        rule = StoppingRule(2)
        losses = [row["val_loss"] for row in fit.history]
        stops = [rule.should_stop(loss) for loss in losses]
        # Trained until its own rule said stop (or the epoch limit), not a step longer.
        assert stops[-1] or len(losses) == 12
        assert not any(stops[:-1])
        assert fit.best_epoch == int(np.nanargmin(losses))
        assert fit.best_score == pytest.approx(min(losses))
        lengths.append(len(losses))
        # The kept weights are the best epoch's: their validation loss is best_score.
        module = member_module(copy.deepcopy(members[0]), fit.state)
        with torch.no_grad():
            scaled = module(torch.from_numpy(w.x_val))
            loss = (scaled - module.scale_targets(torch.from_numpy(w.y_val))).pow(2).mean()
        assert float(loss) == pytest.approx(fit.best_score, rel=1e-5)
    assert len(set(lengths)) > 1, f"members stopped together at {lengths}: no per-member test"


def test_member_checkpoint_rebuilds_a_single_network(tmp_path: Path) -> None:
    from convergence.training.module import ConvergenceForecaster

    w = toy_windows()
    members = build_members(NETWORK, hparams(), 1e-2, w.x_train, w.y_train, SEEDS)
    fits = fit_members(
        members, SEEDS, w.x_train, w.y_train, w.x_val, w.y_val,
        batch_size=16, epochs=[3] * 3, patience=5, device=CPU,
    )  # fmt: skip
    ensemble = SeedEnsemble(NetworkConfig(**NETWORK), [fit.state for fit in fits]).eval()
    x = torch.from_numpy(w.x_test)
    scaled = members[0].scale_inputs(x)
    with torch.no_grad():
        from_ensemble = ensemble(scaled.unsqueeze(0).expand(len(SEEDS), *scaled.shape))
    for position, (member, fit) in enumerate(zip(members, fits, strict=True)):
        module = member_module(member, fit.state)
        path = save_member_checkpoint(
            module, tmp_path / f"m{position}.ckpt", best_score=fit.best_score,
            best_epoch=fit.best_epoch, epochs=len(fit.history), steps=fit.steps,
        )  # fmt: skip
        rebuilt = ConvergenceForecaster.load_from_checkpoint(path, map_location="cpu")
        assert isinstance(rebuilt.network, type(build_network(NetworkConfig(**NETWORK))))
        np.testing.assert_array_equal(
            rebuilt.predict_array(w.x_test), module.predict_array(w.x_test)
        )
        expected = module.unscale_targets(from_ensemble[position]).numpy()
        np.testing.assert_allclose(rebuilt.predict_array(w.x_test), expected, atol=1e-5)
        assert best_score_in_checkpoint(path) == fit.best_score


def test_member_follows_the_sequential_lightning_fit(tmp_path: Path) -> None:
    """Same initial weights and batch order as ``train_fold`` (no dropout): after a few
    epochs the member differs from the Lightning-trained seed by rounding only."""
    from convergence.training.backtest import train_fold

    w = toy_windows()
    model = ModelSettings.from_mapping({**LAYER_NORM, **hparams()})
    settings = TrainingSettings.from_mapping(
        {"max_epochs": 3, "patience": 10, "batch_size": 16, "learning_rate": 1e-2,
         "accelerator": "cpu", "devices": 1}
    )  # fmt: skip
    members = build_members(
        LAYER_NORM, model.module_hparams(), 1e-2, w.x_train, w.y_train, SEEDS[:2]
    )
    fits = fit_members(
        members, SEEDS[:2], w.x_train, w.y_train, w.x_val, w.y_val,
        batch_size=16, epochs=[3, 3], patience=10, device=CPU,
    )  # fmt: skip
    for seed, fit in zip(SEEDS[:2], fits, strict=True):
        pl.seed_everything(seed, workers=True, verbose=False)
        best, _, best_val, _ = train_fold(
            w, network=LAYER_NORM, model=model, settings=settings,
            fold_dir=tmp_path / f"seed{seed}", root_dir=tmp_path, seed=seed,
        )  # fmt: skip
        assert fit.best_score == pytest.approx(best_val, rel=1e-4)
        ours = [row["val_loss"] for row in fit.history]
        theirs = [row["val_loss"] for row in best.history]
        np.testing.assert_allclose(ours, theirs, rtol=1e-4)
        assert_states_close(fit.state, best.network.state_dict(), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_members_train_on_cuda_and_rebuild_on_cpu(tmp_path: Path) -> None:
    from convergence.training.module import ConvergenceForecaster

    w = toy_windows()
    members = build_members(NETWORK, hparams(), 1e-2, w.x_train, w.y_train, SEEDS)
    fits = fit_members(
        members, SEEDS, w.x_train, w.y_train, w.x_val, w.y_val,
        batch_size=16, epochs=[3] * 3, patience=5, device=torch.device("cuda", 0),
    )  # fmt: skip
    for position, (member, fit) in enumerate(zip(members, fits, strict=True)):
        assert len(fit.history) == 3 and np.isfinite(fit.best_score)
        path = save_member_checkpoint(
            member_module(member, fit.state), tmp_path / f"m{position}.ckpt",
            best_score=fit.best_score, best_epoch=fit.best_epoch, epochs=3, steps=fit.steps,
        )  # fmt: skip
        rebuilt = ConvergenceForecaster.load_from_checkpoint(path, map_location="cpu")
        assert np.isfinite(rebuilt.predict_array(w.x_test)).all()


# --------------------------------------------------------------------------- train stage

SPEC = {
    "reader": "synthetic",
    "frequency": "annual",
    "subsystems": {
        "agriculture": {"x_output": "benefit", "x_share": "benefit"},
        "ict": {"y_output": "benefit", "y_share": "cost"},
    },
}
STAGE_TRAINING = {
    "window": 4,
    "horizon": 2,
    "n_origins": 2,
    "step": 1,
    "val_size": 2,
    "min_train": 12,
    "max_epochs": 3,
    "patience": 2,
    "batch_size": 16,
    "accelerator": "cpu",
    "devices": 1,
}


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A canonical table of 4 entities x 22 periods and an ingest provenance record."""
    rng = np.random.default_rng(3)
    indicators = [("agriculture", "x_output"), ("agriculture", "x_share")]
    indicators += [("ict", "y_output"), ("ict", "y_share")]
    rows = [
        (f"s{e}", str(2000 + t), subsystem, indicator, float(1 + 0.05 * t + rng.normal(0, 0.05)))
        for e in range(4)
        for t in range(22)
        for subsystem, indicator in indicators
    ]
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    canonical.to_csv(folder / "canonical.csv", index=False)
    (folder / "ingest.json").write_text(json.dumps({"dataset": "toy", "sha256": None}))
    return folder / "canonical.csv", folder / "ingest.json"


def run_stage(results: Path, vectorise: bool) -> dict[str, list[Path]]:
    from convergence.stages.tracking import run as run_mlflow_init
    from convergence.stages.train import run as run_train

    results.mkdir(parents=True)
    canonical, provenance = write_inputs(results)
    experiments = results / "mlflow" / "experiments.json"
    run_mlflow_init(
        datasets=["toy"], tracking_uri=None, results_dir=results, experiments_path=experiments
    )
    folder = results / "toy" / "models" / "cnn_lstm"
    paths = {
        "predictions": [folder / f"seed{s}" / "predictions.csv" for s in SEEDS[:2]],
        "run": [folder / f"seed{s}" / "run.json" for s in SEEDS[:2]],
        "checkpoints": [folder / f"seed{s}" / f"cnn_lstm-seed{s}" for s in SEEDS[:2]],
    }
    run_train(
        dataset="toy",
        numerics_isa="native",  # torch is loaded already in the test process
        canonical_path=canonical,
        ingest_provenance_path=provenance,
        spec=SPEC,
        measures={"normalization": {"scope": "pooled", "headroom": 0.0, "clip": True}},
        model_name="cnn_lstm",
        model_cfg=TINY_CNN_LSTM,
        training_cfg={**STAGE_TRAINING, "vectorise_seeds": vectorise},
        seeds=SEEDS[:2],
        tracking_uri=None,
        results_dir=results,
        experiments_path=experiments,
        predictions_paths=paths["predictions"],
        run_json_paths=paths["run"],
        checkpoint_dirs=paths["checkpoints"],
        curves_path=folder / "training_curves.png",
    )
    return paths


def test_train_stage_writes_the_same_files_per_seed(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from convergence.training.module import ConvergenceForecaster

    outputs = {
        vectorise: run_stage(tmp_path / str(vectorise), vectorise) for vectorise in (False, True)
    }
    for position, seed in enumerate(SEEDS[:2]):
        listings = {}
        for vectorise, paths in outputs.items():
            folder = paths["checkpoints"][position]
            listings[vectorise] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        assert listings[True] == listings[False]
        sequential = pd.read_csv(outputs[False]["predictions"][position])
        vectorised = pd.read_csv(outputs[True]["predictions"][position])
        assert list(vectorised.columns) == list(sequential.columns)
        pd.testing.assert_frame_equal(
            vectorised.drop(columns=["predicted", "run_id"]),
            sequential.drop(columns=["predicted", "run_id"]),
        )
        records = {v: json.loads(p["run"][position].read_text()) for v, p in outputs.items()}
        assert set(records[True]) == set(records[False]) | {"seed_ensemble"}
        assert records[True]["seed_ensemble"] == {"members": 2, "seeds": SEEDS[:2]}
        assert records[True]["training"]["vectorise_seeds"] is True
        assert records[True]["seed"] == seed
        # Its own MLflow parent run, with one finished child run per fold.
        client = MlflowClient(records[True]["tracking_uri"])
        parent = client.get_run(records[True]["run_id"])
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["ensemble_members"] == "2"
        children = client.search_runs(
            [records[True]["experiment_id"]],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        assert sorted(r.data.tags["fold"] for r in children) == ["0", "1"]
        assert {r.info.status for r in children} == {"FINISHED"}
        assert set(vectorised["run_id"]) == {r.info.run_id for r in children}
        # The checkpoint that forecast each fold rebuilds a single network.
        folder = outputs[True]["checkpoints"][position]
        module = ConvergenceForecaster.load_from_checkpoint(folder / "fold0" / "best.ckpt")
        assert module.hparams.network["architecture"] == "cnn_lstm"


# --------------------------------------------------------------------------- sameness


def test_permutation_pvalue_is_exact_on_small_samples() -> None:
    # Fully separated samples of 5 and 5: 2 of the 252 splits are as extreme.
    assert permutation_pvalue([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert permutation_pvalue([1, 2, 3], [1, 2, 3]) == 1.0


def test_sameness_tool_accepts_the_same_distribution_and_rejects_a_shift() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for path in ("sequential", "vectorised"):
        for model in range(20):
            shift = 0.5 if (path == "vectorised" and model == 0) else 0.0
            for seed in range(5):
                rows.append(
                    {"path": path, "dataset": "d", "model": f"m{model}", "seed": seed,
                     "horizon": "all", "MASE": 1.0 + shift + 0.01 * rng.normal()}
                )  # fmt: skip
    table = pd.DataFrame(rows)
    comparison = compare_seed_scores(
        table[table["path"] == "sequential"], table[table["path"] == "vectorised"]
    )
    assert len(comparison) == 20
    shifted = comparison.set_index("model").loc["m0"]
    assert shifted["permutation_p"] < 0.01 and shifted["mannwhitney_p"] < 0.01
    assert shifted["standardised"] > 10
    summary = sameness_summary(comparison.iloc[1:])  # the 19 unshifted rows
    assert summary["rejected"] <= 3 and summary["binomial_p"] > 0.01


def test_sameness_on_a_tiny_panel(tmp_path: Path) -> None:
    """Five seeds through both paths on a tiny panel: per-seed MASE (the naive scales of
    the baselines stage) within seed noise."""
    from convergence.evaluation.scores import score_table
    from convergence.models.baselines import baseline_backtest
    from convergence.training.backtest import train_and_backtest
    from convergence.training.ensemble_backtest import train_and_backtest_ensemble

    wide = trending_panel(n_entities=6, n_periods=26, seed=0)
    settings = TrainingSettings.from_mapping(
        {"window": 4, "horizon": 2, "n_origins": 2, "val_size": 3, "min_train": 14,
         "max_epochs": 4, "patience": 2, "batch_size": 16, "learning_rate": 1e-2,
         "accelerator": "cpu", "devices": 1}
    )  # fmt: skip
    model = ModelSettings.from_mapping(TINY_CNN_LSTM)
    seeds = [0, 1, 2, 3, 4]
    common = {"dataset": "toy", "wide": wide, "mspec": TRENDING_SPEC, "model_name": "cnn_lstm"}
    _, scales = baseline_backtest(
        dataset="toy", wide=wide, mspec=TRENDING_SPEC, settings=settings, baselines=["naive"]
    )
    sequential = pd.concat(
        train_and_backtest(
            **common, model=model, settings=settings, seed=seed,
            out_dir=tmp_path / "sequential" / str(seed), tracking=None,
        )
        for seed in seeds
    )  # fmt: skip
    vectorised = pd.concat(
        train_and_backtest_ensemble(
            **common, model=model, settings=settings, seeds=seeds,
            out_dirs=[tmp_path / "vectorised" / str(seed) for seed in seeds],
            trackings=[None] * len(seeds),
        )
    )  # fmt: skip
    comparison = compare_seed_scores(
        score_table(sequential, scales), score_table(vectorised, scales), metric="MASE"
    )
    assert len(comparison) == 1
    row = comparison.iloc[0]
    assert row["n_sequential"] == row["n_vectorised"] == 5
    # Same initial weights and batch order, other dropout masks: within seed noise
    # (measured: 0.13 seed sd apart, permutation p = 0.87).
    assert abs(row["difference"]) < 0.5 * row["seed_sd"]
    assert row["permutation_p"] > 0.2
