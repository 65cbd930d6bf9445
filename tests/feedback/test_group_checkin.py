"""The group check-in, level by level: ruptures, group means with n, and drift."""

from __future__ import annotations

import pytest

from ally.feedback.alliance import ruptures_in_series
from ally.feedback.group_checkin import (
    SMALLEST_SHOWN,
    CheckIn,
    drifting,
    level_ruptures,
    member_series,
    session_means,
)


def test_a_fall_at_one_level_is_a_rupture_by_the_individual_alliance_rule() -> None:
    series = {"leader": [8, 8, 8, 8], "members": [7, 7, 5, 5], "group": [6, None, 6, 6]}
    found = level_ruptures(series)
    # Strauss et al. 2006 (the default): a drop of 15% from the previous rated session.
    assert found["members"].ruptures == (2,)
    assert found["members"] == ruptures_in_series([7, 7, 5, 5])
    assert found["leader"].ruptures == ()
    assert found["group"].ruptures == ()


def test_group_means_carry_their_n_and_are_withheld_below_the_smallest_shown() -> None:
    checkins = [
        CheckIn(1, 1, {"group": 6.0}),
        CheckIn(2, 1, {"group": 8.0}),
        CheckIn(3, 1, {"group": 7.0}),
        CheckIn(1, 2, {"group": 5.0}),
        CheckIn(2, 2, {"group": None}),
        CheckIn(3, 2, {"group": 9.0}),
    ]
    first, second = session_means(checkins, ["group"])
    assert (first.n, first.mean, first.sd) == (3, 7.0, pytest.approx(1.0))
    assert (second.n, second.mean) == (2, 7.0)
    shown = session_means(checkins, ["group"], smallest=SMALLEST_SHOWN)
    assert shown[0].mean == 7.0
    assert (shown[1].n, shown[1].mean, shown[1].suppressed) == (2, None, True)


def test_a_member_drifting_from_a_group_that_holds_is_found() -> None:
    group = {1: [7, 7, 7, 7], 2: [6, 6, 6, 6], 3: [8, 8, 8, 4]}
    checkins = [
        CheckIn(m, s + 1, {"group": v}) for m, values in group.items() for s, v in enumerate(values)
    ]
    (drift,) = drifting(checkins)
    assert (drift.member, drift.session) == (3, 4)
    assert drift.member_change == pytest.approx(-4.0)  # 4 - 6.5 now, 8 - 6.5 before
    assert drift.group_change == pytest.approx(0.0)


def test_a_member_falling_with_the_whole_group_is_not_drifting() -> None:
    group = {1: [7, 7, 7, 4], 2: [6, 6, 6, 3], 3: [8, 8, 8, 5]}
    checkins = [
        CheckIn(m, s + 1, {"group": v}) for m, values in group.items() for s, v in enumerate(values)
    ]
    assert drifting(checkins) == []


def test_a_members_series_follows_the_group_sessions_they_answered() -> None:
    checkins = [CheckIn(1, 3, {"leader": 5.0}), CheckIn(1, 1, {"leader": 7.0}), CheckIn(2, 2, {})]
    sessions, series = member_series(checkins, 1)
    assert sessions == [1, 3]
    assert series["leader"] == [7.0, 5.0]
