"""The starter config for new data (config/new_dataset.yaml) validates and, on a panel in
the shape it describes, plans a light run: one seed, one network, three baselines."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from convergence.config import validate_config

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "config" / "new_dataset.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def panel_text(n_regions: int = 12, n_years: int = 25) -> str:
    rng = np.random.default_rng(0)
    lines = ["region,year,indicator,value"]
    for r in range(n_regions):
        size = rng.uniform(1, 50)
        for t in range(n_years):
            values = {
                "agri_output": size * (1 + 0.01 * t) * rng.uniform(0.95, 1.05),
                "agri_employment": size * rng.uniform(0.95, 1.05),
                "ict_output": size * (1 + 0.04 * t) * rng.uniform(0.95, 1.05),
                "ict_employment": size * 0.2 * rng.uniform(0.95, 1.05),
            }
            lines += [f"R{r:02d},{2000 + t},{k},{v:.4f}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def test_starter_config_is_light_and_valid() -> None:
    config = validate_config(yaml.safe_load(STARTER.read_text()))
    assert list(config["datasets"]) == ["my_panel"]
    assert config["seeds"] == [0] and config["train_models"] == ["cnn_lstm"]
    assert config["selection"]["enabled"] is False
    assert config["evaluation"]["ablations"] == []
    assert config["models"]["cnn_lstm"]["penalty"] == "elastic_net"


def test_starter_config_plans_a_small_run_on_a_matching_panel(tmp_path: Path) -> None:
    text = panel_text()
    data = tmp_path / "my_panel.csv"
    data.write_text(text)
    config = yaml.safe_load(STARTER.read_text())
    entry = config["datasets"]["my_panel"]
    entry["path"] = str(data)
    entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    config["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [SNAKEMAKE, "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(path), "--cores", "1", "--quiet", "rules"],  # job counts
        capture_output=True,
        text=True,
        timeout=300,
        env={"CONVERGENCE_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = [line.split() for line in done.stdout.splitlines()]
    jobs = {row[0]: int(row[1]) for row in counts if len(row) == 2 and row[1].isdigit()}
    assert jobs["train"] == 1 and jobs["baselines"] == 1 and "select" not in jobs
