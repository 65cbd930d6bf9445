"""Endings (issue 13, part 2): a planned ending sends the final measures, the goals re-rated and
the client's review once; those forms take answers after the ending while the others do not;
the follow-up goes out when due; the review's words stay sealed and out of logs, the audit log
and research exports; the closing summary and review reach the client page and the end report."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_MILD, Practice, database_text, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.endings import FollowUpChoice, do_record_review, do_write_closing_summary
from ally.web.actions.goals import do_add_goal
from ally.web.actions.practice import PracticeActionError, do_end_episode
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.due import send_due_links
from ally.web.collect.errors import EpisodeEndedError
from ally.web.collect.models import Administration, AdministrationStatus, Response
from ally.web.endings.models import ClosingSummary, Ending, EndingForm, ReviewWords
from ally.web.monitoring.models import EpisodeFeedback
from ally.web.practice.models import Session
from ally.web.respond.links import signed_token
from ally.web.respond.visit import Visit

HELPED = "Talking about my father with Anna helped the most"
SUMMARY = "Worked on grief and sleep; the client keeps the evening walk routine"


def _course(practice: Practice, *, answer_last: bool) -> Session:
    """Two held sessions with PHQ-9 before each; the last one's left open unless `answer_last`."""
    now = timezone.now()
    last = None
    for number in (1, 2):
        last = Session.objects.create(
            organisation=practice.org,
            episode=practice.own,
            number=number,
            scheduled_at=now - dt.timedelta(days=14 * (2 - number) + 1),
            status="attended",
        )
        form = do_create_administration(practice.own, "phq9", session=last, timing="before")
        if number == 1:
            do_record_response(form, [2] * 9, idempotency_key=f"s{number}")
        elif answer_last:
            do_record_response(form, PHQ9_MILD, idempotency_key=f"s{number}")
    assert last is not None
    return last


def _end_by_plan(practice: Practice, **choices: object) -> Ending:
    do_end_episode(
        practice.own, timezone.localdate(), "planned", actor=practice.clinician, **choices
    )
    return Ending.objects.get(episode=practice.own)


def test_a_planned_ending_sends_the_final_measure_the_goals_and_the_review_once(
    practice: Practice,
) -> None:
    last = _course(practice, answer_last=False)
    do_add_goal(practice.own, "Sleep through the night", actor=practice.clinician)
    ending = _end_by_plan(practice)
    forms = {f.purpose: f.administration for f in EndingForm.objects.filter(ending=ending)}
    assert sorted(forms) == ["final", "goals", "review"]
    # The last session's open PHQ-9 is kept as the final measure, not asked twice.
    assert forms["final"].session == last
    assert forms["final"].measure_id == "phq9"
    assert Administration.objects.filter(session=last, measure_id="phq9").count() == 1
    assert forms["goals"].measure_id == "goal-progress"
    assert forms["review"].measure_id == "ally-review"
    assert all(a.expires_at == ending.answers_until for a in forms.values())
    # A second ending is refused, so the forms are made once.
    with pytest.raises(PracticeActionError):
        do_end_episode(practice.own, timezone.localdate(), "planned", actor=practice.clinician)
    assert EndingForm.objects.filter(ending__episode=practice.own).count() == 3


def test_a_measure_answered_at_the_last_session_is_its_final_score(practice: Practice) -> None:
    _course(practice, answer_last=True)
    ending = _end_by_plan(practice)
    assert [f.purpose for f in EndingForm.objects.filter(ending=ending)] == ["review"]


