"""The config schema: shipped configs validate, mistakes fail with their key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from convergence.config import config_hash, load_config, validate_config
from convergence.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize("path", ["config.yaml", "tests/integration/config.yaml"])
def test_shipped_configs_validate(path: str) -> None:
    config = load_config(ROOT / path)
    assert config["results_dir"] == "results"
    assert config["measures"]["normalization"]["scope"] == "pooled"  # default filled in


def test_defaults_filled_per_dataset(default_config: dict) -> None:
    config = validate_config(default_config)
    assert config["datasets"]["china"]["entities_min_periods"] == 0
    assert config["datasets"]["ggdc"]["entities_min_periods"] == 20


def test_typo_names_the_key(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["measures"]["normalisation"] = broken["measures"].pop("normalization")
    with pytest.raises(ConfigError, match="measures.*normalisation"):
        validate_config(broken)


def test_wrong_type_names_the_key(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["measures"]["normalization"]["headroom"] = "ten percent"
    with pytest.raises(ConfigError, match=r"measures\.normalization\.headroom"):
        validate_config(broken)


def test_unknown_reader_and_direction(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["datasets"]["china"]["reader"] = "excel"
    with pytest.raises(ConfigError, match=r"datasets\.china\.reader"):
        validate_config(broken)
    broken = copy.deepcopy(default_config)
    broken["datasets"]["china"]["subsystems"]["industry"]["industry"] = "good"
    with pytest.raises(ConfigError, match=r"datasets\.china\.subsystems\.industry\.industry"):
        validate_config(broken)


def test_file_dataset_needs_checksum(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    del broken["datasets"]["china"]["sha256"]
    with pytest.raises(ConfigError, match="sha256"):
        validate_config(broken)


def test_indicator_in_two_subsystems(default_config: dict) -> None:
    broken = copy.deepcopy(default_config)
    broken["datasets"]["china"]["subsystems"]["industry"]["agriculture"] = "benefit"
    with pytest.raises(ConfigError, match="already in subsystem 'agriculture'"):
        validate_config(broken)


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_results_dir_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    """Issue 28: --config results_dir=data/res left results among the inputs."""
    from convergence.config import check_results_dir

    config = {"results_dir": "data/res", "datasets": {"x": {"path": "data/raw/x.csv"}}}
    with pytest.raises(ConfigError, match=r"results_dir.*data folder"):
        check_results_dir(config, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match=r"results_dir.*contains the input data of datasets\.y"):
        elsewhere = {"results_dir": "inputs", "datasets": {"y": {"path": "inputs/y.csv"}}}
        check_results_dir(elsewhere, tmp_path, tmp_path)
    check_results_dir({**config, "results_dir": "results"}, tmp_path, tmp_path)  # fine
    beside = {"results_dir": "results", "datasets": {"z": {"path": "z.csv"}}}
    check_results_dir(beside, tmp_path, tmp_path)  # a project folder with data and results
