"""The summary `ally analyze` prints: counts a clinician or researcher can check at a glance."""

from __future__ import annotations

from ally.change.categories import Category
from ally.engine.analyze import Summary

RELIABLE = ("improved", "unchanged", "deteriorated")


def summary_text(summary: Summary) -> str:
    lines = [
        f"Read {summary.rows_read:,} rows: {summary.administrations:,} administrations analysed, "
        f"{summary.rejected:,} rejected"
        + (" (see rejected.csv)" if summary.rejected else "")
        + (
            f", {summary.empty_cells:,} empty cells (not administered)"
            if summary.empty_cells
            else ""
        )
        + ".",
    ]
    for ms in summary.measures:
        head = (
            f"{ms.measure} ({ms.rater}): {ms.episodes:,} episodes, "
            f"{ms.complete:,} with pre and post"
        )
        if ms.cutoff is not None:
            head += f"; cut-off {ms.cutoff:.2f}"
        lines.append(head)
        if ms.categories:
            counts = ", ".join(f"{ms.categories[c.value]} {c.value}" for c in Category)
            lines.append(f"  categories: {counts}")
        elif ms.reliable:
            counts = ", ".join(f"{ms.reliable[r]} {r}" for r in RELIABLE)
            lines.append(f"  reliable change: {counts}")
        for note in ms.notes:
            lines.append(f"  note: {note}")
    lines.extend(f"Note: {note}" for note in summary.notes)
    lines.append("Wrote " + ", ".join(summary.outputs) + ".")
    return "\n".join(lines)
