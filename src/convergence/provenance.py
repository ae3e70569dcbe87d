"""Provenance records that travel with every table: config hash, data sha256, code version.

The repository root (for the git commit and for data paths relative to the project) is an
explicit setting: :func:`project_root` reads ``CONVERGENCE_ROOT``, else uses the source
checkout the package was imported from, else the working directory (an installed wheel
run from a project folder). Outside a git work tree the commit is ``"unknown"``.
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import convergence

# Re-exported for imports that predate convergence.atomic (stages/train.py).
from convergence.atomic import write_json_atomic as write_json_atomic

#: environment variable that names the repository root explicitly.
ROOT_VARIABLE = "CONVERGENCE_ROOT"


def project_root() -> Path:
    """The project (repository) root: ``$CONVERGENCE_ROOT``, else the source checkout this
    package was imported from (``src/convergence`` two levels below a ``Snakefile``),
    else the current working directory."""
    explicit = os.environ.get(ROOT_VARIABLE)
    if explicit:
        return Path(explicit).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "Snakefile").is_file() and (checkout / "src" / "convergence").is_dir():
        return checkout
    return Path.cwd()


#: the root at import time (scripts and tests; library code calls :func:`project_root`).
PROJECT_ROOT = project_root()


def git_state(root: Path | None = None) -> dict[str, Any]:
    """Current commit and whether the work tree at ``root`` (default :func:`project_root`)
    has uncommitted changes; ``"unknown"`` outside a git work tree or without git."""
    root = project_root() if root is None else root
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def base_record(**fields: Any) -> dict[str, Any]:
    """Common provenance fields plus ``fields``."""
    record: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_version": convergence.__version__,
        # From the installed metadata: importing torch would cost seconds in every job.
        "torch_version": _installed_version("torch"),
        **git_state(),
    }
    record.update(fields)
    return record


def read_json(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


PACKAGE_DIR = Path(convergence.__file__).resolve().parent


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """Source file of a ``convergence`` module (``convergence.x.y``) under ``package_dir``."""
    parts = module.split(".")[1:]
    target = package_dir.joinpath(*parts)
    if target.is_dir():
        return target / "__init__.py"
    return target.with_suffix(".py")


@functools.lru_cache(maxsize=512)
def _convergence_import_names(source: str, filename: str) -> tuple[str, ...]:
    """Dotted names under ``convergence`` that a module's source imports.

    Keyed by the source text, so a Snakefile that fingerprints many rules parses each
    module once, and an edited module is parsed again. ``filename`` names the file in a
    ``SyntaxError``.
    """
    names: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        names.extend(
            name for name in candidates if name == "convergence" or name.startswith("convergence.")
        )
    return tuple(names)


def imported_modules(module: str, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """``convergence`` modules one module imports, at top level or inside functions.

    ``from convergence.x import y`` counts ``convergence.x`` and, when ``y`` is itself a
    module, ``convergence.x.y``; the packages above each imported module count too
    (Python runs their ``__init__``).
    """
    path = module_file(module, package_dir)
    found: set[str] = set()
    for name in _convergence_import_names(path.read_text(encoding="utf-8"), str(path)):
        if name == "convergence" or not module_file(name, package_dir).is_file():
            continue  # ``from convergence.x import function``
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return found


def import_closure(module: str, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Every ``convergence`` module that importing ``module`` can load, itself included."""
    parts = module.split(".")
    start = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    seen = set(start)
    stack = sorted(start)
    while stack:
        for name in imported_modules(stack.pop(), package_dir):
            if name not in seen:
                seen.add(name)
                stack.append(name)
    return sorted(seen)


def code_fingerprint(module: str, package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the source of ``module``'s import closure (a Snakemake rerun trigger).

    A rule passes its stage module (``convergence.stages.<rule>``); a change to any module
    that the stage imports, directly or not, changes the fingerprint and reruns the rule.
    """
    digest = hashlib.sha256()
    for name in import_closure(module, package_dir):
        path = module_file(name, package_dir)
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
