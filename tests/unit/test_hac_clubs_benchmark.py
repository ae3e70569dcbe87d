"""The HAC comparison benchmark counts entities that change club independent of numbering."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load():
    spec = importlib.util.spec_from_file_location("hac_clubs", ROOT / "benchmarks" / "hac_clubs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entities_moved_matches_clubs_by_overlap() -> None:
    moved = load().entities_moved
    first = {1: frozenset("abcde"), 2: frozenset("fg"), 0: frozenset("h")}
    assert moved(first, first) == 0
    renumbered = {2: frozenset("abcde"), 1: frozenset("fg"), 0: frozenset("h")}
    assert moved(first, renumbered) == 0
    # one entity swapped between the two clubs: two moves, not seven
    swapped = {1: frozenset("abcdf"), 2: frozenset("eg"), 0: frozenset("h")}
    assert moved(first, swapped) == 2
    # the divergent entity joins club 1; a club member becomes divergent
    divergent = {1: frozenset("abcdh"), 2: frozenset("fg"), 0: frozenset("e")}
    assert moved(first, divergent) == 2
    # the GGDC case: {BWA, MWI, TZA, ZMB} + divergent NGA vs {BWA, MWI, TZA} and {NGA, ZMB}
    qs = {1: frozenset("x"), 2: frozenset(["BWA", "MWI", "TZA", "ZMB"]), 0: frozenset(["NGA"])}
    nw = {1: frozenset("x"), 2: frozenset(["BWA", "MWI", "TZA"]), 3: frozenset(["NGA", "ZMB"])}
    assert moved(qs, nw) == 2
