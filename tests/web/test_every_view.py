"""Every staff and client view, walked from the URL configuration: a view added without an
entry here fails the first test. For each, the roles and organisations that must not reach it
get a sign-in page, a 403 or a 404, and nothing is written."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.db import transaction
from django.test import Client as Browser
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from ipr_media import VTT, stored_recording
from signing_in import authenticator
from web_practice import Practice, member, sign_in

from ally.ipr.marks import Rater
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.ipr import do_attach_transcript, do_finish_review
from ally.web.alerts.models import Alert, AlertKind, SupportCheck, UsedSuggestion
from ally.web.apiclients.models import ApiClient
from ally.web.collect.models import Administration, MeasurementPlan, PlannedMeasure, Respondent
from ally.web.groups.models import GroupPlannedMeasure, GroupSchedule
from ally.web.ipr.models import Mark, Recording, Review
from ally.web.practice.models import (
    Attendance,
    CareTeamMember,
    Client,
    Episode,
    Group,
    GroupMember,
    Invitation,
    Membership,
    Organisation,
    Session,
)
from ally.web.privacy.models import ErasureRefusal
from ally.web.scoping import Role
from ally.web.selfcare.models import CheckIn, Schedule
from ally.web.sponsors.models import Sponsorship

READERS = frozenset({"admin", "supervisor", "researcher", "clinician"})
WRITERS = frozenset({"admin", "supervisor", "clinician"})
OVERSEERS = frozenset({"admin", "supervisor", "researcher"})
ADMINS = frozenset({"admin"})
RESEARCH_EXPORTERS = frozenset({"admin", "researcher"})
CARERS = frozenset({"admin", "clinician"})
"""Who may export a client's data for them: the practice's administrator, their clinician."""
PLAYERS = frozenset({"admin", "supervisor", "clinician"})
"""Who may hear a recording (researchers get its marks, de-identified)."""
REVIEWERS = frozenset({"clinician"})
"""Who reviews a recording as the clinician: its episode's clinicians only."""

