"""Erasure (GDPR Art. 17): an administrator erases a client, and nothing about them stays
readable, in this database or in an older copy once the erasure register is applied to it; or
the practice refuses on a documented exemption, recorded with its reason."""

from __future__ import annotations

import datetime as dt
import json
import stat
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, database_text, sign_in

from ally.web.actions.alerts import do_act_on_alert, do_mark_alert_seen
from ally.web.actions.answers import do_amend_response, do_create_administration, do_record_response
from ally.web.actions.practice import (
    do_add_care_team_member,
    do_add_planned_measure,
    do_create_client_with_episode,
    do_record_session_status,
    do_schedule_session,
)
from ally.web.actions.privacy import do_refuse_erasure
from ally.web.alerts.models import Alert
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.clinic.episodes import draw_charts
from ally.web.collect.models import (
    Administration,
    Amendment,
    ImmutableRecordError,
    MeasurementPlan,
    PlannedMeasure,
    Response,
)
from ally.web.monitoring.models import ChartDrawing, EpisodeFeedback, SessionFeedback
from ally.web.practice.models import (
    Attendance,
    CareTeamMember,
    Client,
    ClientIdentity,
    Episode,
    Group,
    GroupMember,
    Membership,
    Session,
)
from ally.web.privacy.erasure import erasure_register, erasures_on_file, reapply_erasures
from ally.web.privacy.models import ClientKey, ErasureRecord, ErasureRefusal
from ally.web.respond.links import signed_token

NAME, EMAIL, PHONE = "Ottilie Brandstetter", "ottilie.b@example.net", "+44 20 7946 0958"
DETAILS = (NAME, EMAIL, PHONE, "Brandstetter", "ottilie.b")
CODE = "E-001"

ABOUT_A_CLIENT = (
    Client,
    ClientIdentity,
    ClientKey,
    Episode,
    CareTeamMember,
    MeasurementPlan,
    PlannedMeasure,
    Session,
    Administration,
    Response,
    Amendment,
    Alert,
    SessionFeedback,
    EpisodeFeedback,
    ChartDrawing,
    GroupMember,
    Attendance,
    ErasureRefusal,
)
"""Every kind of row the erased client has; the fixture makes at least one of each."""


@dataclass
class Erasable:
    client: Client
    episode: Episode
    group_session: Session
    visit: Browser
    """A browser holding the client's visit (a session with a draft of answers)."""


def rows_of(client: Client) -> dict[str, int]:
    """How many rows of each kind are the client's."""
    episodes = Episode.objects.filter(client=client)
    return {
        "Client": Client.objects.filter(pk=client.pk).count(),
        "ClientIdentity": ClientIdentity.objects.filter(client=client).count(),
        "ClientKey": ClientKey.objects.filter(client=client).count(),
        "Episode": episodes.count(),
        "CareTeamMember": CareTeamMember.objects.filter(episode__in=episodes).count(),
        "MeasurementPlan": MeasurementPlan.objects.filter(episode__in=episodes).count(),
        "PlannedMeasure": PlannedMeasure.objects.filter(plan__episode__in=episodes).count(),
        "Session": Session.objects.filter(episode__in=episodes).count(),
        "Administration": Administration.objects.filter(episode__in=episodes).count(),
        "Response": Response.objects.filter(administration__episode__in=episodes).count(),
        "Amendment": Amendment.objects.filter(
            response__administration__episode__in=episodes
        ).count(),
        "Alert": Alert.objects.filter(episode__in=episodes).count(),
        "SessionFeedback": SessionFeedback.objects.filter(episode__in=episodes).count(),
        "EpisodeFeedback": EpisodeFeedback.objects.filter(episode__in=episodes).count(),
        "ChartDrawing": ChartDrawing.objects.filter(episode__in=episodes).count(),
        "GroupMember": GroupMember.objects.filter(episode__in=episodes).count(),
        "Attendance": Attendance.objects.filter(episode__in=episodes).count(),
        "ErasureRefusal": ErasureRefusal.objects.filter(client=client).count(),
    }


def all_rows() -> dict[str, int]:
    return {model.__name__: model._base_manager.count() for model in ABOUT_A_CLIENT}


