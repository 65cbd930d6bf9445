"""Rules that read a client's whole series: sudden gains and losses, alliance ruptures and repairs.

They look at several sessions around each one, so the engine hands them (episodes x sessions)
matrices and the core's vectorised functions do the work; the results return as tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd
from ibis.expr.types import Table

from ally.change.reliable import ReliableChange, reliable_change_value
from ally.change.sudden_gains import sudden_changes
from ally.engine import columns as col
from ally.engine.options import MeasureParams
from ally.engine.read import stored
from ally.feedback.alliance import RuptureConfig, ruptures
from ally.measures.schema import Kind

# About 20 M cells a block keeps each matrix within a few hundred MB.
BLOCK_CELLS = 20_000_000
ENDED = ("planned", "dropout")


@dataclass(frozen=True)
class Block:
    """A run of episodes of similar length and where their rows go in the matrix."""

    episodes: npt.NDArray[np.int64]
    rows: npt.NDArray[np.intp]
    at: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
    width: int

    def matrix(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.full((len(self.episodes), self.width), np.nan)
        out[self.at] = values[self.rows]
        return out


def blocks(
    episode: npt.NDArray[np.int64],
    session: npt.NDArray[np.int64],
    chosen: npt.NDArray[np.int64],
    widths: npt.NDArray[np.int64],
    n_episodes: int,
) -> Iterator[Block]:
    """Blocks over the `chosen` episodes, shortest first, so that no matrix is wider than needed."""
    order = np.argsort(widths, kind="stable")
    chosen, widths = chosen[order], widths[order]
    position = np.full(n_episodes, -1)
    position[chosen] = np.arange(len(chosen))
    row_position = position[episode]
    start = 0
    while start < len(chosen):
        cells = np.arange(1, len(chosen) - start + 1) * widths[start:]
        stop = start + max(1, int(np.searchsorted(cells, BLOCK_CELLS, side="right")))
        rows = np.flatnonzero((row_position >= start) & (row_position < stop))
        at = (row_position[rows] - start, session[rows] - 1)
        yield Block(chosen[start:stop], rows, at, int(widths[stop - 1]))
        start = stop


@dataclass(frozen=True)
class SeriesResults:
    episodes: Table
    """episode_index, sudden_gains, sudden_losses, ruptures, repairs, unrepaired."""
    sessions: Table
    """episode_index, session_number, rupture, repair, rupture_subscale (alliance rows)."""


def series_results(
    backend: ibis.BaseBackend,
    base: Table,
    episodes: Table,
    params: Mapping[str, MeasureParams],
    models: Mapping[tuple[str, str], tuple[ReliableChange | None, float | None]],
    rupture_config: RuptureConfig | None,
) -> SeriesResults:
    """Sudden gains of every measure; ruptures of alliance measures unless `rupture_config` is
    None."""
    subscale_columns = [c for c in base.columns if c.startswith("subscale_")]
    pulled = base.select(
        "episode_index", col.SESSION_NUMBER, col.SCORE_VALUE, *subscale_columns
    ).to_pyarrow()
    episode = pulled.column(0).to_numpy()
    session = pulled.column(1).to_numpy()

    def values(name: str) -> npt.NDArray[np.float64]:
        array = pulled.column(name).to_numpy(zero_copy_only=False)
        return np.asarray(array, dtype=np.float64)

    score = values(col.SCORE_VALUE)
    info = episodes.select(
        "episode_index", col.MEASURE, col.RATER, col.ENDING, width=episodes.latest_session
    ).execute()
    n = int(info["episode_index"].max()) + 1 if len(info) else 0
    counts = {
        name: np.zeros(n, dtype=np.int64)
        for name in ("sudden_gains", "sudden_losses", "ruptures", "repairs", "unrepaired")
    }
    is_alliance = np.zeros(n, dtype=bool)
    rupture = np.zeros(len(episode), dtype=bool)
    repair = np.zeros(len(episode), dtype=bool)
    driver = np.full(len(episode), None, dtype=object)

    for (measure, rater), group in info.groupby([col.MEASURE, col.RATER], sort=True):
        p = params[str(measure)]
        chosen = group["episode_index"].to_numpy()
        widths = group["width"].to_numpy()
        model, _ = models.get((str(measure), str(rater)), (None, None))
        if model is not None:
            # Criterion 1 of Tang & DeRubeis: a gain at least the reliable change value.
            criterion = reliable_change_value(model.stats.sd_pre, model.reliability)
            for block in blocks(episode, session, chosen, widths, n):
                found = sudden_changes(block.matrix(score), cutoff=criterion, direction=p.sign)
                counts["sudden_gains"][block.episodes] = found.gain_counts
                counts["sudden_losses"][block.episodes] = found.loss_counts
        if rupture_config is None or p.measure is None or p.measure.kind is not Kind.ALLIANCE:
            continue
        is_alliance[chosen] = True
        subscales = [s.id for s in p.measure.scoring.subscales]
        ended = pd.Series(group["ending"]).isin(ENDED).to_numpy()
        ended_of = np.zeros(n, dtype=bool)
        ended_of[chosen] = ended
        subscale_values = {s: values(col.subscale_column(s)) for s in subscales}
        for block in blocks(episode, session, chosen, widths, n):
            found_r = ruptures(
                block.matrix(score),
                {s: block.matrix(v) for s, v in subscale_values.items()},
                config=rupture_config,
                ended=ended_of[block.episodes],
            )
            counts["ruptures"][block.episodes] = found_r.rupture_counts
            counts["repairs"][block.episodes] = found_r.repair_counts
            counts["unrepaired"][block.episodes] = found_r.unrepaired_counts
            rupture[block.rows] = found_r.rupture[block.at]
            repair[block.rows] = found_r.repair[block.at]
            names = np.array([None, *found_r.subscales], dtype=object)
            driver[block.rows] = names[found_r.rupture_subscale[block.at] + 1]

    per_episode = pd.DataFrame({"episode_index": np.arange(n)})
    per_episode["sudden_gains"] = counts["sudden_gains"]
    per_episode["sudden_losses"] = counts["sudden_losses"]
    for name in ("ruptures", "repairs", "unrepaired"):
        # Rupture counts mean something only on alliance measures; elsewhere they stay empty.
        per_episode[name] = pd.Series(counts[name]).where(is_alliance).astype("Int64")
    on_alliance = is_alliance[episode]
    per_session = pd.DataFrame(
        {
            "episode_index": episode[on_alliance],
            col.SESSION_NUMBER: session[on_alliance],
            "rupture": rupture[on_alliance],
            "repair": repair[on_alliance],
            "rupture_subscale": pd.array(driver[on_alliance], dtype="string"),
        }
    )
    return SeriesResults(
        stored(backend, "ally_series_episodes", ibis.memtable(per_episode)),
        stored(backend, "ally_series_sessions", ibis.memtable(per_session)),
    )
