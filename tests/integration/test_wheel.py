"""The package works outside its source tree: a built wheel loads and validates the config.

The wheel is built offline from a copy of ``pyproject.toml`` and ``src/`` (no build
isolation: the machines have no network) and installed with pip into a temporary folder;
a fresh interpreter with only that folder ahead of site-packages, started in an empty
working directory, must import ``convergence`` from there (not from the editable source
tree), read the schema that ships inside the package and validate ``config.yaml``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import json, sys
import convergence
from convergence.config import load_config, schema_default
from convergence.provenance import git_state, project_root

config = load_config(sys.argv[1])
print(json.dumps({
    "file": convergence.__file__,
    "datasets": sorted(config["datasets"]),
    "batch_size": config["training"]["batch_size"],
    "default_batch_size": schema_default("training.batch_size"),
    "vectorise_seeds": config["training"]["vectorise_seeds"],
    "root": str(project_root()),
    "git_commit": git_state()["git_commit"],
}))
"""


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding convergence installed from a wheel (pip install --target)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        symlinks=False,
    )
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        cwd=source,
    )
    (wheel,) = wheels.glob("convergence-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "convergence/schemas/config.schema.yaml" in archive.namelist()
    site = base / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)])
    return site


def test_wheel_loads_and_validates_the_config(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONVERGENCE_ROOT")}
    env["PYTHONPATH"] = str(installed)
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path.parent)  # no work tree above the cwd
    result = _run([sys.executable, "-c", CHECK, str(ROOT / "config.yaml")], cwd=tmp_path, env=env)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    module = Path(found["file"]).resolve()
    assert module.is_relative_to(installed.resolve())
    assert not module.is_relative_to(ROOT / "src")
    assert found["datasets"] == ["china", "ggdc", "synthetic", "us_employment"]
    assert found["batch_size"] == 512
    assert found["default_batch_size"] == 64
    assert found["vectorise_seeds"] is False  # a schema default filled in from the wheel
    # Outside a source checkout the root is the working directory, not a git work tree.
    assert Path(found["root"]).resolve() == tmp_path.resolve()
    assert found["git_commit"] == "unknown"
