"""A member's self-care check-ins are theirs: no other member (administrators and supervisors
included) sees them, on any page, API endpoint, FHIR resource, export or audit entry; the
practice sees an aggregate only when five or more members take part; the member sees their
course beside their caseload's alliance, with kind prompts when an area falls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from signing_in import sign_in
from test_every_view import STAFF_VIEWS, _objects
from web_practice import Practice, member

from ally.web.actions.selfcare import SelfCareError, do_check_in, do_set_schedule
from ally.web.auditlog.models import AuditEntry
from ally.web.scoping import Role, scoped
from ally.web.selfcare.models import CheckIn
from ally.web.selfcare.readings import MIN_MEMBERS, fallen_areas, practice_aggregate

MARKER = "only-mine-7f3a9c"
"""The note of the clinician's check-in: found on their page, nowhere else."""


def _everything_another_member_can_open(practice: Practice) -> list[str]:
    objects = _objects(practice.own)
    urls = []
    for name, (target, _writes, _roles) in STAFF_VIEWS.items():
        kwargs: dict[str, Any] = {"org": "north"}
        if target is not None:
            kwargs["pk"] = objects[target]
        urls.append(reverse(name, kwargs=kwargs))
    episode = practice.own.pk
    urls += [
        "/api/o/north/episodes",
        f"/api/o/north/episodes/{episode}",
        f"/api/o/north/episodes/{episode}/feedback",
        f"/api/o/north/episodes/{episode}/administrations",
        f"/api/o/north/episodes/{episode}/goals",
        "/api/o/north/alerts",
        "/fhir/metadata",
        "/fhir/Questionnaire",
        "/fhir/QuestionnaireResponse",
        "/fhir/Observation",
        "/fhir/EpisodeOfCare",
        "/o/north/audit/export/?format=csv",
        "/o/north/research/?format=csv",
    ]
    return urls


def test_no_other_member_ever_sees_a_members_self_care_answers(practice: Practice) -> None:
    do_check_in(practice.clinician, [7, 3, 9, 1, 8, 2], note=MARKER)
    mine = Browser()
    sign_in(mine, practice.clinician.user)
    assert MARKER in mine.get("/o/north/self-care/").content.decode()
    urls = _everything_another_member_can_open(practice)
    for someone in (
        practice.admin,
        practice.supervisor,
        practice.researcher,
        practice.colleague,
        practice.outsider,
    ):
        browser = Browser()
        sign_in(browser, someone.user)
        for url in urls:
            response = browser.get(url)
            raw = b"".join(response.streaming_content) if response.streaming else response.content
            body = raw.decode(errors="replace")
            assert MARKER not in body, f"{someone.role} at {url}"
    # The audit entry names the member and the event, nothing of the check-in.
    entry = AuditEntry.objects.get(action="self_care.checked_in")
    assert (entry.target_type, entry.target_id) == ("self-care", "")
    # The scoping rules cannot list the rows at all.
    with pytest.raises(TypeError):
        scoped(CheckIn, practice.admin)


def test_the_practice_sees_an_aggregate_only_from_five_members(practice: Practice) -> None:
    now = timezone.now()
    members = [practice.admin, practice.supervisor, practice.clinician, practice.colleague]
    for k, someone in enumerate(members):
        do_check_in(someone, [5 + k % 2] * 6, now=now)
    assert practice_aggregate(practice.org, now).means is None
    admin = Browser()
    sign_in(admin, practice.admin.user)
    assert "Fewer than 5 members" in admin.get("/o/north/self-care/").content.decode()
    fifth = member(practice.org, Role.CLINICIAN, "fifth")
    do_check_in(fifth, [2] * 6, now=now)
    aggregate = practice_aggregate(practice.org, now)
    assert aggregate.members == MIN_MEMBERS
    assert aggregate.means is not None
    assert aggregate.means["energy"] == pytest.approx((5 + 6 + 5 + 6 + 2) / 5, abs=0.05)
    # A clinician, who does not see the dashboard, sees no aggregate either.
    clinician = Browser()
    sign_in(clinician, practice.clinician.user)
    assert "The practice, together" not in clinician.get("/o/north/self-care/").content.decode()


def test_a_fall_of_three_points_brings_a_kind_prompt(practice: Practice) -> None:
    start = timezone.now() - dt.timedelta(days=14)
    do_check_in(practice.clinician, [8, 7, 8, 7, 8, 7], now=start)
    do_check_in(practice.clinician, [4, 7, 8, 7, 8, 3], now=start + dt.timedelta(days=14))
    assert fallen_areas(list(CheckIn.objects.order_by("-answered_at"))) == ["energy", "own_care"]
    mine = Browser()
    sign_in(mine, practice.clinician.user)
    page = mine.get("/o/north/self-care/").content.decode()
    assert "Your energy is lower than last time" in page
    assert "less time for yourself than last time" in page


def test_the_member_chooses_a_schedule_and_sees_when_the_next_is_due(practice: Practice) -> None:
    do_set_schedule(practice.clinician, 14)
    mine = Browser()
    sign_in(mine, practice.clinician.user)
    # Due at once on a new schedule: the account menu says so on every page.
    assert "(check-in due)" in mine.get("/o/north/caseload/").content.decode()
    do_check_in(practice.clinician, [6] * 6, now=timezone.now())
    assert "(check-in due)" not in mine.get("/o/north/caseload/").content.decode()
    due = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
    assert f"due on {due}" in mine.get("/o/north/self-care/").content.decode()
    with pytest.raises(SelfCareError):
        do_set_schedule(practice.clinician, 3)


def test_proqol_is_scored_by_subscale_for_a_practice_that_holds_its_text(
    practice: Practice,
) -> None:
    """Stamm 2010: burnout items 1, 4, 15, 17, 29 reversed (6 - answer); subscales sum 10-50."""
    from ally.web.selfcare.readings import proqol_band

    answers = [5] * 30
    made = do_check_in(practice.clinician, answers, measure_id="proqol5")
    assert made.subscales["compassion_satisfaction"] == 50
    assert made.subscales["burnout"] == 5 * 5 + 5 * 1  # five reversed items score 1
    assert made.subscales["secondary_traumatic_stress"] == 50
    assert [proqol_band(22), proqol_band(23), proqol_band(41), proqol_band(42)] == [
        "low",
        "moderate",
        "moderate",
        "high",
    ]
