"""Ending an episode closes its forms (issue 19, finding 3; hazard H12): a later session's at
once, the last session's after ALLY_ENDED_GRACE_HOURS; every write path refuses answers outside
that rule, the API with a 409; a critical answer given within the grace reaches the caseload."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, sign_in

from ally.web.actions.alerts import do_act_on_alert, do_mark_alert_seen
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.practice import do_end_episode
from ally.web.alerts.models import Alert
from ally.web.collect.errors import EpisodeEndedError
from ally.web.collect.models import Administration, AdministrationStatus, Response
from ally.web.collect.models.administrations import answers_close_at
from ally.web.practice.models import Episode, Session
from ally.web.respond.links import signed_token

MILD = {str(number): answer for number, answer in enumerate(PHQ9_MILD, start=1)}


def _session(practice: Practice, number: int, at: dt.datetime) -> Session:
    return Session.objects.create(
        organisation=practice.org, episode=practice.own, number=number, scheduled_at=at
    )


def _form(practice: Practice, session: Session | None = None) -> Administration:
    return do_create_administration(practice.own, "phq9", session=session, timing="before")


def _end_today(practice: Practice) -> Episode:
    return do_end_episode(practice.own, timezone.localdate(), "planned", actor=practice.clinician)


def _api(practice: Practice) -> Client:
    browser = Client()
    sign_in(browser, practice.clinician.user)
    return browser


def _answer_by_api(browser: Client, administration: Administration, key: str) -> object:
    return browser.post(
        f"/api/o/north/administrations/{administration.pk}/responses",
        data=json.dumps({"answers": MILD}),
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


def test_ending_closes_the_forms_of_later_sessions_at_once(practice: Practice) -> None:
    later = _form(practice, _session(practice, 2, timezone.now() + dt.timedelta(days=3)))
    _end_today(practice)
    later.refresh_from_db()
    assert later.status == AdministrationStatus.EXPIRED
    page = Client().get(reverse("respond:open", kwargs={"signed": signed_token(later)}))
    assert page.status_code == 410
    assert "This questionnaire has closed" in page.content.decode()


def test_the_last_sessions_forms_close_when_the_grace_after_the_last_day_runs_out(
    practice: Practice,
) -> None:
    last = _form(practice, _session(practice, 1, timezone.now()))
    episode = _end_today(practice)
    closes = answers_close_at(episode)
    last.refresh_from_db()
    assert last.status != AdministrationStatus.EXPIRED
    assert last.expires_at == closes
    end_of_day = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time.min)
    )
    assert closes == end_of_day + dt.timedelta(hours=settings.ALLY_ENDED_GRACE_HOURS)
    with pytest.raises(EpisodeEndedError, match="episode has ended"):
        do_record_response(last, PHQ9_MILD, idempotency_key="late", now=closes)
    do_record_response(
        last, PHQ9_MILD, idempotency_key="in-time", now=closes - dt.timedelta(minutes=1)
    )


def test_the_client_link_takes_the_last_sessions_answers_within_the_grace(
    practice: Practice,
) -> None:
    last = _form(practice, _session(practice, 1, timezone.now()))
    _end_today(practice)
    browser = Client()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(last)}))
    page = browser.get("/a/")
    data = {"administration": str(last.pk), "key": page.context["key"], "action": "submit"}
    data |= {f"item_{n}": str(v) for n, v in enumerate(PHQ9_ITEM9, start=1)}
    assert browser.post("/a/", data).status_code == 302
    assert Response.objects.filter(administration=last).count() == 1


def test_an_episode_ended_without_closing_its_forms_still_refuses_answers(
    practice: Practice,
) -> None:
    """The write path's own check, for forms an older Ally left open (or a restore brought)."""
    open_form = _form(practice)
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=timezone.localdate() - dt.timedelta(days=10), end_reason="planned"
    )
    with pytest.raises(EpisodeEndedError):
        do_record_response(open_form, PHQ9_MILD, idempotency_key="after")
    reply = _answer_by_api(_api(practice), open_form, "after")
    assert reply.status_code == 409
    assert "episode has ended" in reply.json()["detail"]
    assert not Response.objects.exists()


def test_a_retry_of_an_answer_stored_before_the_ending_is_answered_as_before(
    practice: Practice,
) -> None:
    form = _form(practice)
    browser = _api(practice)
    first = _answer_by_api(browser, form, "sent-once")
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=timezone.localdate() - dt.timedelta(days=10), end_reason="planned"
    )
    again = _answer_by_api(browser, form, "sent-once")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Response.objects.count() == 1


def test_the_api_creates_no_form_on_an_ended_episode(practice: Practice) -> None:
    _end_today(practice)
    reply = _api(practice).post(
        f"/api/o/north/episodes/{practice.own.pk}/administrations",
        data=json.dumps({"measure_id": "phq9"}),
        content_type="application/json",
    )
    assert reply.status_code == 409
    assert "takes no new questionnaires" in reply.json()["detail"]
    # Only the planned ending's own review was made (tests/web/test_endings.py).
    made = Administration.objects.filter(episode=practice.own)
    assert list(made.values_list("measure_id", flat=True)) == ["ally-review"]


def test_a_form_created_without_a_session_expires_after_the_link_hours(
    practice: Practice,
) -> None:
    before = timezone.now()
    reply = _api(practice).post(
        f"/api/o/north/episodes/{practice.own.pk}/administrations",
        data=json.dumps({"measure_id": "phq9"}),
        content_type="application/json",
    )
    assert reply.status_code == 201
    form = Administration.objects.get(pk=reply.json()["id"])
    hours = dt.timedelta(hours=settings.ALLY_LINK_HOURS)
    assert form.expires_at is not None
    assert before + hours <= form.expires_at <= timezone.now() + hours


def test_a_critical_answer_after_the_ending_keeps_the_episode_on_the_default_caseload(
    practice: Practice,
) -> None:
    last = _form(practice, _session(practice, 1, timezone.now()))
    _end_today(practice)
    do_record_response(last, PHQ9_ITEM9, idempotency_key="item-9")
    browser = Client()
    sign_in(browser, practice.clinician.user)
    caseload = reverse("clinic:caseload", kwargs={"org": "north"})
    assert "N-001" in browser.get(caseload).content.decode()
    alert = Alert.objects.get(episode=practice.own, kind="critical_item")
    do_mark_alert_seen(alert, practice.clinician)
    do_act_on_alert(alert, practice.clinician, "Called the client; safety plan agreed.")
    assert "N-001" not in browser.get(caseload).content.decode()
