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

All of it but the ICCs is found from whole groups' rows (`meetings`), before the model is
applied, since it reads only the rows' scores: so `sessions` is still written a slice at a time,
and Spark finds it on its executors, a group at a time. The ICCs are then found from every
member's means (`groups_table`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ally.engine import columns as col
from ally.feedback.alliance import STRAUSS_2006, RuptureConfig, ruptures
from ally.feedback.group_checkin import LEVELS, level_rules
from ally.groups.agreement import one_way

GROUPS = pa.schema(
    [
        (col.GROUP, pa.string()),
        ("group_session", pa.int64()),
        (col.DATE, pa.date32()),
        (col.MEASURE, pa.string()),
        (col.RATER, pa.string()),
        ("level", pa.string()),
        ("n", pa.int64()),
        ("mean", pa.float64()),
        ("sd", pa.float64()),
        ("icc1", pa.float64()),
        ("icc2", pa.float64()),
        ("ruptures", pa.int64()),
    ]
)
"""The `groups` table, its columns in this order (docs/formats.md, docs/groups.md): the same
types whether or not the rows have dates."""
GROUP_COLUMNS = tuple(GROUPS.names)
TOTAL = "total"


def _levels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(level, column): the total, then each subscale column present."""
    found = [(TOTAL, col.SCORE)]
    prefix = col.subscale_column("")
    found += [(c.removeprefix(prefix), c) for c in frame.columns if c.startswith(prefix)]
    return found


def _meetings(frame: pd.DataFrame, day: pd.Series) -> pd.Series:
    """Each row's group meeting, numbered by date (`day`, the rows' dates as datetime64) or,
    where a row has none, by session within its group."""
    dated = day.notna().to_numpy()
    days = day.to_numpy("datetime64[D]").astype(np.int64)
    session = frame[col.SESSION].to_numpy(np.int64)
    # A meeting is a date, or a session where there is no date; its place is its earliest
    # row's in the order of (date, session), rows without a date after those with one.
    key = np.where(dated, days, session)
    rank = np.empty(len(frame), dtype=np.int64)
    rank[np.lexsort((session, np.where(dated, days, 0), ~dated))] = np.arange(len(frame))
    first = (
        pd.DataFrame({"g": frame[col.GROUP], "dated": dated, "key": key, "order": rank})
        .groupby(["g", "dated", "key"], dropna=False)["order"]
        .transform("min")
    )
    ranks = first.groupby(frame[col.GROUP], dropna=False).rank(method="dense")
    return ranks.astype("Int64")


def _icc(members: pd.DataFrame) -> tuple[float, float]:
    """ICC(1), ICC(2) of members' means (MEMBER_COLUMNS) by group; NaN when they cannot be
    estimated."""
    member = members.dropna(subset=["value"])
    if member.empty:
        return math.nan, math.nan
    try:
        found = one_way(member["value"].to_numpy(dtype=np.float64), member[col.GROUP].to_numpy())
    except ValueError:
        return math.nan, math.nan
    return found.icc1, found.icc2


def _level_ruptures(part: pd.DataFrame, config: RuptureConfig) -> pd.DataFrame:
    """Per row of `part` (one check-in measure and rater), whether a rupture begins there at each
    level: members x meetings, one vectorised call per level."""
    # A member's series is within one group: meetings are numbered within each group, so a
    # client who moves to another group starts a series there.
    members = part.groupby([col.GROUP, col.CLIENT, col.EPISODE], dropna=False).ngroup()
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


def named(groups: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Whether each row names a group: a value other than empty or blank."""
    given = pc.utf8_trim_whitespace(groups.cast(pa.string()))
    return pc.fill_null(pc.greater(pc.utf8_length(given), 0), False)


GROUP_ROW = pa.schema(
    [
        ("group_session", pa.int64()),
        ("group_mean", pa.float64()),
        ("group_check_in", pa.bool_()),
        ("group_rupture", pa.bool_()),
        ("group_rupture_subscale", pa.string()),
    ]
)
"""A session row's part in its group (`meetings`), set beside it by `with_group_columns`: its
meeting, the meeting's mean and, on a group check-in, the ruptures found level by level, which
replace the individual rule's `rupture` and `rupture_subscale`."""

MEMBER_COLUMNS = (col.MEASURE, col.RATER, "level", col.GROUP, col.CLIENT, col.EPISODE, "value")
"""A member's mean of one level (`meetings`), of which the ICCs are found over the run."""


