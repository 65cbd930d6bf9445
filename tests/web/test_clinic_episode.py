"""The client page: charts with their tables, alerts with what to explore next, roles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, sign_in

from ally.web.alerts.models import Alert, AlertKind, UsedSuggestion
from ally.web.clinic import charts, guidance
from ally.web.clinic.course import courses
from ally.web.monitoring.models import ChartDrawing, EpisodeFeedback, SessionFeedback
from ally.web.practice.models import Episode, Membership

NOW = timezone.now()

# A PHQ-9 course that falls off the expected band: 15, 14, 17, 21 (red at session 4).
PHQ9 = [
    (1, 15.0, "moderately severe", "", 15.0, 9.0, 21.0),
    (2, 14.0, "moderate", "green", 13.0, 7.0, 19.0),
    (3, 17.0, "moderately severe", "yellow", 12.2, 6.2, 18.2),
    (4, 21.0, "severe", "red", 11.5, 5.5, 17.5),
]
# The client's alliance check-in falls from 22 to 15 at session 3 (a rupture in the bond),
# while the clinician rates it 24: a discrepancy of -9.
ALLIANCE = [
    (1, 20.0, {"bond": 6.0, "goals": 6.0, "tasks": 5.0}, False, ""),
    (2, 22.0, {"bond": 7.0, "goals": 6.0, "tasks": 6.0}, False, ""),
    (3, 15.0, {"bond": 3.0, "goals": 5.0, "tasks": 5.0}, True, "bond"),
]


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def page_url(episode: Episode, org: str = "north") -> str:
    return reverse("clinic:episode", kwargs={"org": org, "pk": episode.pk})


def with_course(episode: Episode) -> Episode:
    for session, score, band, signal, expected, low, high in PHQ9:
        SessionFeedback.objects.create(
            episode=episode,
            measure_id="phq9",
            rater="client",
            session_number=session,
            score=score,
            band=band,
            signal=signal,
            expected=expected,
            expected_low=low,
            expected_high=high,
            change=score - 15.0,
            computed_at=NOW,
        )
    for session, score, parts, rupture, subscale in ALLIANCE:
        SessionFeedback.objects.create(
            episode=episode,
            measure_id="ally-alliance",
            rater="client",
            session_number=session,
            score=score,
            subscales=parts,
            rupture=rupture,
            rupture_subscale=subscale,
            discrepancy=-9.0 if session == 3 else None,
            computed_at=NOW,
        )
    SessionFeedback.objects.create(
        episode=episode,
        measure_id="ally-alliance",
        rater="clinician",
        session_number=3,
        score=24.0,
        computed_at=NOW,
    )
    EpisodeFeedback.objects.create(
        episode=episode,
        measure_id="ally-alliance",
        rater="client",
        sessions=3,
        first_session=1,
        last_session=3,
        first_score=20,
        last_score=15,
        ruptures=1,
        computed_at=NOW,
    )
    return episode


def raise_alert(episode: Episode, kind: str, source_key: str = "") -> Alert:
    return Alert.objects.create(
        episode=episode,
        kind=kind,
        message="Something to look at.",
        raised_at=NOW,
        source_key=source_key,
    )


def test_the_page_draws_the_outcome_and_alliance_charts_as_named_svg(practice: Practice) -> None:
    with_course(practice.own)
    response = browser_for(practice.clinician).get(page_url(practice.own))
    html = response.content.decode()
    assert response.status_code == 200
    for caption in ("outcome-phq9-caption", "alliance-ally-alliance-caption"):
        assert f'<svg role="img" aria-labelledby="{caption}"' in html
        assert f'<figcaption id="{caption}">' in html
    assert "The dotted line is the clinical cut-off (10)." in html


@pytest.fixture
def drawings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the charts vl-convert draws (each spec's first key); drawing still happens."""
    drawn: list[str] = []
    draw = charts.vlc.vegalite_to_svg

    def counted(spec: dict, *args: object, **kwargs: object) -> str:
        drawn.append(spec.get("title") or next(iter(spec)))
        return draw(spec, *args, **kwargs)

    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", counted)
    return drawn


