"""The write path for endings: what a planned ending sends the client, their review, the
clinician's closing summary, the follow-up check and, only where the practice allows it, the
message to a client who stopped.

`do_end_episode` (actions/practice.py) calls `record_ending` inside its own transaction, after
the ending has closed the episode's other forms. The forms made here are ordinary
administrations marked as the ending's (`EndingForm`): the one exception to the ended-episode
rules (`closed_by_the_ending`), each taking answers until its own expiry. Audit entries name rows
by their keys only, never the client's or the clinician's words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.change.goals import MEASURE as PROGRESS
from ally.measures import Kind
from ally.web import audit
from ally.web.actions.answers import do_record_response
from ally.web.collect import measures
from ally.web.collect.models import (
    Administration,
    AdministrationStatus,
    PlannedMeasure,
    Respondent,
    Timing,
)
from ally.web.collect.models.administrations import OPEN_STATUSES
from ally.web.endings.models import (
    LONGEST_REVIEW_ANSWER,
    LONGEST_SUMMARY,
    REVIEW,
    REVIEW_QUESTIONS,
    ClosingSummary,
    Ending,
    EndingForm,
    FollowUp,
    Purpose,
    ReviewWords,
)
from ally.web.goals.models import Goal
from ally.web.practice.models import EndReason, Episode, Membership, Session, SessionStatus
from ally.web.scoping import check_can_record
from ally.web.text import NOTE, TextRefusedError, clean

LONGEST_FOLLOW_UP_WEEKS = 52


class EndingActionError(Exception):
    """An ending's change that cannot be made as asked; `field` names the form field."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FollowUpChoice:
    """A follow-up check chosen at the ending: these measures, so many weeks after it."""

    measure_ids: tuple[str, ...]
    weeks: int


# --- What an ending sends ---------------------------------------------------------------------


def outcome_measures() -> list[str]:
    """The library's outcome measures: what final measures and follow-ups may ask."""
    return [m.id for m in measures.library() if m.kind == Kind.OUTCOME]


def final_measures(episode: Episode) -> list[str]:
    """The client-rated outcome measures of the episode: those in its plan and those the client
    has answered, so that each has a last score to end on."""
    outcome = set(outcome_measures())
    wanted = set(
        PlannedMeasure.objects.filter(
            plan__episode=episode, respondent=Respondent.CLIENT
        ).values_list("measure_id", flat=True)
    )
    wanted |= set(
        Administration.objects.filter(
            episode=episode, respondent=Respondent.CLIENT, status=AdministrationStatus.COMPLETED
        ).values_list("measure_id", flat=True)
    )
    return sorted(wanted & outcome)


def last_held_session(episode: Episode) -> Session | None:
    """The episode's last session on or before its last day that was not missed or cancelled:
    the final scores count as this session's, the last of the course."""
    assert episode.ended_on is not None
    sessions = (
        Session.objects.filter(episode=episode, number__isnull=False)
        .exclude(status__in=[SessionStatus.MISSED, SessionStatus.CANCELLED])
        .order_by("-number")
    )
    return next(
        (s for s in sessions if timezone.localdate(s.scheduled_at) <= episode.ended_on), None
    )


def _new_form(
    ending: Ending,
    purpose: str,
    measure_id: str,
    *,
    session: Session | None,
    expires_at: dt.datetime,
    actor: Membership | None,
) -> EndingForm:
    """An administration for the ended episode, marked as the ending's. Made here, not by
    `do_create_administration`, because that refuses ended episodes: this is the exception."""
    measure = measures.measure(measure_id)
    administration = Administration.objects.create(
        episode=ending.episode,
        session=session,
        measure_id=measure.id,
        measure_version=measure.version,
        respondent=Respondent.CLIENT,
        timing=Timing.AFTER if session is not None else "",
        expires_at=expires_at,
    )
    audit.record("administration.created", actor=actor, target=administration)
    form = EndingForm.objects.create(ending=ending, administration=administration, purpose=purpose)
    audit.record("ending.form_added", actor=actor, target=form)
    return form


