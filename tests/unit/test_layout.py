"""The package is one straight chain of layers; fingerprints follow the imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convergence.provenance import PACKAGE_DIR, code_fingerprint, import_closure, imported_modules

#: Layer of each top-level module or subpackage; a module may import only from lower layers
#: or from its own subpackage.
LAYERS: dict[str, int] = {
    "errors": 0,
    "atomic": 0,
    "logging": 1,
    "numerics": 1,
    "config": 1,
    "provenance": 1,
    "settings": 2,
    "diagnostics": 2,
    "docs": 2,  # the configuration reference, generated from the schema (config)
    "data": 3,
    "measures": 3,
    "backtest": 4,
    "reproducibility": 4,
    "tracking": 4,
    "models": 5,
    "evaluation": 5,
    "plotting": 6,
    "numerics_check": 6,
    "training": 7,
    "analysis": 8,
    "stages": 9,
    "forkserver": 10,  # imports the stages by name, before it forks the jobs
}
HEAVY = ("torch", "pytorch_lightning", "lightning", "mlflow")


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        names.append(".".join(("convergence", *parts)))
    return names


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) == 1:
        return "convergence", -1
    top = parts[1]
    assert top in LAYERS, f"{module}: add its layer to LAYERS (and to the README layout)"
    return top, LAYERS[top]


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_no_module_imports_upward() -> None:
    upward = []
    for module in _modules():
        top, rank = _layer(module)
        for imported in imported_modules(module):
            other, other_rank = _layer(imported)
            if other == "convergence" or other == top:
                continue
            if other_rank >= rank:
                upward.append(f"{module} -> {imported}")
    assert not upward, "imports that run up (or sideways) the chain:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    "module",
    [
        "convergence.evaluation",
        "convergence.evaluation.scores",
        "convergence.evaluation.comparisons",
        "convergence.evaluation.summary",
        "convergence.evaluation.tables",
        "convergence.backtest.contract",
        "convergence.backtest.windows",
        "convergence.models.baselines",
        "convergence.stages.evaluate",
    ],
)
def test_light_modules_import_no_torch_lightning_or_mlflow(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {module} loaded {out}"


def test_static_closure_covers_what_python_imports() -> None:
    code = (
        "import sys, convergence.stages.train\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('convergence'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert set(loaded.split(",")) <= set(import_closure("convergence.stages.train"))


@pytest.fixture()
def package_copy(tmp_path: Path) -> Path:
    target = tmp_path / "convergence"
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.parametrize(
    ("stage", "changed", "reruns"),
    [
        ("convergence.stages.train", "measures/entropy.py", True),  # two imports deep
        ("convergence.stages.train", "backtest/windows.py", True),
        ("convergence.stages.train", "models/networks.py", True),
        ("convergence.stages.measure", "measures/similarity.py", True),
        ("convergence.stages.normalize", "settings.py", False),
        ("convergence.stages.ingest", "plotting/evaluation.py", False),
        ("convergence.stages.evaluate", "models/networks.py", False),
        ("convergence.stages.evaluate", "evaluation/diebold_mariano.py", True),
    ],
)
def test_fingerprint_follows_the_import_closure(
    package_copy: Path, stage: str, changed: str, reruns: bool
) -> None:
    before = code_fingerprint(stage, package_copy)
    assert before == code_fingerprint(stage, PACKAGE_DIR)
    with open(package_copy / changed, "a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    assert (code_fingerprint(stage, package_copy) != before) is reruns


def test_an_import_added_after_a_first_fingerprint_joins_the_closure(package_copy: Path) -> None:
    # Parsed imports are cached by source text; an edited module must be parsed again.
    stage = "convergence.stages.ingest"
    assert "convergence.plotting.evaluation" not in import_closure(stage, package_copy)
    before = code_fingerprint(stage, package_copy)
    with open(package_copy / "stages/ingest.py", "a", encoding="utf-8") as handle:
        handle.write("\n\ndef _late():\n    import convergence.plotting.evaluation  # noqa\n")
    assert "convergence.plotting.evaluation" in import_closure(stage, package_copy)
    assert code_fingerprint(stage, package_copy) != before


def test_a_syntax_error_in_a_module_names_its_file(package_copy: Path) -> None:
    broken = package_copy / "stages/ingest.py"
    with open(broken, "a", encoding="utf-8") as handle:
        handle.write("\ndef broken(:\n")
    with pytest.raises(SyntaxError) as caught:
        code_fingerprint("convergence.stages.ingest", package_copy)
    assert caught.value.filename == str(broken)
