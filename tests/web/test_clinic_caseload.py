"""The caseload: most urgent first, in a fixed number of queries, scoped by role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, episode_for, sign_in

from ally.web.actions.answers import do_create_administration
from ally.web.alerts.models import Alert, AlertKind
from ally.web.clinic.urgency import OVERDUE_AFTER_HOURS, Facts, Urgency, caseload_rows, urgency
from ally.web.collect.models import Administration
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import Episode, Membership, Session

NOW = timezone.now()


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def caseload_url(practice: Practice, **query: str) -> str:
    url = reverse("clinic:caseload", kwargs={"org": practice.org.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def feedback(episode: Episode, session: int, measure_id: str = "phq9", **fields: object) -> None:
    values: dict[str, object] = {"score": 12.0, "computed_at": NOW, "rater": "client"}
    values.update(fields)
    SessionFeedback.objects.create(
        episode=episode, measure_id=measure_id, session_number=session, **values
    )


def alert(episode: Episode, kind: str, acted: bool = False) -> Alert:
    raised = Alert.objects.create(
        episode=episode, kind=kind, message="Look at this.", raised_at=NOW
    )
    if acted:
        Alert.objects.filter(pk=raised.pk).update(
            seen_at=NOW,
            seen_by=episode.clinician,
            acted_at=NOW,
            acted_by=episode.clinician,
            action_note="Done.",
        )
    return raised


def overdue_form(episode: Episode) -> Administration:
    administration = do_create_administration(episode, "phq9")
    sent = NOW - dt.timedelta(hours=OVERDUE_AFTER_HOURS + 1)
    Administration.objects.filter(pk=administration.pk).update(status="sent", sent_at=sent)
    return administration


def one_of_each(practice: Practice) -> dict[str, Episode]:
    """Six episodes of the clinician, one per urgency group, with codes in reverse order so
    that sorting by code alone would give the wrong order."""
    clinician = practice.clinician
    made = {
        "routine": episode_for(clinician, "A-routine"),
        "overdue": episode_for(clinician, "B-overdue"),
        "dropout": episode_for(clinician, "C-dropout"),
        "rupture": episode_for(clinician, "D-rupture"),
        "red": episode_for(clinician, "E-red"),
        "critical": episode_for(clinician, "F-critical"),
    }
    alert(made["critical"], AlertKind.CRITICAL_ITEM)
    feedback(made["red"], 1, signal="green")
    feedback(made["red"], 2, signal="red")
    EpisodeFeedback.objects.create(
        episode=made["rupture"],
        measure_id="ally-alliance",
        rater="client",
        sessions=3,
        first_session=1,
        last_session=3,
        first_score=20,
        last_score=15,
        ruptures=1,
        unrepaired=1,
        computed_at=NOW,
    )
    feedback(made["dropout"], 3, dropout_risk=0.8)
    overdue_form(made["overdue"])
    return made


def codes_in_order(html: str, codes: list[str]) -> list[str]:
    return sorted(codes, key=html.index)


def test_the_caseload_puts_critical_before_red_before_rupture_before_dropout_before_overdue(
    practice: Practice,
) -> None:
    made = one_of_each(practice)
    # The routine episode has an earlier unrelated colleague row to make sure it stays last.
    response = browser_for(practice.clinician).get(caseload_url(practice))
    assert response.status_code == 200
    codes = [e.client.code for e in made.values()]
    assert codes_in_order(response.content.decode(), codes) == [
        "F-critical",
        "E-red",
        "D-rupture",
        "C-dropout",
        "B-overdue",
        "A-routine",
    ]


def test_acted_on_alerts_no_longer_raise_an_episode(practice: Practice) -> None:
    episode = episode_for(practice.clinician, "Z-was-critical")
    alert(episode, AlertKind.CRITICAL_ITEM, acted=True)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[episode.pk].urgency == Urgency.ROUTINE


def test_a_red_signal_alert_or_a_dropout_alert_counts_without_feedback_rows(
    practice: Practice,
) -> None:
    red = episode_for(practice.clinician, "R-1")
    alert(red, AlertKind.SIGNAL_RED)
    risky = episode_for(practice.clinician, "R-2")
    alert(risky, AlertKind.DROPOUT_RISK)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[red.pk].urgency == Urgency.RED_SIGNAL
    assert rows[risky.pk].urgency == Urgency.DROPOUT_RISK


def test_a_form_sent_less_than_48_hours_ago_is_not_overdue(practice: Practice) -> None:
    administration = do_create_administration(practice.own, "phq9")
    sent = NOW - dt.timedelta(hours=OVERDUE_AFTER_HOURS - 1)
    Administration.objects.filter(pk=administration.pk).update(status="sent", sent_at=sent)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[practice.own.pk].urgency == Urgency.ROUTINE
    Administration.objects.filter(pk=administration.pk).update(
        sent_at=NOW - dt.timedelta(hours=OVERDUE_AFTER_HOURS + 1)
    )
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[practice.own.pk].urgency == Urgency.OVERDUE_FORMS


def test_a_form_open_past_its_expiry_is_overdue(practice: Practice) -> None:
    do_create_administration(practice.own, "phq9", expires_at=NOW - dt.timedelta(minutes=5))
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[practice.own.pk].facts.overdue_forms


def test_urgency_takes_the_first_group_that_holds() -> None:
    assert urgency(Facts()) == Urgency.ROUTINE
    assert urgency(Facts(overdue_forms=True, red_signal=True)) == Urgency.RED_SIGNAL
    assert urgency(Facts(critical_item=True, dropout_risk=True)) == Urgency.CRITICAL_ITEM


def test_routine_episodes_come_by_their_next_session(practice: Practice) -> None:
    later = episode_for(practice.clinician, "A-later")
    sooner = episode_for(practice.clinician, "B-sooner")
    for episode, days in ((later, 9), (sooner, 2)):
        Session.objects.create(
            organisation=practice.org,
            episode=episode,
            number=1,
            scheduled_at=NOW + dt.timedelta(days=days),
        )
    order = [r.episode.pk for r in caseload_rows(practice.clinician)]
    assert order.index(sooner.pk) < order.index(later.pk)
    # Without a next session an episode comes after those with one.
    assert order.index(later.pk) < order.index(practice.own.pk)


def test_each_row_shows_score_band_signal_alliance_and_flags_in_words(
    practice: Practice,
) -> None:
    feedback(practice.own, 1, score=16, band="moderately severe", signal="")
    feedback(
        practice.own,
        2,
        score=17,
        band="moderately severe",
        signal="yellow",
        risk_flags="low_alliance;no_progress",
    )
    feedback(practice.own, 2, measure_id="ally-alliance", score=19)
    html = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert "PHQ-9 <strong>17</strong>" in html
    assert "(moderately severe)" in html
    assert '<span class="signal-yellow">Less progress than expected</span>' in html
    assert "<strong>19</strong>" in html
    assert "Low alliance" in html
    assert "No progress since the start" in html


def test_the_caseload_query_count_does_not_grow_with_its_rows(
    practice: Practice, django_assert_max_num_queries
) -> None:
    browser = browser_for(practice.supervisor)
    one_of_each(practice)
    with CaptureQueriesContext(connection) as few:
        browser.get(caseload_url(practice))
    for number in range(12):
        episode = episode_for(practice.clinician, f"M-{number:02}")
        feedback(episode, 1, signal="green", risk_flags="long_gap")
        feedback(episode, 1, measure_id="ally-alliance", score=20)
        alert(episode, AlertKind.RUPTURE)
        overdue_form(episode)
    with CaptureQueriesContext(connection) as many:
        response = browser.get(caseload_url(practice))
    assert response.content.decode().count('href="/o/north/episodes/') >= 20
    assert len(many) == len(few)
    # 7 for the page, 1 for the second factor, 3 for every staff request (the signed-in device,
    # the practice's sign-outs, the header's self-care reminder), up to 5 for the read's audit
    # entry (savepoint, PostgreSQL's advisory lock, the last digest, the insert, release).
    with django_assert_max_num_queries(7 + 1 + 3 + 5):
        browser.get(caseload_url(practice))


def test_a_clinician_sees_their_own_and_care_team_episodes_only(practice: Practice) -> None:
    html = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert "N-001" in html
    assert "N-002" in html
    assert "N-003" not in html
    assert "S-001" not in html


def test_ended_episodes_are_hidden_unless_asked_for(practice: Practice) -> None:
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=dt.date(2026, 3, 1), end_reason="planned"
    )
    browser = browser_for(practice.clinician)
    assert "N-001" not in browser.get(caseload_url(practice)).content.decode()
    ended = browser.get(caseload_url(practice, show="ended")).content.decode()
    assert "N-001" in ended
    assert "N-002" not in ended
    both = browser.get(caseload_url(practice, show="all")).content.decode()
    assert "N-001" in both
    assert "N-002" in both


def test_names_show_for_clinicians_and_never_for_researchers(practice: Practice) -> None:
    clinician = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert "Name of N-001" in clinician
    researcher = browser_for(practice.researcher).get(caseload_url(practice))
    html = researcher.content.decode()
    assert researcher.status_code == 200
    assert "N-001" in html
    assert "N-003" in html
    assert "Name of" not in html
    assert reverse("clinic:client_new", kwargs={"org": "north"}) not in html


def test_home_is_the_caseload_and_another_organisation_is_a_404(practice: Practice) -> None:
    browser = browser_for(practice.clinician)
    home = browser.get(reverse("clinic:home", kwargs={"org": "north"}))
    assert home.status_code == 200
    assert "N-001" in home.content.decode()
    assert browser.get(reverse("clinic:home", kwargs={"org": "south"})).status_code == 404


def test_the_staff_nav_shows_the_dashboard_to_supervisors_only(practice: Practice) -> None:
    dashboard = reverse("dashboard:home", kwargs={"org": "north"})
    assert (
        dashboard in browser_for(practice.supervisor).get(caseload_url(practice)).content.decode()
    )
    assert (
        dashboard
        not in browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    )


@pytest.mark.parametrize("show", ["open", "ended", "all", "nonsense"])
def test_the_filter_never_fails(practice: Practice, show: str) -> None:
    response = browser_for(practice.clinician).get(caseload_url(practice, show=show))
    assert response.status_code == 200


def rupture_summary(episode: Episode, ruptures: int, repairs: int) -> EpisodeFeedback:
    return EpisodeFeedback.objects.create(
        episode=episode,
        measure_id="ally-alliance",
        rater="client",
        sessions=5,
        first_session=1,
        last_session=5,
        first_score=20,
        last_score=18,
        ruptures=ruptures,
        repairs=repairs,
        computed_at=NOW,
    )


@pytest.mark.parametrize(
    ("ruptures", "repairs", "urgent"), [(1, 0, True), (2, 1, True), (1, 1, False)]
)
def test_the_caseload_and_the_client_page_count_ruptures_not_repaired_alike(
    practice: Practice, ruptures: int, repairs: int, urgent: bool
) -> None:
    # An open rupture within its repair window is not repaired yet: both screens say so.
    rupture_summary(practice.own, ruptures, repairs)
    feedback(practice.own, 5, measure_id="ally-alliance", score=18.0)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert (rows[practice.own.pk].urgency == Urgency.UNREPAIRED_RUPTURE) is urgent
    page = (
        browser_for(practice.clinician)
        .get(f"/o/north/episodes/{practice.own.pk}/")
        .content.decode()
    )
    shown = f"Ruptures: {ruptures}; repaired: {repairs}; not repaired: {ruptures - repairs}."
    assert shown in page


def test_not_on_track_names_its_measure_and_each_signal_names_its_own(
    practice: Practice,
) -> None:
    # CORE-10 red and GAD-7 green at their latest scores: the row says which is which.
    feedback(practice.own, 2, measure_id="core10", signal="red", score=28.0)
    feedback(practice.own, 3, measure_id="gad7", signal="green", score=9.0)
    feedback(practice.own, 4, measure_id="gad7", signal="green", score=8.0)
    row = {r.episode.pk: r for r in caseload_rows(practice.clinician)}[practice.own.pk]
    assert row.reasons == ["Not on track (CORE-10)"]
    html = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert "CORE-10: <span" in html
    assert "GAD-7: <span" in html


def test_a_dropout_risk_below_the_practice_threshold_is_shown_but_not_urgent(
    practice: Practice, settings
) -> None:
    settings.ALLY_DROPOUT_ALERT = 0.5
    feedback(practice.own, 2, dropout_risk=0.49)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[practice.own.pk].urgency == Urgency.ROUTINE
    assert rows[practice.own.pk].dropout_risk == pytest.approx(0.49)
    html = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert "<strong>49%</strong>" in html


def test_a_critical_item_left_unanswered_is_a_critical_item(practice: Practice) -> None:
    alert(practice.own, AlertKind.CRITICAL_UNANSWERED)
    rows = {r.episode.pk: r for r in caseload_rows(practice.clinician)}
    assert rows[practice.own.pk].urgency == Urgency.CRITICAL_ITEM


def test_the_clinician_column_shows_only_when_the_caseload_holds_someone_elses_episode(
    practice: Practice,
) -> None:
    def has_column(member: object) -> bool:
        html = browser_for(member).get(caseload_url(practice)).content.decode()  # type: ignore[arg-type]
        return '<th scope="col">Clinician</th>' in html

    assert not has_column(practice.colleague)  # their own episodes only
    assert has_column(practice.clinician)  # also a colleague's, in its care team
    assert has_column(practice.supervisor)


def test_the_navigation_counts_the_open_alerts_the_member_may_see(practice: Practice) -> None:
    alert(practice.own, AlertKind.CRITICAL_ITEM)
    alert(practice.own, AlertKind.RUPTURE, acted=True)
    alert(practice.other, AlertKind.SIGNAL_RED)  # a colleague's client the clinician never sees
    html = browser_for(practice.clinician).get(caseload_url(practice)).content.decode()
    assert 'Alerts <span class="count">(1 open)</span>' in html
    html = browser_for(practice.supervisor).get(caseload_url(practice)).content.decode()
    assert "(2 open)" in html


def test_days_without_a_session_are_counted_when_the_caseload_is_shown(
    practice: Practice,
) -> None:
    """Not at the latest answer: a client who stops coming shows it without any refresh."""
    from ally.web.practice.models import SessionStatus

    Session.objects.create(
        organisation=practice.org,
        episode=practice.own,
        number=1,
        scheduled_at=NOW - dt.timedelta(days=20),
        status=SessionStatus.ATTENDED,
    )
    feedback(practice.own, 1)
    row = next(r for r in caseload_rows(practice.clinician, now=NOW) if r.episode == practice.own)
    assert row.risk_flags[0] == "No session for 20 days"
    # Two weeks are within the usual rhythm of sessions: no sign.
    soon = NOW - dt.timedelta(days=6)
    row = next(r for r in caseload_rows(practice.clinician, now=soon) if r.episode == practice.own)
    assert not any(flag.startswith("No session for") for flag in row.risk_flags)