@pytest.fixture
def erasable(practice: Practice) -> Erasable:
    """A client with a row of every kind: episode, care team, plan, sessions (one a group's),
    forms, answers and their correction, alerts seen and acted on, feedback, a refusal of an
    earlier request for erasure, and an open visit from their link."""
    admin, clinician = practice.admin, practice.clinician
    episode = do_create_client_with_episode(
        practice.org,
        CODE,
        name=NAME,
        email=EMAIL,
        phone=PHONE,
        clinician=clinician,
        opened_on=dt.date(2026, 1, 5),
        actor=admin,
    )
    do_add_care_team_member(episode, practice.colleague, "co-therapist", actor=admin)
    do_add_planned_measure(episode, "phq9", respondent="client", timing="before", actor=clinician)
    session = do_schedule_session(episode, timezone.now() - dt.timedelta(days=1), actor=clinician)
    do_record_session_status(session, "attended", actor=clinician)
    answered = do_create_administration(episode, "phq9", session=session)
    response = do_record_response(answered, PHQ9_ITEM9, idempotency_key="erasable-1")
    do_amend_response(response, PHQ9_MILD, "Typed in wrongly from paper.", clinician)
    alert = Alert.objects.get(response=response)
    do_mark_alert_seen(alert, clinician)
    do_act_on_alert(alert, clinician, "Called the client; safety plan reviewed.")
    now = timezone.now()
    # Feedback of known values in place of what the answer's refresh computed.
    SessionFeedback.objects.filter(episode=episode).delete()
    EpisodeFeedback.objects.filter(episode=episode).delete()
    SessionFeedback.objects.create(
        episode=episode, measure_id="phq9", rater="client", session_number=1, score=9,
        computed_at=now,
    )  # fmt: skip
    EpisodeFeedback.objects.create(
        episode=episode, measure_id="phq9", rater="client", sessions=1, first_session=1,
        last_session=1, first_score=9, last_score=9, computed_at=now,
    )  # fmt: skip
    draw_charts(episode.pk)
    group = Group.objects.create(organisation=practice.org, label="Tuesday group")
    GroupMember.objects.create(group=group, episode=episode, joined_on=dt.date(2026, 1, 6))
    GroupMember.objects.create(group=group, episode=practice.own, joined_on=dt.date(2026, 1, 6))
    group_session = Session.objects.create(
        organisation=practice.org, group=group, clinician=clinician, scheduled_at=now
    )
    Attendance.objects.create(session=group_session, episode=episode, status="attended")
    Attendance.objects.create(session=group_session, episode=practice.own, status="attended")
    do_refuse_erasure(
        episode.client, "legal_obligation", "Records kept 10 years by law.", actor=admin
    )
    # The client opens their next form: the visit (and later a draft) sits in Django's sessions.
    waiting = do_create_administration(episode, "phq9", session=session)
    visit = Browser()
    opened = visit.get(reverse("respond:open", kwargs={"signed": signed_token(waiting)}))
    assert opened.status_code == 302
    return Erasable(episode.client, episode, group_session, visit)


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def erase_url(client: Client, name: str = "erase") -> str:
    return reverse(f"privacy:{name}", kwargs={"org": "north", "pk": client.pk})


def readable_details() -> set[str]:
    """Every name, email and phone that any identity row still opens to."""
    found = set()
    for identity in ClientIdentity.objects.all():
        found |= {identity.name, identity.email, identity.phone}
    return found


def assert_nothing_readable_about_the_client(client_pk: int) -> None:
    text = database_text()
    for value in DETAILS:
        assert value not in text, value
    assert not ClientKey.objects.filter(client_id=client_pk).exists()
    assert not set(DETAILS) & readable_details()


def test_the_fixture_has_every_kind_of_row_and_the_details_are_readable(
    erasable: Erasable,
) -> None:
    counts = rows_of(erasable.client)
    assert all(counts.values()), counts
    assert {NAME, EMAIL, PHONE} <= readable_details()


def test_an_administrator_erases_a_client_and_nothing_about_them_stays_readable(
    practice: Practice, erasable: Erasable
) -> None:
    client = erasable.client
    theirs, before = rows_of(client), all_rows()
    browser = browser_for(practice.admin)
    page = browser.get(erase_url(client))
    assert page.status_code == 200
    assert "What will be deleted" in page.content.decode()

    response = browser.post(erase_url(client), {"code": CODE})

    assert response.status_code == 302
    assert response["Location"] == reverse("privacy:register", kwargs={"org": "north"})
    assert all(count == 0 for count in rows_of(client).values())
    # Exactly the client's rows went: the other clients', the group and its session stayed.
    after = all_rows()
    assert {name: before[name] - after[name] for name in before} == theirs
    assert Session.objects.filter(pk=erasable.group_session.pk).exists()
    assert Attendance.objects.filter(episode=practice.own).exists()
    assert ClientIdentity.objects.get(client=practice.own.client).name == "Name of N-001"
    assert_nothing_readable_about_the_client(client.pk)
    connection.check_constraints()  # no row points at a deleted one


