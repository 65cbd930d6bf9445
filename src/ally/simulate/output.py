"""Turning simulated chunks into the `ally analyze` long format and the ground-truth tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ally.change.reliable import reliable_change_value
from ally.change.talking_therapies import paired_outcome
from ally.measures import load_library
from ally.simulate.practice import ENDINGS, NO_GROUP, ONGOING, SUBSCALES, Chunk

Format = Literal["csv", "parquet"]
MAX_ITEMS = 10
"""CORE-10 is the longest form simulated."""
EPOCH = dt.date(1970, 1, 1)

# Forms in the order they are given at a session: outcome before it, alliance after it.
FORMS = (
    ("phq9", "client", "phq9"),
    ("gad7", "client", "gad7"),
    ("core10", "client", "core10"),
    ("ally-alliance", "client", "ally-alliance"),
    ("ally-alliance", "clinician", "alliance_clinician"),
    ("ally-group", "client", "ally-group"),
)


@dataclass(frozen=True)
class Placed:
    """A chunk placed on the calendar and cut off at the data extract."""

    chunk: Chunk
    offset: int
    """Global number of the chunk's first episode."""
    group_offset: int
    start: np.ndarray
    """Day of session 1, counted from the start date."""
    seen: np.ndarray
    """(n, T): attended sessions before the cut-off."""
    n_seen: np.ndarray
    ending: np.ndarray
    """How each episode stands at the cut-off: planned, dropout or ongoing."""


def start_window(weeks_to_last: np.ndarray, ongoing_share: float) -> int:
    """Days over which episodes start, such that `ongoing_share` of them are still running at
    the cut-off that closes the window: a start uniform on [0, D) with its last session
    7·w days later is cut off with probability min(7·w, D)/D."""
    span = 7 * weeks_to_last.astype(np.float64)
    if ongoing_share <= 0:
        return 730
    low, high = 1, int(max(span.max(), 1) / ongoing_share) + 2
    while low < high:
        mid = (low + high) // 2
        if np.minimum(span, mid).mean() / mid <= ongoing_share:
            high = mid
        else:
            low = mid + 1
    return low


def place(
    rng: np.random.Generator,
    chunk: Chunk,
    offset: int,
    group_offset: int,
    window: int,
    ongoing_share: float,
) -> Placed:
    n_groups = int(chunk.group.max()) + 1 if chunk.n else 0
    start = rng.integers(0, window, chunk.n)
    group_start = rng.integers(0, window, max(n_groups, 1))
    in_group = chunk.group != NO_GROUP
    start[in_group] = group_start[chunk.group[in_group]]
    seen = chunk.attended.copy()
    if ongoing_share > 0:
        seen &= start[:, None] + 7 * chunk.week < window
    n_seen = seen.sum(axis=1)
    ending = np.where(n_seen < chunk.n_sessions, ONGOING, chunk.ending)
    return Placed(chunk, offset, group_offset, start, seen, n_seen, ending)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return pa.array([f"{prefix}{v:0{width}d}" for v in numbers.tolist()], type=pa.string())


