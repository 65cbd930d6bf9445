"""The dashboard's alliance–outcome correlation: early alliance against improvement, with n,
a Fisher interval and the meta-analytic r beside it, hidden below a minimum of episodes."""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, episode_for, member, sign_in

from ally.research.correlation import MIN_EPISODES, correlation
from ally.web.dashboard.tables import SMALL_CELL
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Role

NOW = timezone.make_aware(dt.datetime(2026, 11, 1, 12, 0))
PERIOD = {"start": "2026-01-01", "end": "2026-06-30"}


def _rate(episode: Episode, measure_id: str, session: int, score: float) -> None:
    SessionFeedback.objects.create(
        episode=episode,
        measure_id=measure_id,
        rater="client",
        session_number=session,
        date=dt.date(2026, 2, 1) + dt.timedelta(weeks=session),
        score=score,
        computed_at=NOW,
    )


def _episodes(
    clinician: Membership, n: int, seed: int = 4, prefix: str = "A"
) -> tuple[list[float], list[float]]:
    """n episodes with SRS at sessions 1-3 and PHQ-9 at sessions 1, 2 and 6; returns the early
    alliance and the improvement (first minus last PHQ-9) of each, as the page should use."""
    rng = np.random.default_rng(seed)
    early, gains = [], []
    for i in range(n):
        episode = episode_for(clinician, f"{prefix}-{i}")
        srs = rng.normal(30, 5, 3)
        for session, score in enumerate(srs, start=1):
            _rate(episode, "srs", session, float(score))
        first = float(rng.normal(16, 3))
        last = first - 0.4 * (srs.mean() - 30) - float(rng.normal(5, 3))
        _rate(episode, "phq9", 1, first)
        _rate(episode, "phq9", 2, first - 1)  # within the early sessions: not the last score
        _rate(episode, "phq9", 6, last)
        early.append(srs.mean())
        gains.append(first - last)
    return early, gains


def _page(member: Membership, language: str = "en") -> str:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    sign_in(browser, member.user)
    page = browser.get(reverse("dashboard:home", args=[member.organisation.slug]), PERIOD)
    assert page.status_code == 200
    return page.content.decode()


def test_the_practice_correlation_is_shown_with_n_interval_and_the_meta_analytic_r(
    practice: Practice,
) -> None:
    early, gains = _episodes(practice.clinician, 25)
    expected = correlation(early, gains)
    html = _page(practice.supervisor)
    assert "Alliance and outcome" in html
    assert "mean of the client's alliance scores at sessions 1 to 3" in html
    row = html.split('<table id="alliance-outcome">')[1].split("</table>")[0]
    assert '<th scope="row">SRS 3.0</th>' in row
    assert "<td>PHQ-9</td>" in row
    assert "<td>25</td>" in row
    assert f"<td>{expected.r:.2f}</td>" in row
    assert f"<td>{expected.ci_low:.2f} – {expected.ci_high:.2f}</td>" in row
    assert expected.r > 0  # the episodes were built so that a better alliance improves more
    assert "<td>0.28</td>" in row
    assert "r = 0.28 (95% confidence interval 0.26 – 0.30; Flückiger" in html


def test_below_the_minimum_the_correlation_is_not_shown(practice: Practice) -> None:
    _episodes(practice.clinician, MIN_EPISODES - 1)
    row = _page(practice.supervisor).split('<table id="alliance-outcome">')[1]
    assert f"<td>{MIN_EPISODES - 1}</td>" in row
    assert f"not shown below {MIN_EPISODES} episodes" in row


def test_another_practices_episodes_do_not_count(practice: Practice) -> None:
    _episodes(practice.clinician, 21)
    _episodes(member(practice.outsider.organisation, Role.CLINICIAN, "far"), 5, prefix="Z")
    assert "<td>21</td>" in _page(practice.supervisor).split('<table id="alliance-outcome">')[1]
    assert "<td>5</td>" in _page(practice.outsider).split('<table id="alliance-outcome">')[1]


def test_the_section_is_in_german(practice: Practice) -> None:
    _episodes(practice.clinician, 25)
    html = _page(practice.supervisor, "de")
    assert "Arbeitsbündnis und Behandlungsergebnis" in html
    assert "<td>0,28</td>" in html
    assert "nicht angezeigt" not in html


def test_without_data_the_page_says_so(practice: Practice) -> None:
    assert "No episode in this period has both an early alliance score" in _page(
        practice.supervisor
    )


def test_a_researcher_sees_fewer_than_5_for_a_handful_of_episodes(practice: Practice) -> None:
    _episodes(practice.clinician, SMALL_CELL - 1)
    row = _page(practice.researcher).split('<table id="alliance-outcome">')[1]
    assert f"<td>fewer than {SMALL_CELL}</td>" in row
    assert f"<td>{SMALL_CELL - 1}</td>" not in row