# What each view's <pk> names, whether it changes data (POST), and the roles that may use it.
STAFF_VIEWS: dict[str, tuple[str | None, bool, frozenset[str]]] = {
    "clinic:home": (None, False, READERS),
    "clinic:caseload": (None, False, READERS),
    "clinic:client_new": (None, True, WRITERS),
    "clinic:episode_new": (None, True, WRITERS),
    "clinic:episode": ("episode", False, READERS),
    "clinic:episode_end": ("episode", True, WRITERS),
    "clinic:report": ("episode", False, READERS),
    "clinic:report_pdf": ("episode", False, READERS),
    "clinic:support_check_send": ("episode", True, WRITERS),
    "clinic:suggestions_used": ("episode", True, WRITERS),
    "clinic:care_team_add": ("episode", True, WRITERS),
    "clinic:care_team_change": ("care_team", True, WRITERS),
    "clinic:care_team_remove": ("care_team", True, WRITERS),
    "clinic:plan": ("episode", True, WRITERS),
    "clinic:plan_entry_remove": ("plan_entry", True, WRITERS),
    "clinic:session_new": ("episode", True, WRITERS),
    "clinic:session_status": ("session", True, WRITERS),
    "clinic:form": ("administration", False, WRITERS),
    "clinic:form_send": ("administration", True, WRITERS),
    "clinic:form_given": ("administration", True, WRITERS),
    "clinic:form_qr": ("administration", False, WRITERS),
    "clinic:form_rate": ("rating", True, WRITERS),
    "clinic:form_paper": ("administration", True, WRITERS),
    "clinic:form_answers": ("answered", False, READERS),
    "clinic:form_correct": ("answered", True, WRITERS),
    "clinic:alerts": (None, False, READERS),
    "clinic:alert_seen": ("alert", True, WRITERS),
    "clinic:alert_act": ("alert", True, WRITERS),
    "goals:episode": ("episode", True, READERS),
    # Recordings (tests/web/test_ipr.py): the client consented to research, so supervisors and
    # researchers reach this one; only roles that may play hear it, only its clinicians review.
    "ipr:session": ("session", True, READERS),
    "ipr:recording": ("recording", False, READERS),
    "ipr:review": ("recording", True, REVIEWERS),
    "ipr:media": ("recording", False, PLAYERS),
    "ipr:transcript": ("recording", False, PLAYERS),
    "ipr:transcript_attach": ("recording", True, REVIEWERS),
    "ipr:delete": ("recording", True, REVIEWERS),
    "ipr:eaf": ("recording", False, READERS),
    "ipr:marks_csv": (None, False, READERS),
    "endings:ending": ("episode", True, READERS),
    "sponsors:episode": ("episode", True, WRITERS),
    "dashboard:home": (None, False, OVERSEERS),
    "monitoring:model": (None, False, READERS),
    "monitoring:fit": (None, True, ADMINS),
    "auditlog:log": (None, False, ADMINS),
    "auditlog:export": (None, False, ADMINS),
    "privacy:client": ("client", False, CARERS),
    "privacy:export": ("client", False, CARERS),
    "privacy:erase": ("client", True, ADMINS),
    "privacy:refuse": ("client", True, ADMINS),
    "privacy:register": (None, False, ADMINS),
    "privacy:policy": (None, True, ADMINS),
    "members:list": (None, False, ADMINS),
    "profiles:practice": (None, True, ADMINS),
    "profiles:mine": (None, True, READERS),
    "selfcare:mine": (None, True, WRITERS),
    "selfcare:schedule": (None, True, WRITERS),
    "members:invite": (None, True, ADMINS),
    "members:practice": (None, True, ADMINS),
    "members:withdraw": ("invitation", True, ADMINS),
    "members:role": ("membership", True, ADMINS),
    "members:remove": ("membership", True, ADMINS),
    "members:unlock": ("membership", True, ADMINS),
    "members:reset_two_factor": ("membership", True, ADMINS),
    "members:sign_out": ("membership", True, ADMINS),
    "apiclients:list": (None, False, ADMINS),
    "apiclients:revoke": ("api_client", True, ADMINS),
    "research:export": (None, False, RESEARCH_EXPORTERS),
    "groups:list": (None, False, READERS),
    "groups:new": (None, True, WRITERS),
    "groups:group": ("group", False, READERS),
    "groups:schedule": ("group", True, WRITERS),
    "groups:member_add": ("group", True, WRITERS),
    "groups:plan_add": ("group", True, WRITERS),
    "groups:session_new": ("group", True, WRITERS),
    "groups:member_leave": ("group_member", True, WRITERS),
    # A group session's members and their forms: the leaders, and writers of the whole practice.
    "groups:session": ("group_session", False, WRITERS),
}
# Views outside an organisation: sign-in, the client's side (its own tests walk each state).
OPEN_VIEWS = {
    "home",
    # A fresh install's set-up and an invitation's link (tests/web/test_practice_members.py).
    "set_up",
    "invitation",
    # A practice's public page: anyone reads it (tests/web/test_public_page.py).
    "public_page",
    "login",
    "logout",
    # Signing in and a member's own account: each acts on the signed-in user only.
    "two_factor",
    "two_factor_setup",
    "recovery_codes",
    "security",
    "security_confirm",
    "security_email",
    "security_password",
    "security_recovery_codes",
    "security_authenticator",
    "sign_out_elsewhere",
    "end_device",
    "set_language",
    "respond:open",
    "respond:answer",
    "respond:saved",
    "respond:safety",
    "respond:done",
    # Where an API client trades its credentials for a token (tests/web/test_api_tokens.py).
    "oauth_token",
    # The client's goals, in a visit their link opened (tests/web/test_goals.py).
    "goals_client:goals",
    "goals_client:exercise",
    # The client's consent and review of a recording, in a visit its link opened (test_ipr.py).
    "ipr_client:open",
    "ipr_client:recording",
    "ipr_client:media",
    "ipr_client:transcript",
    # The client's end-of-therapy review, in a visit its link opened (tests/web/test_endings.py).
    "endings_client:review",
    # A coaching client's consent to their sponsor, and the sponsor's page, each walked in
    # tests/web/test_sponsors.py.
    "sponsor_client:consent",
    "sponsor_report",
}


