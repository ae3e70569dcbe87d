"""Per-seed scores of two finished runs, sequential vs vectorised seeds: the same training?

Reads ``<results>/<dataset>/evaluation/scores.csv`` of both runs (one row per data set,
model, seed and horizon), compares every data set and model's per-seed metric over all
horizons (:func:`convergence.evaluation.seed_sameness.compare_seed_scores`: difference of
means against the seed standard deviation, exact permutation test, Mann-Whitney U) and
prints one markdown table and the pooled verdict
(:func:`~convergence.evaluation.seed_sameness.sameness_summary`).

    .venv/bin/python benchmarks/seed_sameness.py --sequential <clone>/results \\
        --vectorised <other clone>/results --metric MASE pooled_MASE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from convergence.evaluation.seed_sameness import compare_seed_scores, sameness_summary
from convergence.evaluation.tables import read_table


def scores(results: Path) -> pd.DataFrame:
    paths = sorted(results.glob("*/evaluation/scores.csv"))
    if not paths:
        raise SystemExit(f"no */evaluation/scores.csv under {results}")
    return pd.concat([read_table(path) for path in paths], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=Path, required=True, help="results/ of one run")
    parser.add_argument("--vectorised", type=Path, required=True, help="results/ of the other")
    parser.add_argument("--metric", nargs="+", default=["MASE", "pooled_MASE"])
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    sequential, vectorised = scores(args.sequential), scores(args.vectorised)
    # Baselines are deterministic (one seed, the same numbers): only trained models.
    trained = sequential["seed"].groupby([sequential["dataset"], sequential["model"]]).nunique()
    multi_seed = {key for key, count in trained.items() if count > 1}
    for metric in args.metric:
        table = compare_seed_scores(sequential, vectorised, metric=metric)
        table = table[
            [key in multi_seed for key in zip(table["dataset"], table["model"], strict=True)]
        ]
        print(f"\n## {metric}, every horizon pooled (vectorised minus sequential)\n")
        print(table.to_markdown(index=False, floatfmt=".4g"))
        summary = sameness_summary(table, alpha=args.alpha)
        print(
            f"\n{int(summary['rows'])} data set x model rows: {int(summary['rejected'])} with "
            f"permutation p < {args.alpha} (expected {summary['expected']:.1f} if the two "
            f"paths train the same distribution; binomial tail p = {summary['binomial_p']:.3g}); "
            f"mean standardised difference {summary['mean_standardised']:+.3f} seed sd "
            f"(t test of 0: p = {summary['shift_p']:.3g})"
        )


if __name__ == "__main__":
    main()
