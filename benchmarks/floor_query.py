"""The floor: one DuckDB query over the benchmark's Parquet file, the least any engine must do.

Read the rows, sum each row's item answers, give each row its series' first and previous score
and its series' count of rows, and write the result as Parquet, in one pass (a scan, one
window sort, a write). No checks, no prorating, no reliable change: nothing faster can produce
Ally's sessions table, so `ally analyze --no-feedback` is measured against it (benchmarks/run.py).

    python benchmarks/floor_query.py benchmarks/data/1m.parquet --out /tmp/floor
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb


def query(source: str, items: list[str]) -> str:
    """The floor's SELECT over `source` (an SQL table expression) with these item columns."""
    total = " + ".join(f"coalesce({c}, 0)" for c in items) or "0"
    return f"""
        SELECT client, measure, session, score,
               first_value(score) OVER w AS baseline,
               lag(score) OVER w AS previous,
               count(*) OVER (PARTITION BY client, measure) AS sessions
        FROM (SELECT client, measure, session, CAST({total} AS DOUBLE) AS score FROM {source})
        WINDOW w AS (PARTITION BY client, measure ORDER BY session)
    """


def run(path: Path, out: Path) -> int:
    """Write out/sessions.parquet from the Parquet file at `path`; the rows written."""
    con = duckdb.connect(":memory:")
    source = "read_parquet($path)"
    described = con.execute(f"DESCRIBE SELECT * FROM {source}", {"path": str(path)})
    names = [row[0] for row in described.fetchall()]
    items = [n for n in names if n.startswith("item")]
    out.mkdir(parents=True, exist_ok=True)
    target = out / "sessions.parquet"
    con.execute(
        f"COPY ({query(source, items)}) TO $target (FORMAT parquet)",
        {"path": str(path), "target": str(target)},
    )
    found = con.execute("SELECT count(*) FROM read_parquet($t)", {"t": str(target)}).fetchone()
    return int(found[0]) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="A Parquet file as benchmarks/generate.py writes.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args.input, args.out)
    print(f"{rows:,} rows in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
