"""What the staff forms offer: who may lead a session or hold an episode, and which measures a
client can be asked to answer."""

from __future__ import annotations

import re

import pytest
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.collect.models import PlannedMeasure
from ally.web.practice.models import CareTeamMember, Membership, Session


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def url(name: str, **kwargs: object) -> str:
    return reverse(f"clinic:{name}", kwargs={"org": "north", **kwargs})


def options(page: str, select: str) -> list[str]:
    """The values offered by the select named `select` on the page."""
    found = re.search(rf'<select name="{select}".*?</select>', page, re.S)
    assert found, f"no select named {select}"
    return re.findall(r'<option value="([^"]*)"', found.group(0))


@pytest.mark.parametrize(
    ("page", "select"),
    [("session_new", "clinician"), ("care_team_add", "member"), ("client_new", "clinician")],
)
def test_only_members_who_lead_sessions_are_offered(
    practice: Practice, page: str, select: str
) -> None:
    kwargs = {} if page == "client_new" else {"pk": practice.own.pk}
    html = browser_for(practice.admin).get(url(page, **kwargs)).content.decode()
    offered = {int(v) for v in options(html, select) if v}
    # Clinicians and supervisors lead sessions; an administrator runs the practice, and a
    # researcher only reads it.
    assert practice.colleague.pk in offered
    assert practice.supervisor.pk in offered
    assert practice.admin.pk not in offered
    assert practice.researcher.pk not in offered


def test_an_administrator_is_refused_as_a_session_leader_or_care_team_member(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    session = browser.post(
        url("session_new", pk=practice.own.pk),
        {"scheduled_at": "2030-04-02T10:00", "clinician": practice.admin.pk},
    )
    assert session.status_code == 400
    assert not Session.objects.filter(episode=practice.own).exists()
    team = browser.post(url("care_team_add", pk=practice.own.pk), {"member": practice.admin.pk})
    assert team.status_code == 400
    assert not CareTeamMember.objects.filter(episode=practice.own).exists()


def test_an_episode_led_by_an_administrator_keeps_them_as_the_default_leader(
    practice: Practice,
) -> None:
    """An episode from before this rule, held by an administrator, still schedules its
    sessions with its own clinician."""
    practice.own.clinician = practice.admin
    practice.own.save()
    html = browser_for(practice.supervisor).get(url("session_new", pk=practice.own.pk))
    found = re.search(r'<select name="clinician".*?</select>', html.content.decode(), re.S)
    assert found
    assert f'<option value="{practice.admin.pk}" selected>' in found.group(0)


def test_the_plan_groups_measures_by_whether_clients_can_answer_them(practice: Practice) -> None:
    html = browser_for(practice.clinician).get(url("plan", pk=practice.own.pk)).content.decode()
    groups = dict(
        re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', html, re.S),
    )
    assert set(groups) == {"Clients can answer", "Questions not installed: only your own rating"}
    answerable = re.findall(r'value="([^"]+)"', groups["Clients can answer"])
    not_installed = re.findall(
        r'value="([^"]+)"', groups["Questions not installed: only your own rating"]
    )
    # PHQ-9 and GAD-7 ship their questions; the SRS, ORS and WAI-SR licences do not allow it.
    assert {"phq9", "gad7", "ally-alliance"} <= set(answerable)
    assert {"srs", "ors", "wai-sr"} <= set(not_installed)
    assert not set(answerable) & set(not_installed)


def test_a_client_rating_of_a_measure_without_questions_is_refused_with_what_to_do(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    entry = {"measure": "srs", "respondent": "client", "timing": "after", "first_session": "1"}
    entry["every"] = "1"
    response = browser.post(url("plan", pk=practice.own.pk), entry)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Clients cannot answer Session Rating Scale (SRS 3.0)" in page
    assert "Choose a measure under “Clients can answer”" in page
    assert not PlannedMeasure.objects.filter(plan__episode=practice.own).exists()
    # As the clinician's own rating it is planned.
    rated = browser.post(url("plan", pk=practice.own.pk), {**entry, "respondent": "clinician"})
    assert rated.status_code == 302
