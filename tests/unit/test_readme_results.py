"""`make readme`: the README's results block is rewritten from summary.md, never typed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from convergence.errors import InputError
from convergence.evaluation.readme import BEGIN, END, results_block, update_readme

SUMMARY = """# Results summary

Mean MASE over seeds.

| model | a |
|---|---:|
| m | **1.000** |

## a

The lowest MASE on a is 1.000.

| model | MASE |
|---|---:|
| m | 1.000 |

- Convergence tests of D: not tested.
- Ablations (MASE of the variant minus m's 1.000): x +0.100 (within noise).
- Configuration of m chosen on validation data only: skip=True.

### Data checks: a

- **ingest** `single_entity`: one entity.
"""


def test_block_keeps_table_findings_ablations_and_choice_but_not_data_checks() -> None:
    block = results_block(SUMMARY, source="results/summary.md", sha256="f" * 64)
    assert block.startswith(BEGIN) and block.endswith(END)
    assert f"sha256 `{'f' * 64}`" in block  # the full digest, as in reproducibility.md
    assert "| m | **1.000** |" in block
    assert "#### a" in block and "The lowest MASE on a is 1.000." in block
    # The per-data-set table stays one table (no blank line between its rows).
    assert "\n\n| model | MASE |\n|---|---:|\n| m | 1.000 |\n\n- Ablations" in block
    assert "- Ablations (MASE of the variant minus m's 1.000): x +0.100" in block
    assert "- Configuration of m chosen on validation data only: skip=True." in block
    assert "Convergence tests" not in block
    assert "single_entity" not in block and "Results summary" not in block


def test_update_replaces_only_the_block_and_is_idempotent(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text(SUMMARY)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{BEGIN}\nold numbers\n{END}\n\nafter\n")
    assert update_readme(readme, summary) is True
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old numbers" not in text
    assert hashlib.sha256(SUMMARY.encode()).hexdigest()[:16] in text
    assert update_readme(readme, summary) is False
    assert readme.read_text() == text


def test_missing_markers_or_summary_are_named(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(InputError, match="summary.md: no such file"):
        update_readme(readme, summary)
    summary.write_text(SUMMARY)
    with pytest.raises(InputError, match="README.md: needs one"):
        update_readme(readme, summary)


def test_the_repository_readme_has_one_results_block() -> None:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
