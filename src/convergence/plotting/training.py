"""Training curves of a train job: every seed's losses per epoch, one panel per fold."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def write_training_curves(histories: Mapping[int, pd.DataFrame], title: str, path: Path) -> None:
    """Validation and training loss per epoch of every seed, one panel per fold, to one PNG.

    ``histories`` maps a seed to its :func:`history_frame`. Drawn once per train job
    (all seeds): a figure per seed cost more than training a China seed.
    """
    folds = sorted({int(f) for frame in histories.values() for f in frame["fold"]})
    n = max(len(folds), 1)
    columns = min(n, 4)
    rows = math.ceil(n / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows + 0.5), layout="constrained")
    FigureCanvasAgg(figure)
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for position, fold in enumerate(folds, start=1):
        axes = figure.add_subplot(rows, columns, position)
        for colour, (seed, frame) in zip(colours, sorted(histories.items()), strict=True):
            rows_of_fold = frame[frame["fold"] == fold]
            label = f"seed {seed}" if position == 1 else None
            axes.plot(rows_of_fold["epoch"], rows_of_fold["val_loss"], color=colour, label=label)
            axes.plot(rows_of_fold["epoch"], rows_of_fold["train_mse"], color=colour, linestyle=":")
        axes.set_yscale("log")
        axes.set_title(f"fold {fold}", fontsize=9)
        axes.set_xlabel("epoch", fontsize=8)
        axes.tick_params(labelsize=7)
        if position == 1:
            axes.set_ylabel("MSE (standardised)", fontsize=8)
            axes.legend(fontsize=6)
    figure.suptitle(f"{title}: validation (solid) and training MSE (dotted)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
