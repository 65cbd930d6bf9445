"""The API's groups follow the group page's rules: members for the leaders, means for others."""

from __future__ import annotations

from django.test import Client as Browser

# The group of three with a rupture at its third session (fixtures are found by name).
from test_group_page import _as, group  # noqa: F401
from web_practice import Practice

from ally.web.practice.models import Group


def test_the_leader_gets_members_attendance_and_every_mean(
    practice: Practice,
    group: Group,  # noqa: F811
) -> None:
    browser = _as(practice.clinician)
    detail = browser.get(f"/api/o/north/groups/{group.pk}").json()
    assert sorted(m["client_code"] for m in detail["members"]) == ["N-001", "N-003", "N-010"]
    sessions = browser.get(f"/api/o/north/groups/{group.pk}/sessions").json()
    assert [s["attended"] for s in sessions] == [3, 3, 3]
    assert len(sessions[0]["attendance"]) == 3
    levels = browser.get(f"/api/o/north/groups/{group.pk}/levels").json()
    third = {m["scale"]: m for m in levels["means"] if m["session"] == 3}
    assert (third["members"]["n"], third["members"]["mean"]) == (2, 6.0)
    assert levels["smallest_shown"] == 1


def test_anyone_else_gets_no_members_and_no_mean_of_fewer_than_three(
    practice: Practice,
    group: Group,  # noqa: F811
) -> None:
    browser: Browser = _as(practice.researcher)
    assert browser.get(f"/api/o/north/groups/{group.pk}").json()["members"] is None
    sessions = browser.get(f"/api/o/north/groups/{group.pk}/sessions").json()
    assert all(s["attendance"] is None for s in sessions)
    levels = browser.get(f"/api/o/north/groups/{group.pk}/levels").json()
    third = {m["scale"]: m for m in levels["means"] if m["session"] == 3}
    assert third["members"] == {
        "session": 3,
        "scale": "members",
        "n": 2,
        "mean": None,
        "sd": None,
        "withheld": True,
    }
    first = {m["scale"]: m for m in levels["means"] if m["session"] == 1}
    assert first["leader"]["n"] == 3
    assert first["leader"]["mean"] == 8.0
