"""The structure figure of a one-entity data set says why it is empty (it is a declared
output of ``figure_measures``, so it must still be written)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from convergence.atomic import write_csv_atomic
from convergence.plotting import MEASURE_FIGURES
from convergence.plotting.measures import structure_notes
from convergence.stages.figures import run as run_figure
from convergence.stages.measure import run as run_measure
from convergence.stages.normalize import run as run_normalize

SPEC = {
    "subsystems": {"first": {"x": "benefit"}, "second": {"y": "benefit"}},
    "structure": {"indicators": ["s1", "s2"]},
}


def measure(tmp_path: Path, entities: list[str]) -> dict[str, str]:
    """Measure tables of a small panel (with structure indicators) of ``entities``."""
    rows = []
    for k, entity in enumerate(entities):
        for t in range(6):
            period = str(2000 + t)
            rows.append((entity, period, "first", "x", float(t + 1 + k)))
            rows.append((entity, period, "second", "y", float(t * t + 1 + 2 * k)))
            rows.append((entity, period, "structure", "s1", float(1 + t + k)))
            rows.append((entity, period, "structure", "s2", float(5 - 0.5 * t + k)))
    canonical = pd.DataFrame(rows, columns=["entity", "period", "subsystem", "indicator", "value"])
    write_csv_atomic(canonical, tmp_path / "canonical.csv")
    (tmp_path / "ingest.json").write_text(json.dumps({"dataset": "toy", "sha256": None}))
    run_normalize(tmp_path / "canonical.csv", SPEC, {}, tmp_path / "n.csv", tmp_path / "m.json")
    names = ("coupling", "grades", "sigma", "pairs", "structure", "provenance")
    outputs = {name: str(tmp_path / f"{name}.csv") for name in names}
    outputs["pairs"] = str(tmp_path / "pairs.parquet")
    run_measure(
        tmp_path / "canonical.csv",
        tmp_path / "m.json",
        tmp_path / "ingest.json",
        SPEC,
        {},
        **{f"{key}_path": path for key, path in outputs.items()},
    )
    return outputs


def draw(tmp_path: Path, outputs: dict[str, str]) -> Path:
    png = tmp_path / "figures" / "structure.png"
    run_figure(
        figure="structure",
        inputs={name: outputs[name] for name in MEASURE_FIGURES["structure"]},
        png=png,
        pdf=png.with_suffix(".pdf"),
        title="toy",
    )
    assert png.stat().st_size > 5_000
    assert png.with_suffix(".pdf").is_file()
    return png


def test_one_entity_structure_figure_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = measure(tmp_path, ["CHN"])
    notes = structure_notes(pd.read_csv(outputs["structure"]), pd.read_csv(outputs["sigma"]))
    assert notes == {
        "structure": "one entity: structural similarity compares pairs of entities; not defined",
        "sigma": "one entity: sigma convergence compares entities; not defined",
    }
    shown: list[str] = []
    import convergence.plotting.measures as measures

    original = measures.note_figure
    monkeypatch.setattr(
        measures,
        "note_figure",
        lambda png, pdf, message, title=None: (
            shown.append(message) or original(png, pdf, message, title)
        ),
    )
    draw(tmp_path, outputs)
    assert shown == [f"{notes['structure']}\n{notes['sigma']}"]
    record = json.loads(Path(outputs["provenance"]).read_text())
    single = [c for c in record["data_checks"] if c["code"] == "single_entity"]
    assert "says so instead of drawing empty axes" in single[0]["message"]


def test_several_entities_draw_both_panels(tmp_path: Path) -> None:
    outputs = measure(tmp_path, ["A", "B", "C"])
    notes = structure_notes(pd.read_csv(outputs["structure"]), pd.read_csv(outputs["sigma"]))
    assert notes == {"structure": "", "sigma": ""}
    draw(tmp_path, outputs)


def test_dm_heatmap_without_any_defined_test_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import convergence.plotting.evaluation as plots

    rows = [
        {"dataset": "toy", "horizon": h, "reference": "cnn_lstm", "model": m, "statistic": None}
        | {"p_value": None, "p_holm": None, "n": 2, "mean_loss_diff": 0.1, "better": "neither"}
        for h in (1, 2)
        for m in ("naive", "mlp")
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "dm.csv", index=False)
    shown: list[str] = []
    original = plots._empty
    monkeypatch.setattr(
        plots,
        "_empty",
        lambda png, pdf, message, title: (
            shown.append(message) or original(png, pdf, message, title)
        ),
    )
    plots.plot_dm_heatmap(tmp_path / "dm.csv", tmp_path / "dm.png", title="toy")
    assert shown == [
        "no testable DM comparison: too few aligned forecasts or origins (dm_few_forecasts)"
    ]

    # One horizon defined: both horizons stay in the heatmap (the undefined one as n/a).
    rows[0]["p_holm"] = rows[0]["p_value"] = 0.2
    pd.DataFrame(rows).to_csv(tmp_path / "dm.csv", index=False)
    texts: list[str] = []
    monkeypatch.setattr(plots.plt.Axes, "text", lambda self, x, y, s, **kw: texts.append(s))
    plots.plot_dm_heatmap(tmp_path / "dm.csv", tmp_path / "dm.png", title="toy")
    assert len(shown) == 1
    assert sorted(texts) == ["0.20", "n/a", "n/a", "n/a"]
