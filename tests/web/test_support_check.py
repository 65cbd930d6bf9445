"""Decision support that follows the client: an off-track client gets Ally's support check with
their next forms, once per off-track spell, and its answers and the alliance order the
suggestions; the suggestions used are recorded (docs/feedback.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone, translation
from web_practice import Practice, sign_in

from ally.web.actions.alerts import AlertActionError, do_record_used_suggestions
from ally.web.actions.answers import (
    do_create_administration,
    do_record_response,
    do_send_support_check,
)
from ally.web.alerts.models import Alert, AlertKind, SupportCheck, UsedSuggestion
from ally.web.auditlog.models import AuditEntry
from ally.web.clinic import guidance
from ally.web.collect.models import Respondent, Timing
from ally.web.collect.support import off_track_since
from ally.web.monitoring.models import SessionFeedback
from ally.web.monitoring.refresh import fit_model
from ally.web.practice.models import Episode, Membership, Session, SessionStatus

NOW = timezone.make_aware(dt.datetime(2026, 3, 2, 12))
# A worsening PHQ-9 course (10 -> 14 -> 19): off the expected course, red by session 3 under
# the published values (the course of tests/web/test_monitoring.py).
PHQ9_COURSE = [
    [1, 1, 1, 1, 1, 1, 1, 2, 1],
    [2, 2, 1, 2, 1, 2, 2, 1, 1],
    [2, 2, 2, 2, 2, 2, 2, 2, 3],
]
# The client's alliance holds: no part of it falls.
ALLIANCE_COURSE = [[3, 3, 3, 3, 3, 3, 3]] * 3
# The support check: the working relationship and motivation fine, social support low (items 7
# and 8 "Not at all", item 9 "I feel alone" "Completely": a domain mean of 0), life events fine.
SUPPORT_LOW_SOCIAL = [4, 4, 4, 3, 3, 3, 0, 0, 4, 0, 0]


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def page(member: Membership, episode: Episode, language: str = "en") -> str:
    url = reverse("clinic:episode", kwargs={"org": "north", "pk": episode.pk})
    return browser_for(member).get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def session(episode: Episode, number: int, days: int) -> Session:
    return Session.objects.create(
        organisation=episode.organisation,
        episode=episode,
        number=number,
        scheduled_at=NOW + dt.timedelta(days=days),
        status=SessionStatus.ATTENDED if days < 0 else SessionStatus.SCHEDULED,
    )


def answer_course(episode: Episode, sessions: int = 3) -> Session:
    """Sessions 1-3 answered (PHQ-9 and the alliance check-in), session 4 still ahead."""
    ahead = session(episode, sessions + 1, days=5)
    for number in range(1, sessions + 1):
        held = session(episode, number, days=-7 * (sessions + 1 - number))
        course = {"phq9": PHQ9_COURSE, "ally-alliance": ALLIANCE_COURSE}
        for measure, answers in course.items():
            do_record_response(
                do_create_administration(episode, measure, session=held),
                answers[number - 1],
                idempotency_key=f"{episode.pk}-{measure}-{number}",
                now=NOW,
            )
    return ahead


@pytest.fixture
def off_track(practice: Practice) -> Episode:
    answer_course(practice.own)
    return practice.own


def answer_check(episode: Episode, answers: list[int]) -> None:
    check = SupportCheck.objects.get(episode=episode)
    do_record_response(
        check.administration, answers, idempotency_key=f"support-{episode.pk}", now=NOW
    )


# --- Sending -----------------------------------------------------------------------------------


def test_an_off_track_answer_sends_exactly_one_support_check_with_the_next_forms(
    off_track: Episode,
) -> None:
    signals = SessionFeedback.objects.filter(episode=off_track, measure_id="phq9")
    assert "red" in set(signals.values_list("signal", flat=True))
    check = SupportCheck.objects.get(episode=off_track)
    administration = check.administration
    assert administration.measure_id == "ally-support"
    assert (administration.respondent, administration.timing) == (Respondent.CLIENT, Timing.BEFORE)
    # The next contact: session 4, five days ahead; its link goes with that session's forms.
    assert administration.session.number == 4
    assert check.requested_by is None
    assert check.spell_started == off_track_since(signals)
    assert AuditEntry.objects.filter(action="support_check.requested").count() == 1


def test_a_further_off_track_answer_in_the_same_spell_sends_no_second_check(
    off_track: Episode,
) -> None:
    ahead = Session.objects.get(episode=off_track, number=4)
    do_record_response(
        do_create_administration(off_track, "phq9", session=ahead),
        [3, 2, 2, 2, 2, 2, 2, 2, 3],
        idempotency_key="later",
        now=NOW,
    )
    assert SupportCheck.objects.filter(episode=off_track).count() == 1
    # Answered, the check still covers its spell.
    answer_check(off_track, SUPPORT_LOW_SOCIAL)
    session(off_track, 5, days=12)
    do_record_response(
        do_create_administration(off_track, "phq9", session=ahead),
        [3, 3, 2, 2, 2, 2, 2, 2, 3],
        idempotency_key="later-still",
        now=NOW,
    )
    assert SupportCheck.objects.filter(episode=off_track).count() == 1


def test_a_client_on_track_gets_no_support_check(practice: Practice) -> None:
    held = session(practice.own, 1, days=-7)
    session(practice.own, 2, days=5)
    do_record_response(
        do_create_administration(practice.own, "phq9", session=held),
        PHQ9_COURSE[0],
        idempotency_key="first",
        now=NOW,
    )
    assert not SupportCheck.objects.exists()


def test_the_support_check_stays_out_of_the_practice_model(off_track: Episode) -> None:
    answer_check(off_track, SUPPORT_LOW_SOCIAL)
    assert not SessionFeedback.objects.filter(measure_id="ally-support").exists()
    assert "ally-support" not in fit_model([], {}, "").measures


def test_a_clinician_sends_it_by_hand_once_while_it_is_open(practice: Practice) -> None:
    session(practice.own, 1, days=3)
    url = reverse("clinic:support_check_send", kwargs={"org": "north", "pk": practice.own.pk})
    browser = browser_for(practice.clinician)
    assert browser.post(url).status_code == 302
    check = SupportCheck.objects.get()
    assert (check.requested_by, check.spell_started) == (practice.clinician, None)
    answer = browser.post(url, follow=True).content.decode()
    assert "already waiting for the client" in answer
    assert SupportCheck.objects.count() == 1


def test_without_a_next_session_the_due_job_sends_the_check_on_its_own(
    practice: Practice, settings
) -> None:
    from django.core import mail

    from ally.web.collect.due import send_due_links

    check = do_send_support_check(practice.own, actor=practice.clinician)
    assert check.administration.session is None
    run = send_due_links()
    assert run.sent == 1
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("who", "episode", "status"),
    [("clinician", "other", 404), ("outsider", "own", 404), ("researcher", "own", 403)],
)
def test_only_the_caseload_may_send_a_support_check(
    practice: Practice, who: str, episode: str, status: int
) -> None:
    target = getattr(practice, episode)
    url = reverse("clinic:support_check_send", kwargs={"org": "north", "pk": target.pk})
    assert browser_for(getattr(practice, who)).post(url).status_code == status
    assert not SupportCheck.objects.exists()


# --- Ordering ----------------------------------------------------------------------------------


def keys(suggestions: list[guidance.Suggestion]) -> list[str]:
    return [s.step.key for s in suggestions]


CHECKED = guidance.CheckState(
    sent_on=dt.date(2026, 3, 2),
    answered=guidance.CheckResult(
        answered_on=dt.date(2026, 3, 3),
        scores={"alliance": 3.0, "motivation": 1.3, "social_support": 0.7, "life_events": 2.5},
        names={"social_support": "Social support", "motivation": "Motivation"},
        concerns=frozenset({"motivation", "social_support"}),
    ),
)


def test_without_anything_known_the_decision_trees_order_stands() -> None:
    found = guidance.follow_the_client(guidance.NOT_ON_TRACK, guidance.CheckState(), None)
    assert keys(found) == [s.key for s in guidance.NOT_ON_TRACK_STEPS]
    assert all(not s.reasons for s in found)


def test_domains_the_check_found_low_come_first_the_lowest_first() -> None:
    with translation.override("en"):
        found = guidance.follow_the_client(guidance.NOT_ON_TRACK, CHECKED, None)
    assert keys(found)[:2] == ["social_support", "motivation"]
    assert found[0].reasons == (
        "Social support was low in the support check on 3 Mar 2026 (0.7 of 4).",
    )
    # Checked and no concern: after the steps nothing speaks to (approach, risk).
    assert keys(found)[-2:] == ["alliance", "life_events"]
    assert [s.position for s in found] == list(range(1, 8))


def test_a_part_of_the_alliance_that_fell_moves_its_suggestion_up() -> None:
    parts = guidance.PartsNow(
        measure="Ally alliance check-in",
        session=5,
        latest={"bond": 7.0, "goals": 3.0, "tasks": 6.0},
        previous={"bond": 7.0, "goals": 6.0, "tasks": 6.0},
    )
    with translation.override("en"):
        found = guidance.follow_the_client(guidance.NOT_ON_TRACK, guidance.CheckState(), parts)
    assert keys(found)[0] == "goals"
    assert found[0].reasons == ("Goals fell from 6 to 3 at session 5 (Ally alliance check-in).",)


def test_a_rupture_comes_before_a_fall_and_after_a_low_domain() -> None:
    parts = guidance.PartsNow(
        measure="WAI-SR",
        session=5,
        latest={"bond": 10.0, "goals": 12.0, "tasks": 14.0},
        previous={"bond": 16.0, "goals": 14.0, "tasks": 14.0},
        ruptured="bond",
    )
    found = guidance.follow_the_client(guidance.NOT_ON_TRACK, CHECKED, parts)
    assert keys(found)[:4] == ["social_support", "motivation", "alliance", "goals"]
    assert found[2].reasons[0].endswith("a rupture.")


def test_other_guidance_keeps_its_order() -> None:
    found = guidance.follow_the_client(guidance.RUPTURE, CHECKED, None)
    assert keys(found) == [s.key for s in guidance.RUPTURE.steps]


def test_the_note_says_when_the_check_is_not_answered_yet() -> None:
    sent = guidance.CheckState(sent_on=dt.date(2026, 3, 2))
    with translation.override("en"):
        said = guidance.check_note(sent, None)
    assert said.startswith("The support check was sent on 2 Mar 2026 and is not answered yet")


# --- On the client page ------------------------------------------------------------------------


def positions(html: str, *steps: guidance.Step) -> list[int]:
    return [html.index(str(step.text)) for step in steps]


def test_answering_the_check_reorders_the_guidance_on_the_client_page(
    practice: Practice, off_track: Episode
) -> None:
    before = page(practice.clinician, off_track)
    assert "The support check was sent on" in before
    alliance, social = positions(before, guidance.ALLIANCE, guidance.SOCIAL_SUPPORT)
    assert alliance < social
    answer_check(off_track, SUPPORT_LOW_SOCIAL)
    after = page(practice.clinician, off_track)
    alliance, social = positions(after, guidance.ALLIANCE, guidance.SOCIAL_SUPPORT)
    assert social < alliance
    assert "Social support was low in the support check on" in after
    assert "Ordered by the support check the client answered on" in after


def test_the_suggestions_used_are_recorded_with_their_place_and_shown(
    practice: Practice, off_track: Episode
) -> None:
    answer_check(off_track, SUPPORT_LOW_SOCIAL)
    alert = Alert.objects.get(episode=off_track, kind=AlertKind.SIGNAL_RED)
    url = reverse("clinic:alert_act", kwargs={"org": "north", "pk": alert.pk})
    browser_for(practice.clinician).post(
        url,
        {
            f"alert-{alert.pk}-done": ["social_support"],
            f"alert-{alert.pk}-note": "Talked about who could help at home.",
        },
    )
    used = UsedSuggestion.objects.get()
    assert (used.alert, used.episode, used.step, used.position) == (
        alert,
        off_track,
        "social_support",
        1,
    )
    assert used.recorded_by == practice.clinician
    alert.refresh_from_db()
    assert alert.note.startswith("Asked about social support.\n")
    assert AuditEntry.objects.filter(action="suggestion.used").count() == 1
    html = page(practice.clinician, off_track)
    assert "Asked about social support:" in html
    assert "(suggestion 1 in the list)" in html


def test_another_caseloads_clinician_cannot_record_suggestions(
    practice: Practice, off_track: Episode
) -> None:
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    with pytest.raises(Http404):
        do_record_used_suggestions(off_track, practice.colleague, "not_on_track", ["risk"])
    with pytest.raises(PermissionDenied):
        do_record_used_suggestions(off_track, practice.researcher, "not_on_track", ["risk"])
    url = reverse("clinic:suggestions_used", kwargs={"org": "north", "pk": off_track.pk})
    posted = {
        "measure": "phq9",
        "used-phq9-guidance": "less_progress",
        "used-phq9-done": ["risk"],
    }
    assert browser_for(practice.colleague).post(url, posted).status_code == 404
    assert not UsedSuggestion.objects.exists()


def test_a_yellow_signal_records_its_used_suggestions_without_an_alert(
    practice: Practice,
) -> None:
    SessionFeedback.objects.create(
        episode=practice.own,
        measure_id="phq9",
        rater="client",
        session_number=3,
        score=14,
        signal="yellow",
        computed_at=NOW,
    )
    url = reverse("clinic:suggestions_used", kwargs={"org": "north", "pk": practice.own.pk})
    posted = {
        "measure": "phq9",
        "used-phq9-guidance": "less_progress",
        "used-phq9-done": ["motivation", "risk"],
    }
    assert browser_for(practice.clinician).post(url, posted).status_code == 302
    used = UsedSuggestion.objects.order_by("pk")
    assert [(u.step, u.alert, u.guidance) for u in used] == [
        ("motivation", None, "less_progress"),
        ("risk", None, "less_progress"),
    ]
    with pytest.raises(AlertActionError):
        do_record_used_suggestions(practice.own, practice.clinician, "less_progress", ["nope"])


def test_the_support_check_and_its_reasons_read_in_german(
    practice: Practice, off_track: Episode
) -> None:
    answer_check(off_track, SUPPORT_LOW_SOCIAL)
    html = page(practice.clinician, off_track, language="de")
    assert "Soziale Unterstützung war im Unterstützungs-Check vom" in html
    assert "Geordnet nach dem Unterstützungs-Check vom" in html
    # Answered, nothing is open: another may be sent by hand.
    assert "Den Unterstützungs-Check senden" in html
