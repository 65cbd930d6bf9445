"""The summary `ally analyze` prints: counts a clinician or researcher can check at a glance."""

from __future__ import annotations

from ally.change.categories import Category
from ally.engine.analyze import Summary
from ally.feedback.practice import PracticeModel

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


def model_text(model: PracticeModel, summary: Summary) -> str:
    """What `ally fit` estimated, measure by measure, and where it fell back to published
    values."""
    t = model.training
    lines = [
        f"Read {summary.rows_read:,} rows: {summary.administrations:,} administrations, "
        f"{summary.rejected:,} rejected.",
        f"Fitted on {t.episodes:,} episodes and {t.administrations:,} administrations"
        + (f", {t.first_date} to {t.last_date}" if t.first_date else "")
        + f" (Ally {t.ally_version}).",
    ]
    for measure_id, m in sorted(model.measures.items()):
        said = [c for c in m.raters.values() if c.source] or m.outcome or m.notes
        if not said:
            continue
        lines.append(f"{measure_id} {m.version}:")
        for rater, change in sorted(m.raters.items()):
            if change.source:
                cut = f"; cut-off {change.cutoff:.2f}" if change.cutoff is not None else ""
                lines.append(f"  {rater}: {change.source}{cut}")
        lines.extend(f"  note: {note}" for note in m.notes)
    lines.extend(f"Note: {note}" for note in t.notes)
    return "\n".join(lines)