@dataclass(frozen=True)
class Meetings:
    """What whole groups' rows give: all of it but the ICCs, which need every group."""

    rows: pd.DataFrame
    """GROUP_ROW's columns, on the rows' index."""
    stats: pd.DataFrame
    """The `groups` table's columns but icc1 and icc2, a row per meeting, measure, rater and
    level."""
    members: pd.DataFrame
    """MEMBER_COLUMNS."""


def meetings(
    frame: pd.DataFrame, check_ins: frozenset[str], config: RuptureConfig = STRAUSS_2006
) -> Meetings:
    """The meetings of the groups whose rows `frame` holds: every row of each (the `sessions`
    columns client to the subscales), in the order of `sessions`, and only rows that name a
    group. Whole groups at a time give the same numbers as all of them at once: so one
    process, or Spark's executors a group at a time (`ally.engine.spark`)."""
    # Dates as numbers, which pandas orders without a Python call per row.
    day = pd.to_datetime(frame[col.DATE])
    part = frame.assign(group_session=_meetings(frame, day), _day=day)
    # Everyone rated at a meeting on one measure by one rater: whose mean is group_mean.
    rated = part.groupby([col.GROUP, "group_session", col.MEASURE, col.RATER], dropna=False)
    rated_at = np.asarray(rated.ngroup(), dtype=np.intp)
    means = _moments(part[col.SCORE].to_numpy(np.float64), rated_at, rated.ngroups)[1]
    rows = pd.DataFrame(
        {
            "group_session": part["group_session"],
            "group_mean": means[rated_at],
            "group_check_in": False,
            "group_rupture": False,
            "group_rupture_subscale": pd.Series(None, index=part.index, dtype=object),
        },
        index=part.index,
    )
    stats: list[pd.DataFrame] = []
    members: list[pd.DataFrame] = []
    for key, chosen in part.groupby([col.MEASURE, col.RATER], dropna=False):
        measure, rater = (str(k) for k in key)
        began = None
        if measure in check_ins:
            began = _level_ruptures(chosen, config)
            levels = began.apply(lambda row: ";".join(lv for lv in LEVELS if row[lv]), axis=1)
            rows.loc[began.index, "group_check_in"] = True
            rows.loc[began.index, "group_rupture"] = began.any(axis=1)
            rows.loc[began.index, "group_rupture_subscale"] = levels.where(levels != "", None)
        meeting = chosen.groupby([col.GROUP, "group_session"], dropna=False)
        at = np.asarray(meeting.ngroup(), dtype=np.intp)
        found = meeting["_day"].min().reset_index()
        found[col.DATE] = [None if pd.isna(d) else d.date() for d in found.pop("_day")]
        member = chosen.groupby([col.GROUP, col.CLIENT, col.EPISODE], dropna=False)
        of = np.asarray(member.ngroup(), dtype=np.intp)
        whose = member.size().reset_index()[[col.GROUP, col.CLIENT, col.EPISODE]]
        for level, column in _levels(chosen):
            values = chosen[column].to_numpy(np.float64)
            n, mean, sd = _moments(values, at, meeting.ngroups)
            ruptures = np.full(meeting.ngroups, np.nan)  # counted at a check-in's levels only
            if began is not None and level in LEVELS:
                ruptures = np.bincount(at, began[level].to_numpy(np.float64), meeting.ngroups)
            stats.append(
                found.assign(
                    measure=measure,
                    rater=rater,
                    level=level,
                    n=n,
                    mean=mean,
                    sd=sd,
                    ruptures=ruptures,
                )
            )
            value = _moments(values, of, member.ngroups)[1]
            members.append(whose.assign(measure=measure, rater=rater, level=level, value=value))
    return Meetings(
        rows,
        _frame(stats, [c for c in GROUP_COLUMNS if c not in ("icc1", "icc2")]),
        _frame(members, list(MEMBER_COLUMNS)),
    )


