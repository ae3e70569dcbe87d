"""Phillips-Sul clubs under both log-t standard errors, side by side, on a finished run.

For every data set of a results folder with two or more entities, and for D and every
subsystem index ``U_k`` in its ``measure/coupling.csv``, the clubs are found on the same
balanced panel (the pipeline's ``convergence_tests`` settings from the config) with
``phillips_sul.hac`` = ``qs_andrews`` (the default: psecta / ConvergenceClubs) and
``newey_west`` (this project's convention before issue 25). Printed per series: entities and
periods, the overall log-t ``t`` under each, the club sizes under each (``d`` = divergent
group), and how many entities change club: the fewest entities that must move to turn one
partition into the other, clubs matched one to one by their overlap (Hungarian assignment;
the divergent group matches only the divergent group), so it does not depend on how clubs
are numbered.

    .venv/bin/python benchmarks/hac_clubs.py --results results
    .venv/bin/python benchmarks/hac_clubs.py --results results --output benchmarks/results/hac_clubs.md
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import linear_sum_assignment

from convergence.analysis.convergence_tests import ConvergenceTestSettings, convergence_tests
from convergence.analysis.phillips_sul import HAC_METHODS
from convergence.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _groups(clubs: pd.DataFrame) -> dict[int, frozenset[str]]:
    """Members of each club of ``clubs.csv`` (0: the divergent group), tested entities only."""
    tested = clubs.dropna(subset=["club"])
    return {int(club): frozenset(members) for club, members in tested.groupby("club")["entity"]}


def entities_moved(first: dict[int, frozenset[str]], second: dict[int, frozenset[str]]) -> int:
    """Fewest entities to move to turn partition ``first`` into ``second`` (same entities):
    the total minus the largest overlap of a one-to-one matching of their clubs; the
    divergent groups (key 0) are matched only with each other."""
    kept = len(first.get(0, frozenset()) & second.get(0, frozenset()))
    a = [members for club, members in first.items() if club != 0]
    b = [members for club, members in second.items() if club != 0]
    if a and b:
        overlap = np.array([[len(x & y) for y in b] for x in a])
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        kept += int(overlap[rows, cols].sum())
    return sum(len(members) for members in first.values()) - kept


def _sizes(clubs: pd.DataFrame) -> str:
    tested = clubs.dropna(subset=["club"])
    counts = tested["club"].value_counts()
    found = [str(counts[club]) for club in sorted(counts.index) if club != 0]
    divergent = f" + {counts[0]}d" if 0 in counts.index else ""
    return (", ".join(found) or "none") + divergent


def compare(coupling: pd.DataFrame, base: ConvergenceTestSettings) -> list[dict[str, object]]:
    """One row per series (D first, then each U_k) of one data set."""
    series_names = ["D"] + sorted(c for c in coupling.columns if str(c).startswith("U_"))
    rows = []
    for name in series_names:
        panel = coupling.set_index(["entity", "period"])[name]
        results = {}
        try:
            for hac in HAC_METHODS:
                settings = dataclasses.replace(
                    base, phillips_sul=dataclasses.replace(base.phillips_sul, hac=hac)
                )
                results[hac] = convergence_tests(panel, settings, series=name)
        except InputError as error:
            rows.append({"series": name, "basis": f"not tested: {error}"})
            continue
        first = results[HAC_METHODS[0]]
        changed = entities_moved(*(_groups(results[hac].clubs) for hac in HAC_METHODS))
        row: dict[str, object] = {
            "series": name,
            "basis": f"{first.n_entities} entities x {first.n_periods} periods",
        }
        for hac, result in results.items():
            overall = result.log_t.set_index("group").loc["all"]
            row[f"t all ({hac})"] = f"{overall['t']:.2f}"
            row[f"clubs ({hac})"] = _sizes(result.clubs)
        row["entities changing club"] = changed
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    base = ConvergenceTestSettings.from_mapping(config.get("convergence_tests"))
    blocks = []
    for dataset in config["datasets"]:
        path = args.results / dataset / "measure" / "coupling.csv"
        coupling = pd.read_csv(path, dtype={"entity": str, "period": str})
        if coupling["entity"].nunique() < 2:
            continue
        table = pd.DataFrame(compare(coupling, base)).fillna("")
        blocks.append(f"### {dataset}\n\n{table.to_markdown(index=False)}\n")
        print(blocks[-1], flush=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    text = (
        "# Phillips-Sul clubs under both log-t standard errors\n\n"
        f"`benchmarks/hac_clubs.py --results {args.results}` at {commit}: the same balanced "
        "panels, `phillips_sul.hac` = `qs_andrews` (default; psecta, ConvergenceClubs) vs "
        "`newey_west`. Club sizes highest club first, `d` = divergent; entities changing club: "
        "the fewest that must move to turn one partition into the other (clubs matched one to "
        "one by overlap).\n\n" + "\n".join(blocks)
    )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