def test_the_endings_forms_take_answers_after_the_ending_and_the_others_do_not(
    practice: Practice,
) -> None:
    last = _course(practice, answer_last=False)
    srs = do_create_administration(practice.own, "ally-alliance", session=last, timing="after")
    ending = _end_by_plan(practice)
    later = timezone.now() + dt.timedelta(days=5)  # past the 48 hours' grace
    final = EndingForm.objects.get(ending=ending, purpose="final").administration
    with pytest.raises(EpisodeEndedError):
        do_record_response(srs, [3] * 7, idempotency_key="too-late", now=later)
    do_record_response(final, PHQ9_MILD, idempotency_key="final", now=later)
    # The final score is the last session's: the category is the episode's, everywhere.
    summary = EpisodeFeedback.objects.get(episode=practice.own, measure_id="phq9", rater="client")
    assert (summary.first_session, summary.last_session) == (1, 2)
    assert summary.last_score == sum(PHQ9_MILD)
    assert summary.category
    # After the ending's own days it closes too.
    review = EndingForm.objects.get(ending=ending, purpose="review").administration
    assert ending.answers_until is not None
    with pytest.raises(Exception, match="expired"):
        do_record_review(review, 2, {}, idempotency_key="x", now=ending.answers_until)


def test_the_client_answers_the_review_by_link_and_its_words_are_sealed(
    practice: Practice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _course(practice, answer_last=True)
    ending = _end_by_plan(practice, summary=SUMMARY)
    review = EndingForm.objects.get(ending=ending, purpose="review").administration
    browser = Client()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(review)}))
    assert browser.get("/a/")["Location"] == "/a/review/"
    page = browser.get("/a/review/")
    assert "not a validated questionnaire" in page.content.decode()
    sent = browser.post(
        "/a/review/",
        {"review-change": "2", "review-helped": HELPED, "review-keep_doing": "Walks"},
    )
    assert sent.status_code == 302
    assert browser.get("/a/", follow=True).request["PATH_INFO"] == "/a/done/"
    assert Response.objects.get(administration=review).total == 2
    words = ReviewWords.objects.get(administration=review)
    assert words.words() == {"helped": HELPED, "keep_doing": "Walks"}
    # Sealed at rest, never in a log line or the audit log.
    assert HELPED not in database_text()
    assert SUMMARY not in database_text()
    assert HELPED not in caplog.text
    for entry in AuditEntry.objects.all():
        assert HELPED not in str(entry.__dict__)
        assert SUMMARY not in str(entry.__dict__)
    # The clinician reads both on the client page and in the end report.
    staff = Client()
    sign_in(staff, practice.clinician.user)
    page = staff.get(reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk}))
    assert HELPED in page.content.decode()
    assert SUMMARY in page.content.decode()
    report = staff.get(reverse("clinic:report", kwargs={"org": "north", "pk": practice.own.pk}))
    assert HELPED in report.content.decode()
    assert SUMMARY in report.content.decode()
    # A researcher sees the overall change but never the words.
    research = Client()
    sign_in(research, practice.researcher.user)
    page = research.get(reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk}))
    assert page.status_code == 200
    assert HELPED not in page.content.decode()
    assert SUMMARY not in page.content.decode()


def test_the_review_words_are_not_in_the_research_export(practice: Practice, tmp_path) -> None:
    from ally.web.research.export import build

    _course(practice, answer_last=True)
    ending = _end_by_plan(practice, summary=SUMMARY)
    review = EndingForm.objects.get(ending=ending, purpose="review").administration
    do_record_review(review, 1, {"helped": HELPED}, idempotency_key="r")
    built = build(practice.org, tmp_path / "export", min_cell=1)
    texts = b"".join(p.read_bytes() for p in (tmp_path / "export").rglob("*") if p.is_file())
    assert built is not None
    for secret in (HELPED, SUMMARY):
        assert secret.encode() not in texts


