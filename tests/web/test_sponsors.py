"""A coaching engagement's sponsor sees how many sessions took place, and the client's
wellbeing and goal progress only while the client agrees (ICF Code of Ethics: the sponsor is
not the client); the client gives and withdraws consent on their own page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from signing_in import sign_in
from web_practice import Practice

from ally.web.accounts.models import User
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.practice import PracticeActionError
from ally.web.actions.sponsors import do_set_sponsor
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Administration
from ally.web.demo_coaching import load_coaching_demo
from ally.web.practice.models import Episode, Membership, Organisation
from ally.web.respond.links import signed_token
from ally.web.sponsors.models import Sponsorship
from ally.web.sponsors.report import sponsor_token

NOW = timezone.make_aware(dt.datetime(2026, 6, 1, 9))


def _make(org: Organisation, email: str, name: str, role: str) -> Membership:
    user = User.objects.create_user(email, "pw", display_name=name)
    return Membership.objects.create(user=user, organisation=org, role=role)


@pytest.fixture
def engagement(db: None) -> Episode:
    org = load_coaching_demo(
        [("admin@c.example", "A", "admin"), ("coach@c.example", "C", "clinician")],
        _make,
        NOW,
        seed=5,
    )
    Sponsorship.objects.all().delete()  # the demo's own; each test records its sponsor
    return Episode.objects.filter(organisation=org).order_by("pk").first()


def _sponsor_page(sponsorship: Sponsorship) -> str:
    url = reverse("sponsor_report", kwargs={"token": sponsor_token(sponsorship)})
    page = Browser().get(url)
    assert page.status_code == 200
    return page.content.decode()


def _open_form(engagement: Episode) -> Browser:
    form = Administration.objects.filter(
        episode=engagement, measure_id="who5", completed_at=None
    ).first()
    browser = Browser()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(form)}))
    return browser


def test_without_the_clients_consent_the_sponsor_sees_sessions_and_no_answer(
    engagement: Episode,
) -> None:
    coach = Browser()
    sign_in(coach, engagement.clinician.user)
    saved = coach.post(
        f"/o/coaching/episodes/{engagement.pk}/sponsor/", {"sponsor": "Northwind Ltd"}
    )
    assert saved.status_code == 302
    sponsorship = Sponsorship.objects.get(episode=engagement)
    assert not sponsorship.consented
    page = _sponsor_page(sponsorship)
    held = engagement.sessions.filter(status="attended").count()
    assert f"<dd>{held}</dd>" in page
    assert "WHO-5" not in page
    assert "<table" not in page  # no score of any kind
    assert "has not agreed" in page
    assert engagement.client.code not in page


def test_the_client_agrees_on_their_page_and_can_withdraw(engagement: Episode) -> None:
    sponsorship = do_set_sponsor(engagement, "Northwind Ltd", actor=engagement.clinician)
    client = _open_form(engagement)
    answer = client.get("/a/").content.decode()
    assert "Northwind Ltd pays for your coaching" in answer
    assert client.get("/a/sponsor/").status_code == 200
    assert client.post("/a/sponsor/", {"agreed": "yes"}).status_code == 302
    page = _sponsor_page(sponsorship)
    assert "Wellbeing (WHO-5, 0 to 100)" in page
    assert "<table" in page
    client.post("/a/sponsor/", {"agreed": "no"})
    page = _sponsor_page(sponsorship)
    assert "<table" not in page
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "sponsor.consent_given" in actions
    assert "sponsor.consent_withdrawn" in actions


def test_only_the_client_consents_and_a_new_sponsor_starts_without_it(
    engagement: Episode,
) -> None:
    sponsorship = do_set_sponsor(engagement, "Northwind Ltd", actor=engagement.clinician)
    coach = Browser()
    sign_in(coach, engagement.clinician.user)
    # The coach's own session opens no client page.
    assert coach.post("/a/sponsor/", {"agreed": "yes"}).status_code == 302
    assert not Sponsorship.objects.get(pk=sponsorship.pk).consented
    client = _open_form(engagement)
    client.post("/a/sponsor/", {"agreed": "yes"})
    old = sponsor_token(sponsorship)
    renamed = do_set_sponsor(engagement, "Another Employer plc", actor=engagement.clinician)
    assert renamed is not None
    assert not renamed.consented
    assert Browser().get(reverse("sponsor_report", kwargs={"token": old})).status_code == 404


def test_a_new_answer_reaches_the_sponsor_only_with_consent(engagement: Episode) -> None:
    sponsorship = do_set_sponsor(engagement, "Northwind Ltd", actor=engagement.clinician)
    session = engagement.sessions.filter(status="attended").last()
    form = do_create_administration(engagement, "who5", session=session, timing="before")
    do_record_response(form, [1, 1, 1, 1, 1], idempotency_key="sponsor-test")
    assert "20" not in _sponsor_page(sponsorship).split("Sessions held")[1].split("</dl>")[1]


def test_a_therapy_practice_records_no_sponsor(practice: Practice) -> None:
    with pytest.raises(PracticeActionError, match="coaching"):
        do_set_sponsor(practice.own, "Employer", actor=practice.clinician)
