"""Convergence tests of D and of each subsystem index U_k (issue 25, part B): the stage on a
named series, the "Convergence by series" lines of summary.md, the DAG and the club figure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.colors import to_hex

from convergence.analysis.convergence_tests import ConvergenceTestSettings
from convergence.analysis.phillips_sul import LOG_T_COLUMNS
from convergence.atomic import write_csv_atomic
from convergence.config import config_hash
from convergence.diagnostics import DATA_CHECKS_KEY
from convergence.errors import ConfigError, InputError
from convergence.evaluation.summary import (
    MAX_NAMED_DIVERGENT,
    series_line,
    series_section,
    write_summary_markdown,
)
from convergence.plotting import convergence_tests as plots
from convergence.stages.convergence import run as run_convergence

ROOT = Path(__file__).resolve().parents[2]
YEARS = [str(2001 + k) for k in range(17)]
OUTPUTS = ("beta", "points", "sigma", "sigma_trend", "log_t", "clubs", "transition")


def _coupling(n_entities: int = 6, seed: int = 3) -> pd.DataFrame:
    """Long coupling table: D, U_x (zero for s00 in 2001) and U_y (positive for s00 only)."""
    rng = np.random.default_rng(seed)
    shape = (n_entities, len(YEARS))
    level = rng.uniform(0.2, 0.6, size=(n_entities, 1))
    drift = np.linspace(0.0, 0.15, len(YEARS))[None, :]
    names = [f"s{i:02d}" for i in range(n_entities)]
    columns = {
        "D": level + drift + 0.01 * rng.standard_normal(shape),
        "U_x": level[::-1] + drift + 0.01 * rng.standard_normal(shape),
        "U_y": np.zeros(shape),
    }
    columns["U_x"][0, 0] = 0.0
    columns["U_y"][0, :] = 0.5
    frames = {
        name: pd.DataFrame(values, index=names, columns=YEARS).stack()
        for name, values in columns.items()
    }
    table = pd.DataFrame(frames).rename_axis(["entity", "period"]).reset_index()
    return table


def _run(tmp_path: Path, series: str | None, settings: dict | None = None) -> tuple[dict, Path]:
    folder = tmp_path / (series or "D")
    folder.mkdir()
    write_csv_atomic(_coupling(), tmp_path / "coupling.csv")
    (tmp_path / "measure.json").write_text(json.dumps({"data_sha256": "abc"}))
    paths = {f"{name}_path": folder / f"{name}.csv" for name in OUTPUTS}
    run_convergence(
        dataset="toy",
        coupling_path=tmp_path / "coupling.csv",
        measure_provenance_path=tmp_path / "measure.json",
        settings=settings or {},
        provenance_path=folder / "provenance.json",
        **paths,
        **({} if series is None else {"series": series}),
    )
    return json.loads((folder / "provenance.json").read_text()), folder


# --------------------------------------------------------------------------- stage


def test_stage_tests_a_named_series_and_writes_the_eight_files(tmp_path: Path) -> None:
    record, folder = _run(tmp_path, "U_x")
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [f"{name}.csv" for name in OUTPUTS] + ["provenance.json"]
    )
    assert record["series"] == "U_x" and record["stage"] == "convergence"
    assert pd.read_csv(folder / "beta.csv")["series"].unique().tolist() == ["U_x"]
    log_t = pd.read_csv(folder / "log_t.csv")
    assert list(log_t.columns) == list(LOG_T_COLUMNS)
    # The early zero of s00 costs 2001, as for D, and the check names the series.
    assert record["sample"]["basis"] == "all 6 entities and 16 of 17 periods (2002-2017)"
    assert record["verdict"].startswith("all 6 entities and 16 of 17 periods (2002-2017): ")
    checks = {check["code"]: check for check in record[DATA_CHECKS_KEY]}
    trimmed = checks["convergence_panel_trimmed"]["message"]
    assert trimmed.startswith("Convergence tests of U_x rest on all 6 entities")
    assert "non-positive U_x" in trimmed and " D " not in trimmed
    # What summary.md reads, from log_t.csv and clubs.csv.
    overall = log_t[log_t["group"] == "all"].iloc[0]
    assert record["log_t_overall"] == {
        "b": pytest.approx(float(overall["b"])),
        "t": pytest.approx(float(overall["t"])),
        "converges": bool(overall["converges"]),
    }
    clubs = pd.read_csv(folder / "clubs.csv").dropna(subset=["club"])
    sizes = clubs[clubs["club"] > 0].groupby("club").size().sort_index().tolist()
    assert record["club_sizes"] == sizes
    assert record["divergent"] == clubs.loc[clubs["club"] == 0, "entity"].tolist()
    assert sum(sizes) + len(record["divergent"]) == 6


def test_default_series_is_d_and_its_config_hash_ignores_the_switch(tmp_path: Path) -> None:
    default, folder = _run(tmp_path, None)
    assert default["series"] == "D"
    assert pd.read_csv(folder / "beta.csv")["series"].unique().tolist() == ["D"]
    assert [c["code"] for c in default[DATA_CHECKS_KEY]] == []
    # The switch chooses series, not the test: D's conventions and hash are those of before.
    assert "subsystems" not in default["conventions"]
    assert default["config_sha256"] == config_hash(ConvergenceTestSettings().conventions())
    off = ConvergenceTestSettings.from_mapping({"subsystems": False})
    assert off.subsystems is False and ConvergenceTestSettings().subsystems is True
    assert off.conventions() == ConvergenceTestSettings().conventions()
    with pytest.raises(ConfigError, match="subsystems"):
        ConvergenceTestSettings.from_mapping({"subsystems": "no"})


def test_a_series_without_a_testable_block_is_not_tested(tmp_path: Path) -> None:
    record, folder = _run(tmp_path, "U_y")
    assert record["verdict"].startswith("not tested: ")
    assert [c["code"] for c in record[DATA_CHECKS_KEY]] == ["convergence_not_tested"]
    assert record[DATA_CHECKS_KEY][0]["message"].startswith("convergence tests of U_y skipped")
    assert pd.read_csv(folder / "log_t.csv").empty
    assert "club_sizes" not in record
    line = series_line(record)
    assert line.startswith("- U_y: not tested: ") and line.endswith(".")


def test_unknown_series_names_the_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no column 'U_z'.*'D', 'U_x', 'U_y'"):
        _run(tmp_path, "U_z")


# --------------------------------------------------------------------------- summary.md


def _record(series: str, **fields: object) -> dict:
    record = {
        "series": series,
        "verdict": "41 of 43 entities and all 20 periods (1990-2009): no overall convergence",
        "conventions": {"phillips_sul.critical_t": -1.65},
        "n_entities": 41,
        "n_periods": 20,
        "sample": {"basis": "41 of 43 entities and all 20 periods (1990-2009)"},
        "log_t_overall": {"b": -0.5, "t": -12.34, "converges": False},
        "club_sizes": [12, 7, 3],
        "divergent": ["a", "b", "c"],
    }
    record.update(fields)
    return record


def test_series_line_gives_verdict_clubs_divergent_and_basis() -> None:
    assert series_line(_record("U_agriculture")) == (
        "- U_agriculture: no overall convergence (log-t t = -12.3, critical -1.65); "
        "3 clubs (12, 7, 3); divergent: a, b, c; on 41 of 43 entities and all 20 periods "
        "(1990-2009)."
    )
    converging = _record(
        "D",
        log_t_overall={"b": 0.1, "t": 0.52, "converges": True},
        club_sizes=[41],
        divergent=[],
    )
    assert series_line(converging).startswith(
        "- D: overall convergence (log-t t = 0.52, critical -1.65); 1 club (41); "
        "no divergent entity; on 41 of 43"
    )
    many = [f"e{i}" for i in range(MAX_NAMED_DIVERGENT + 1)]
    line = series_line(_record("U_ict", divergent=many, club_sizes=[], sample={}))
    assert f"no club; {len(many)} divergent entities; on 41 entities and 20 periods." in line
    assert "e0" not in line


def test_not_tested_and_old_records() -> None:
    assert series_line({"series": "U_x", "verdict": "not tested: too few periods: 3"}) == (
        "- U_x: not tested: too few periods: 3."
    )
    assert series_line({"series": "U_x"}) == "- U_x: not tested: no verdict recorded."
    old = {"series": "D", "verdict": "all 6 entities and all 9 periods (2001-2009): x"}
    assert series_line(old) == "- D: all 6 entities and all 9 periods (2001-2009): x."


def test_section_puts_d_first_and_summary_md_has_it(tmp_path: Path) -> None:
    records = [
        _record("U_agriculture"),
        _record("D"),
        {"series": "U_ict", "verdict": "not tested: one entity"},
    ]
    section = series_section(records)
    assert section is not None and series_section([]) is None
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in lines] == ["- D", "- U_agriculture", "- U_ict"]
    assert lines[2] == "- U_ict: not tested: one entity."

    cross = pd.DataFrame({"model": ["m"], "toy": [1.0]})
    cross.attrs["best"] = {"toy": 0}
    info = {
        "best_model": "m",
        "reference_rank": 1,
        "series": section,
        "sigma": "On all 6 entities ...",
        "data_checks": "- none\n",
    }
    write_summary_markdown(tmp_path / "summary.md", cross, {"toy": info}, reference="m")
    text = (tmp_path / "summary.md").read_text()
    assert text.count("### Convergence by series: toy") == 1
    at = text.index("### Convergence by series: toy")
    assert at < text.index("- D: no overall convergence") < text.index("### Sigma-convergence")


def test_cross_summary_reads_d_and_the_series_provenance(tmp_path: Path) -> None:
    from convergence.evaluation.comparisons import DM_COLUMNS
    from convergence.stages.evaluate import run_cross_summary

    pd.DataFrame(
        {
            "dataset": ["toy", "toy"],
            "model": ["m", "naive"],
            "horizon": ["all", "all"],
            "n": [10, 10],
            "pooled_MASE_mean": [1.0, 1.2],
            "MASE_mean": [1.0, 1.2],
        }
    ).to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame(columns=list(DM_COLUMNS)).to_csv(tmp_path / "dm.csv", index=False)
    d_record, _ = _run(tmp_path, None)
    u_record, folder = _run(tmp_path, "U_x")
    d_path = tmp_path / "D" / "provenance.json"
    run_cross_summary(
        summary_paths=[tmp_path / "summary.csv"],
        dm_paths=[tmp_path / "dm.csv"],
        reference="m",
        table_path=tmp_path / "cross.csv",
        table_md_path=tmp_path / "cross.md",
        table_tex_path=tmp_path / "cross.tex",
        summary_md_path=tmp_path / "summary.md",
        convergence_provenance_paths=[d_path],
        convergence_series_paths=[folder / "provenance.json"],
    )
    text = (tmp_path / "summary.md").read_text()
    section = text.split("### Convergence by series: toy")[1].split("\n### ")[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert lines == [series_line(d_record), series_line(u_record)]
    assert lines[1].startswith("- U_x: ")
    assert lines[1].endswith("; on all 6 entities and 16 of 17 periods (2002-2017).")


# --------------------------------------------------------------------------- DAG


def _dry_run(tmp_path: Path, **convergence_tests: object) -> str:
    config = yaml.safe_load((ROOT / "tests" / "integration" / "config.yaml").read_text())
    config["results_dir"] = str(tmp_path / "results")
    if convergence_tests:
        config["convergence_tests"] = convergence_tests
    path = tmp_path / "dag.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-n", "--cores", "1"],
        cwd=ROOT,
        env={**os.environ, "CONVERGENCE_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert not (tmp_path / "results").exists()
    return done.stdout


def _jobs(stdout: str, rule: str) -> list[str]:
    """The ``wildcards:`` line of each planned job of ``rule``."""
    return re.findall(rf"rule {rule}:\n(?:    .*\n)*?    wildcards: (.*)\n", stdout)


def test_dag_tests_every_subsystem_index_of_every_data_set(tmp_path: Path) -> None:
    planned = _dry_run(tmp_path)
    assert sorted(_jobs(planned, "convergence_series")) == [
        "dataset=china, series=U_agriculture",
        "dataset=china, series=U_industry",
        "dataset=synthetic, series=U_agriculture",
        "dataset=synthetic, series=U_ict",
    ]
    assert sorted(_jobs(planned, "convergence")) == ["dataset=china", "dataset=synthetic"]
    summary = planned[planned.index("rule cross_summary:") :].split("\n    output:")[0]
    results = tmp_path / "results"
    for dataset, series in (("china", "U_industry"), ("synthetic", "U_ict")):
        assert f"{results}/{dataset}/convergence/{series}/provenance.json" in summary
    assert f"{results}/china/convergence/provenance.json" in summary


def test_switch_off_tests_d_only(tmp_path: Path) -> None:
    planned = _dry_run(tmp_path, subsystems=False)
    assert _jobs(planned, "convergence_series") == []
    assert "convergence/U_" not in planned
    assert sorted(_jobs(planned, "convergence")) == ["dataset=china", "dataset=synthetic"]


# --------------------------------------------------------------------------- figure


def _transition(sizes: dict[int, int], n_periods: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for club, size in sizes.items():
        for k in range(size):
            path = 1.0 + 0.1 * club + 0.02 * rng.standard_normal(n_periods)
            for t, h in enumerate(path):
                rows.append((f"c{club}_{k:03d}", str(2000 + t), h, club))
    return pd.DataFrame(rows, columns=["entity", "period", "h", "club"])


def _legend(monkeypatch: pytest.MonkeyPatch, table: pd.DataFrame, tmp_path: Path) -> list:
    captured = []

    def keep(figure: object, png: object, pdf: object = None) -> None:
        captured.append(figure)

    monkeypatch.setattr(plots, "save_figure", keep)
    plots.plot_transition_paths(table, tmp_path / "paths.png")
    (ax,) = captured[0].axes
    handles, labels = ax.get_legend_handles_labels()
    assert [text.get_text() for text in ax.get_legend().get_texts()] == labels
    plots.plt.close(captured[0])
    return list(zip(labels, handles, strict=True))


@pytest.mark.parametrize("scale", [1, 30])
def test_club_legend_gives_sizes_and_the_divergent_group_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scale: int
) -> None:
    """Per-entity lines (12 entities) and club bands (360 > BAND_THRESHOLD) alike."""
    sizes = {0: 3 * scale, 1: 5 * scale, 2: 4 * scale}
    if scale > 1:
        assert sum(sizes.values()) > plots.BAND_THRESHOLD
    entries = _legend(monkeypatch, _transition(sizes), tmp_path)
    assert [label for label, _ in entries] == [
        f"club 1 (n = {5 * scale})",
        f"club 2 (n = {4 * scale})",
        f"divergent (n = {3 * scale})",
    ]
    styles = {label.split(" (")[0]: handle for label, handle in entries}
    assert styles["divergent"].get_linestyle() == "--"
    assert styles["club 1"].get_linestyle() == "-"
    colour = {name: to_hex(handle.get_color()) for name, handle in styles.items()}
    assert colour["divergent"] not in {colour["club 1"], colour["club 2"]}