def _names(patterns: list[Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in ("api", "fhir"):
                continue  # walked by the role tables of tests/web/test_api.py and test_fhir.py
            space = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= _names(pattern.url_patterns, space)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_view_has_an_entry_in_this_table() -> None:
    names = _names(get_resolver().url_patterns)
    assert names - set(STAFF_VIEWS) - OPEN_VIEWS == set(), "add the new views to STAFF_VIEWS"
    assert set(STAFF_VIEWS) - names == set()


def _objects(episode: Episode) -> dict[str, int]:
    session = Session.objects.create(
        organisation=episode.organisation, episode=episode, number=1, scheduled_at=timezone.now()
    )
    administration = do_create_administration(episode, "ally-alliance", session=session)
    plan = MeasurementPlan.objects.create(episode=episode)
    entry = PlannedMeasure.objects.create(plan=plan, measure_id="phq9", timing="before")
    rating = do_create_administration(
        episode, "ally-alliance", session=session, respondent=Respondent.CLINICIAN
    )
    alert = Alert.objects.create(
        episode=episode, kind=AlertKind.RUPTURE, message="m", raised_at=timezone.now()
    )
    # A group led by the episode's clinician, with the episode's client as a member.
    group = Group.objects.create(organisation=episode.organisation, label="Tuesday group")
    group.leaders.add(episode.clinician)
    place = GroupMember.objects.create(group=group, episode=episode, joined_on=episode.opened_on)
    group_session = Session.objects.create(
        organisation=episode.organisation, group=group, number=1, scheduled_at=timezone.now()
    )
    answered = do_create_administration(episode, "phq9", session=session)
    do_record_response(answered, [1] * 9, idempotency_key=f"every-view-{episode.pk}")
    recording = stored_recording(episode, scope="research")
    do_attach_transcript(recording, VTT, actor=episode.clinician)
    do_finish_review(recording, Rater.CLINICIAN, actor=episode.clinician)
    do_finish_review(recording, Rater.CLIENT, actor=None)
    organisation = episode.organisation
    teammate = member(organisation, Role.SUPERVISOR, f"team{episode.pk}")
    invited = Invitation.objects.create(
        organisation=organisation,
        email=f"new{episode.pk}@example.org",
        role=Role.CLINICIAN,
        created_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    return {
        "care_team": CareTeamMember.objects.create(episode=episode, member=teammate).pk,
        "invitation": invited.pk,
        "episode": episode.pk,
        "session": session.pk,
        "administration": administration.pk,
        "rating": rating.pk,
        "answered": answered.pk,
        "plan_entry": entry.pk,
        "alert": alert.pk,
        "recording": recording.pk,
        "group": group.pk,
        "group_member": place.pk,
        "group_session": group_session.pk,
        "client": episode.client_id,
        # A member of the episode's organisation: its clinician.
        "membership": episode.clinician_id,
        "api_client": ApiClient.objects.create(
            organisation=episode.organisation,
            name="Records bridge",
            scopes="episodes:read",
            reach="practice",
            registered_at=timezone.now(),
        ).pk,
    }


def _url(name: str, org: str, objects: dict[str, int]) -> str:
    target = STAFF_VIEWS[name][0]
    kwargs: dict[str, Any] = {"org": org}
    if target is not None:
        kwargs["pk"] = objects[target]
    return reverse(name, kwargs=kwargs)


def _writes() -> tuple[int, ...]:
    return (
        Episode.objects.count(),
        Session.objects.count(),
        Administration.objects.count(),
        PlannedMeasure.objects.count(),
        Alert.objects.filter(seen_at__isnull=False).count(),
        Client.objects.count(),
        ErasureRefusal.objects.count(),
        Organisation.objects.exclude(erasure_policy="").count(),
        TOTPDevice.objects.count(),
        AccessAttempt.objects.count(),
        SupportCheck.objects.count(),
        UsedSuggestion.objects.count(),
        ApiClient.objects.filter(revoked_at__isnull=False).count(),
        Recording.objects.filter(media_deleted_at__isnull=True, has_transcript=True).count(),
        Mark.objects.count(),
        Review.objects.filter(finished_at__isnull=False).count(),
        Group.objects.count(),
        GroupMember.objects.filter(left_on__isnull=False).count(),
        GroupSchedule.objects.count(),
        GroupPlannedMeasure.objects.count(),
        Attendance.objects.count(),
        CareTeamMember.objects.count(),
        CareTeamMember.objects.filter(receives_alerts=False).exclude(role="").count(),
        Membership.objects.filter(is_active=True).count(),
        Membership.objects.filter(role=Role.ADMIN).count(),
        Invitation.objects.count(),
        Invitation.objects.filter(withdrawn_at__isnull=False).count(),
        Organisation.objects.exclude(kind="therapy").count(),
        Sponsorship.objects.count(),
        Organisation.objects.exclude(offers="").count(),
        Membership.objects.filter(on_public_page=True).count(),
        CheckIn.objects.count(),
        Schedule.objects.count(),
    )


def _refused(method: str) -> set[int]:
    """A 404; a POST-only view answers every GET with 405, whichever object it names."""
    return {404, 405} if method == "get" else {404}


def _as(member: Any) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


@pytest.fixture
def objects(practice: Practice) -> dict[str, dict[str, int]]:
    # Authenticators made now, so that signing in during a test writes nothing.
    for someone in (
        practice.admin,
        practice.supervisor,
        practice.researcher,
        practice.clinician,
        practice.colleague,
        practice.outsider,
    ):
        authenticator(someone.user)
    return {
        "own": _objects(practice.own),
        "other": _objects(practice.other),
        "elsewhere": _objects(practice.elsewhere),
    }


@pytest.mark.parametrize("name", sorted(STAFF_VIEWS))
def test_signed_out_visitors_are_sent_to_sign_in(
    name: str, practice: Practice, objects: dict[str, dict[str, int]]
) -> None:
    before = _writes()
    for method in ("get", "post"):
        response = getattr(Browser(), method)(_url(name, "north", objects["own"]))
        assert response.status_code == 302, method
        assert response["Location"].startswith("/accounts/login/")
    assert _writes() == before


@pytest.mark.parametrize("name", sorted(STAFF_VIEWS))
def test_another_organisations_objects_and_urls_are_not_found(
    name: str, practice: Practice, objects: dict[str, dict[str, int]]
) -> None:
    before = _writes()
    target = STAFF_VIEWS[name][0]
    for method in ("get", "post"):
        # A member of the other practice, at this practice's address.
        response = getattr(_as(practice.outsider), method)(_url(name, "north", objects["own"]))
        assert response.status_code in _refused(method), f"outsider {method}"
        if target is not None:
            # This practice's administrator, with the other practice's object.
            url = _url(name, "north", objects["elsewhere"])
            response = getattr(_as(practice.admin), method)(url)
            assert response.status_code in _refused(method), f"admin {method} of elsewhere"
    assert _writes() == before


# Views on a member or an API client (not on a client's episode) are for administrators: a
# clinician gets 403.
@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, (t, _, _) in STAFF_VIEWS.items()
        if t and t not in {"membership", "api_client", "invitation"}
    ),
)
def test_a_clinician_does_not_reach_a_colleagues_episode(
    name: str, practice: Practice, objects: dict[str, dict[str, int]]
) -> None:
    before = _writes()
    for method in ("get", "post"):
        response = getattr(_as(practice.clinician), method)(_url(name, "north", objects["other"]))
        assert response.status_code in _refused(method), method
    assert _writes() == before


@pytest.mark.parametrize("name", sorted(n for n, (_, w, _) in STAFF_VIEWS.items() if w))
def test_a_researcher_changes_nothing(
    name: str, practice: Practice, objects: dict[str, dict[str, int]]
) -> None:
    before = _writes()
    response = _as(practice.researcher).post(_url(name, "north", objects["own"]), {"note": "x"})
    assert response.status_code == 403
    assert _writes() == before


ROLES_OF_THE_PRACTICE = ("admin", "supervisor", "researcher", "clinician")


@pytest.mark.parametrize("name", sorted(STAFF_VIEWS))
def test_each_role_of_the_practice_gets_exactly_the_views_its_role_allows(
    name: str, practice: Practice, objects: dict[str, dict[str, int]]
) -> None:
    """The role matrix: on the clinician's own episode, an allowed role reaches the view (a page,
    or 405 for a view that only takes POST), and any other role gets a 403."""
    allowed = STAFF_VIEWS[name][2]
    before = _writes()
    for role in ROLES_OF_THE_PRACTICE:
        response = _as(getattr(practice, role)).get(_url(name, "north", objects["own"]))
        expected = {200, 405} if role in allowed else {403}
        assert response.status_code in expected, f"{role}: {response.status_code}"
    assert _writes() == before


def _operation(method: str, path: str) -> str:
    """ "GET /api/o/{}/episodes/{}" for a spec path or a Django route alike."""
    path = re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)
    return f"{method.upper()} /{path.lstrip('/')}"


