"""End-to-end: run the Snakemake DAG on tiny configs and check numbers, not just files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.slow


def run_snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with ``workdir`` as working directory."""
    shutil.copy(configfile, workdir / "config.yaml")
    return subprocess.run(
        [
            SNAKEMAKE,
            "-s",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            "2",
            "--quiet",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )


def absolute_paths(config: dict) -> dict:
    for spec in config["datasets"].values():
        if "path" in spec and not Path(spec["path"]).is_absolute():
            spec["path"] = str(ROOT / spec["path"])
    return config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    config = absolute_paths(yaml.safe_load((ROOT / "tests/integration/config.yaml").read_text()))
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, path)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "results"


def test_measure_tables_hold_valid_indices(tiny_run: Path) -> None:
    for dataset in ("china", "synthetic"):
        table = pd.read_csv(tiny_run / dataset / "measure" / "coupling.csv", dtype={"period": str})
        for column in ("T", "C", "C_adjusted", "D", "D_adjusted"):
            assert table[column].between(0, 1).all(), (dataset, column)
        # D is the geometric mean of C and T, row by row.
        np.testing.assert_allclose(table["D"], np.sqrt(table["C"] * table["T"]), atol=1e-12)
    china = pd.read_csv(tiny_run / "china" / "measure" / "coupling.csv", dtype={"period": str})
    assert len(china) == 37
    # One indicator per subsystem: U is min-max of the raw index, 0 at its minimum year
    # (agriculture bottoms out in the famine years, not in 1952) and 1 at its maximum.
    raw = pd.read_csv(ROOT / "data/raw/china_income.csv").set_index("year")
    by_period = china.set_index("period")
    assert by_period.loc[str(raw["agriculture"].idxmin()), "U_agriculture"] == pytest.approx(0.0)
    assert by_period.loc[str(raw["agriculture"].idxmax()), "U_agriculture"] == pytest.approx(1.0)
    expected = (raw["industry"] - raw["industry"].min()) / (
        raw["industry"].max() - raw["industry"].min()
    )
    np.testing.assert_allclose(by_period["U_industry"].to_numpy(), expected.to_numpy(), atol=1e-9)


def test_synthetic_coupling_shows_in_measures(tiny_run: Path) -> None:
    """Entities simulated with stronger coupling end with a smaller gap between subsystems."""
    from convergence.data.synthetic import simulate_coupled_industries

    config = yaml.safe_load((ROOT / "tests/integration/config.yaml").read_text())
    options = config["datasets"]["synthetic"]["options"]
    _, truth = simulate_coupled_industries(
        options["n_entities"],
        options["n_periods"],
        coupling_min=options["coupling_min"],
        coupling_max=options["coupling_max"],
        noise=options["noise"],
        seed=options["seed"],
    )
    table = pd.read_csv(tiny_run / "synthetic" / "measure" / "coupling.csv", dtype={"period": str})
    last = table[table["period"] == table["period"].max()].set_index("entity")
    gap = (last["U_agriculture"] - last["U_ict"]).abs()
    coupling = truth.set_index("entity")["coupling"].reindex(gap.index)
    assert np.corrcoef(coupling, gap)[0, 1] < -0.5

    # The measure stage reports the recovery itself, and the summary states it.
    import json

    provenance = json.loads((tiny_run / "synthetic" / "measure" / "provenance.json").read_text())
    recovery = provenance["coupling_recovery"]
    expected = coupling.corr(gap, method="spearman")
    assert recovery["spearman_coupling_gap"] == pytest.approx(expected)
    assert recovery["spearman_coupling_gap"] < -0.5
    assert recovery["spearman_coupling_C"] > 0.5
    assert "coupling_recovery" not in json.loads(
        (tiny_run / "china" / "measure" / "provenance.json").read_text()
    )
    summary = (tiny_run / "summary.md").read_text()
    synthetic_part = summary.split("## synthetic")[1]
    assert f"rho = {recovery['spearman_coupling_C']:.2f}" in synthetic_part


