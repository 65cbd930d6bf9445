"""Scoring the input's rows with the core, batch by batch.

The typed answers leave the engine in batches of rows; `ally.scoring.columns.score_columns`
scores each measure's rows (the function the web app scores one answer set with), and the
scores, the critical flags and the first problem of each row go back beside their rows
(`ally.engine.backends.DuckDB.checked`, `ally.engine.spark`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ally.engine import columns as col
from ally.feedback.practice import MeasureParams
from ally.scoring.columns import not_allowed_message, score_columns, too_few_message
from ally.scoring.rules import score_tolerance

BATCH_ROWS = 500_000
"""Rows fetched from the engine and stored again at a time: bounds the answers and scores held
to some tens of MB."""

SCORE_ROWS = 32_768
"""Rows given to the core at a time: small enough that a batch's columns stay in the
processor's cache, large enough that the per-batch work is a small part (docs/benchmarks.md)."""


def subscale_ids(params: Mapping[str, MeasureParams]) -> list[str]:
    return sorted(
        {sub.id for p in params.values() if p.measure for sub in p.measure.scoring.subscales}
    )


def _floats(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float64]:
    filled = pc.fill_null(column.cast(pa.float64()), np.nan)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.float64)


def score_batch(
    batch: pa.RecordBatch, params: Mapping[str, MeasureParams], items: list[int]
) -> pa.RecordBatch:
    n = batch.num_rows
    measure = batch.column(col.MEASURE)
    given = _floats(batch.column(col.GIVEN_SCORE))
    answered = np.asarray(batch.column(col.ANSWERED).to_numpy(zero_copy_only=False), dtype=int)
    values = {k: _floats(batch.column(col.value_column(k))) for k in items}
    score = np.full(n, np.nan)
    critical = np.full(n, np.nan)
    subscales = {s: np.full(n, np.nan) for s in subscale_ids(params)}
    reasons: list[str | None] = [None] * n
    for mid, p in params.items():
        on_measure = pc.fill_null(pc.equal(measure, mid), False)
        rows = np.flatnonzero(np.asarray(on_measure.to_numpy(zero_copy_only=False)))
        if not len(rows):
            continue
        m = p.measure
        with_items = answered[rows] > 0
        if m is not None and with_items.any():
            chosen = rows[with_items]
            matrix = np.column_stack(
                [
                    values[k][chosen] if k in values else np.full(len(chosen), np.nan)
                    for k in range(1, len(m.items) + 1)
                ]
            )
            scored = score_columns(m, matrix)
            # A row's first problem: an answer its item does not accept, then too few answers.
            for i in np.flatnonzero(scored.not_allowed.any(axis=1) | scored.too_few):
                row = int(chosen[i])
                bad = np.flatnonzero(scored.not_allowed[i])
                if len(bad):
                    number = int(bad[0]) + 1
                    message = not_allowed_message(m, number, float(matrix[i, bad[0]]))
                    reasons[row] = f"{col.item_column(number)}: {message}"
                else:
                    reasons[row] = too_few_message(m, int(scored.answered[i]))
            total = scored.total
            off = np.abs(given[chosen] - total) > score_tolerance(m)
            mismatch = ~np.isnan(given[chosen]) & off
            for i in np.flatnonzero(mismatch & ~np.isnan(total)):
                reasons[int(chosen[i])] = (
                    f"score {given[chosen[i]]:g} does not match the total of the items, "
                    f"{round(float(total[i]), 2)}"
                )
            score[chosen] = total
            critical[chosen] = scored.critical
            for sub, found in scored.subscales.items():
                subscales[sub][chosen] = found
        alone = rows[~with_items]
        score[alone] = given[alone]
        for row in alone[np.isnan(given[alone])]:
            reasons[int(row)] = "no score and no item answers"
        if p.minimum is not None and p.maximum is not None:
            low, high = p.minimum, p.maximum
            with np.errstate(invalid="ignore"):
                outside = alone[(given[alone] < low) | (given[alone] > high)]
            for row in outside:
                reasons[int(row)] = (
                    f"score {given[row]:g} is outside {mid}'s range {low:g} to {high:g}"
                )
    columns: dict[str, pa.Array] = {
        col.LINE: batch.column(col.LINE),
        col.SCORE_VALUE: pa.array(score, type=pa.float64(), from_pandas=True),
        **{
            col.subscale_column(s): pa.array(v, type=pa.float64(), from_pandas=True)
            for s, v in subscales.items()
        },
        "critical": pa.array(critical == 1.0, mask=np.isnan(critical)),
        "measure_reason": pa.array(reasons, type=pa.string()),
    }
    return pa.RecordBatch.from_pydict(columns)


def answers(items: list[int]) -> list[str]:
    """The typed columns `score_batch` reads."""
    return [
        col.LINE,
        col.MEASURE,
        col.GIVEN_SCORE,
        col.ANSWERED,
        *(col.value_column(k) for k in items),
    ]


def no_scores(params: Mapping[str, MeasureParams]) -> pa.RecordBatch:
    """The scores' columns, without rows."""
    return score_batch(
        pa.RecordBatch.from_pydict(
            {
                col.LINE: pa.array([], pa.int64()),
                col.MEASURE: pa.array([], pa.string()),
                col.GIVEN_SCORE: pa.array([], pa.float64()),
                col.ANSWERED: pa.array([], pa.int64()),
            }
        ),
        params,
        [],
    )
