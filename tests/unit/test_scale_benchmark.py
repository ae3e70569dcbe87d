"""The scale benchmark's config and arithmetic, and the scale note at DAG build."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from convergence.backtest.preflight import MANY_ENTITIES, check_backtest_spans, scale_note
from convergence.config import validate_config
from convergence.settings import training_settings

ROOT = Path(__file__).resolve().parents[2]


def load_scale():
    spec = importlib.util.spec_from_file_location("scale", ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_config_is_valid_and_fits_the_backtest(tmp_path: Path) -> None:
    scale = load_scale()
    config = validate_config(scale.scale_config(ROOT, 50, tmp_path / "results"))
    assert list(config["datasets"]) == ["synthetic"]
    assert config["datasets"]["synthetic"]["options"]["n_entities"] == 50
    assert config["train_models"] == ["cnn_lstm"] and config["seeds"] == [0]
    assert config["forkserver"] is False
    sizes = check_backtest_spans(
        config["datasets"], {"synthetic": training_settings(config, "synthetic")}, root=ROOT
    )
    assert sizes == {"synthetic": (50, 40)}


def test_growth_exponent_and_benchmark_lines(tmp_path: Path) -> None:
    scale = load_scale()
    assert scale.exponent(10.0, 30.0, 1000, 3000) == pytest.approx(1.0)
    assert scale.exponent(10.0, 90.0, 1000, 3000) == pytest.approx(2.0)
    assert math.isnan(scale.exponent(0.0, 1.0, 1, 3))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.smk").write_text(
        'rule x:\n    log:\n        f"{RESULTS}/logs/x/{{dataset}}.log",\n    script:\n        "s.py"\n'
    )
    scale.add_benchmark_lines(rules)
    text = (rules / "x.smk").read_text()
    assert '    benchmark:\n        f"{RESULTS}/benchmarks/x/{{dataset}}.tsv"\n' in text


def test_scale_note_only_for_many_entities() -> None:
    assert scale_note("small", MANY_ENTITIES, 40) is None
    note = scale_note("counties", 3000, 40)
    assert note is not None and "3000 entities x 40 periods" in note
    assert "benchmarks/results/scale.md" in note


def test_selection_note_says_when_the_choice_rests_on_a_sample() -> None:
    from convergence.evaluation.summary import selection_note

    record = {"reference": "cnn_lstm", "chosen": "skip=True", "n_entities": 3000}
    assert "seeded sample" not in selection_note({**record, "n_selection_entities": None})
    assert "seeded sample" not in selection_note({**record, "n_entities": 42})
    note = selection_note({**record, "n_selection_entities": 200, "max_entities": 200})
    assert "Chosen on a seeded sample of 200 of 3000 entities (selection.max_entities = 200" in note


def _fake_run(root: Path, n: int, train_s: float, epochs: int) -> Path:
    """A kept run folder: one train benchmark file and a history.csv of ``epochs`` rows."""
    results = root / f"scale{n}" / "results"
    bench = results / "benchmarks" / "train"
    bench.mkdir(parents=True)
    (bench / "synthetic_cnn_lstm.tsv").write_text(f"s\tmax_rss\n{train_s}\t500\n")
    history = results / "synthetic" / "models" / "cnn_lstm" / "seed0" / "history.csv"
    history.parent.mkdir(parents=True)
    history.write_text("fold,epoch\n" + "".join(f"0,{e}\n" for e in range(epochs)))
    return results


def test_train_seconds_are_read_per_epoch(tmp_path: Path) -> None:
    scale = load_scale()
    small = scale.collect(_fake_run(tmp_path, 1000, 60.0, 100), 1000, 2, "ok", 100.0)
    large = scale.collect(_fake_run(tmp_path, 3000, 360.0, 200), 3000, 2, "ok", 400.0)
    assert small["train_epochs"] == 100 and large["train_epochs"] == 200
    text = scale.markdown([small, large], "t")
    train = next(line for line in text.splitlines() if line.startswith("| train |"))
    per_epoch = next(line for line in text.splitlines() if line.startswith("| train per epoch"))
    assert train.endswith(f"| {math.log(6) / math.log(3):.2f} |")  # 60 s -> 360 s
    # 0.6 s -> 1.8 s per epoch: linear
    assert per_epoch == "| train per epoch | 0.60 s x 100 epochs | 1.80 s x 200 epochs | 1.00 |"
