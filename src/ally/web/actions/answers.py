"""The write path for answers: every form, API and import records and amends through here.

Each action changes the database in one transaction, calls the audit hook inside it, and returns
the stored row. Scores and alerts come from `ally.scoring`, so the app and the batch engine give
the same numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.scoring import Answers, Score, ScoringError, score
from ally.web import audit
from ally.web.alerts.models import Alert, AlertKind, SupportCheck
from ally.web.alerts.texts import english_text
from ally.web.apiclients.models import ApiClient
from ally.web.collect import measures
from ally.web.collect.errors import (
    AdministrationClosedError,
    AmendmentRefusedError,
    EpisodeEndedError,
    IdempotencyConflictError,
    InvalidAnswersError,
)
from ally.web.collect.models import (
    Administration,
    AdministrationStatus,
    Amendment,
    Response,
)
from ally.web.collect.models.administrations import closed_by_the_ending, taking_answers
from ally.web.collect.models.choices import Respondent, Timing
from ally.web.collect.models.responses import ScoredAnswers
from ally.web.collect.support import off_track_since, spell_has_check, support_checks
from ally.web.goals.checks import goal_answer_problems
from ally.web.groups.levels import refresh_member_levels
from ally.web.monitoring.models import SessionFeedback
from ally.web.monitoring.refresh import refresh_episode
from ally.web.practice.models import Episode, Membership, Session, SessionStatus
from ally.web.scoping import Capability, check_can_record

StoredAnswers = dict[str, float | None]


def _stored(answers: Answers) -> StoredAnswers:
    """Answers keyed by item number as text, the form JSON keeps."""
    pairs = answers.items() if isinstance(answers, Mapping) else enumerate(answers, start=1)
    return {str(number): value for number, value in sorted(pairs)}


def _score(administration: Administration, answers: Answers, *, amending: bool = False) -> Score:
    measure = measures.measure(administration.measure_id)
    try:
        result = score(measure, answers, version=administration.measure_version)
    except ScoringError as exc:
        raise InvalidAnswersError(administration.measure_id, exc.problems) from exc
    # Goal ratings rate the episode's goals: only its open ones (any of its goals, amending).
    off_goal = goal_answer_problems(
        administration.episode_id, administration.measure_id, answers, open_only=not amending
    )
    if off_goal:
        raise InvalidAnswersError(administration.measure_id, off_goal)
    return result


def _score_fields(result: Score, answers: StoredAnswers) -> dict[str, Any]:
    return {
        "answers": answers,
        "measure_id": result.measure,
        "measure_version": result.version,
        "total": result.total,
        "subscales": dict(result.subscales),
        "band": result.band or "",
        "answered": result.answered,
        "prorated": result.prorated,
        "critical": result.critical,
    }


def _raise_alerts(
    episode_id: int,
    result: Score,
    response: Response,
    amendment: Amendment | None,
    now: datetime,
) -> list[Alert]:
    """An alert for every critical item endorsed or left unanswered, unless one exists already."""
    details = {"measure": response.measure_id}
    wanted = [(AlertKind.CRITICAL_ITEM, a.item, a.raises) for a in result.alerts]
    wanted += [(AlertKind.CRITICAL_UNANSWERED, item, "") for item in result.unanswered_critical]
    # A new response has no alerts yet; an amendment's may repeat the response's.
    existing = set(response.alerts.values_list("kind", "item")) if amendment else set()
    alerts = [
        Alert(
            episode_id=episode_id,
            response=response,
            amendment=amendment,
            kind=kind,
            item=item,
            raises=raises,
            message=english_text(str(kind), details, item),
            details=details,
            raised_at=now,
        )
        for kind, item, raises in wanted
        if (kind, item) not in existing
    ]
    for alert in alerts:
        alert.save()
        audit.record("alert.raised", actor=None, target=alert)
    return alerts


def _replay(existing: Response, administration: Administration, answers: StoredAnswers) -> Response:
    if existing.administration_id != administration.pk or existing.answers != answers:
        raise IdempotencyConflictError(
            "This submission key was already used for other answers; "
            "send each new submission with a new key."
        )
    return existing


def _check_open(administration: Administration, now: datetime, answering: bool = True) -> None:
    """Refuse a completed or expired administration; when `answering`, also one whose
    session has not started yet (its link may be sent ahead)."""
    if administration.status == AdministrationStatus.COMPLETED:
        raise AdministrationClosedError(
            "This questionnaire has already been answered; "
            "a correction is recorded as an amendment with a reason."
        )
    if administration.is_open and administration.is_not_yet_open(now):
        if not answering:
            return
        raise AdministrationClosedError(
            "This questionnaire is about a session that has not started yet; it opens when the "
            "session starts."
        )
    if not administration.takes_answers(now):
        raise AdministrationClosedError(
            "This questionnaire has expired and no longer takes answers; "
            "ask the clinician for a new one."
        )


def do_record_response(
    administration: Administration,
    answers: Answers,
    *,
    idempotency_key: str,
    actor: Membership | ApiClient | None = None,
    refresh: bool = True,
    now: datetime | None = None,
) -> Response:
    """Score and store the answers to an open administration, complete it, bring its episode's
    results up to date and raise its alerts, all in one transaction.

    `actor` is the member who entered the answers, the API client that sent them (the audit
    entry names it; `entered_by` stays empty), or None when the respondent did (by link).
    A repeated `idempotency_key` returns the response already stored for it. `refresh=False` is
    for loading history (the demo refreshes the whole practice once, at the end); `now` too
    (it defaults to the clock).
    """
    key = idempotency_key.strip()
    if not key:
        raise ValueError("Every submission needs an idempotency key.")
    stored = _stored(answers)
    if actor is not None:
        check_can_record(actor, administration.episode, Capability.RECORD_ANSWERS)
    result = _score(administration, answers)
    now = now or timezone.now()
    _check_not_ended(administration, key, stored, now)
    try:
        with transaction.atomic():
            # Completing it first takes the row's lock: two submissions for one administration
            # take turns, and the second finds it answered.
            taken = Administration.objects.filter(taking_answers(now), pk=administration.pk).update(
                status=AdministrationStatus.COMPLETED, completed_at=now
            )
            if taken:
                try:
                    response = Response.objects.create(
                        administration=administration,
                        idempotency_key=key,
                        entered_by=actor if isinstance(actor, Membership) else None,
                        recorded_at=now,
                        **_score_fields(result, stored),
                    )
                except IntegrityError as exc:
                    raise _KeyUsedError from exc  # leaves the transaction: nothing stands
                # Locks in one order for every write (administration, episode, then the audit
                # chain's, always last), so two answers of one episode never deadlock.
                if refresh and refresh_episode(administration.episode, now) is not None:
                    _support_check_if_off_track(administration.episode, now)
                if refresh:
                    refresh_member_levels(administration, now)
                _raise_alerts(administration.episode_id, result, response, None, now)
                audit.record("response.recorded", actor=actor, target=response)
    except _KeyUsedError:
        taken = 0
    if not taken:
        return _not_taken(administration, key, stored, now)
    administration.status = AdministrationStatus.COMPLETED
    administration.completed_at = now
    return response


def _check_not_ended(
    administration: Administration, key: str, stored: StoredAnswers, now: datetime
) -> None:
    """Refuse answers the episode's ending closed (`closed_by_the_ending`), whoever sends them,
    unless this very submission was stored before the ending (a retry is answered as before)."""
    administration.episode.refresh_from_db(fields=["ended_on"])
    if not closed_by_the_ending(administration, now):
        return
    already = Response.objects.filter(idempotency_key=key).first()
    if already is not None:
        _replay(already, administration, stored)
        return
    raise EpisodeEndedError(
        "This episode has ended, so this questionnaire no longer takes answers; "
        "if the client needs to be heard, contact them directly."
    )


class _KeyUsedError(Exception):
    """The idempotency key is stored already: another process sent it first, maybe for other
    answers."""


def _not_taken(
    administration: Administration, key: str, stored: StoredAnswers, now: datetime
) -> Response:
    """Why an administration took no answers: this very submission was stored before (a replay),
    the key was used for other answers, or it is answered or expired."""
    administration.refresh_from_db(fields=["status", "expires_at", "completed_at"])
    already = Response.objects.filter(idempotency_key=key).first()
    if already is not None:
        return _replay(already, administration, stored)
    _check_open(administration, now)
    raise AdministrationClosedError("This questionnaire has already been answered.")


def do_amend_response(
    response: Response, answers: Answers, reason: str, actor: Membership
) -> Amendment:
    """Record corrected answers with the reason; the original response is never changed."""
    reason = reason.strip()
    if not reason:
        raise AmendmentRefusedError(
            _("Say why the answers are corrected; a correction needs a reason.")
        )
    administration = response.administration
    check_can_record(actor, administration.episode)
    stored = _stored(answers)
    current: ScoredAnswers = response.current()
    if stored == current.answers:
        raise AmendmentRefusedError(
            _("These answers are the ones already in force; change an answer to correct it.")
        )
    result = _score(administration, answers, amending=True)
    now = timezone.now()
    with transaction.atomic():
        amendment = Amendment.objects.create(
            response=response,
            reason=reason,
            amended_by=actor,
            amended_at=now,
            **_score_fields(result, stored),
        )
        if refresh_episode(administration.episode, now) is not None:
            _support_check_if_off_track(administration.episode, now)
        refresh_member_levels(administration, now)
        _raise_alerts(administration.episode_id, result, response, amendment, now)
        audit.record("response.amended", actor=actor, target=amendment)
    return amendment


def do_create_administration(
    episode: Episode,
    measure_id: str,
    *,
    actor: Membership | ApiClient | None = None,
    expires_at: datetime | None = None,
    **fields: Any,
) -> Administration:
    """A new administration of the library's current version of the measure, on an open
    episode. One without a session and without an expiry gets ALLY_LINK_HOURS from now: no form
    takes answers for ever."""
    if actor is not None:
        check_can_record(actor, episode, Capability.RECORD_ANSWERS)
    measure = measures.measure(measure_id)
    if expires_at is None and fields.get("session") is None:
        expires_at = timezone.now() + timedelta(hours=settings.ALLY_LINK_HOURS)
    with transaction.atomic():
        ended = Episode.objects.select_for_update().get(pk=episode.pk).ended_on
        if ended is not None:
            raise EpisodeEndedError(
                f"This episode ended on {ended.isoformat()}; it takes no new questionnaires. "
                "Open a new episode for the client if therapy starts again."
            )
        administration = Administration.objects.create(
            episode=episode,
            measure_id=measure.id,
            measure_version=measure.version,
            expires_at=expires_at,
            **fields,
        )
        audit.record("administration.created", actor=actor, target=administration)
    return administration


def _advance(
    administration: Administration,
    status: str,
    stamp: str,
    action: str,
    now: datetime | None = None,
) -> Administration:
    now = now or timezone.now()
    with transaction.atomic():
        locked = Administration.objects.select_for_update().get(pk=administration.pk)
        _check_open(locked, now, answering=status == str(AdministrationStatus.OPENED))
        fields = []
        if getattr(locked, stamp) is None:
            setattr(locked, stamp, now)
            fields.append(stamp)
        order = AdministrationStatus.values  # created, sent, opened: only ever forwards
        if order.index(status) > order.index(locked.status):
            locked.status = status
            fields.append("status")
        if fields:
            locked.save(update_fields=fields)
        audit.record(action, actor=None, target=locked)
    return locked


def do_mark_sent(administration: Administration, now: datetime | None = None) -> Administration:
    """The link was sent to the respondent; `now` defaults to the clock."""
    return _advance(
        administration, str(AdministrationStatus.SENT), "sent_at", "administration.sent", now
    )


def do_mark_reminded(administration: Administration) -> Administration:
    """A reminder was sent; one per administration (see send_due_links)."""
    return _advance(
        administration, str(AdministrationStatus.SENT), "reminded_at", "administration.reminded"
    )


def do_mark_opened(administration: Administration) -> Administration:
    """The questions were presented; the first opening's time is kept."""
    return _advance(
        administration, str(AdministrationStatus.OPENED), "opened_at", "administration.opened"
    )


