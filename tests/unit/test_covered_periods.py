"""Fold periods of unbalanced panels: sparse leading/trailing periods are trimmed."""

import numpy as np
import pandas as pd

from convergence.backtest.contract import covered_periods


def test_trailing_period_reached_by_one_entity_is_dropped() -> None:
    rows = [(e, str(p)) for e in "abcd" for p in range(2000, 2010)] + [("a", "2010")]
    index = pd.MultiIndex.from_tuples(rows, names=["entity", "period"])
    wide = pd.DataFrame({"x": np.arange(len(rows), dtype=float)}, index=index)
    periods = covered_periods(wide)
    assert periods[0] == "2000" and periods[-1] == "2009"
    # Half the entities suffice: with two entities reaching 2010 it stays.
    rows.append(("b", "2010"))
    index = pd.MultiIndex.from_tuples(rows, names=["entity", "period"])
    wide = pd.DataFrame({"x": np.ones(len(rows))}, index=index)
    assert covered_periods(wide)[-1] == "2010"


def test_interior_gap_is_kept() -> None:
    rows = [(e, str(p)) for e in "ab" for p in range(2000, 2006)]
    index = pd.MultiIndex.from_tuples(rows, names=["entity", "period"])
    wide = pd.DataFrame({"x": np.ones(len(rows))}, index=index)
    wide.loc[("a", "2003"), "x"] = np.nan
    wide.loc[("b", "2003"), "x"] = np.nan
    assert covered_periods(wide) == [str(p) for p in range(2000, 2006)]