def test_the_erasure_is_registered_and_audited_by_keys_only(
    practice: Practice, erasable: Erasable
) -> None:
    client = erasable.client
    browser_for(practice.admin).post(erase_url(client), {"code": CODE})
    record = ErasureRecord.objects.get()
    assert (record.organisation, record.client_id, record.erased_by) == (
        practice.org,
        client.pk,
        practice.admin,
    )
    assert record.client_created_at == client.created_at
    erased = AuditEntry.objects.get(action="client.erased")
    assert (erased.target_type, erased.target_id, erased.actor_id) == (
        "practice.Client",
        str(client.pk),
        practice.admin.pk,
    )
    # The entries about the client's rows are kept (they hold keys only) and the chain holds.
    assert AuditEntry.objects.filter(action="response.recorded").exists()
    assert verify().holds
    page = browser_for(practice.admin).get(reverse("privacy:register", kwargs={"org": "north"}))
    assert f"<td>{client.pk}</td>" in page.content.decode()


def test_the_clients_visit_and_its_drafts_are_erased_too(
    practice: Practice, erasable: Erasable
) -> None:
    from django.contrib.sessions.models import Session as StoredSession

    visit = erasable.visit
    assert visit.get("/a/").status_code == 200
    assert StoredSession.objects.filter(session_key=visit.session.session_key).exists()
    browser_for(practice.admin).post(erase_url(erasable.client), {"code": CODE})
    assert not StoredSession.objects.filter(session_key=visit.session.session_key).exists()


def test_erasing_needs_the_clients_code_typed(practice: Practice, erasable: Erasable) -> None:
    browser = browser_for(practice.admin)
    for data, message in (({"code": "E-002"}, "This is not the client"), ({}, "required")):
        response = browser.post(erase_url(erasable.client), data)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert all(rows_of(erasable.client).values())


@pytest.mark.parametrize("role", ["clinician", "supervisor", "researcher"])
def test_only_administrators_erase(practice: Practice, erasable: Erasable, role: str) -> None:
    browser = browser_for(getattr(practice, role))
    assert browser.get(erase_url(erasable.client)).status_code == 403
    assert browser.post(erase_url(erasable.client), {"code": CODE}).status_code == 403
    assert all(rows_of(erasable.client).values())


def test_another_organisations_administrator_finds_no_client(
    practice: Practice, erasable: Erasable
) -> None:
    from web_practice import member

    from ally.web.scoping import Role

    far_admin = member(practice.elsewhere.organisation, Role.ADMIN, "admin")
    browser = browser_for(far_admin)
    url = reverse("privacy:erase", kwargs={"org": "south", "pk": erasable.client.pk})
    assert browser.post(url, {"code": CODE}).status_code == 404
    assert browser.post(erase_url(erasable.client), {"code": CODE}).status_code == 404
    assert all(rows_of(erasable.client).values())


def test_the_command_erases_a_client(erasable: Erasable) -> None:
    out = StringIO()
    call_command("erase_client", "north", CODE, "--no-input", stdout=out)
    assert f"Client {CODE} of north erased" in out.getvalue()
    assert ErasureRecord.objects.get().erased_by is None
    assert_nothing_readable_about_the_client(erasable.client.pk)


def test_the_command_names_an_unknown_client(erasable: Erasable) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No client with code 'E-999' in organisation 'north'"):
        call_command("erase_client", "north", "E-999", "--no-input", stdout=StringIO())


def test_stored_answers_still_refuse_deletion_outside_erasure(erasable: Erasable) -> None:
    with pytest.raises(ImmutableRecordError):
        Response.objects.filter(administration__episode=erasable.episode).delete()
    with pytest.raises(ImmutableRecordError):
        Response.objects.filter(administration__episode=erasable.episode).first().delete()


# --- the register and older copies of the database ----------------------------------------------


def copy_of_database() -> list[dict[str, Any]]:
    """Every row of every table, as a backup taken now would hold them."""
    rows: list[dict[str, Any]] = []
    for model in apps.get_models():
        if model._meta.managed and not model._meta.proxy:
            rows += serializers.serialize("python", model._base_manager.order_by("pk"))
    return rows


def restore(copy: list[dict[str, Any]]) -> None:
    """Replace every row with the copy's, as restoring that backup would."""
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    for row in serializers.deserialize("python", copy):
        row.save()


