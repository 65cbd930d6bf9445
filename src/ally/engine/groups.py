"""`ally analyze` with a `group` column: the `groups` table and group-mean centring.

Sessions within members within groups (SPECS section 6). A group's sessions are its meetings:
the distinct dates on which its members' rows fall, numbered 1, 2, ... in order (with rolling
membership a member's own session number and the group's differ). At each meeting, for each
measure, rater and level (the total and each subscale):

- `groups` gets the number of members rated, their mean and SD (n - 1), and the intraclass
  correlations ICC(1) and ICC(2) of the level over the run: a one-way ANOVA of the members' mean
  scores by group, as R's multilevel package computes them (`ally.groups.agreement.one_way`);
- `sessions` gets `group_session`, `group_mean` (the mean of everyone rated at that meeting,
  the member included) and `group_deviation` (score - group_mean), so a model can split a score
  into its group part and the member's own part (group-mean centring).

For a group check-in (kind group_alliance), each member's series at each level (leader, other
members, group as a whole) is searched for ruptures by `ally.feedback.alliance.ruptures`, with
the run's rupture rules as `ally.feedback.group_checkin.level_rules` reads them (as the web app
does): `sessions` marks `rupture` and names the levels in `rupture_subscale`; `groups` counts
them.

Rows without a group get none of these; without a date, a row's meeting is its session number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ally.engine import columns as col
from ally.feedback.alliance import STRAUSS_2006, RuptureConfig, ruptures
from ally.feedback.group_checkin import LEVELS, level_rules
from ally.groups.agreement import one_way

GROUP_COLUMNS = (
    col.GROUP,
    "group_session",
    col.DATE,
    col.MEASURE,
    col.RATER,
    "level",
    "n",
    "mean",
    "sd",
    "icc1",
    "icc2",
    "ruptures",
)
"""The `groups` table's columns, in this order (docs/formats.md, docs/groups.md)."""
TOTAL = "total"


def _levels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(level, column): the total, then each subscale column present."""
    found = [(TOTAL, col.SCORE)]
    prefix = col.subscale_column("")
    found += [(c.removeprefix(prefix), c) for c in frame.columns if c.startswith(prefix)]
    return found


def _meetings(frame: pd.DataFrame) -> pd.Series:
    """Each row's group meeting, numbered by date (or session) within its group."""
    key = frame[col.DATE].astype("string").fillna(frame[col.SESSION].astype("string"))
    order = (
        frame[col.DATE].astype("string").fillna("")
        + "|"
        + frame[col.SESSION].astype("string").str.zfill(9)
    )
    ranks = (
        pd.DataFrame({"g": frame[col.GROUP], "key": key, "order": order})
        .groupby(["g", "key"], dropna=False)["order"]
        .min()
        .groupby(level="g")
        .rank(method="dense")
        .astype("int64")
    )
    return pd.Series(
        [ranks.get((g, k)) for g, k in zip(frame[col.GROUP], key, strict=True)],
        index=frame.index,
        dtype="Int64",
    )


def _icc(frame: pd.DataFrame, value: str) -> tuple[float, float]:
    """ICC(1), ICC(2) of members' mean `value` by group; NaN when they cannot be estimated."""
    member = frame.groupby([col.GROUP, col.CLIENT, col.EPISODE], dropna=False)[value].mean()
    member = member.dropna()
    if member.empty:
        return math.nan, math.nan
    groups = member.index.get_level_values(0).to_numpy()
    try:
        found = one_way(member.to_numpy(dtype=np.float64), groups)
    except ValueError:
        return math.nan, math.nan
    return found.icc1, found.icc2


def _level_ruptures(part: pd.DataFrame, config: RuptureConfig) -> pd.DataFrame:
    """Per row of `part` (one check-in measure and rater), whether a rupture begins there at each
    level: members x meetings, one vectorised call per level."""
    members = part.groupby([col.CLIENT, col.EPISODE], dropna=False, sort=True).ngroup()
    meeting = part["group_session"].astype("int64").to_numpy() - 1
    found = pd.DataFrame(False, index=part.index, columns=list(LEVELS))
    width = int(meeting.max()) + 1
    for level in LEVELS:
        column = col.subscale_column(level)
        if column not in part.columns:
            continue
        matrix = np.full((int(members.max()) + 1, width), np.nan)
        matrix[members.to_numpy(), meeting] = part[column].to_numpy(dtype=np.float64)
        began = ruptures(matrix, config=level_rules(config)).rupture
        found[level] = began[members.to_numpy(), meeting]
    return found


