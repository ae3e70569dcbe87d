"""Structure similarity at regional scale: per-period summaries without the pair table
(exact against the pairwise reference), the bounded opt-in pair table, and measure figures
that stay legible with many entities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convergence.atomic import write_csv_atomic
from convergence.errors import InputError
from convergence.measures.similarity import (
    PAIR_COLUMNS,
    pairwise_structure,
    sample_pairs,
    structure_convergence,
    structure_summary,
)
from convergence.plotting import measures as plots
from convergence.stages.measure import run as run_measure
from convergence.stages.normalize import run as run_normalize


def random_shares(
    n: int, periods: int, sectors: int, seed: int, *, ties: bool, zero_rows: bool
) -> pd.DataFrame:
    """A shuffled (entity, period) panel with NaN rows, optional ties and all-zero rows."""
    rng = np.random.default_rng(seed)
    values = rng.random((n * periods, sectors))
    if ties:  # few distinct values: many equal shares and equal pairs
        values = np.round(values * 3) / 3
    if zero_rows:
        values[rng.random(n * periods) < 0.1] = 0.0
    values[rng.random(n * periods) < 0.15, rng.integers(0, sectors)] = np.nan
    index = pd.MultiIndex.from_product(
        [[f"e{i:03d}" for i in range(n)], [str(2000 + t) for t in range(periods)]],
        names=["entity", "period"],
    )
    frame = pd.DataFrame(values, index=index, columns=[f"s{k}" for k in range(sectors)])
    return frame.sample(frac=1.0, random_state=seed)


@pytest.mark.parametrize("n", [2, 3, 50])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("zero_rows", [False, True])
def test_summary_equals_pairwise_reference(n: int, ties: bool, zero_rows: bool) -> None:
    shares = random_shares(n, 7, 4, seed=n, ties=ties, zero_rows=zero_rows)
    reference = structure_convergence(pairwise_structure(shares))
    for block in (1, 37, 1 << 18):  # one row per block, ragged blocks, one block
        summary = structure_summary(shares, block_elements=block)
        pd.testing.assert_frame_equal(summary, reference, check_exact=False, rtol=0, atol=1e-12)


def test_summary_of_one_sector_and_identical_rows() -> None:
    index = pd.MultiIndex.from_product([["a", "b", "c"], ["1", "2"]])
    one = pd.DataFrame({"s": [0.5, 0.2, 0.5, 0.3, 0.5, 0.9]}, index=index)
    pd.testing.assert_frame_equal(
        structure_summary(one), structure_convergence(pairwise_structure(one)), atol=1e-12
    )


def test_summary_skips_periods_without_a_pair_and_rejects_negative_shares() -> None:
    index = pd.MultiIndex.from_tuples([("a", "1"), ("a", "2"), ("b", "2")])
    shares = pd.DataFrame({"s1": [0.5, 0.4, 0.1], "s2": [0.5, 0.6, 0.9]}, index=index)
    summary = structure_summary(shares)
    assert summary.index.tolist() == ["2"] and summary["n_pairs"].tolist() == [1]
    assert np.isnan(summary["cosine_std"].iloc[0]) and np.isnan(summary["krugman_std"].iloc[0])
    assert structure_summary(shares.iloc[:1]).empty
    with pytest.raises(InputError, match="non-negative"):
        structure_summary(shares.assign(s1=[-0.1, 0.4, 0.1]))


def test_pair_table_is_exact_below_the_cap_and_a_bounded_sample_above() -> None:
    shares = random_shares(20, 5, 3, seed=4, ties=True, zero_rows=False)
    full = pairwise_structure(shares)
    table, info = sample_pairs(shares, len(full))
    pd.testing.assert_frame_equal(table, full)
    assert not info["sampled"] and info["written_pairs"] == info["total_pairs"] == len(full)

    table, info = sample_pairs(shares, 100)
    assert len(table) == 100 and info["sampled"] and "sample" in info["method"]
    assert table.duplicated(["period", "entity_a", "entity_b"]).sum() == 0
    ordered = table.sort_values(["period", "entity_a", "entity_b"], ignore_index=True)
    pd.testing.assert_frame_equal(table, ordered)
    joined = table.merge(full, on=["period", "entity_a", "entity_b"], suffixes=("", "_full"))
    assert len(joined) == 100
    np.testing.assert_array_equal(joined["krugman"], joined["krugman_full"])
    again, _ = sample_pairs(shares, 100)
    pd.testing.assert_frame_equal(again, table)  # deterministic
    with pytest.raises(InputError, match="max_pairs"):
        sample_pairs(shares, 0)


SPEC = {
    "reader": "toy",
    "subsystems": {"first": {"x": "benefit"}, "second": {"y": "benefit"}},
    "structure": {"indicators": ["s1", "s2", "s3"]},
}


def measure(tmp_path: Path, n_entities: int, measures: dict) -> dict[str, Path]:
    """Measure tables of a random panel of ``n_entities`` with three structure sectors."""
    rng = np.random.default_rng(0)
    rows = [
        (f"e{e:03d}", str(2000 + t), subsystem, indicator, float(rng.uniform(1, 10)))
        for e in range(n_entities)
        for t in range(6)
        for subsystem, indicator in (
            ("first", "x"),
            ("second", "y"),
            ("structure", "s1"),
            ("structure", "s2"),
            ("structure", "s3"),
        )
    ]
    columns = ["entity", "period", "subsystem", "indicator", "value"]
    write_csv_atomic(pd.DataFrame(rows, columns=columns), tmp_path / "canonical.csv")
    (tmp_path / "ingest.json").write_text(json.dumps({"dataset": "toy", "sha256": None}))
    run_normalize(tmp_path / "canonical.csv", SPEC, {}, tmp_path / "n.csv", tmp_path / "m.json")
    outputs = {
        name: tmp_path / f"{name}.{'parquet' if name == 'pairs' else 'csv'}"
        for name in ("coupling", "grades", "sigma", "pairs", "structure")
    }
    outputs["provenance"] = tmp_path / "provenance.json"
    run_measure(
        tmp_path / "canonical.csv",
        tmp_path / "m.json",
        tmp_path / "ingest.json",
        SPEC,
        measures,
        **{f"{key}_path": path for key, path in outputs.items()},
    )
    return outputs


def test_measure_writes_no_pairs_by_default_and_bounded_pairs_on_request(
    tmp_path: Path,
) -> None:
    off = measure(tmp_path / "off", 12, {})
    pairs = pd.read_parquet(off["pairs"])
    assert list(pairs.columns) == list(PAIR_COLUMNS) and pairs.empty
    record = json.loads(off["provenance"].read_text())["structure_pairs"]
    assert record["enabled"] is False and record["written_pairs"] == 0
    structure = pd.read_csv(off["structure"], dtype={"period": str})
    assert structure["n_pairs"].tolist() == [66] * 6

    on = measure(tmp_path / "on", 12, {"structure_pairs": {"enabled": True, "max_pairs": 50}})
    pairs = pd.read_parquet(on["pairs"])
    record = json.loads(on["provenance"].read_text())["structure_pairs"]
    assert len(pairs) == 50 == record["written_pairs"]
    assert record["sampled"] and record["total_pairs"] == 66 * 6
    pd.testing.assert_frame_equal(pd.read_csv(on["structure"]), pd.read_csv(off["structure"]))


def test_many_entities_draw_bands_and_grouped_heatmap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_entities = plots.MANY_ENTITIES + 10
    outputs = measure(tmp_path, n_entities, {})
    drawn: dict[str, int] = {}
    original = plots.save_figure

    def spy(fig, png, pdf=None):  # count the entity lines before saving
        drawn[Path(png).stem] = max(len(ax.get_lines()) for ax in fig.axes)
        drawn[Path(png).stem + "_rows"] = max(
            (im.get_array().shape[0] for ax in fig.axes for im in ax.get_images()), default=0
        )
        original(fig, png, pdf)

    monkeypatch.setattr(plots, "save_figure", spy)
    for name in ("trajectories", "heatmap"):
        plots.FIGURES[name](coupling=outputs["coupling"], png=tmp_path / f"{name}.png", title="t")
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    assert drawn["trajectories"] == 4  # median + largest, median and smallest entity
    assert drawn["heatmap_rows"] == min(plots.HEATMAP_GROUPS, n_entities)

    few = measure(tmp_path / "few", 5, {})
    plots.plot_trajectories(few["coupling"], tmp_path / "few.png")
    plots.plot_heatmap(few["coupling"], tmp_path / "few_heat.png")
    assert drawn["few"] == 5 + 1  # one line per entity and the median
    assert drawn["few_heat_rows"] == 5


def test_named_entities_and_heatmap_groups() -> None:
    table = pd.DataFrame(
        {
            "entity": list("abcde") * 2,
            "t": [1.0] * 5 + [2.0] * 5,
            "D": [0.1] * 5 + [0.5, 0.9, 0.2, 0.7, 0.3],
        }
    )
    assert plots.named_entities(table, "D") == {"largest": "b", "median": "a", "smallest": "c"}
    grid = pd.DataFrame(
        np.arange(80.0).reshape(40, 2)[::-1], index=[f"e{i:02d}" for i in range(40)]
    )
    rows = plots.heatmap_rows(grid, groups=4)
    assert rows.index.tolist() == ["ranks 1-10", "ranks 11-20", "ranks 21-30", "ranks 31-40"]
    assert rows.iloc[0, 1] == grid.iloc[30:, 1].mean()  # lowest D last in grid, first here
