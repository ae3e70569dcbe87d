"""Provenance records that travel with every table: config hash, data sha256, code version."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import convergence

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Current commit and whether the work tree has uncommitted changes."""
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
    import torch

    record: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_version": convergence.__version__,
        "torch_version": torch.__version__,
        **git_state(),
    }
    record.update(fields)
    return record


def umask_file_mode() -> int:
    """The mode a newly created file gets from ``open()``: ``0o666 & ~umask``."""
    # The umask can only be read by setting it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def publish_atomic(temporary: Path | str, target: Path | str) -> None:
    """Give ``temporary`` the umask's file mode, then move it over ``target`` in one step.

    :func:`tempfile.mkstemp` creates files with mode 0600 whatever the umask; without the
    ``chmod`` every table and JSON would be private to its owner, unlike the figures.
    """
    os.chmod(temporary, umask_file_mode())
    os.replace(temporary, target)


def write_json_atomic(data: Mapping[str, Any], path: str | Path) -> None:
    """Write JSON through a temporary file so a crash leaves no partial file.

    The file gets the mode the umask gives new files (``0o666 & ~umask``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        publish_atomic(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def code_fingerprint(*subpackages: str) -> str:
    """sha256 over the source of the given subpackages (rerun trigger for Snakemake)."""
    import hashlib

    digest = hashlib.sha256()
    base = Path(convergence.__file__).parent
    for name in sorted(subpackages):
        target = base / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
        for file in files:
            digest.update(file.relative_to(base).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