@dataclass(frozen=True)
class Naming:
    """Identifier widths for the whole practice, so ids sort as text."""

    episodes: int
    clinicians: int

    def width(self, count: int) -> int:
        return len(str(max(count, 1)))

    def episode_ids(self, p: Placed) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        """Client, episode, clinician and group (null for individual work) per episode."""
        number = np.arange(p.chunk.n) + p.offset + 1
        w = self.width(self.episodes)
        client = _ids("c", number, w)
        episode = _ids("e", number, w)
        clinician = _ids("t", p.chunk.clinician + 1, self.width(self.clinicians))
        g = p.chunk.group
        names = _ids("g", g + p.group_offset + 1, self.width(self.episodes // 6 + 1))
        group = pa.array(
            [
                name if gi != NO_GROUP else None
                for name, gi in zip(names.to_pylist(), g.tolist(), strict=True)
            ],
            type=pa.string(),
        )
        return client, episode, clinician, group


def _date(start_date: dt.date, days: np.ndarray) -> pa.Array:
    base = (start_date - EPOCH).days
    return pa.array((days + base).astype(np.int32), type=pa.date32())


def _nullable(values: np.ndarray, decimals: int = 4) -> pa.Array:
    v = np.asarray(values, dtype=np.float64)
    return pa.array(np.round(v, decimals), mask=np.isnan(v), type=pa.float64())


def sessions_table(p: Placed, naming: Naming, start_date: dt.date) -> pa.Table:
    """The administrations in the `ally analyze` long format, plus `ending`."""
    c = p.chunk
    outcome = ~c.core10[:, None]
    masks = {
        "phq9": p.seen & outcome,
        "gad7": p.seen & outcome,
        "core10": p.seen & ~outcome,
        "ally-alliance": p.seen,
        "alliance_clinician": p.seen & c.clinician_rates[:, None],
        "ally-group": p.seen & (c.items["ally-group"][:, :, 0] >= 0),
    }
    eps, ts, codes, answers = [], [], [], []
    for form, (_, _, key) in enumerate(FORMS):
        form_ep, form_t = np.nonzero(masks[key])
        block = np.full((form_ep.size, MAX_ITEMS), -1, dtype=np.int8)
        given = c.items[key][form_ep, form_t]
        block[:, : given.shape[1]] = given
        eps.append(form_ep)
        ts.append(form_t)
        codes.append(np.full(form_ep.size, form, dtype=np.int8))
        answers.append(block)
    ep = np.concatenate(eps)
    t = np.concatenate(ts)
    code = np.concatenate(codes)
    order = np.lexsort((code, t, ep))
    ep, t, code = ep[order], t[order], code[order]
    items = np.concatenate(answers)[order]
    client, episode, clinician, group = naming.episode_ids(p)
    take = pa.array(ep)
    measures = pa.array([f[0] for f in FORMS]).take(pa.array(code))
    raters = pa.array([f[1] for f in FORMS]).take(pa.array(code))
    columns: dict[str, pa.Array] = {
        "client": client.take(take),
        "episode": episode.take(take),
        "clinician": clinician.take(take),
        "group": group.take(take),
        "session": pa.array((t + 1).astype(np.int32)),
        "date": _date(start_date, p.start[ep] + 7 * c.week[ep, t]),
        "measure": measures,
        "rater": raters,
    }
    for j in range(MAX_ITEMS):
        col = items[:, j]
        columns[f"item{j + 1}"] = pa.array(col, mask=col < 0, type=pa.int8())
    columns["ending"] = pa.array([ENDINGS[e] for e in range(3)]).take(pa.array(p.ending[ep]))
    return pa.table(columns)


def truth_sessions_table(p: Placed, naming: Naming, start_date: dt.date) -> pa.Table:
    """One row per episode and attended session before the cut-off: the true state."""
    c = p.chunk
    ep, t = np.nonzero(p.seen)
    client, episode, _, _ = naming.episode_ids(p)
    take = pa.array(ep)
    sub = c.rupture_subscale[ep, t]
    return pa.table(
        {
            "client": client.take(take),
            "episode": episode.take(take),
            "session": pa.array((t + 1).astype(np.int32)),
            "date": _date(start_date, p.start[ep] + 7 * c.week[ep, t]),
            "severity": _nullable(c.severity[ep, t]),
            "phq9_true": _nullable(c.true_scores["phq9"][ep, t]),
            "gad7_true": _nullable(c.true_scores["gad7"][ep, t]),
            "core10_true": _nullable(c.true_scores["core10"][ep, t]),
            "alliance_true": _nullable(c.alliance_true[ep, t]),
            **{
                f"{name}_true": _nullable(c.subscale_true[ep, t, i])
                for i, name in enumerate(SUBSCALES)
            },
            "alliance_trait": _nullable(c.alliance_trait[ep]),
            "alliance_state": _nullable(c.alliance_state[ep, t]),
            "rupture": pa.array(c.rupture[ep, t]),
            "rupture_subscale": pa.array(
                [SUBSCALES[s] if s >= 0 else None for s in sub.tolist()], type=pa.string()
            ),
            "repair": pa.array(c.repair[ep, t]),
            "dropout_hazard": _nullable(c.hazard[ep, t], 6),
        }
    )


def _first_last(values: np.ndarray, n_seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(values.shape[0])
    last = np.maximum(n_seen - 1, 0)
    return values[:, 0].astype(np.float64), values[rows, last].astype(np.float64)


def true_outcome(p: Placed) -> dict[str, np.ndarray]:
    """True reliable improvement, deterioration and recovery from session 1 to the last session
    seen, by the rules applied to observed data: NHS Talking Therapies for PHQ-9 + GAD-7 and
    Jacobson & Truax with the published norms for CORE-10 (SPECS sections 1-2)."""
    c = p.chunk
    phq0, phq1 = _first_last(c.true_scores["phq9"], p.n_seen)
    gad0, gad1 = _first_last(c.true_scores["gad7"], p.n_seen)
    core0, core1 = _first_last(c.true_scores["core10"], p.n_seen)
    paired = paired_outcome(phq0, phq1, gad0, gad1)
    core10 = load_library().get("core10")
    assert core10.norms.clinical is not None
    assert core10.reliability is not None
    rc = reliable_change_value(core10.norms.clinical.sd, core10.reliability.value)
    cut = float(core10.clinical_cutoff or 11)
    core_improved = core0 - core1 >= rc
    core_worse = core1 - core0 >= rc
    core_recovered = core_improved & (core0 >= cut) & (core1 < cut)
    is_core = c.core10
    return {
        "intake_phq9": phq0,
        "final_phq9": phq1,
        "intake_gad7": gad0,
        "final_gad7": gad1,
        "intake_core10": core0,
        "final_core10": core1,
        "true_reliable_improvement": np.where(is_core, core_improved, paired.reliable_improvement),
        "true_reliable_deterioration": np.where(is_core, core_worse, paired.reliable_deterioration),
        "true_recovery": np.where(is_core, core_recovered, paired.recovered),
    }


def truth_episodes_table(p: Placed, naming: Naming) -> pa.Table:
    """One row per episode: its true course, ending and alliance history."""
    c = p.chunk
    client, episode, clinician, group = naming.episode_ids(p)
    outcome = true_outcome(p)
    severity0, severity1 = _first_last(c.severity, p.n_seen)
    ruptures = (c.rupture & p.seen).sum(axis=1)
    repairs = (c.repair & p.seen).sum(axis=1)
    all_repaired = pa.array(repairs >= ruptures, mask=ruptures == 0)
    columns: dict[str, pa.Array] = {
        "client": client,
        "episode": episode,
        "clinician": clinician,
        "group": group,
        "outcome_measure": pa.array(np.where(c.core10, "core10", "phq9+gad7")),
        "clinician_rates_alliance": pa.array(c.clinician_rates),
        "sessions": pa.array(p.n_seen.astype(np.int32)),
        "ending": pa.array([ENDINGS[e] for e in p.ending.tolist()]),
        "eventual_sessions": pa.array(c.n_sessions.astype(np.int32)),
        "eventual_ending": pa.array([ENDINGS[e] for e in c.ending.tolist()]),
        "intake_severity": _nullable(severity0),
        "final_severity": _nullable(severity1),
    }
    for name in ("phq9", "gad7", "core10"):
        for when in ("intake", "final"):
            columns[f"{when}_{name}"] = _nullable(outcome[f"{when}_{name}"])
    for name in ("true_reliable_improvement", "true_reliable_deterioration", "true_recovery"):
        columns[name] = pa.array(outcome[name].astype(bool))
    columns.update(
        {
            "deteriorator": pa.array(c.deteriorator),
            "alliance_trait": _nullable(c.alliance_trait),
            "ruptures": pa.array(ruptures.astype(np.int32)),
            "had_rupture": pa.array(ruptures > 0),
            "all_repaired": all_repaired,
            "dropout_risk_s1": _nullable(c.dropout_risk_s1, 6),
            **{
                f"group_{level}_true": _nullable(c.group_checkin_true[:, i])
                for i, level in enumerate(("leader", "members", "group"))
            },
        }
    )
    return pa.table(columns)


class TableWriter:
    """Appends chunks of one table to a CSV or Parquet file."""

    def __init__(self, path: Path, fmt: Format) -> None:
        self.path = path
        self.fmt = fmt
        self._writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.fmt == "csv":
                self._writer = pacsv.CSVWriter(self.path, table.schema)
            else:
                self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