def _send_ending_forms(ending: Ending, actor: Membership | None, now: dt.datetime) -> None:
    """The final measures, the goals re-rated and the review, each once.

    At the last held session a measure the client answered already is not asked again (that
    answer is the final score, as NHS Talking Therapies take the last session's score as the
    end score); one still open there is kept and given the ending's time. Without a held session
    there is no course to end, so only the goals and the review are sent."""
    episode = ending.episode
    until = now + dt.timedelta(days=settings.ALLY_ENDING_FORM_DAYS)
    ending.answers_until = until
    ending.save(update_fields=["answers_until"])
    session = last_held_session(episode)
    wanted: list[tuple[str, str]] = []
    if session is not None:
        wanted += [(str(Purpose.FINAL), m) for m in final_measures(episode)]
    if Goal.objects.filter(episode=episode, closed_at__isnull=True).exists():
        wanted.append((str(Purpose.GOALS), PROGRESS))
    wanted.append((str(Purpose.REVIEW), REVIEW))
    for purpose, measure_id in wanted:
        if session is not None and purpose != str(Purpose.REVIEW):
            there = Administration.objects.filter(
                episode=episode,
                session=session,
                measure_id=measure_id,
                respondent=Respondent.CLIENT,
            )
            if there.filter(status=AdministrationStatus.COMPLETED).exists():
                continue
            kept = there.filter(status__in=sorted(OPEN_STATUSES), ending_form__isnull=True).first()
            if kept is not None:
                kept.expires_at = until
                kept.save(update_fields=["expires_at"])
                form = EndingForm.objects.create(
                    ending=ending, administration=kept, purpose=purpose
                )
                audit.record("ending.form_added", actor=actor, target=form)
                continue
        _new_form(ending, purpose, measure_id, session=session, expires_at=until, actor=actor)


def _check_follow_up(choice: FollowUpChoice) -> FollowUpChoice:
    known = set(outcome_measures())
    chosen = tuple(dict.fromkeys(choice.measure_ids))
    if not chosen or not set(chosen) <= known:
        raise EndingActionError(
            _("Choose at least one outcome measure for the follow-up."), field="follow_up_measures"
        )
    if not 1 <= choice.weeks <= LONGEST_FOLLOW_UP_WEEKS:
        raise EndingActionError(
            _("A follow-up comes 1 to %(weeks)s weeks after the ending.")
            % {"weeks": LONGEST_FOLLOW_UP_WEEKS},
            field="follow_up_weeks",
        )
    return FollowUpChoice(chosen, choice.weeks)


def check_ending_choices(
    reason: str, follow_up: FollowUpChoice | None, summary: str, tell_stopped: bool
) -> tuple[FollowUpChoice | None, str]:
    """Refuse what cannot be recorded, before the ending is: the follow-up, the summary's text,
    and a message to a client who stopped where the practice has not allowed it."""
    if follow_up is not None:
        follow_up = _check_follow_up(follow_up)
    summary = _summary_text(summary, required=False)
    if tell_stopped and (reason == str(EndReason.PLANNED) or not settings.ALLY_STOPPED_MESSAGE):
        raise EndingActionError(
            _("This practice sends no message to a client who stopped."), field="tell_stopped"
        )
    return follow_up, summary


def record_ending(
    episode: Episode,
    *,
    actor: Membership,
    follow_up: FollowUpChoice | None = None,
    summary: str = "",
    tell_stopped: bool = False,
    now: dt.datetime | None = None,
) -> Ending:
    """What the ending sends and keeps, inside `do_end_episode`'s transaction (the episode has
    its date and reason, and its other forms are closed). The choices were checked by
    `check_ending_choices` before."""
    now = now or timezone.now()
    ending = Ending.objects.create(
        organisation_id=episode.organisation_id, episode=episode, recorded_at=now, recorded_by=actor
    )
    audit.record("ending.recorded", actor=actor, target=ending)
    if episode.end_reason == str(EndReason.PLANNED):
        _send_ending_forms(ending, actor, now)
    if follow_up is not None:
        assert episode.ended_on is not None
        last_day = timezone.make_aware(dt.datetime.combine(episode.ended_on, dt.time(9)))
        due = last_day + dt.timedelta(weeks=follow_up.weeks)
        plan = FollowUp.objects.create(
            ending=ending,
            measure_ids=list(follow_up.measure_ids),
            weeks=follow_up.weeks,
            due_at=due,
            answers_until=due + dt.timedelta(days=settings.ALLY_FOLLOW_UP_DAYS),
        )
        audit.record("follow_up.scheduled", actor=actor, target=plan)
    if summary:
        _new_summary(episode, summary, actor, now)
    if tell_stopped:
        from ally.web.endings.messages import tell_client_we_noticed

        if tell_client_we_noticed(episode):
            ending.stopped_message_sent_at = now
            ending.save(update_fields=["stopped_message_sent_at"])
            audit.record("ending.stopped_message_sent", actor=actor, target=ending)
    return ending


# --- The client's review ---------------------------------------------------------------------


def review_answer(text: str, question: str) -> str:
    try:
        text = clean(text, NOTE)
    except TextRefusedError as exc:
        raise EndingActionError(str(exc), field=question) from None
    if len(text) > LONGEST_REVIEW_ANSWER:
        raise EndingActionError(
            _("This is longer than %(count)s characters; shorten it.")
            % {"count": LONGEST_REVIEW_ANSWER},
            field=question,
        )
    return text


