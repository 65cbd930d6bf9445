"""`ally groups agreement`: how much of a score belongs to the group, and how members agree.

Reads a CSV or Parquet file with the engine's reader (every column as text, each bad value named
by its line), then hands plain columns to `ally.groups.agreement`, where the formulas are.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ally.engine.errors import AnalysisError
from ally.engine.read import Dialect, connect, fold, read_input
from ally.groups.agreement import GroupAgreement, OneWay, agreement, one_way


@dataclass(frozen=True)
class AgreementReport:
    score: str
    """What the ICCs are of: the value column, or the mean of the items."""
    icc: OneWay
    groups: tuple[GroupAgreement, ...] = ()
    """rwg(j) and AD_M per group, with --items."""
    left_out: int = 0
    """Rows without a group or with a value that is not a number."""


def _numbers(values: list[str | None], column: str, lines: list[int]) -> np.ndarray:
    found = np.full(len(values), np.nan)
    for i, text in enumerate(values):
        if text is None or not str(text).strip():
            continue
        try:
            found[i] = float(str(text).strip())
        except ValueError:
            raise AnalysisError(
                f"line {lines[i]}, column {column}: {text!r} is not a number; give a number or "
                "leave it empty."
            ) from None
        if not math.isfinite(found[i]):
            raise AnalysisError(f"line {lines[i]}, column {column}: give a finite number.")
    return found


def agreement_of_file(
    path: Path,
    group: str,
    *,
    value: str | None = None,
    items: tuple[str, ...] = (),
    options: int | None = None,
    dialect: Dialect | None = None,
) -> AgreementReport:
    """ICC(1) and ICC(2) of `value` (or of the mean of `items`) by `group`; with `items`, also
    rwg(j) and AD_M per group against a uniform null over `options` answer options."""
    if (value is None) == (not items):
        raise AnalysisError("Give either --value COLUMN or --items COLUMN,COLUMN,...")
    if items and options is None:
        raise AnalysisError("With --items, give --options: how many answer options each has.")
    backend = connect()
    table = read_input(backend, path, dialect).to_pyarrow().to_pydict()
    names = {fold(name): name for name in table if name != "line"}
    scored: tuple[str, ...] = items or (value or "",)
    missing = [c for c in (group, *scored) if fold(c) not in names]
    if missing:
        raise AnalysisError(
            f"{path}: no column {', '.join(missing)}; the file has {', '.join(sorted(names))}."
        )
    lines = [int(n) for n in table["line"]]
    labels = table[names[fold(group)]]
    has_group = np.array([v is not None and str(v).strip() != "" for v in labels])
    columns = [_numbers(table[names[fold(c)]], c, lines) for c in scored]
    matrix = np.column_stack(columns)[has_group]
    groups = np.array([str(v).strip() for v in labels], dtype=object)[has_group]
    # A member's score: the value, or (with items) the mean of their answered items.
    with np.errstate(invalid="ignore"):
        scores = matrix[:, 0] if value is not None else np.nanmean(matrix, axis=1)
    left_out = int((~has_group).sum() + np.isnan(scores).sum())
    try:
        icc = one_way(scores, groups)
    except ValueError as exc:
        raise AnalysisError(f"{path}: {exc}.") from None
    found = tuple(agreement(matrix, groups, options)) if items and options else ()
    score = value if value is not None else f"mean of {', '.join(items)}"
    return AgreementReport(score, icc, found, left_out)


def write_agreement(report: AgreementReport, out: Path) -> None:
    """Columns group, n, rwg_j, ad_m; an empty cell where a group has too few members."""
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["group", "n", "rwg_j", "ad_m"])
        for g in report.groups:
            writer.writerow(
                [
                    g.group,
                    g.n,
                    "" if math.isnan(g.rwg_j) else repr(g.rwg_j),
                    "" if math.isnan(g.ad_m) else repr(g.ad_m),
                ]
            )
