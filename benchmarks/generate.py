"""Synthetic session data in the `ally analyze` long format, for benchmarks and the bundled example.

Clients improve on a log-session curve from a realistic PHQ-9 intake with noise; each session
has a PHQ-9 (item by item) and a GAD-7 (item by item). This is load data, not the practice
simulator with ground truth (`ally simulate`).

    python benchmarks/generate.py --rows 1000000 --out benchmarks/data/1m.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

MEASURES = {"phq9": 9, "gad7": 7}
MAX_ITEMS = max(MEASURES.values())


def _items(rng: np.random.Generator, totals: np.ndarray, n_items: int) -> np.ndarray:
    """Answers 0-3 whose sum is near `totals`; a few left unanswered."""
    base = totals[:, None] / n_items + rng.normal(0, 0.6, (len(totals), n_items))
    answers = np.clip(np.rint(base), 0, 3)
    missing = rng.random(answers.shape) < 0.01
    answers[missing] = np.nan
    return answers


def generate(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    mean_sessions = 8
    n_episodes = max(1, rows // (mean_sessions * len(MEASURES)))
    sessions = np.clip(rng.geometric(1 / mean_sessions, n_episodes), 1, 40)
    intake = np.clip(rng.normal(15, 5, n_episodes), 0, 27)
    slope = rng.normal(3.0, 2.5, n_episodes)  # points lost per unit of log(session)
    clinicians = rng.integers(1, max(2, n_episodes // 40) + 1, n_episodes)

    episode = np.repeat(np.arange(n_episodes), sessions)
    starts = np.repeat(np.cumsum(sessions) - sessions, sessions)
    session = np.arange(len(episode)) - starts + 1
    expected = intake[episode] - slope[episode] * np.log(session)
    out: dict[str, list[pa.Array]] = {}
    for measure, n_items in MEASURES.items():
        scale = n_items * 3 / 27
        totals = np.clip(expected * scale + rng.normal(0, 2.0, len(episode)), 0, n_items * 3)
        answers = _items(rng, totals, n_items)
        columns = {
            "client": pa.array(np.char.add("c", episode.astype(str))),
            "clinician": pa.array(np.char.add("t", clinicians[episode].astype(str))),
            "session": pa.array(session.astype(np.int64)),
            "measure": pa.array(np.full(len(episode), measure)),
        }
        for k in range(1, MAX_ITEMS + 1):
            values = answers[:, k - 1] if k <= n_items else np.full(len(episode), np.nan)
            columns[f"item{k}"] = pa.array(values, mask=np.isnan(values), type=pa.int8())
        for name, array in columns.items():
            out.setdefault(name, []).append(array)
    # pyarrow returns chunked arrays for large string arrays; concatenate chunks, not arrays.
    table = pa.table({name: pa.chunked_array(parts) for name, parts in out.items()})
    return table.slice(0, rows) if table.num_rows > rows else table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="A .parquet or .csv file.")
    args = parser.parse_args()
    table = generate(args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".csv":
        pacsv.write_csv(table, args.out)
    else:
        pq.write_table(table, args.out)
    print(f"wrote {table.num_rows:,} rows to {args.out}")


if __name__ == "__main__":
    main()