def do_record_review(
    administration: Administration,
    change: int,
    words: Mapping[str, str],
    *,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> ReviewWords | None:
    """The client's end-of-therapy review, through their link: the overall change is the
    review's answer (`do_record_response`, so its rules for closed forms hold), the written
    answers are sealed beside it in the same transaction. Returns the sealed row (None when all
    written answers were left empty)."""
    if administration.measure_id != REVIEW:
        raise EndingActionError(_("This form is not an end-of-therapy review."))
    cleaned = {q: review_answer(words.get(q, ""), q) for q in REVIEW_QUESTIONS}
    now = now or timezone.now()
    with transaction.atomic():
        response = do_record_response(
            administration, {1: change}, idempotency_key=idempotency_key, now=now
        )
        stored = ReviewWords.objects.filter(administration=administration).first()
        if stored is not None or response.recorded_at != now or not any(cleaned.values()):
            # A repeated submission: the first one's words stand.
            return stored
        row = ReviewWords(
            organisation_id=administration.episode.organisation_id,
            administration=administration,
            written_at=now,
            client_id=administration.episode.client_id,
        )
        row.seal_words({q: text for q, text in cleaned.items() if text})
        row.save()
        audit.record("review.written", actor=None, target=row)
    return row


# --- The clinician's closing summary --------------------------------------------------------


def _summary_text(text: str, *, required: bool = True) -> str:
    try:
        text = clean(text, NOTE)
    except TextRefusedError as exc:
        raise EndingActionError(str(exc), field="summary") from None
    if required and not text:
        raise EndingActionError(_("Write the closing summary."), field="summary")
    if len(text) > LONGEST_SUMMARY:
        raise EndingActionError(
            _("This is longer than %(count)s characters; shorten it.") % {"count": LONGEST_SUMMARY},
            field="summary",
        )
    return text


def _new_summary(
    episode: Episode, text: str, actor: Membership, now: dt.datetime
) -> ClosingSummary:
    latest = ClosingSummary.objects.filter(episode=episode).aggregate(v=Max("version"))["v"] or 0
    row = ClosingSummary(
        organisation_id=episode.organisation_id,
        episode=episode,
        version=latest + 1,
        written_at=now,
        written_by=actor,
        client_id=episode.client_id,
    )
    row.seal_words({"text": text})
    row.save()
    audit.record("closing_summary.written", actor=actor, target=row)
    return row


def do_write_closing_summary(
    episode: Episode, text: str, *, actor: Membership, now: dt.datetime | None = None
) -> ClosingSummary:
    """The clinician's closing summary of an ended episode (a new version when rewritten)."""
    check_can_record(actor, episode)
    text = _summary_text(text)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Episode.objects.select_for_update().get(pk=episode.pk)
        if locked.ended_on is None:
            raise EndingActionError(_("End the episode first; the closing summary comes with it."))
        # An episode ended before Ally kept endings gets its row now.
        Ending.objects.get_or_create(
            episode=locked,
            defaults={"organisation_id": locked.organisation_id, "recorded_at": now},
        )
        current = ClosingSummary.objects.filter(episode=episode).order_by("-version").first()
        if current is not None and current.text == text:
            raise EndingActionError(_("This is the closing summary already."), field="summary")
        return _new_summary(episode, text, actor, now)


# --- The follow-up check ---------------------------------------------------------------------


def do_send_follow_up(follow_up: FollowUp, now: dt.datetime) -> list[EndingForm]:
    """Make the follow-up's forms once it is due (the due-links job sends their links in the
    same run). Safe to repeat: a follow-up sent already makes none."""
    with transaction.atomic():
        locked = (
            FollowUp.objects.select_for_update()
            .select_related("ending__episode")
            .get(pk=follow_up.pk)
        )
        if locked.sent_at is not None or locked.due_at > now:
            return []
        made = [
            _new_form(
                locked.ending,
                str(Purpose.FOLLOW_UP),
                measure_id,
                session=None,
                expires_at=locked.answers_until,
                actor=None,
            )
            for measure_id in locked.measure_ids
            if measure_id in outcome_measures()
        ]
        locked.sent_at = now
        locked.save(update_fields=["sent_at"])
        audit.record("follow_up.sent", actor=None, target=locked)
    return made


def send_due_follow_ups(now: dt.datetime) -> int:
    """Every follow-up now due gets its forms; returns how many follow-ups were sent."""
    due = FollowUp.objects.filter(sent_at__isnull=True, due_at__lte=now, answers_until__gt=now)
    return sum(1 for follow_up in due if do_send_follow_up(follow_up, now))


def ending_forms_of(episode: Episode, purposes: Sequence[str]) -> list[EndingForm]:
    return list(
        EndingForm.objects.filter(ending__episode=episode, purpose__in=list(purposes))
        .select_related("administration__session")
        .order_by("administration__pk")
    )
