"""A model that the chosen configuration makes the reference reuses its forecasts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from convergence.stages.tracking import run as run_mlflow_init
from convergence.stages.train import run as run_train

SPEC = {
    "reader": "synthetic",
    "frequency": "annual",
    "subsystems": {
        "agriculture": {"x_output": "benefit", "x_share": "benefit"},
        "ict": {"y_output": "benefit", "y_share": "cost"},
    },
}
MEASURES = {"normalization": {"scope": "pooled", "headroom": 0.0, "clip": True}}
REFERENCE_CFG = {
    "architecture": "cnn_lstm",
    "conv_channels": [4],
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "pooling": "max",
    "skip": True,
}
NO_SKIP_CFG = {**REFERENCE_CFG, "skip": False}
TRAINING_CFG = {
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
SEEDS = [0, 1]


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A canonical table of 4 entities x 22 periods and an ingest provenance record."""
    rng = np.random.default_rng(3)
    indicators = [("agriculture", "x_output"), ("agriculture", "x_share"), ("ict", "y_output")]
    indicators.append(("ict", "y_share"))
    rows = [
        (f"s{e}", str(2000 + t), subsystem, indicator, float(1 + 0.05 * t + rng.normal(0, 0.05)))
        for e in range(4)
        for t in range(22)
        for subsystem, indicator in indicators
    ]
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    canonical_path = folder / "canonical.csv"
    canonical.to_csv(canonical_path, index=False)
    provenance_path = folder / "ingest.json"
    provenance_path.write_text(json.dumps({"dataset": "toy", "sha256": None}))
    return canonical_path, provenance_path


def train(
    results: Path,
    inputs: tuple[Path, Path],
    model: str,
    model_cfg: dict,
    choice: Path,
    reference: str | None = None,
) -> dict[str, list[Path]]:
    folder = results / "toy" / "models" / model
    paths = {
        "predictions": [folder / f"seed{s}" / "predictions.csv" for s in SEEDS],
        "run": [folder / f"seed{s}" / "run.json" for s in SEEDS],
        "checkpoints": [folder / f"seed{s}" / f"{model}-seed{s}" for s in SEEDS],
        "curves": [folder / "training_curves.png"],
    }
    reuse = {}
    if reference is not None:
        ref = results / "toy" / "models" / reference
        reuse = {
            "reference_runs": [ref / f"seed{s}" / "run.json" for s in SEEDS],
            "reference_predictions": [ref / f"seed{s}" / "predictions.csv" for s in SEEDS],
            "reference_curves": ref / "training_curves.png",
        }
    run_train(
        dataset="toy",
        numerics_isa="native",  # torch is loaded already in the test process
        canonical_path=inputs[0],
        ingest_provenance_path=inputs[1],
        spec=SPEC,
        measures=MEASURES,
        model_name=model,
        model_cfg=model_cfg,
        reference_cfg=REFERENCE_CFG,
        choice_path=choice,
        training_cfg=TRAINING_CFG,
        seeds=SEEDS,
        tracking_uri=None,
        results_dir=results,
        experiments_path=results / "mlflow" / "experiments.json",
        predictions_paths=paths["predictions"],
        run_json_paths=paths["run"],
        checkpoint_dirs=paths["checkpoints"],
        curves_path=paths["curves"][0],
        **reuse,
    )
    return paths


@pytest.fixture(scope="module")
def trained_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Path, Path]]:
    """The reference trained with the choice skip=False (2 seeds, 2 folds)."""
    results = tmp_path_factory.mktemp("results")
    inputs = write_inputs(results)
    run_mlflow_init(
        datasets=["toy"],
        tracking_uri=None,
        results_dir=results,
        experiments_path=results / "mlflow" / "experiments.json",
    )
    choice = results / "choice.json"
    choice.write_text(json.dumps({"choice": {"skip": False}, "training_choice": {}}))
    train(results, inputs, "cnn_lstm", REFERENCE_CFG, choice)
    return results, inputs


def test_variant_made_the_reference_by_the_choice_reuses_its_forecasts(
    trained_reference: tuple[Path, tuple[Path, Path]],
) -> None:
    results, inputs = trained_reference
    paths = train(
        results,
        inputs,
        "cnn_lstm_no_skip",
        NO_SKIP_CFG,
        results / "choice.json",
        reference="cnn_lstm",
    )
    client = MlflowClient(f"sqlite:///{results / 'mlflow' / 'mlflow.db'}")
    for seed, predictions_path, run_path, folder in zip(
        SEEDS, paths["predictions"], paths["run"], paths["checkpoints"], strict=True
    ):
        reference_dir = results / "toy" / "models" / "cnn_lstm" / f"seed{seed}"
        reused = pd.read_csv(predictions_path)
        original = pd.read_csv(reference_dir / "predictions.csv")
        assert set(reused["model"]) == {"cnn_lstm_no_skip"}
        pd.testing.assert_frame_equal(reused.drop(columns="model"), original.drop(columns="model"))
        record = json.loads(run_path.read_text())
        reference_record = json.loads((reference_dir / "run.json").read_text())
        assert record["same_model_as"]["run_id"] == reference_record["run_id"]
        assert record["checkpoint_dir"] == reference_record["checkpoint_dir"]
        assert record["run_id"] != reference_record["run_id"]
        # Nothing was trained: the folder names the reference's checkpoints only.
        assert sorted(p.name for p in folder.iterdir()) == ["same_model_as.json"]
        run = client.get_run(record["run_id"])
        assert run.data.tags["same_model_as"] == reference_record["run_id"]
        assert run.data.params["same_model_as"] == "cnn_lstm"
    assert (
        paths["curves"][0].read_bytes()
        == (results / "toy" / "models" / "cnn_lstm" / "training_curves.png").read_bytes()
    )


def test_variant_that_stays_different_is_trained(
    trained_reference: tuple[Path, tuple[Path, Path]],
) -> None:
    results, inputs = trained_reference
    # The choice (skip=False) leaves pooling alone: the no-pooling ablation differs from
    # the reference's recorded configuration (pooling max), so it is trained.
    no_pooling = {**REFERENCE_CFG, "pooling": "none"}
    paths = train(
        results,
        inputs,
        "cnn_lstm_no_pooling",
        no_pooling,
        results / "choice.json",
        reference="cnn_lstm",
    )
    for folder, run_path in zip(paths["checkpoints"], paths["run"], strict=True):
        assert (folder / "fold0" / "best.ckpt").is_file()
        assert (folder / "history.csv").is_file()
        record = json.loads(run_path.read_text())
        assert "same_model_as" not in record
        assert record["model_cfg"]["pooling"] == "none" and record["model_cfg"]["skip"] is False
    assert paths["curves"][0].stat().st_size > 0
