"""One way to write a day and one way to write a moment on every staff screen, per language,
through Django's format modules (ally.web.formats); and date fields whose hints claim no format
the browser may not show."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import formats, timezone, translation
from web_practice import Practice, sign_in

from ally.web.actions.practice import do_schedule_session
from ally.web.alerts.models import Alert, AlertKind
from ally.web.practice.models import Membership

DAY = dt.date(2026, 12, 6)
MOMENT = dt.datetime(2026, 12, 6, 14, 30)

ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
US_DAY = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
LONG_US_DAY = re.compile(rf"\b{MONTH}[a-z]*\.? \d{{1,2}}, \d{{4}}")
"""Django's English default, "Dec. 6, 2026"."""


@pytest.mark.parametrize(
    ("language", "day", "moment"),
    [("en", "6 Dec 2026", "6 Dec 2026, 14:30"), ("de", "06.12.2026", "06.12.2026, 14:30")],
)
def test_each_language_writes_a_day_one_way_and_a_moment_one_way(
    language: str, day: str, moment: str
) -> None:
    with translation.override(language):
        assert formats.date_format(DAY, "DATE_FORMAT") == day
        assert formats.date_format(DAY, "SHORT_DATE_FORMAT") == day
        assert formats.date_format(MOMENT, "DATETIME_FORMAT") == moment
        assert formats.date_format(MOMENT, "SHORT_DATETIME_FORMAT") == moment


def browser_for(member: Membership, language: str = "en") -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    sign_in(browser, member.user)
    return browser


def visible_text(html: str) -> str:
    """The page without its tags, attribute values and the values of its form fields."""
    return re.sub(r"<[^>]*>", " ", html)


def assert_one_date_style(text: str) -> None:
    for style in (ISO_DAY, US_DAY, LONG_US_DAY):
        assert not style.search(text), f"{style.pattern} found: {style.search(text)}"


@pytest.mark.parametrize(
    ("language", "opened", "session", "raised"),
    [
        ("en", "5 Jan 2026", "2 Apr 2030, 10:00", "3 Feb 2026, 09:15"),
        ("de", "05.01.2026", "02.04.2030, 10:00", "03.02.2026, 09:15"),
    ],
)
def test_the_client_page_and_the_caseload_write_dates_alike(
    practice: Practice, language: str, opened: str, session: str, raised: str
) -> None:
    at = timezone.make_aware(dt.datetime(2030, 4, 2, 10, 0))
    do_schedule_session(practice.own, at, actor=practice.clinician)
    raised_at = timezone.make_aware(dt.datetime(2026, 2, 3, 9, 15))
    Alert.objects.create(
        episode=practice.own,
        kind=AlertKind.SIGNAL_RED,
        source_key="phq9:client:1",
        message="Off track.",
        raised_at=raised_at,
        seen_at=raised_at + dt.timedelta(hours=3),
        seen_by=practice.clinician,
        acted_at=raised_at + dt.timedelta(hours=3),
        acted_by=practice.clinician,
        action_note="Talked it through.",
    )
    browser = browser_for(practice.clinician, language)
    episode = browser.get(reverse("clinic:episode", args=["north", practice.own.pk]))
    page = visible_text(episode.content.decode())
    assert opened in page
    assert session in page
    assert raised in page
    assert_one_date_style(page)
    caseload = browser.get(reverse("clinic:caseload", args=["north"])).content.decode()
    caseload = visible_text(caseload)
    assert session in caseload
    assert_one_date_style(caseload)


@pytest.mark.parametrize(
    ("language", "period"),
    [
        ("en", "From 1 Jan 2026 to 30 Jun 2026, for every clinician."),
        ("de", "Vom 01.01.2026 bis 30.06.2026, für alle Behandler:innen."),
    ],
)
def test_the_dashboard_writes_its_period_like_every_other_screen(
    practice: Practice, language: str, period: str
) -> None:
    url = reverse("dashboard:home", args=["north"])
    page = browser_for(practice.supervisor, language).get(
        url, {"start": "2026-01-01", "end": "2026-06-30"}
    )
    text = visible_text(page.content.decode())
    assert period in " ".join(text.split())
    assert_one_date_style(text)


def test_date_fields_claim_no_format_the_browser_may_not_show(practice: Practice) -> None:
    """A date field shows the day in the reader's own way (12/07/2025, 07.12.2025): its hint
    names no format, and its value is the ISO day the field expects."""
    url = reverse("dashboard:home", args=["north"])
    html = browser_for(practice.supervisor).get(url).content.decode()
    assert '<input type="date" name="start"' in html
    assert "year-month-day" not in html
    hints = re.findall(r'<span class="help"[^>]*>(.*?)</span>', html, re.S)
    assert hints
    for hint in hints:
        assert not ISO_DAY.search(hint)
        assert not US_DAY.search(hint)
    typed = browser_for(practice.supervisor).get(url, {"start": "1 March"})
    assert typed.status_code == 400
    assert "That is not a day: choose the first day in the date field." in typed.content.decode()