def test_every_api_operation_is_in_the_api_role_table(practice: Practice) -> None:
    """tests/web/test_api.py sends each operation of its ENDPOINTS table as every role and as
    another organisation's member; an operation missing from that table fails here."""
    from test_api import ENDPOINTS

    spec = Browser().get("/api/openapi.json").json()
    operations = {
        _operation(method, path)
        for path, methods in spec["paths"].items()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    }
    covered = set()
    for endpoint, _statuses in ENDPOINTS:
        with transaction.atomic():  # each builds its own rows; keep none
            call = endpoint(practice)
            transaction.set_rollback(True)
        covered.add(_operation(call.method, "/" + resolve(call.url.split("?")[0]).route))
    assert operations - covered == set(), "add these operations to test_api.ENDPOINTS"
    assert covered - operations == set()


def test_refusals_and_missing_pages_say_what_happened_and_lead_back(
    practice: Practice, settings: Any
) -> None:
    settings.DEBUG = False
    refused = _as(practice.researcher).get(_url("clinic:client_new", "north", {}))
    assert refused.status_code == 403
    assert "not open to your role" in refused.content.decode()
    assert 'href="/"' in refused.content.decode()
    missing = _as(practice.clinician).get("/o/north/episodes/999999/")
    assert missing.status_code == 404
    assert "Back to your start page" in missing.content.decode()
