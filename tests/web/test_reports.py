"""An episode's report: chosen sections for the team, the client or a referrer; the page and
the PDF hold the same text and numbers; every download is audited."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Count, Q
from django.test import Client as Browser
from django.urls import reverse
from module_rows import rows_for_the_module
from web_practice import sign_in

from ally.web.auditlog.models import AuditEntry
from ally.web.demo import load_demo
from ally.web.endings.models import ClosingSummary, ReviewWords
from ally.web.monitoring.models import EpisodeFeedback
from ally.web.practice.models import ClientIdentity, Episode, Membership
from ally.web.scoping import Role

pypdf = pytest.importorskip("pypdf")
TODAY = dt.date(2026, 11, 29)
NUMBER = re.compile(r"[−+-]?\d+(?:[.,]\d+)?")


@pytest.fixture(scope="module")
def loaded(django_db_setup: None, django_db_blocker: Any) -> Iterator[int]:
    """The demo, loaded once for this module's tests: an ended episode's key."""
    with rows_for_the_module(django_db_blocker):
        load_demo(episodes=12, seed=2, today=TODAY)
        yield (
            Episode.objects.filter(ended_on__isnull=False)
            .annotate(scored=Count("session_feedback", filter=Q(session_feedback__rater="client")))
            .filter(scored__gte=4)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )


@pytest.fixture
def demo(loaded: int, db: None) -> Episode:
    return Episode.objects.get(pk=loaded)


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def url(name: str, episode: Episode) -> str:
    return reverse(f"clinic:{name}", kwargs={"org": "demo", "pk": episode.pk})


def report_text(page: str) -> str:
    """The report's words as a reader sees them, without the charts' own labels."""
    article = page[page.index('<article class="report"') : page.index("</article>")]
    article = re.sub(r"<svg.*?</svg>", " ", article, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", article))


def pdf_text(content: bytes) -> str:
    """The PDF's words without the page numbers of its footer ("1 / 2")."""
    pages = pypdf.PdfReader(io.BytesIO(content)).pages
    text = "\n".join(p.extract_text() for p in pages)
    return re.sub(rf"\b\d+ / {len(pages)}\b", " ", text)


def test_the_end_report_holds_the_outcome_category_and_the_chosen_sections(
    demo: Episode,
) -> None:
    page = browser_for(demo.clinician).get(url("report", demo)).content.decode()
    text = report_text(page)
    assert "End report" in text
    category = EpisodeFeedback.objects.filter(episode=demo, rater="client").exclude(category="")
    assert category.exists()
    assert "Outcome of the episode:" in text
    # The team's copy has the expected course and signals; the client's does not by default.
    assert "Expected band" in text
    client_copy = browser_for(demo.clinician).get(url("report", demo), {"audience": "client"})
    client_text = report_text(client_copy.content.decode())
    assert "Expected band" not in client_text
    assert "The client" in client_text


def test_the_name_goes_in_only_when_chosen_and_only_for_those_who_see_names(
    demo: Episode,
) -> None:
    name = ClientIdentity.objects.get(client=demo.client).name
    chosen = {"audience": "referrer", "sections": ["outcome", "name"]}
    without = browser_for(demo.clinician).get(url("report", demo), {"audience": "referrer"})
    assert name not in report_text(without.content.decode())
    named = browser_for(demo.clinician).get(url("report", demo), chosen)
    assert name in report_text(named.content.decode())
    researcher = Membership.objects.get(organisation=demo.organisation, role=Role.RESEARCHER)
    theirs = browser_for(researcher).get(url("report", demo), chosen).content.decode()
    assert name not in theirs


@pytest.mark.parametrize("sections", [["outcome", "scores", "alliance", "sessions", "expected"]])
def test_the_pdf_has_the_pages_numbers_and_its_download_is_audited(
    demo: Episode, sections: list[str]
) -> None:
    browser = browser_for(demo.clinician)
    chosen = {"audience": "team", "sections": sections}
    page = report_text(browser.get(url("report", demo), chosen).content.decode())
    before = AuditEntry.objects.filter(action="report.downloaded").count()
    response = browser.get(url("report_pdf", demo), chosen)
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="ally-end-report-{demo.pk}.pdf"'
    assert demo.client.code not in disposition
    text = pdf_text(response.content)
    # The same numbers, each as often, in the PDF as on the page.
    assert Counter(NUMBER.findall(text)) == Counter(NUMBER.findall(page))
    for heading in ("End report", "Outcome", "Alliance", "Sessions"):
        assert heading in text
    assert AuditEntry.objects.filter(action="report.downloaded").count() == before + 1


def test_the_pdf_draws_the_pages_charts(demo: Episode) -> None:
    browser = browser_for(demo.clinician)
    chosen = {"audience": "client", "sections": ["outcome", "charts"]}
    page = browser.get(url("report", demo), chosen).content.decode()
    assert page.count("<svg") >= 1
    text = pdf_text(browser.get(url("report_pdf", demo), chosen).content)
    # The numbers of the page's words are all in the PDF, with the charts' axis labels besides.
    missing = Counter(NUMBER.findall(report_text(page))) - Counter(NUMBER.findall(text))
    assert not missing


def test_another_caseloads_report_is_a_404(demo: Episode) -> None:
    other = (
        Membership.objects.filter(organisation=demo.organisation, role=Role.CLINICIAN)
        .exclude(pk=demo.clinician_id)
        .exclude(care_teams__episode=demo)
        .first()
    )
    assert other is not None
    browser = browser_for(other)
    assert browser.get(url("report", demo)).status_code == 404
    assert browser.get(url("report_pdf", demo)).status_code == 404


def test_the_demos_planned_endings_have_end_reports_with_the_review_and_the_summary(
    demo: Episode,
) -> None:
    words = ReviewWords.objects.filter(administration__episode__organisation__slug="demo").first()
    assert words is not None, "the demo has a planned ending whose client answered the review"
    reviewed = words.administration.episode
    summary = ClosingSummary.objects.filter(episode=reviewed).order_by("version").last()
    assert summary is not None
    browser = browser_for(reviewed.clinician)
    text = report_text(browser.get(url("report", reviewed)).content.decode())
    assert "End report" in text
    assert summary.text in text
    assert words.words()["helped"] in text
    # The API reads the same ending, and the category the report's outcome holds.
    ending = browser.get(f"/api/o/demo/episodes/{reviewed.pk}/ending").json()
    assert ending["end_reason"] == "planned"
    assert ending["closing_summary"]["text"] == summary.text
    assert ending["review"]["answers"] == words.words()
    stored = EpisodeFeedback.objects.filter(episode=reviewed, rater="client").exclude(category="")
    assert {o["category"] for o in ending["outcomes"]} == {f.category for f in stored}
