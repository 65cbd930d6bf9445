"""A practice's answers in `ally analyze`'s long input format, for research and for checking.

Rows carry numeric keys only (client and episode primary keys): no names, codes or free text.
`ally analyze --model` on such a file, under the practice's model, gives the numbers the app
stores (tests/web/batch_results.py checks it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ally.engine import columns as col
from ally.feedback.results import ENDINGS, RATERS
from ally.web.monitoring.refresh import answers_of, ending_code
from ally.web.practice.models import Episode


def export_rows(episodes: Sequence[Episode]) -> Iterator[dict[str, Any]]:
    """One row per administration the practice model reads, in the long input format."""
    by_pk = {e.pk: e for e in episodes}
    for a in answers_of(list(by_pk), items=True):
        episode = by_pk[a.episode_id]
        row: dict[str, Any] = {
            col.CLIENT: a.client_id,
            col.EPISODE: a.episode_id,
            col.CLINICIAN: a.clinician_id,
            col.SESSION: a.session,
            col.DATE: a.date.isoformat(),
            col.MEASURE: a.measure_id,
            col.RATER: RATERS[a.rater],
            col.ENDING: ENDINGS[ending_code(episode)],
        }
        for number, value in a.current.answers.items():
            row[col.item_column(int(number))] = "" if value is None else value
        yield row


def write_answers(episodes: Sequence[Episode], path: Path) -> int:
    """Write the episodes' answers as a CSV file `ally analyze` reads; the rows written."""
    rows = list(export_rows(episodes))
    items = sorted({k for r in rows for k in r if col.ITEM.match(k)}, key=lambda k: int(k[4:]))
    header = [col.CLIENT, col.EPISODE, col.CLINICIAN, col.SESSION, col.DATE, col.MEASURE]
    header += [col.RATER, *items, col.ENDING]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
