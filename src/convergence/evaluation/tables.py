"""Tables for papers and the report: Markdown and LaTeX from one frame, best values marked."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from convergence.atomic import write_csv_atomic, write_text_atomic
from convergence.errors import DataFileError


def best_per_column(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Hashable]:
    """Index label of the lowest value of each column (columns that are all NaN are left out)."""
    marks: dict[str, Hashable] = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().any():
            marks[column] = values.idxmin()
    return marks


def _format_cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            return "–"
        return (
            f"{float(value):.3f}"
            if abs(float(value)) >= 1e-3 or value == 0
            else f"{float(value):.2e}"
        )
    return str(value)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in ``text``."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _cells(
    frame: pd.DataFrame, best_marks: Mapping[str, Hashable] | None
) -> list[list[tuple[str, bool]]]:
    marks = best_marks or {}
    rows = []
    for label, row in frame.iterrows():
        rows.append(
            [(_format_cell(row[column]), marks.get(column) == label) for column in frame.columns]
        )
    return rows


def markdown_table(
    frame: pd.DataFrame, caption: str = "", best_marks: Mapping[str, Hashable] | None = None
) -> str:
    """Markdown pipe table of ``frame``; cells named by ``best_marks`` (column -> index) bold."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    align = (
        "|" + "|".join("---" if frame[c].dtype == object else "---:" for c in frame.columns) + "|"
    )
    lines = [f"*{caption}*", ""] if caption else []
    lines += [header, align]
    for cells in _cells(frame, best_marks):
        text = [f"**{cell}**" if bold else cell for cell, bold in cells]
        lines.append("| " + " | ".join(t.replace("|", "\\|") for t in text) + " |")
    return "\n".join(lines) + "\n"


def latex_table(
    frame: pd.DataFrame, caption: str = "", best_marks: Mapping[str, Hashable] | None = None
) -> str:
    """LaTeX ``table`` with a ``tabular`` of ``frame``; best cells in ``\\textbf{}``."""
    spec = "".join("l" if frame[c].dtype == object else "r" for c in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\hline"]
    lines.append(" & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\")
    lines.append(r"\hline")
    for cells in _cells(frame, best_marks):
        text = [
            rf"\textbf{{{latex_escape(cell)}}}" if bold else latex_escape(cell)
            for cell, bold in cells
        ]
        lines.append(" & ".join(text) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(
    frame: pd.DataFrame,
    caption: str,
    *,
    csv_path: str | Path,
    md_path: str | Path,
    tex_path: str | Path,
    best_marks: Mapping[str, Hashable] | None = None,
) -> None:
    """Write the frame as CSV, Markdown and LaTeX, each atomically.

    ``best_marks`` maps a column name to the index label of the row whose cell is marked
    best (bold in Markdown, ``\\textbf`` in LaTeX); the CSV holds the raw values.
    """
    write_csv_atomic(frame, csv_path)
    write_text_atomic(markdown_table(frame, caption, best_marks), md_path)
    write_text_atomic(latex_table(frame, caption, best_marks), tex_path)


#: Columns that hold identifiers, read as text. An MLflow run id such as
#: ``300e2350704042ac...`` starts like a float with a huge exponent, and pandas 2.3's
#: float parser crashes the process (SIGSEGV) on it when it infers the column's type.
TEXT_ID_COLUMNS: dict[str, type] = {"run_id": str, "run_ids": str, "same_model_as": str}


def read_table(path: str | Path) -> pd.DataFrame:
    file_path = Path(path)
    if not file_path.is_file():
        raise DataFileError(str(file_path), "file not found")
    return pd.read_csv(
        file_path,
        dtype={
            "dataset": str,
            "model": str,
            "horizon": str,
            "reference": str,
            **TEXT_ID_COLUMNS,
        },
    )
