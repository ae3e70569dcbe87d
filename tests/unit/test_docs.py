"""The documentation: the configuration reference matches the schema, the site builds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from convergence.config import load_schema
from convergence.docs import REGENERATE, configuration_reference

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "configuration.md"


@pytest.fixture(scope="module")
def reference() -> str:
    return configuration_reference(load_schema())


def _row(text: str, key: str) -> list[str]:
    """Cells of the table row whose key column is ``key``."""
    for line in text.splitlines():
        if line.startswith(f"| `{key}` |"):
            return [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    raise AssertionError(f"no row for {key!r} in the configuration reference")


def test_committed_reference_is_current(reference: str) -> None:
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == reference, (
        f"{REFERENCE.relative_to(ROOT)} differs from the schema; regenerate it with "
        f"`{REGENERATE}` (or `make docs`)"
    )


def test_known_rows(reference: str) -> None:
    key, kind, default, allowed, description = _row(reference, "training.batch_size")
    assert (kind, default, allowed) == ("integer", "`64`", "≥ 2")
    assert description == "Windows per batch."
    hac = _row(reference, "convergence_tests.phillips_sul.hac")
    assert hac[3] == "`qs_andrews`, `newey_west`"
    assert "quadratic-spectral" in hac[4]
    # $defs entries get their own tables; required keys are marked.
    assert "## Data set entry" in reference and "## Model entry" in reference
    assert _row(reference, "reader")[4].startswith("**Required.**")
    assert _row(reference, "derived.<name>.op")[3] == "`ratio`, `share`, `log`, `growth`"


def test_every_schema_section_has_a_table(reference: str) -> None:
    schema = load_schema()
    for name, node in schema["properties"].items():
        if "properties" in node:
            assert f"## `{name}`" in reference
        for sub in node.get("properties", {}):
            _row(reference, f"{name}.{sub}")


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pinned in envs/requirements.lock; `make env` installs it)",
)
def test_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "reference" / "configuration" / "index.html").is_file()
