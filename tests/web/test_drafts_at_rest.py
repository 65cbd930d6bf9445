"""A client's "save and finish later" answers are sealed in the session table, and expired
sessions are purged (issue 19, finding 6: raw answers sat in the clear for 14 days)."""

from __future__ import annotations

import datetime as dt
import io
import json

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session as StoredSession
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice

from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Administration
from ally.web.privacy.models import ClientKey
from ally.web.respond.links import signed_token
from ally.web.respond.visit import KEY, open_draft, seal_draft

ANSWERS = {"1": "2", "2": "3", "9": "3"}


def _save_draft(browser: Client, form: Administration) -> StoredSession:
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(form)}))
    key = browser.get("/a/").context["key"]
    data = {"administration": str(form.pk), "key": key, "action": "save"}
    data |= {f"item_{number}": value for number, value in ANSWERS.items()}
    assert browser.post("/a/", data)["Location"] == reverse("respond:saved")
    return StoredSession.objects.get(session_key=browser.session.session_key)


def test_saved_answers_are_sealed_in_the_session_table(practice: Practice) -> None:
    form = do_create_administration(practice.own, "phq9")
    stored = _save_draft(Client(), form).get_decoded()[KEY]["drafts"][str(form.pk)]
    assert set(stored) == {"generation", "sealed"}
    assert "item" not in json.dumps(stored)
    assert open_draft(form.pk, stored) == ANSWERS


def test_saved_answers_come_back_on_the_form(practice: Practice) -> None:
    form = do_create_administration(practice.own, "phq9")
    browser = Client()
    _save_draft(browser, form)
    html = browser.get("/a/").content.decode()
    assert 'id="item_9-3" name="item_9" value="3" checked' in html


def test_a_sealed_draft_does_not_open_for_another_form_or_after_erasure(
    practice: Practice,
) -> None:
    form = do_create_administration(practice.own, "phq9")
    other = do_create_administration(practice.own, "phq9")
    sealed = seal_draft(form.pk, ANSWERS)
    assert open_draft(other.pk, sealed) == {}
    assert open_draft(form.pk, {"1": "2"}) == {}, "a draft in the clear is not read"
    ClientKey.objects.filter(client=practice.own.client).delete()
    assert open_draft(form.pk, sealed) == {}


def test_a_visits_session_expires_with_the_link(practice: Practice) -> None:
    form = do_create_administration(practice.own, "phq9")
    stored = _save_draft(Client(), form)
    lasts = stored.expire_date - timezone.now()
    hours = dt.timedelta(hours=settings.ALLY_LINK_HOURS)
    assert hours - dt.timedelta(minutes=5) < lasts <= hours


def test_purge_expired_deletes_expired_sessions_and_old_failures_only(
    practice: Practice,
) -> None:
    form = do_create_administration(practice.own, "phq9")
    expired = _save_draft(Client(), form)
    live = _save_draft(Client(), do_create_administration(practice.own, "gad7"))
    StoredSession.objects.filter(pk=expired.pk).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    Client().post("/accounts/login/", {"username": "x@north.example", "password": "guess"})
    Client().post("/accounts/login/", {"username": "y@north.example", "password": "guess"})
    AccessAttempt.objects.filter(username="x@north.example").update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(minutes=1)
    )
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "Deleted 1 expired sessions and 1 failed sign-in records" in out.getvalue()
    assert list(StoredSession.objects.values_list("pk", flat=True)) == [live.pk]
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["y@north.example"]