def test_provenance_links_outputs_to_data(tiny_run: Path) -> None:
    import json

    ingest = json.loads((tiny_run / "china" / "ingest" / "provenance.json").read_text())
    assert (
        ingest["sha256"]
        == hashlib.sha256((ROOT / "data/raw/china_income.csv").read_bytes()).hexdigest()
    )
    measure = json.loads((tiny_run / "china" / "measure" / "provenance.json").read_text())
    assert measure["data_sha256"] == ingest["sha256"]
    assert len(measure["config_sha256"]) == 64
    grades = pd.read_csv(tiny_run / "synthetic" / "measure" / "grade_distribution.csv")
    np.testing.assert_allclose(grades.groupby("period")["share"].sum(), 1.0)


def test_training_outputs_trace_to_mlflow(tiny_run: Path) -> None:
    """Predictions of every seed exist, differ by seed and point at a real MLflow run."""
    import json

    from mlflow.tracking import MlflowClient

    frames = []
    for seed in (0, 1):
        folder = tiny_run / "synthetic" / "models" / "cnn_lstm" / f"seed{seed}"
        predictions = pd.read_csv(folder / "predictions.csv", dtype={"period": str, "origin": str})
        run = json.loads((folder / "run.json").read_text())
        assert predictions["predicted"].between(0, 1).all()
        assert sorted(predictions["horizon"].unique()) == [1, 2]
        assert predictions["fold"].nunique() == 2
        client = MlflowClient(run["tracking_uri"])
        parent = client.get_run(run["run_id"])
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["data_sha256"] == run["data_sha256"]
        children = client.search_runs(
            [run["experiment_id"]], f"tags.mlflow.parentRunId = '{run['run_id']}'"
        )
        assert len(children) == 2
        # Every prediction row names the child run (fold) that produced it.
        assert set(predictions["run_id"]) == {child.info.run_id for child in children}
        assert all("test_mae" in child.data.metrics for child in children)
        frames.append(predictions)
    assert not np.allclose(frames[0]["predicted"], frames[1]["predicted"])
    assert (frames[0]["actual"].to_numpy() == frames[1]["actual"].to_numpy()).all()


def test_selection_choice_is_applied_and_reported(tiny_run: Path) -> None:
    """The select rule picks the lowest validation loss unless a candidate closer to the
    configuration as written is within the margin; training and summary.md use it."""
    import json

    choice = json.loads((tiny_run / "synthetic" / "selection" / "choice.json").read_text())
    ranking = pd.read_csv(tiny_run / "synthetic" / "selection" / "ranking.csv")
    assert len(ranking) == 2 and ranking.loc[0, "rank"] == 1
    assert ranking["mean_val_loss"].is_monotonic_increasing
    assert ranking["chosen"].sum() == 1
    chosen = ranking[ranking["chosen"]].iloc[0]
    assert choice["chosen"] == chosen["overrides"]
    assert choice["seeds"] == [0, 1] and choice["margin"] == 0.05
    # Chosen: the lowest loss, or a candidate within 5 % of it with fewer departures.
    lowest = float(ranking.loc[0, "mean_val_loss"])
    assert float(chosen["mean_val_loss"]) <= lowest * 1.05
    assert bool(chosen["within_margin"])
    near = ranking[ranking["within_margin"] & ~ranking["chosen"]]["overrides"].tolist()
    assert choice["near_tie"] == near
    run = json.loads(
        (tiny_run / "synthetic" / "models" / "cnn_lstm" / "seed0" / "run.json").read_text()
    )
    assert run["selection_choice"] == choice["choice"]
    assert run["model_cfg"]["skip"] == choice["choice"]["skip"]
    # training.warm_start is chosen on validation too and trained with (the train job's
    # effective settings are in run.json).
    comparison = choice["warm_start_comparison"]
    warm, fresh = comparison["warm_val_loss"], comparison["fresh_val_loss"]
    near_tie = abs(warm - fresh) <= 0.05 * min(warm, fresh)
    assert comparison["near_tie"] == near_tie
    assert choice["training_choice"] == {"warm_start": warm < fresh and not near_tie}
    assert run["training_choice"] == choice["training_choice"]
    summary = (tiny_run / "summary.md").read_text()
    assert choice["chosen"] in summary
    # A choice resting on few validation windows is flagged in choice.json and summary.md.
    codes = [c["code"] for c in choice["data_checks"]]
    assert (choice["n_validation_windows"] < 30) == ("selection_few_validation_windows" in codes)
    if codes:
        assert "**select** `selection_few_validation_windows`" in summary


