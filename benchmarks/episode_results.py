"""Time the practice model applied to one episode: what the web app does after every answer.

A practice model is fitted on a simulated practice (so it holds fitted expected courses and a
dropout model, the heaviest case), then `ally.feedback.results.results` is applied to one
episode of N sessions with three measures (PHQ-9, GAD-7 and the alliance check-in) many times.
Reported: median, 95th and 99th percentile of the wall time of one call.

    .venv/bin/python benchmarks/episode_results.py
    .venv/bin/python benchmarks/episode_results.py --sessions 40 --calls 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ally.engine.analyze import fit
from ally.engine.options import Options
from ally.feedback.practice import PracticeModel
from ally.feedback.results import ENDINGS, Administrations, results
from ally.simulate import SimulationConfig, simulate


def practice_model(episodes: int, seed: int) -> PracticeModel:
    """A model fitted on a simulated practice: expected courses and a dropout model."""
    with tempfile.TemporaryDirectory(prefix="ally-bench-") as name:
        folder = Path(name)
        simulate(SimulationConfig(episodes=episodes, seed=seed), folder, "csv")
        model, _ = fit(
            Options(input=folder / "sessions.csv", out=folder, progress=False),
            fitted_at="2026-01-01T00:00:00",
        )
    return model


def one_episode(sessions: int, seed: int) -> Administrations:
    """One running episode: PHQ-9, GAD-7 and the alliance check-in at every session."""
    rng = np.random.default_rng(seed)
    measures = ("ally-alliance", "gad7", "phq9")
    n = sessions * len(measures)
    session = np.tile(np.arange(1, sessions + 1), len(measures))
    measure = np.repeat(np.arange(len(measures)), sessions)
    trend = -0.4 * np.log(session)
    score = np.where(
        measure == 0,
        np.clip(np.round(22 + rng.normal(0, 2, n)), 0, 28),
        np.clip(np.round(15 + 6 * trend + rng.normal(0, 2, n)), 0, 21),
    ).astype(float)
    subscale = np.where(measure == 0, score / 3, np.nan)
    return Administrations(
        episode=np.zeros(n, dtype=np.int64),
        measure=measure.astype(np.int64),
        measure_ids=measures,
        rater=np.zeros(n, dtype=np.int64),
        session=session.astype(np.int64),
        day=(20_000 + 7 * session).astype(np.float64),
        score=score,
        subscales={"bond": subscale, "goals": subscale, "tasks": subscale},
        ending=np.full(n, ENDINGS.index("ongoing"), dtype=np.int64),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--practice", type=int, default=2000, help="simulated episodes to fit on")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()

    model = practice_model(args.practice, args.seed)
    parts = {
        "fitted courses": sum(
            m.outcome is not None and type(m.outcome.expected).__name__ == "EtrModel"
            for m in model.measures.values()
        ),
        "dropout model": model.dropout.chosen_ if model.dropout else None,
    }
    episode = one_episode(args.sessions, args.seed)
    for _ in range(50):  # warm caches and lazy imports
        results(model, episode)
    times = []
    for _ in range(args.calls):
        start = time.perf_counter()
        results(model, episode)
        times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    figures = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}",
        "episode": f"{args.sessions} sessions x 3 measures ({len(episode)} administrations)",
        "model": parts,
        "calls": args.calls,
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[int(0.95 * len(ms)) - 1], 3),
        "p99_ms": round(ms[int(0.99 * len(ms)) - 1], 3),
    }
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
