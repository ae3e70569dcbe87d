"""Run the evaluate stage on an in-memory predictions frame (shared by the unit tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convergence.stages.evaluate import run as run_evaluate


def evaluate_frame(
    tmp_path: Path, predictions: pd.DataFrame, scales: pd.DataFrame, reference: str = "cnn_lstm"
) -> Path:
    """Write one predictions CSV per model and seed plus the scales, run the evaluate stage
    on data set ``ds`` and return its output folder (``scores.csv``, ``summary.csv``, ...)."""
    paths = []
    for (model, seed), rows in predictions.groupby(["model", "seed"]):
        path = tmp_path / "in" / model / f"seed{seed}" / "predictions.csv"
        path.parent.mkdir(parents=True)
        rows.to_csv(path, index=False)
        paths.append(path)
    scales.to_csv(tmp_path / "scales.csv", index=False)
    out = tmp_path / "eval"
    run_evaluate(
        dataset="ds",
        prediction_paths=paths,
        scales_path=tmp_path / "scales.csv",
        grade_scale=None,
        reference=reference,
        scores_path=out / "scores.csv",
        summary_path=out / "summary.csv",
        summary_md_path=out / "summary.md",
        summary_tex_path=out / "summary.tex",
        dm_path=out / "dm_tests.csv",
        dm_md_path=out / "dm_tests.md",
        dm_tex_path=out / "dm_tests.tex",
        leader_path=out / "leader_tests.csv",
        intervals_path=out / "intervals.csv",
        provenance_path=out / "provenance.json",
    )
    return out