def test_ablation_made_the_reference_by_the_choice_is_not_trained_again(tiny_run: Path) -> None:
    """cnn_lstm_no_skip reuses cnn_lstm's forecasts exactly when the choice is skip=False."""
    import json

    for dataset in ("china", "synthetic"):
        choice = json.loads((tiny_run / dataset / "selection" / "choice.json").read_text())
        for seed in (0, 1):
            reference = tiny_run / dataset / "models" / "cnn_lstm" / f"seed{seed}"
            variant = tiny_run / dataset / "models" / "cnn_lstm_no_skip" / f"seed{seed}"
            record = json.loads((variant / "run.json").read_text())
            checkpoints = variant / f"cnn_lstm_no_skip-seed{seed}"
            if choice["choice"]["skip"] is False:
                reference_run = json.loads((reference / "run.json").read_text())
                assert record["same_model_as"]["run_id"] == reference_run["run_id"]
                assert not list(checkpoints.rglob("*.ckpt"))
                pd.testing.assert_frame_equal(
                    pd.read_csv(variant / "predictions.csv").drop(columns="model"),
                    pd.read_csv(reference / "predictions.csv").drop(columns="model"),
                )
            else:
                assert "same_model_as" not in record
                assert (checkpoints / "fold0" / "best.ckpt").is_file()


def write_new_dataset(workdir: Path, values: list[tuple[str, int, str, str]]) -> Path:
    csv = workdir / "regions.csv"
    csv.write_text(
        "region,year,variable,value\n" + "".join(f"{r},{y},{v},{x}\n" for r, y, v, x in values)
    )
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    config = {
        "datasets": {
            "regions": {
                "reader": "long_csv",
                "path": str(csv),
                "sha256": digest,
                "frequency": "annual",
                "options": {
                    "columns": {
                        "entity": "region",
                        "period": "year",
                        "indicator": "variable",
                        "value": "value",
                    }
                },
                "subsystems": {
                    "agriculture": {"farm_output": "benefit"},
                    "ict": {"ict_output": "benefit"},
                },
            }
        }
    }
    path = workdir / "new.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def regions_rows() -> list[tuple[str, int, str, str]]:
    rows = []
    for region, farm0, ict0 in (("north", 10.0, 2.0), ("south", 8.0, 1.0), ("east", 12.0, 3.0)):
        for year in range(2000, 2012):
            rows.append((region, year, "farm_output", f"{farm0 + 0.5 * (year - 2000):.2f}"))
            rows.append((region, year, "ict_output", f"{ict0 * 1.2 ** (year - 2000):.4f}"))
    return rows


def test_heavy_jobs_ran_in_the_forkserver_which_stopped(tiny_run: Path) -> None:
    log = (tiny_run / "logs" / "forkserver.log").read_text()
    ready = re.search(r"ready in [\d.]+ s on (\S+)", log)
    served = re.search(r"stopped after (\d+) jobs", log)
    assert ready and served, log
    train_jobs = len(list((tiny_run / "benchmarks" / "train").glob("*.tsv")))
    assert train_jobs > 0 and int(served.group(1)) >= train_jobs
    assert not Path(ready.group(1)).exists()  # socket removed by the onsuccess hook


def test_new_dataset_runs_without_code(tmp_path: Path) -> None:
    config = write_new_dataset(tmp_path, regions_rows())
    result = run_snakemake(tmp_path, config)
    assert result.returncode == 0, result.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results/regions/measure/coupling.csv", dtype={"period": str})
    assert set(table["entity"]) == {"north", "south", "east"}
    assert len(table) == 36
    # Pooled min-max over all entities: the smallest ict value (south, 2000) maps to 0.
    south = table.set_index(["entity", "period"]).loc[("south", "2000")]
    assert south["U_ict"] == pytest.approx(0.0)
    assert (tmp_path / "results/regions/figures/heatmap.png").stat().st_size > 1000


def test_bad_value_fails_cleanly(tmp_path: Path) -> None:
    rows = regions_rows()
    rows[5] = (rows[5][0], rows[5][1], rows[5][2], "n/a-ish")
    config = write_new_dataset(tmp_path, rows)
    result = run_snakemake(tmp_path, config)
    assert result.returncode != 0
    log = (tmp_path / "results/logs/ingest/regions.log").read_text()
    assert "regions.csv" in log and "'value'" in log and "row 7" in log
    assert not (tmp_path / "results/regions/ingest/canonical.csv").exists()


