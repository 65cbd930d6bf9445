"""The demo practice reads like a practice's history: forms answered around their sessions,
alerts acted on some time after they were raised, crisis contacts a German client can read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration, AdministrationStatus, Respondent, Timing
from ally.web.dashboard.figures import Period, clinicians_of, practice_figures
from ally.web.demo import _minutes, load_demo
from ally.web.practice.models import Membership
from ally.web.scoping import Role

TODAY = dt.date(2026, 11, 29)


def test_the_demo_draws_each_time_from_its_seed() -> None:
    same = _minutes(3, "demo-c01-2-phq9-client", within=(30, 1200))
    assert same == _minutes(3, "demo-c01-2-phq9-client", within=(30, 1200))
    assert dt.timedelta(minutes=30) <= same <= dt.timedelta(minutes=1200)
    others = {_minutes(seed, "demo-c01-2-phq9-client", within=(30, 1200)) for seed in range(8)}
    assert len(others) > 1


@pytest.mark.django_db
def test_demo_forms_are_answered_around_their_sessions_and_alerts_acted_on_later() -> None:
    demo = load_demo(episodes=24, seed=3, today=TODAY)
    now = timezone.make_aware(dt.datetime.combine(TODAY, dt.time(9)))
    answered = Administration.objects.filter(
        episode__organisation=demo.organisation, status=AdministrationStatus.COMPLETED
    ).select_related("session", "ending_form__ending__follow_up")
    assert answered.count() > 100
    for form in answered:
        start, completed = form.session.scheduled_at if form.session else None, form.completed_at
        assert completed <= now
        sent_by = getattr(form, "ending_form", None)
        if sent_by is not None and sent_by.purpose == "follow_up":
            # Once the follow-up came due, within its days.
            follow_up = sent_by.ending.follow_up
            assert follow_up.due_at < completed < follow_up.answers_until
        elif sent_by is not None:
            # After the ending was recorded (on the last day), within the ending's days.
            ending = sent_by.ending
            assert ending.answers_until is not None
            assert ending.recorded_at < completed < ending.answers_until
        elif form.timing == Timing.BEFORE and form.respondent == Respondent.CLIENT:
            # From the evening before to shortly before the session.
            assert start - dt.timedelta(hours=24) <= completed < start
        else:
            # After the session started (the form opens then), by the next day.
            assert start is not None
            assert start < completed <= start + dt.timedelta(hours=27)
    # Not one moment for all: the forms were answered at many different times.
    assert len({form.completed_at for form in answered}) > answered.count() // 2

    alerts = Alert.objects.filter(episode__organisation=demo.organisation)
    acted = alerts.filter(acted_at__isnull=False)
    assert acted.exists()
    waits = [alert.acted_at - alert.raised_at for alert in acted]
    assert all(dt.timedelta(0) < wait <= dt.timedelta(days=7) for wait in waits)
    assert all(alert.seen_at == alert.acted_at for alert in acted)
    # Alerts still open were raised when the answer that shows them came in, not at loading.
    for alert in alerts.filter(acted_at__isnull=True):
        assert alert.raised_at < now

    # So the dashboard's median time to act is that of a practice, not 0 minutes.
    supervisor = Membership.objects.get(organisation=demo.organisation, role=Role.SUPERVISOR)
    period = Period(TODAY - dt.timedelta(days=364), TODAY)
    figures = practice_figures(supervisor, period, clinicians_of(supervisor))
    median = figures.total.median_wait
    assert median is not None
    assert median >= dt.timedelta(minutes=20)


@pytest.mark.django_db
def test_the_demo_crisis_contacts_speak_english_and_german() -> None:
    demo = load_demo(episodes=8, seed=2, today=TODAY)
    contacts = demo.organisation.crisis_contacts
    assert "Outside these hours" in contacts
    assert "Außerhalb dieser Zeiten" in contacts
    assert "0800 111 0 111" in contacts  # TelefonSeelsorge, Germany's crisis line