def test_a_chart_is_drawn_once_and_later_views_use_the_stored_drawing(
    practice: Practice, drawings: list[str]
) -> None:
    with_course(practice.own)
    browser = browser_for(practice.clinician)
    first = browser.get(page_url(practice.own)).content.decode()
    assert len(drawings) == 2
    cache.clear()  # another server process: nothing in its memory
    again = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert len(drawings) == 2, "the second view drew nothing"
    svg = re.compile(r"<svg role=.*?</svg>", re.S)
    assert svg.findall(again) == svg.findall(first)
    assert ChartDrawing.objects.filter(episode=practice.own).count() == 2


def test_a_chart_whose_numbers_changed_is_drawn_again_and_only_that_one(
    practice: Practice, drawings: list[str]
) -> None:
    with_course(practice.own)
    browser = browser_for(practice.clinician)
    browser.get(page_url(practice.own))
    SessionFeedback.objects.filter(episode=practice.own, measure_id="phq9").update(score=9)
    browser.get(page_url(practice.own))
    assert len(drawings) == 3
    assert ChartDrawing.objects.filter(episode=practice.own).count() == 2


def test_an_episodes_charts_are_drawn_per_language(practice: Practice, drawings: list[str]) -> None:
    with_course(practice.own)
    browser = browser_for(practice.clinician)
    browser.get(page_url(practice.own))
    german = browser.get(page_url(practice.own), headers={"accept-language": "de"})
    assert german.status_code == 200
    languages = set(ChartDrawing.objects.values_list("language", flat=True))
    assert languages == {"en", "de"}
    assert len(drawings) == 4


