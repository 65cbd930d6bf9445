"""A synthetic practice with ground truth, for the demo, tests, benchmarks and backtests.

`simulate(config, out, fmt)` writes `sessions`, `truth_sessions`, `truth_episodes`,
`config.json` and `calibration.json` to `out` and returns the calibration summary. See
docs/simulation.md for the model, its parameters and the output columns.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ally.simulate.calibration import Calibration, report
from ally.simulate.config import SimulationConfig
from ally.simulate.items import item_models
from ally.simulate.output import (
    Format,
    Naming,
    TableWriter,
    place,
    sessions_table,
    start_window,
    truth_episodes_table,
    truth_sessions_table,
)
from ally.simulate.practice import draw_clinicians, simulate_chunk

__all__ = ["SimulationConfig", "report", "simulate"]


def simulate(
    config: SimulationConfig,
    out: Path,
    fmt: Format = "csv",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Simulate the practice, write its files to `out` and return the calibration summary.

    Deterministic: the seed feeds one SeedSequence, spawned into a stream for the clinicians
    and one per chunk of episodes; nothing else draws random numbers.
    """
    out.mkdir(parents=True, exist_ok=True)
    models = item_models()
    n_chunks = -(-config.episodes // config.chunk_episodes)
    streams = np.random.SeedSequence(config.seed).spawn(1 + n_chunks)
    clinicians = draw_clinicians(np.random.default_rng(streams[0]), config)
    start_date = dt.date.fromisoformat(config.start_date)
    naming = Naming(config.episodes, config.n_clinicians)
    writers = {
        name: TableWriter(out / f"{name}.{fmt}", fmt)
        for name in ("sessions", "truth_sessions", "truth_episodes")
    }
    calibration = Calibration()
    window = 0
    group_offset = 0
    try:
        for i in range(n_chunks):
            offset = i * config.chunk_episodes
            n = min(config.chunk_episodes, config.episodes - offset)
            sim_stream, date_stream = streams[1 + i].spawn(2)
            chunk = simulate_chunk(np.random.default_rng(sim_stream), config, clinicians, models, n)
            if i == 0:
                # The start window is set once, from the first chunk, so that chunks agree.
                last = chunk.week[np.arange(n), np.maximum(chunk.n_sessions - 1, 0)]
                window = start_window(last, config.ongoing_share)
            placed = place(
                np.random.default_rng(date_stream),
                chunk,
                offset,
                group_offset,
                window,
                config.ongoing_share,
            )
            group_offset += int(chunk.group.max()) + 1 if n else 0
            writers["sessions"].write(sessions_table(placed, naming, start_date))
            writers["truth_sessions"].write(truth_sessions_table(placed, naming, start_date))
            writers["truth_episodes"].write(truth_episodes_table(placed, naming))
            calibration.add(placed)
            if progress is not None:
                progress(offset + n, config.episodes)
    finally:
        for writer in writers.values():
            writer.close()
    summary = calibration.summary()
    summary["administrations"] = writers["sessions"].rows
    summary["cutoff_date"] = (
        (start_date + dt.timedelta(days=window)).isoformat() if config.ongoing_share > 0 else None
    )
    (out / "config.json").write_text(
        json.dumps({**config.to_dict(), "format": fmt}, indent=2) + "\n", encoding="utf-8"
    )
    (out / "calibration.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