def test_config_typo_fails_before_any_job(tmp_path: Path) -> None:
    config_path = write_new_dataset(tmp_path, regions_rows())
    config = yaml.safe_load(config_path.read_text())
    config["datasets"]["regions"]["subsytems"] = config["datasets"]["regions"].pop("subsystems")
    config_path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, config_path)
    assert result.returncode != 0
    assert "datasets.regions" in result.stderr and "subsytems" in result.stderr
    assert not (tmp_path / "results").exists()


def dry_run(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``snakemake -n`` of the project itself (its own config.yaml unless ``env`` says)."""
    return subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(ROOT), "-n"]
        + ["--cores", "1", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_default_config_dry_run() -> None:
    result = dry_run("--forceall")
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in ("ingest", "normalize", "measure", "figure_measures", "train", "scenarios"):
        assert rule in result.stdout


def test_quick_config_replaces_the_default(tmp_path: Path) -> None:
    """`make quick`: CONVERGENCE_CONFIG swaps config.yaml for the tiny config, not merges."""
    result = dry_run(
        "--config",
        f"results_dir={tmp_path / 'quick'}",
        env={**os.environ, "CONVERGENCE_CONFIG": "tests/integration/config.yaml"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = result.stdout
    assert f"{tmp_path / 'quick'}/synthetic/ingest/canonical.csv" in planned
    assert f"{tmp_path / 'quick'}/china/ingest/canonical.csv" in planned
    for default_only in ("ggdc", "us_employment"):
        assert f"/{default_only}/" not in planned


def test_every_computing_job_records_the_numeric_pin(tiny_run: Path) -> None:
    """run.json of every seed (trained or reused), the baselines and the selection carry
    the numerics record; the MLflow runs carry numerics.* tags (issue 22)."""
    import json

    from mlflow.tracking import MlflowClient

    from convergence.numerics import PINNED_ENVIRONMENT, host_supports_pin

    records = [
        *tiny_run.glob("*/models/*/seed*/run.json"),
        *tiny_run.glob("*/baselines/run.json"),
        *tiny_run.glob("*/selection/choice.json"),
    ]
    assert len(records) >= 10
    for path in records:
        record = json.loads(path.read_text())
        numerics = record["numerics"]
        assert numerics["isa"] == "avx2", path
        assert numerics["environment_pinned"] is True, path
        assert {k: numerics["variables"][k] for k in PINNED_ENVIRONMENT} == PINNED_ENVIRONMENT
        if host_supports_pin():
            assert numerics["torch_cpu_capability"] == "AVX2", path
            assert numerics["pin_holds"] is True, path
    run = json.loads(
        (tiny_run / "synthetic" / "models" / "cnn_lstm" / "seed0" / "run.json").read_text()
    )
    tags = MlflowClient(run["tracking_uri"]).get_run(run["run_id"]).data.tags
    assert tags["numerics.isa"] == "avx2"
    assert tags["numerics.torch_cpu_capability"] == run["numerics"]["torch_cpu_capability"]


def test_headline_names_a_single_best_model_only_when_separated(tiny_run: Path) -> None:
    """Each data set's headline follows its leader_tests.csv: a tie statement naming the
    tied models, or one model separated from every other."""
    import json

    from convergence.evaluation.summary import leader_ties

    summary_md = (tiny_run / "summary.md").read_text()
    for dataset in ("china", "synthetic"):
        seeds = pd.read_csv(tiny_run / dataset / "evaluation" / "summary.csv")
        leader_dm = pd.read_csv(tiny_run / dataset / "evaluation" / "leader_tests.csv")
        leader, tied, _ = leader_ties(seeds, leader_dm, reference="cnn_lstm")
        assert set(leader_dm["reference"]) == {leader}
        section = summary_md.split(f"## {dataset}")[1].split("\n## ")[0]
        evaluated = json.loads((tiny_run / dataset / "evaluation" / "provenance.json").read_text())
        n_entities = evaluated["n_entities"]
        entities = f"{n_entities} entit{'y' if n_entities == 1 else 'ies'}"
        assert f"on {entities} and {evaluated['n_test_periods']} test period" in section
        if tied:
            assert f"No single best model on {dataset}" in section
            assert all(model in section for model in tied[:6])
        else:
            assert f"from {leader}, separated from every other model" in section