def test_the_table_under_the_chart_holds_the_same_numbers(practice: Practice) -> None:
    with_course(practice.own)
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    table = html[html.index("Patient Health Questionnaire-9 (PHQ-9): scores by session") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<th scope="row">(\d+)</th>\s*<td>[^<]*</td>\s*<td>([\d.]+)</td>', table)
    assert rows == [(str(s), f"{score:g}") for s, score, *_rest in PHQ9]
    assert '<span class="signal-red">Not on track</span>' in table
    assert "5.5–17.5" in table


def test_the_alliance_table_shows_the_parts_the_clinician_and_the_discrepancy(
    practice: Practice,
) -> None:
    with_course(practice.own)
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    table = html[html.index("Ally alliance check-in: ratings by session") :]
    table = table[: table.index("</table>")]
    assert '<th scope="col">Bond</th>' in table
    assert "<td>24</td>" in table  # the clinician's own rating
    assert "<td>\u22129</td>" in table  # client minus clinician
    assert "Rupture</strong> (Bond)" in table


def test_the_chart_spec_uses_the_points_of_the_table(practice: Practice) -> None:
    with_course(practice.own)
    outcomes, alliances = courses(SessionFeedback.objects.filter(episode=practice.own))
    spec = charts.outcome_spec(outcomes[0])
    assert [v["score"] for v in spec["data"]["values"]] == [p[1] for p in PHQ9]
    assert spec["$schema"].endswith("vega-lite/v5.json")
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert rules[0]["data"]["values"] == [{"cutoff": 10.0}]
    values = charts.alliance_values(alliances[0])
    assert [m["marker"] for m in values["markers"]] == ["Rupture"]
    assert {"session": 3, "score": 24.0, "rater": "Clinician"} in values["totals"]


@pytest.mark.parametrize(("low", "high"), [(0, 21), (0, 27), (0, 40), (12, 60)])
def test_a_score_axis_covers_the_whole_range_with_both_ends_labelled(
    low: float, high: float
) -> None:
    axis = charts.score_axis(low, high)
    assert axis["scale"] == {"domain": [low, high], "nice": False}
    ticks = axis["axis"]["values"]
    assert (ticks[0], ticks[-1]) == (low, high)
    assert ticks == sorted(set(ticks))


def test_a_red_signal_alert_comes_with_what_to_explore_and_its_sources(
    practice: Practice,
) -> None:
    with_course(practice.own)
    raise_alert(practice.own, AlertKind.SIGNAL_RED, "phq9:client:4")
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert str(guidance.NOT_ON_TRACK.title) in html
    for step in guidance.NOT_ON_TRACK_STEPS:
        assert str(step.text) in html
    assert "SPECS 3 and 8" in html


def test_a_rupture_alert_points_at_the_subscale_that_fell(practice: Practice) -> None:
    with_course(practice.own)
    raise_alert(practice.own, AlertKind.RUPTURE, "ally-alliance:client:3")
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert str(guidance.RUPTURE.title) in html
    assert str(guidance.SUBSCALE_STEPS["bond"]) in html
    assert str(guidance.ANY_SUBSCALE) not in html


def test_a_yellow_signal_without_an_alert_still_gets_suggestions(practice: Practice) -> None:
    SessionFeedback.objects.create(
        episode=practice.own,
        measure_id="phq9",
        rater="client",
        session_number=3,
        score=14,
        signal="yellow",
        computed_at=NOW,
    )
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert str(guidance.LESS_PROGRESS.title) in html


def test_an_episode_without_feedback_says_so(practice: Practice) -> None:
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert "No outcome scores yet." in html
    assert "No alliance ratings yet." in html
    assert "<svg" not in html


def test_marking_an_alert_seen_takes_one_click(practice: Practice) -> None:
    alert = raise_alert(practice.own, AlertKind.CRITICAL_ITEM)
    url = reverse("clinic:alert_seen", kwargs={"org": "north", "pk": alert.pk})
    response = browser_for(practice.clinician).post(url)
    assert response.status_code == 302
    assert response["Location"].endswith(f"#alert-{alert.pk}")
    alert.refresh_from_db()
    assert alert.seen_by == practice.clinician
    assert alert.acted_at is None


def test_acting_on_an_alert_needs_a_note(practice: Practice) -> None:
    alert = raise_alert(practice.own, AlertKind.SIGNAL_RED)
    url = reverse("clinic:alert_act", kwargs={"org": "north", "pk": alert.pk})
    browser = browser_for(practice.clinician)
    response = browser.post(url, {f"alert-{alert.pk}-note": "  "}, follow=True)
    assert "Not recorded: Write what was done about this alert." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acted_at is None


def test_acting_on_an_alert_records_the_steps_ticked_and_the_note(practice: Practice) -> None:
    alert = raise_alert(practice.own, AlertKind.SIGNAL_RED)
    url = reverse("clinic:alert_act", kwargs={"org": "north", "pk": alert.pk})
    browser_for(practice.clinician).post(
        url,
        {
            f"alert-{alert.pk}-done": ["life_events", "goals", "social_support"],
            f"alert-{alert.pk}-note": "Agreed to meet weekly for a month.",
        },
    )
    alert.refresh_from_db()
    assert alert.acted_by == practice.clinician
    assert alert.seen_by == practice.clinician
    # The note and the used suggestions are one record: the same steps, in the same order.
    assert alert.note == (
        "Reviewed the goals and the fit of the tasks; Asked about social support; Asked "
        "about life events and stresses.\nAgreed to meet weekly for a month."
    )
    used = UsedSuggestion.objects.filter(alert=alert).order_by("pk")
    assert [(u.step, u.recorded_by, u.guidance) for u in used] == [
        ("goals", practice.clinician, "not_on_track"),
        ("social_support", practice.clinician, "not_on_track"),
        ("life_events", practice.clinician, "not_on_track"),
    ]
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert "Alerts acted on" in html
    assert "Agreed to meet weekly" in html


def test_acting_twice_gives_a_message_not_an_error(practice: Practice) -> None:
    alert = raise_alert(practice.own, AlertKind.RUPTURE)
    url = reverse("clinic:alert_act", kwargs={"org": "north", "pk": alert.pk})
    browser = browser_for(practice.clinician)
    browser.post(url, {f"alert-{alert.pk}-note": "Talked about it."})
    response = browser.post(url, {f"alert-{alert.pk}-note": "Again."}, follow=True)
    assert "already been acted on" in response.content.decode()
    alert.refresh_from_db()
    assert alert.note.endswith("Talked about it.")


def test_the_alert_list_shows_open_alerts_of_the_caseload_only(practice: Practice) -> None:
    mine = raise_alert(practice.own, AlertKind.CRITICAL_ITEM)
    theirs = raise_alert(practice.other, AlertKind.CRITICAL_ITEM)
    html = (
        browser_for(practice.clinician)
        .get(reverse("clinic:alerts", kwargs={"org": "north"}))
        .content.decode()
    )
    assert f"#alert-{mine.pk}" in html
    assert f"#alert-{theirs.pk}" not in html


@pytest.mark.parametrize(
    ("who", "episode", "status"),
    [
        ("clinician", "own", 200),
        ("clinician", "shared", 200),
        ("clinician", "other", 404),
        ("clinician", "elsewhere", 404),
        ("supervisor", "other", 200),
        ("admin", "other", 200),
        ("researcher", "other", 200),
        ("outsider", "own", 404),
        ("supervisor", "elsewhere", 404),
    ],
)
def test_who_may_open_a_client_page(practice: Practice, who: str, episode: str, status: int):
    member = getattr(practice, who)
    target = getattr(practice, episode)
    org = member.organisation.slug
    assert browser_for(member).get(page_url(target, org)).status_code == status


def test_a_researcher_sees_no_name_no_forms_and_may_not_post(practice: Practice) -> None:
    with_course(practice.own)
    alert = raise_alert(practice.own, AlertKind.CRITICAL_ITEM)
    browser = browser_for(practice.researcher)
    html = browser.get(page_url(practice.own)).content.decode()
    assert "Name of N-001" not in html
    assert "c@example.org" not in html
    assert 'name="csrfmiddlewaretoken"' not in html.split('<main id="main">', 1)[1]
    for name in ("clinic:alert_seen", "clinic:alert_act"):
        url = reverse(name, kwargs={"org": "north", "pk": alert.pk})
        assert browser.post(url, {f"alert-{alert.pk}-note": "x"}).status_code == 403
    alert.refresh_from_db()
    assert alert.seen_at is None


def test_a_clinician_cannot_act_on_a_colleagues_alert(practice: Practice) -> None:
    alert = raise_alert(practice.other, AlertKind.CRITICAL_ITEM)
    url = reverse("clinic:alert_seen", kwargs={"org": "north", "pk": alert.pk})
    assert browser_for(practice.clinician).post(url).status_code == 404


def test_the_page_never_puts_names_in_links(practice: Practice) -> None:
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    assert not any(
        "N-001" in href or "Name" in href for href in re.findall(r'href="([^"]+)"', html)
    )


def test_the_alert_list_never_shows_a_researcher_a_name_or_a_button(practice: Practice) -> None:
    raise_alert(practice.own, AlertKind.CRITICAL_ITEM)
    html = (
        browser_for(practice.researcher)
        .get(reverse("clinic:alerts", kwargs={"org": "north"}))
        .content.decode()
    )
    assert "N-001" in html
    assert "Name of" not in html
    assert "Mark as seen" not in html


def test_every_accessible_name_on_the_page_points_at_an_element(practice: Practice) -> None:
    from ally.web.collect.models import Administration
    from ally.web.practice.models import Session

    with_course(practice.own)
    raise_alert(practice.own, AlertKind.RUPTURE, "ally-alliance:client:3")
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=4, scheduled_at=NOW
    )
    Administration.objects.create(episode=practice.own, session=session, measure_id="phq9")
    html = browser_for(practice.clinician).get(page_url(practice.own)).content.decode()
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    named = re.findall(r'aria-(?:labelledby|describedby)="([^"]+)"', html)
    assert f"session-{session.pk}-forms-caption" in " ".join(named)
    assert [n for name in named for n in name.split() if n not in ids] == []


