"""Toy wide panels shared by the tests: noisy trending indicators of two subsystems.

Subsystem ``farm``: ``farm_output`` (benefit), ``farm_labour`` (cost); subsystem ``ict``:
``ict_output`` (benefit), ``ict_share`` (benefit). Periods are annual from 1990.
Two generators with different random draw orders are kept because tests calibrated
on one would see other values from the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from convergence.backtest.windows import FoldWindows
from convergence.measures.index import MeasurementSpec

INDEX = ["entity", "period"]


#: A CNN-LSTM small enough to train in a test (selection and scale tests).
TINY_CNN_LSTM = {
    "architecture": "cnn_lstm",
    "conv_channels": [4],
    "lstm_hidden": 4,
    "dense_hidden": 4,
    "pooling": "max",
    "penalty": "elastic_net",
    "penalty_lambda": 1e-4,
    "skip": True,
}

#: The two subsystems of :func:`trending_panel`'s indicators.
TRENDING_SPEC = MeasurementSpec(
    subsystems={
        "farm": {"farm_output": "benefit", "farm_labour": "cost"},
        "ict": {"ict_output": "benefit", "ict_share": "benefit"},
    }
)


def trending_panel(n_entities: int = 6, n_periods: int = 30, seed: int = 0) -> pd.DataFrame:
    """Per entity one draw of four slopes, then one ``(n_periods, 4)`` noise draw."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_periods) / n_periods
    frames = []
    for e in range(n_entities):
        slope = rng.uniform(0.5, 2.0, size=4)
        noise = rng.normal(0.0, 0.1, size=(n_periods, 4))
        frames.append(
            pd.DataFrame(
                {
                    "entity": f"e{e}",
                    "period": [str(1990 + k) for k in range(n_periods)],
                    "farm_output": 1.0 + slope[0] * t + noise[:, 0],
                    "farm_labour": 5.0 - slope[1] * t + noise[:, 1],
                    "ict_output": 0.2 + slope[2] * t**2 + noise[:, 2],
                    "ict_share": 0.1 + slope[3] * t / 4 + noise[:, 3] / 10,
                }
            )
        )
    return pd.concat(frames).set_index(INDEX).sort_index()


def trending_panel_by_row(n_entities: int = 6, n_periods: int = 30, seed: int = 0) -> pd.DataFrame:
    """The same shapes, with the noise drawn period by period."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n_entities):
        trend = rng.uniform(0.5, 2.0, size=4)
        for t in range(n_periods):
            noise = rng.normal(0.0, 0.1, size=4)
            rows.append(
                {
                    "entity": f"e{e}",
                    "period": str(1990 + t),
                    "farm_output": 1.0 + trend[0] * t / n_periods + noise[0],
                    "farm_labour": 5.0 - trend[1] * t / n_periods + noise[1],
                    "ict_output": 0.2 + trend[2] * (t / n_periods) ** 2 + noise[2],
                    "ict_share": 0.1 + trend[3] * t / n_periods / 4 + noise[3] / 10,
                }
            )
    return pd.DataFrame(rows).set_index(INDEX).sort_index()


def measure_dataset(
    tmp_path, name: str, spec: dict, measures: dict | None = None
) -> dict[str, dict]:
    """Ingest, normalize and measure one configured data set (files under
    ``tmp_path/name``); return the provenance records by stage and the coupling table."""
    import json
    from pathlib import Path

    from convergence.data.ingest import ingest_dataset, write_ingest_outputs
    from convergence.stages.measure import run as run_measure
    from convergence.stages.normalize import run as run_normalize

    canonical, provenance = ingest_dataset(name, spec, root=Path(tmp_path))
    out = Path(tmp_path) / name
    write_ingest_outputs(canonical, provenance, out / "canonical.csv", out / "ingest.json")
    measures = measures or {}
    run_normalize(out / "canonical.csv", spec, measures, out / "norm.csv", out / "model.json", name)
    names = ("coupling", "grades", "sigma", "pairs", "structure", "provenance")
    outputs = {key: str(out / f"{key}.csv") for key in names}
    outputs["pairs"] = str(out / "pairs.parquet")
    run_measure(
        out / "canonical.csv",
        out / "model.json",
        out / "ingest.json",
        spec,
        measures,
        **{f"{key}_path": path for key, path in outputs.items()},
    )
    return {
        "ingest": json.loads((out / "ingest.json").read_text()),
        "normalize": json.loads((out / "model.json").read_text()),
        "measure": json.loads(Path(outputs["provenance"]).read_text()),
        "coupling": pd.read_csv(outputs["coupling"], dtype={"period": str}),
    }


def learnable_windows(
    n: int, *, window: int, seed: int = 0, train_share: float = 0.75
) -> FoldWindows:
    """Fold windows of 3 features whose 2-step target is a fixed linear function of the last
    input step (learnable); the test windows repeat the validation windows."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, window, 3)).astype(np.float32)
    last = x[:, -1, :]
    y = np.stack([last.mean(axis=1), last[:, 0] - last[:, 1]], axis=1).astype(np.float32)
    split = int(train_share * n)
    return FoldWindows(
        x_train=x[:split],
        y_train=y[:split],
        x_val=x[split:],
        y_val=y[split:],
        x_test=x[split:],
        y_test=y[split:],
        feature_names=["a", "b", "c"],
        test_entities=[f"e{i}" for i in range(n - split)],
        test_origin="2000",
        test_periods=["2001", "2002"],
        test_last_observed=np.zeros(n - split),
        test_actual=y[split:].astype(np.float64),
        n_test_skipped=0,
        measurement_model=None,  # type: ignore[arg-type]  # not needed for training
        target="level",
        window=window,
        horizon=2,
    )