def has_groups(groups: pa.ChunkedArray) -> bool:
    """Whether any row names a group (a value other than empty or blank)."""
    named = pc.utf8_trim_whitespace(groups.cast(pa.string()))
    return bool(pc.any(pc.greater(pc.utf8_length(named), 0)).as_py())


def without_groups(sessions: pa.Table) -> pa.Table:
    """`sessions` with empty centring columns: the same columns whatever the batch, so an
    episode's rows read the same alone as beside a group."""
    empty = pa.nulls(sessions.num_rows, pa.float64())
    return (
        sessions.append_column("group_session", pa.nulls(sessions.num_rows, pa.int64()))
        .append_column("group_mean", empty)
        .append_column("group_deviation", empty)
    )


def group_tables(
    sessions: pa.Table,
    check_ins: frozenset[str] = frozenset(),
    config: RuptureConfig = STRAUSS_2006,
) -> tuple[pa.Table, pa.Table | None]:
    """`sessions` with the centring columns (empty without groups), and the `groups` table;
    (sessions, None) when no row has a group. `check_ins`: the group check-in measures' ids,
    read level by level."""
    if not has_groups(sessions.column(col.GROUP)):
        return without_groups(sessions), None
    frame = sessions.to_pandas()
    grouped = frame[col.GROUP].notna() & (frame[col.GROUP].astype("string").str.strip() != "")
    part = frame[grouped].copy()
    part["group_session"] = _meetings(part)
    keys = [col.GROUP, "group_session", col.MEASURE, col.RATER]
    means = part.groupby(keys, dropna=False)[col.SCORE].transform("mean")
    frame["group_session"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    frame.loc[grouped, "group_session"] = part["group_session"]
    frame["group_mean"] = np.nan
    frame.loc[grouped, "group_mean"] = means
    frame["group_deviation"] = frame[col.SCORE] - frame["group_mean"]
    rows = []
    for (measure, rater), chosen in part.groupby([col.MEASURE, col.RATER], dropna=False):
        began = None
        if measure in check_ins:
            began = _level_ruptures(chosen, config)
            levels = began.apply(lambda row: ";".join(lv for lv in LEVELS if row[lv]), axis=1)
            frame.loc[began.index, "rupture"] = began.any(axis=1)
            frame.loc[began.index, "rupture_subscale"] = levels.where(levels != "", None)
        for level, column in _levels(chosen):
            if chosen[column].isna().all():
                continue
            icc1, icc2 = _icc(chosen, column)
            counted = chosen.assign(
                _began=began[level] if began is not None and level in LEVELS else False
            )
            stats = counted.groupby([col.GROUP, "group_session"], dropna=False).agg(
                date=(col.DATE, "min"),
                n=(column, "count"),
                mean=(column, "mean"),
                sd=(column, "std"),
                began=("_began", "sum"),
            )
            for (group, meeting), s in stats.iterrows():
                rows.append(
                    {
                        col.GROUP: group,
                        "group_session": int(meeting),
                        col.DATE: s["date"],
                        col.MEASURE: measure,
                        col.RATER: rater,
                        "level": level,
                        "n": int(s["n"]),
                        "mean": s["mean"] if s["n"] else math.nan,
                        "sd": s["sd"],
                        "icc1": icc1,
                        "icc2": icc2,
                        "ruptures": int(s["began"])
                        if began is not None and level in LEVELS
                        else None,
                    }
                )
    table = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    table["ruptures"] = table["ruptures"].astype("Int64")
    table = table.sort_values(
        [col.GROUP, col.MEASURE, col.RATER, "level", "group_session"], kind="stable"
    )
    return (
        pa.Table.from_pandas(frame, preserve_index=False, schema=None),
        pa.Table.from_pandas(table, preserve_index=False),
    )