def test_a_long_episode_lists_its_latest_and_next_sessions_and_all_on_request(
    practice: Practice,
) -> None:
    from ally.web.practice.models import Session

    episode = practice.own
    for number in range(1, 27):  # 20 past weekly sessions, then 6 to come
        Session.objects.create(
            organisation=episode.organisation,
            episode=episode,
            number=number,
            scheduled_at=NOW + timezone.timedelta(days=7 * (number - 20) - 1),
        )
    browser = browser_for(practice.clinician)
    page = browser.get(page_url(episode)).content.decode()
    listed = [int(n) for n in re.findall(r'id="session-\d+-title">\s*Session (\d+)', page)]
    assert listed == list(range(9, 25)), "the latest 12 past sessions and the next 4"
    assert "Show all 26 sessions" in page
    everything = browser.get(page_url(episode) + "?sessions=all").content.decode()
    listed = [int(n) for n in re.findall(r'id="session-\d+-title">\s*Session (\d+)', everything)]
    assert listed == list(range(1, 27))
    assert "Show all" not in everything


def test_a_completed_form_shows_each_answer_with_critical_items_marked(
    practice: Practice,
) -> None:
    from ally.web.actions.answers import do_create_administration, do_record_response
    from ally.web.practice.models import Session

    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=timezone.now()
    )
    form = do_create_administration(practice.own, "phq9", session=session)
    # Item 9 endorsed ("Several days"); item 3 and 4 skipped: 7 of 9 answered, prorated.
    answers = {1: 2, 2: 1, 3: None, 4: None, 5: 1, 6: 0, 7: 1, 8: 0, 9: 1}
    do_record_response(form, answers, idempotency_key="answers-page")
    episode_page = browser_for(practice.clinician).get(
        reverse("clinic:episode", args=["north", practice.own.pk])
    )
    link = reverse("clinic:form_answers", args=["north", form.pk])
    assert link in episode_page.content.decode()
    for member in (practice.clinician, practice.researcher):
        page = browser_for(member).get(link)
        assert page.status_code == 200
        html = page.content.decode()
        assert "Thoughts that you would be better off dead" in html
        assert '<tr class="critical">' in html
        assert "1 · Several days" in html
        assert "Not answered" in html
        # 6 points from 7 answers, times 9/7: 7.71, and why it is a decimal.
        assert "Score 7.71" in html
        assert "7 of 9 items were answered" in html
    assert "Name of N-001" not in browser_for(practice.researcher).get(link).content.decode()
    # Someone else's client: not found.
    assert browser_for(practice.colleague).get(link).status_code == 404