def do_expire_administration(administration: Administration) -> Administration:
    """Close an unanswered administration; later answers are refused."""
    now = timezone.now()
    with transaction.atomic():
        locked = Administration.objects.select_for_update().get(pk=administration.pk)
        if locked.status == AdministrationStatus.EXPIRED:
            return locked
        if locked.status == AdministrationStatus.COMPLETED:
            raise AdministrationClosedError("This questionnaire was answered; it cannot expire.")
        locked.status = AdministrationStatus.EXPIRED
        locked.expired_at = now
        locked.save(update_fields=["status", "expired_at"])
        audit.record("administration.expired", actor=None, target=locked)
    return locked


# --- The support check (docs/feedback.md, "Decision support that follows the client") ---------


class SupportCheckRefusedError(Exception):
    """A support check that cannot be sent as asked."""


def next_contact(episode: Episode, now: dt.datetime) -> Session | None:
    """The episode's next scheduled session from now: the support check goes with its forms."""
    return (
        Session.objects.filter(
            episode=episode, status=SessionStatus.SCHEDULED, scheduled_at__gt=now
        )
        .order_by("scheduled_at", "pk")
        .first()
    )


def do_send_support_check(
    episode: Episode,
    *,
    actor: Membership | None = None,
    spell_started: int | None = None,
    now: dt.datetime | None = None,
) -> SupportCheck:
    """Create a support check for the client's next contact, sent by the same links as the
    session's other forms (or, without a next session, by the due-links job on its own).

    `actor` None: sent because the signal turned yellow or red at session `spell_started`; a
    member sends it by hand from the client page."""
    from ally.web.collect.planning import link_expiry  # planning writes through this module

    now = now or timezone.now()
    if actor is not None:
        check_can_record(actor, episode)
    if episode.ended_on is not None:
        raise SupportCheckRefusedError(_("This episode has ended; no support check is sent."))
    with transaction.atomic():
        Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk").first()
        if any(
            c.administration.is_open and not c.administration.is_past_expiry(now)
            for c in support_checks(episode)
        ):
            raise SupportCheckRefusedError(
                _("A support check is already waiting for the client's answers.")
            )
        session = next_contact(episode, now)
        expires_at = (
            link_expiry(session, now)
            if session is not None
            else now + dt.timedelta(hours=settings.ALLY_LINK_HOURS)
        )
        administration = do_create_administration(
            episode,
            measures.SUPPORT_CHECK,
            actor=actor,
            expires_at=expires_at,
            session=session,
            respondent=Respondent.CLIENT,
            timing=Timing.BEFORE,
        )
        check = SupportCheck.objects.create(
            episode=episode,
            administration=administration,
            spell_started=spell_started,
            requested_at=now,
            requested_by=actor,
        )
        audit.record("support_check.requested", actor=actor, target=check)
    return check


def _support_check_if_off_track(episode: Episode, now: datetime) -> SupportCheck | None:
    """Send a support check when the client's latest outcome signal is yellow or red, once per
    off-track spell: not while one is open, nor when one was answered in this spell."""
    if episode.ended_on is not None:
        return None
    spell = off_track_since(SessionFeedback.objects.filter(episode=episode, rater="client"))
    if spell is None or spell_has_check(list(support_checks(episode)), spell, now):
        return None
    return do_send_support_check(episode, spell_started=spell, now=now)