def _moments(
    values: npt.NDArray[np.float64], at: npt.NDArray[np.intp], bins: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per bin (`at`: each value's bin): how many values are not NaN, their mean and their SD
    (n - 1); NaN where there are too few. From exactly rounded sums (math.fsum), so a bin's
    numbers are the same whatever other rows are beside it and in whatever order: pandas'
    grouped sums differed in their last digits with the rows of other groups beside them."""
    kept = ~np.isnan(values)
    order = np.argsort(at[kept], kind="stable")
    x, where = values[kept][order], at[kept][order]
    n = np.bincount(where, minlength=bins)
    ends = np.cumsum(n)
    spans = list(zip((ends - n).tolist(), ends.tolist(), strict=True))
    listed = x.tolist()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.array([math.fsum(listed[a:b]) for a, b in spans], dtype=np.float64) / n
        deviations = ((x - mean[where]) ** 2).tolist()
        squares = np.array([math.fsum(deviations[a:b]) for a, b in spans], dtype=np.float64)
        sd = np.where(n > 1, np.sqrt(squares / np.maximum(n - 1, 1)), np.nan)
    return n, mean, sd


def _frame(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def groups_table(stats: pd.DataFrame, members: pd.DataFrame) -> pa.Table:
    """The `groups` table from every group's meetings (`meetings`): a level no member was
    rated on is left out, and each level's ICCs are found from every group's members."""
    level = [col.MEASURE, col.RATER, "level"]
    # Members in the order of a group-by of group, client and episode, so the ICCs' sums run
    # in the same order however the groups were split up.
    members = members.sort_values([*level, col.GROUP, col.CLIENT, col.EPISODE], kind="stable")
    by_level = dict(iter(members.groupby(level, dropna=False, sort=False)))
    found = []
    for key, s in stats.groupby(level, dropna=False, sort=False):
        if not s["n"].sum():
            continue
        icc1, icc2 = _icc(by_level[key])
        found.append(s.assign(icc1=icc1, icc2=icc2))
    table = _frame(found, list(GROUP_COLUMNS))
    table["group_session"] = table["group_session"].astype("int64")
    table["n"] = table["n"].astype("int64")
    table["mean"] = table["mean"].where(table["n"] > 0, math.nan)
    table["ruptures"] = table["ruptures"].astype("Int64")
    table = table.sort_values(
        [col.GROUP, col.MEASURE, col.RATER, "level", "group_session"], kind="stable"
    )
    return pa.Table.from_pandas(table, schema=GROUPS, preserve_index=False)


def group_rows(found: pd.DataFrame, at: npt.NDArray[np.intp], n: int) -> pa.Table:
    """GROUP_ROW for `n` rows, of which those at positions `at` are `found`'s (`meetings`) and
    the others name no group."""
    session = np.zeros(n, dtype=np.int64)
    session[at] = found["group_session"].to_numpy(dtype=np.int64)
    mean = np.full(n, np.nan)
    mean[at] = found["group_mean"].to_numpy(dtype=np.float64)
    check_in = np.zeros(n, dtype=np.bool_)
    check_in[at] = found["group_check_in"].to_numpy(dtype=np.bool_)
    rupture = np.zeros(n, dtype=np.bool_)
    rupture[at] = found["group_rupture"].to_numpy(dtype=np.bool_)
    subscale = np.full(n, None, dtype=object)
    subscale[at] = found["group_rupture_subscale"].to_numpy(dtype=object)
    unnamed = np.ones(n, dtype=np.bool_)
    unnamed[at] = False
    return pa.table(
        [
            pa.array(session, mask=unnamed),
            pa.array(mean, from_pandas=True),
            pa.array(check_in),
            pa.array(rupture),
            pa.array(subscale, type=pa.string(), from_pandas=True),
        ],
        schema=GROUP_ROW,
    )


def with_group_columns(sessions: pa.Table, rows: pa.Table | None = None) -> pa.Table:
    """`sessions` with group_session, group_mean and group_deviation (score - group_mean) from
    `rows` (GROUP_ROW, one per row), and a group check-in's ruptures in place of the
    individual rule's. Without `rows`, the same columns empty: the same columns whatever the
    batch, so an episode's rows read the same alone as beside a group."""
    if rows is None:
        empty = pa.nulls(sessions.num_rows, pa.float64())
        return (
            sessions.append_column("group_session", pa.nulls(sessions.num_rows, pa.int64()))
            .append_column("group_mean", empty)
            .append_column("group_deviation", empty)
        )
    # Null where the engine set no part beside a row (Spark's rows that name no group).
    check_in = pc.fill_null(rows.column("group_check_in"), False)
    for name in ("rupture", "rupture_subscale"):
        given = sessions.column(name)
        sessions = sessions.set_column(
            sessions.schema.get_field_index(name),
            name,
            pc.if_else(check_in, rows.column(f"group_{name}"), given),
        )
    mean = rows.column("group_mean")
    return (
        sessions.append_column("group_session", rows.column("group_session"))
        .append_column("group_mean", mean)
        .append_column("group_deviation", pc.subtract(sessions.column(col.SCORE), mean))
    )