def test_the_client_page_shows_the_dropout_risk_and_its_reasons(practice: Practice) -> None:
    now = timezone.now()
    for number, risk in ((1, 0.1), (2, 0.42)):
        SessionFeedback.objects.create(
            episode=practice.own,
            measure_id="phq9",
            rater="client",
            session_number=number,
            score=12.0,
            dropout_risk=risk,
            risk_flags="low_alliance;long_gap" if number == 2 else "",
            computed_at=now,
        )
    html = (
        browser_for(practice.clinician)
        .get(reverse("clinic:episode", args=["north", practice.own.pk]))
        .content.decode()
    )
    assert "after session 2: <strong>42%</strong>" in html
    assert "Low alliance" in html


def test_the_client_page_counts_the_days_without_a_session_as_of_now(
    practice: Practice,
) -> None:
    from ally.web.practice.models import Session, SessionStatus

    now = timezone.now()
    Session.objects.create(
        organisation=practice.org,
        episode=practice.own,
        number=1,
        scheduled_at=now - dt.timedelta(days=17, hours=1),
        status=SessionStatus.ATTENDED,
    )
    SessionFeedback.objects.create(
        episode=practice.own,
        measure_id="phq9",
        rater="client",
        session_number=1,
        score=12.0,
        computed_at=now,
    )
    html = (
        browser_for(practice.clinician)
        .get(reverse("clinic:episode", args=["north", practice.own.pk]))
        .content.decode()
    )
    assert "<li>No session for 17 days</li>" in html