def test_the_follow_up_is_sent_when_due_and_taken_after_the_ending(practice: Practice) -> None:
    _course(practice, answer_last=True)
    ending = _end_by_plan(practice, follow_up=FollowUpChoice(("phq9",), 6))
    follow_up = ending.follow_up
    mail.outbox.clear()
    send_due_links(now=follow_up.due_at - dt.timedelta(hours=1))
    assert not EndingForm.objects.filter(purpose="follow_up").exists()
    review_mails = len(mail.outbox)
    run = send_due_links(now=follow_up.due_at + dt.timedelta(minutes=1))
    form = EndingForm.objects.get(purpose="follow_up").administration
    assert form.session is None
    assert form.measure_id == "phq9"
    assert run.sent >= 1
    assert len(mail.outbox) > review_mails
    form.refresh_from_db()
    assert form.status == AdministrationStatus.SENT
    # Sent once: the next run makes no second form.
    send_due_links(now=follow_up.due_at + dt.timedelta(hours=1))
    assert EndingForm.objects.filter(purpose="follow_up").count() == 1
    do_record_response(form, [0] * 9, idempotency_key="fu", now=follow_up.due_at)
    # Not part of the course: the episode's outcome still ends at session 2.
    summary = EpisodeFeedback.objects.get(episode=practice.own, measure_id="phq9", rater="client")
    assert summary.last_session == 2
    assert summary.last_score == sum(PHQ9_MILD)


def test_an_unplanned_ending_sends_nothing_to_the_client(practice: Practice) -> None:
    _course(practice, answer_last=False)
    mail.outbox.clear()
    do_end_episode(practice.own, timezone.localdate(), "dropout", actor=practice.clinician)
    assert not EndingForm.objects.exists()
    send_due_links(now=timezone.now())
    assert mail.outbox == []
    with pytest.raises(PracticeActionError, match="no message"):
        do_end_episode(
            practice.shared,
            timezone.localdate(),
            "dropout",
            actor=practice.clinician,
            tell_stopped=True,
        )


def test_the_closing_summary_keeps_its_versions_and_is_scoped(practice: Practice) -> None:
    _end_by_plan(practice, summary="First")
    do_write_closing_summary(practice.own, "Second", actor=practice.clinician)
    assert [c.text for c in ClosingSummary.objects.filter(episode=practice.own)] == [
        "First",
        "Second",
    ]
    url = reverse("endings:ending", kwargs={"org": "north", "pk": practice.own.pk})
    other = Client()
    sign_in(other, practice.colleague.user)
    assert other.get(url).status_code == 404
    research = Client()
    sign_in(research, practice.researcher.user)
    assert research.get(url).status_code == 200
    assert research.post(url, {"closing-summary": "Third"}).status_code == 403
    staff = Client()
    sign_in(staff, practice.clinician.user)
    assert staff.post(url, {"closing-summary": "Third"}).status_code == 302
    assert ClosingSummary.objects.filter(episode=practice.own).count() == 3


def test_a_planned_ending_sends_the_client_one_message_whose_link_opens_every_form(
    practice: Practice,
) -> None:
    _course(practice, answer_last=False)
    do_add_goal(practice.own, "Sleep through the night", actor=practice.clinician)
    ending = _end_by_plan(practice)
    forms = [f.administration for f in EndingForm.objects.filter(ending=ending)]
    assert len(forms) == 3
    mail.outbox.clear()
    run = send_due_links(now=timezone.now())
    assert run.sent == 3
    [message] = mail.outbox
    assert message.to == ["c@example.org"]
    assert "3 short questionnaires" in message.body
    assert "This one link opens them all" in message.body
    for form in forms:
        form.refresh_from_db()
        assert form.status == AdministrationStatus.SENT
    # Reminded once, in one message too.
    mail.outbox.clear()
    later = timezone.now() + dt.timedelta(hours=25)
    assert send_due_links(now=later).reminded == 3
    [reminder] = mail.outbox
    assert reminder.subject == "Reminder: a few short questionnaires from North Practice"
    assert send_due_links(now=later + dt.timedelta(hours=1)).reminded == 0
    # The one link opens a visit with the final measure, the goals and the review, in turn.
    link = message.body.split("/a/", 1)[1].split()[0]
    browser = Client()
    browser.get(f"/a/{link}")
    granted = Visit(browser.session).administrations()
    assert sorted(a.pk for a in granted) == sorted(a.pk for a in forms)
