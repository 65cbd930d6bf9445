"""A critical answer given after the episode ended still reaches the clinician (hazard H12)."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, Practice, sign_in

from ally.web.actions.answers import do_record_response
from ally.web.actions.practice import do_end_episode
from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration


def test_an_open_alert_of_an_ended_episode_is_on_the_alerts_page(
    practice: Practice, phq9: Administration
) -> None:
    do_end_episode(practice.own, timezone.localdate(), "planned", actor=practice.clinician)
    do_record_response(phq9, PHQ9_ITEM9, idempotency_key="after-the-end")
    alert = Alert.objects.get(episode=practice.own)
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    page = browser.get(reverse("clinic:alerts", kwargs={"org": "north"})).content.decode()
    assert f'id="alert-{alert.pk}"' in page


def test_an_alert_of_an_ended_episode_says_there_is_no_next_session(
    practice: Practice, phq9: Administration
) -> None:
    do_end_episode(practice.own, timezone.localdate(), "planned", actor=practice.clinician)
    do_record_response(phq9, PHQ9_ITEM9, idempotency_key="after-the-end")
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    url = reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk})
    assert "there is no next session" in browser.get(url).content.decode()
