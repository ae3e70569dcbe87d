"""Digests of a results folder (issue 22): what `make verify` compares."""

from __future__ import annotations

from pathlib import Path

from convergence.reproducibility import compare_digests, file_digest, results_digest


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_digest_ignores_run_ids_and_files_outside_the_patterns(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root, run in ((a, "r1"), (b, "r2")):
        _write(root / "summary.md", "# Results\n")
        _write(
            root / "ds/models/cnn_lstm/seed0/predictions.csv",
            f"fold,entity,predicted,run_id\n0,A,0.5,{run}\n",
        )
        _write(root / "ds/models/cnn_lstm/seed0/run.json", f'{{"run_id": "{run}"}}')
    digest = results_digest(a)
    assert sorted(digest) == ["ds/models/cnn_lstm/seed0/predictions.csv", "summary.md"]
    assert digest == results_digest(b)  # only the run id differs
    _write(
        b / "ds/models/cnn_lstm/seed0/predictions.csv",
        "fold,entity,predicted,run_id\n0,A,0.51,r2\n",
    )
    assert compare_digests(digest, results_digest(b)) == [
        "differs: ds/models/cnn_lstm/seed0/predictions.csv "
        f"({digest['ds/models/cnn_lstm/seed0/predictions.csv'][:12]} expected, "
        f"{file_digest(b / 'ds/models/cnn_lstm/seed0/predictions.csv')[:12]})"
    ]


def test_compare_names_missing_and_unexpected_files() -> None:
    expected = {"summary.md": "1", "x.csv": "2"}
    actual = {"summary.md": "1", "y.csv": "3"}
    assert compare_digests(expected, actual) == ["missing: x.csv", "not expected: y.csv"]
    assert compare_digests(expected, dict(expected)) == []


def test_run_ids_that_look_like_huge_floats_are_read_as_text(tmp_path: Path) -> None:
    """A real MLflow run id of the default run, ``300e2350704042ac...``, made pandas' float
    parser crash the process (SIGSEGV) when a table with it was read with inferred types.
    The readers of tables with run ids read those columns as text; checked in a child
    process, since the failure is a crash, not an exception."""
    import subprocess
    import sys

    run_id = "300e2350704042ac9c9db451229439e7"
    table = tmp_path / "summary.csv"
    table.write_text(f"dataset,model,horizon,MASE_mean,run_ids\nds,m,all,0.5,{run_id}\n")
    code = (
        "import sys; from convergence.evaluation.tables import read_table; "
        "from convergence.plotting.evaluation import _read; "
        f"a = read_table({str(table)!r}); b = _read({str(table)!r}); "
        f"assert a.loc[0, 'run_ids'] == b.loc[0, 'run_ids'] == {run_id!r}; "
        "assert a.loc[0, 'MASE_mean'] == 0.5; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
