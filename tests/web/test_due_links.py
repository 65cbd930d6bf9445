"""The scheduled job: due links are sent once, reminded once, and old forms expire."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone
from web_practice import Practice

from ally.web.actions.answers import do_create_administration
from ally.web.collect.due import send_due_links
from ally.web.collect.models import Administration, AdministrationStatus, Timing
from ally.web.practice.models import ClientIdentity, Session, SessionStatus


def _form(practice: Practice, hours_ahead: float, timing: str = Timing.BEFORE) -> Administration:
    session = Session.objects.create(
        organisation=practice.org,
        episode=practice.own,
        number=Session.objects.filter(episode=practice.own).count() + 1,
        scheduled_at=timezone.now() + dt.timedelta(hours=hours_ahead),
    )
    return do_create_administration(practice.own, "phq9", session=session, timing=timing)


@pytest.fixture
def email(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_a_before_form_is_sent_a_day_ahead_and_only_once(practice: Practice, email: None) -> None:
    soon, later = _form(practice, 5), _form(practice, 72)
    assert send_due_links().sent == 1
    assert send_due_links().sent == 0
    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.status, later.status) == (AdministrationStatus.SENT, AdministrationStatus.CREATED)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["c@example.org"]
    # The email names the practice and carries the link, never the client's name.
    assert "North Practice" in mail.outbox[0].subject
    assert "/a/" in mail.outbox[0].body
    assert "Name of" not in mail.outbox[0].body


def test_an_after_form_waits_until_the_session_was_held(practice: Practice, email: None) -> None:
    form = _form(practice, -1, Timing.AFTER)
    assert send_due_links().sent == 0
    Session.objects.filter(pk=form.session_id).update(status=SessionStatus.ATTENDED)
    assert send_due_links().sent == 1


def test_one_reminder_after_a_day_without_an_answer(practice: Practice, email: None) -> None:
    form = _form(practice, 2)
    send_due_links()
    assert send_due_links(timezone.now() + dt.timedelta(hours=25)).reminded == 1
    assert send_due_links(timezone.now() + dt.timedelta(hours=50)).reminded == 0
    form.refresh_from_db()
    assert form.reminded_at is not None
    assert [m.subject.startswith("Reminder") for m in mail.outbox] == [False, True]


def test_forms_past_their_time_expire(practice: Practice, email: None) -> None:
    form = _form(practice, 2)
    Administration.objects.filter(pk=form.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    run = send_due_links()
    form.refresh_from_db()
    assert (run.expired, run.sent, form.status) == (1, 0, AdministrationStatus.EXPIRED)


def test_a_client_without_email_is_counted_not_failed(practice: Practice, email: None) -> None:
    ClientIdentity.objects.filter(client=practice.own.client).update(email="")
    _form(practice, 2)
    run = send_due_links()
    assert (run.sent, run.no_email) == (0, 1)