def test_an_older_copy_of_the_database_is_unreadable_once_the_register_is_applied(
    practice: Practice, erasable: Erasable, django_capture_on_commit_callbacks: Any
) -> None:
    client = erasable.client
    older = copy_of_database()
    with django_capture_on_commit_callbacks(execute=True):
        browser_for(practice.admin).post(erase_url(client), {"code": CODE})
    register = erasure_register()
    assert register == erasures_on_file()
    assert [(r["organisation"], r["client"]) for r in register] == [(practice.org.pk, client.pk)]

    restore(older)
    # The older copy holds the client, readable: it is what the register must deal with.
    assert ClientIdentity.objects.get(client_id=client.pk).name == NAME
    assert not ErasureRecord.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert reapply_erasures(register) == 1
    assert all(count == 0 for count in rows_of(client).values())
    assert_nothing_readable_about_the_client(client.pk)
    assert erasure_register() == register  # the record is back in this database too
    assert len(erasures_on_file()) == 1  # and not written twice to the file
    assert reapply_erasures(register) == 0
    assert AuditEntry.objects.filter(action="client.erasure_reapplied").count() == 1
    assert verify().holds
    connection.check_constraints()


def test_the_register_in_the_data_folder_survives_the_database(
    practice: Practice, erasable: Erasable, settings, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("erase_client", "north", CODE, "--no-input", stdout=StringIO())
    path = settings.ALLY_DATA_DIR / "erasures.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = path.read_text().splitlines()
    entry = json.loads(line)
    assert set(entry) == {"organisation", "client", "client_created_at", "erased_at", "erased_by"}
    for value in (*DETAILS, CODE):
        assert value not in line


def test_a_client_created_later_under_the_same_key_is_left_alone(erasable: Erasable) -> None:
    client = erasable.client
    record = {
        "organisation": client.organisation_id,
        "client": client.pk,
        "client_created_at": (client.created_at - dt.timedelta(days=3)).isoformat(),
        "erased_at": timezone.now().isoformat(),
        "erased_by": None,
    }
    assert reapply_erasures([record]) == 0
    assert all(rows_of(client).values())


def test_a_broken_register_record_is_refused_with_its_position(erasable: Erasable) -> None:
    from ally.web.privacy.erasure import ErasureRegisterError

    good = {
        "organisation": 1,
        "client": 999,
        "client_created_at": "2026-01-01T00:00:00+00:00",
        "erased_at": "2026-01-02T00:00:00+00:00",
        "erased_by": None,
    }
    with pytest.raises(ErasureRegisterError, match="record 2 lacks client"):
        reapply_erasures([good, {k: v for k, v in good.items() if k != "client"}])
    assert all(rows_of(erasable.client).values())


# --- refusals and the policy --------------------------------------------------------------------


def test_a_refusal_is_recorded_with_its_exemption_and_reason_and_audited(
    practice: Practice, erasable: Erasable
) -> None:
    browser = browser_for(practice.admin)
    url = erase_url(erasable.client, "refuse")
    response = browser.post(
        url, {"exemption": "legal_claims", "reason": "A complaint is open until 2027."}
    )
    assert response.status_code == 302
    refusal = ErasureRefusal.objects.filter(exemption="legal_claims").get()
    assert (refusal.decided_by, refusal.reason) == (
        practice.admin,
        "A complaint is open until 2027.",
    )
    entry = AuditEntry.objects.filter(action="client.erasure_refused").last()
    assert entry.target_id == str(refusal.pk)
    page = browser.get(erase_url(erasable.client, "client")).content.decode()
    assert "A complaint is open until 2027." in page
    assert all(rows_of(erasable.client).values())


def test_a_refusal_without_a_reason_is_refused_with_a_message(
    practice: Practice, erasable: Erasable
) -> None:
    before = ErasureRefusal.objects.count()
    response = browser_for(practice.admin).post(
        erase_url(erasable.client, "refuse"), {"exemption": "legal_claims", "reason": "  "}
    )
    assert response.status_code == 400
    assert "Nothing was saved yet" in response.content.decode()
    assert ErasureRefusal.objects.count() == before


def test_the_practice_documents_its_erasure_policy(practice: Practice) -> None:
    browser = browser_for(practice.admin)
    url = reverse("privacy:policy", kwargs={"org": "north"})
    text = "Records are kept 10 years after the last session (Art. 17(3)(b))."
    assert browser.post(url, {"policy": text}).status_code == 302
    practice.org.refresh_from_db()
    assert practice.org.erasure_policy == text
    assert AuditEntry.objects.filter(action="organisation.erasure_policy").exists()
    page = browser.get(erase_url(practice.own.client, "client")).content.decode()
    assert "Records are kept 10 years" in page
    assert browser_for(practice.supervisor).post(url, {"policy": "x"}).status_code == 403
