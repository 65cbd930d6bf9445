"""The write path of Interpersonal Process Recall: attaching a recording and its transcript,
the client's consent (and its withdrawal), marks and reviews, the event the client names, and
deleting media after its retention date.

`actor` is the member who writes, or None when the client writes through their link (the view
has checked the link's grant). Audit entries name rows by their keys, never words or times.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.ipr.marks import RATING_HIGH, RATING_LOW, Kind, Rater
from ally.web import audit
from ally.web.ipr import media
from ally.web.ipr.models import (
    RECALL_PROMPTS,
    ConsentScope,
    Mark,
    Part,
    RecallEvent,
    Recording,
    Review,
)
from ally.web.practice.models import Membership, Session
from ally.web.privacy.sealed import secret_frames
from ally.web.scoping import check_can_record

LONGEST_ANSWER = 1000
"""Characters of one answer at a mark: a few sentences."""
LONGEST_TRANSCRIPT = 2 * 1024 * 1024
"""Bytes of a WebVTT transcript: a long session's words several times over."""


class IprActionError(Exception):
    """A change that cannot be made as asked; the message says what to do, `field` names the
    form field it concerns ("" for the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _words(answers: Mapping[str, str]) -> dict[str, str]:
    words = {p: " ".join(str(answers.get(p, "")).split()) for p in RECALL_PROMPTS}
    for prompt, text in words.items():
        if len(text) > LONGEST_ANSWER:
            raise IprActionError(
                _("This is longer than %(count)s characters; shorten it.")
                % {"count": LONGEST_ANSWER},
                field=prompt,
            )
    return words


# Recordings -------------------------------------------------------------------------------------


@secret_frames
def do_attach_recording(
    session: Session,
    *,
    file_id: str,
    file_key: bytes,
    media_type: str,
    size: int,
    retention_until: dt.date,
    actor: Membership,
    now: dt.datetime | None = None,
) -> Recording:
    """A recording of an individual session, already written encrypted under `file_key`
    (`media.SealedWriter`); the key is sealed with the client's data key in the row."""
    episode = session.episode
    if episode is None:
        raise IprActionError(_("Recordings belong to sessions with one client."))
    check_can_record(actor, episode)
    now = now or timezone.now()
    if retention_until <= timezone.localdate(now):
        raise IprActionError(_("Choose a day after today."), field="retention_until")
    with transaction.atomic():
        recording = Recording(
            organisation_id=episode.organisation_id,
            episode=episode,
            session=session,
            client_id=episode.client_id,
            uploaded_by=actor,
            uploaded_at=now,
            media_type=media_type,
            size=size,
            file_id=file_id,
            retention_until=retention_until,
            link_token=uuid.uuid4().hex + uuid.uuid4().hex,
        )
        recording.seal_words({"media_key": base64.b64encode(file_key).decode(), "transcript": ""})
        recording.save()
        audit.record("recording.attached", actor=actor, target=recording)
    return recording


def media_key(recording: Recording) -> bytes:
    return base64.b64decode(recording.words()["media_key"])


def do_attach_transcript(recording: Recording, vtt: str, *, actor: Membership) -> Recording:
    """A WebVTT transcript (W3C WebVTT: it starts with "WEBVTT"), sealed with the client's key."""
    check_can_record(actor, recording.episode)
    if not recording.has_media:
        raise IprActionError(_("The recording is deleted; a transcript can no longer be added."))
    text = vtt.lstrip("\ufeff")
    if not (text.startswith("WEBVTT") and (len(text) == 6 or text[6] in " \t\r\n")):
        raise IprActionError(
            _("This is not a WebVTT file: its first line must be WEBVTT."), field="transcript"
        )
    if len(text.encode()) > LONGEST_TRANSCRIPT:
        raise IprActionError(_("This transcript is too long."), field="transcript")
    with transaction.atomic():
        recording.seal_words({**recording.words(), "transcript": text})
        recording.has_transcript = True
        recording.save(update_fields=["sealed", "has_transcript"])
        audit.record("recording.transcript_attached", actor=actor, target=recording)
    return recording


def _drop_media(recording: Recording, now: dt.datetime) -> None:
    """The media file and its key go; so does the transcript (the session's words)."""
    recording.seal_words({"media_key": "", "transcript": ""})
    recording.media_deleted_at = now
    recording.has_transcript = False
    recording.save(update_fields=["sealed", "media_deleted_at", "has_transcript"])
    file_id = recording.file_id
    transaction.on_commit(lambda: media.delete(file_id))


def do_delete_media(
    recording: Recording, *, actor: Membership | None, now: dt.datetime | None = None
) -> Recording:
    """Delete the recording's media and transcript now; its marks stay."""
    if actor is not None:
        check_can_record(actor, recording.episode)
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        if recording.has_media:
            _drop_media(recording, now or timezone.now())
            audit.record("recording.media_deleted", actor=actor, target=recording)
    return recording


def do_delete_expired_media(now: dt.datetime | None = None) -> int:
    """Delete the media of every recording whose retention date has passed; how many."""
    now = now or timezone.now()
    expired = Recording.objects.filter(
        media_deleted_at__isnull=True, retention_until__lt=timezone.localdate(now)
    ).values_list("pk", flat=True)
    for pk in list(expired):
        with transaction.atomic():
            recording = Recording.objects.select_for_update().get(pk=pk)
            if recording.has_media:
                _drop_media(recording, now)
                audit.record("recording.retention_ended", actor=None, target=recording)
    return len(expired)


# Consent ---------------------------------------------------------------------------------------


def do_give_consent(
    recording: Recording,
    scope: str,
    retention_until: dt.date,
    *,
    now: dt.datetime | None = None,
) -> Recording:
    """The client's consent through their link: its scope, and a retention date no later than
    the one their practitioner proposed."""
    if scope not in ConsentScope.values:
        raise IprActionError(_("Choose what the recording may be used for."), field="scope")
    now = now or timezone.now()
    if not recording.has_media:
        raise IprActionError(_("This recording is deleted already."))
    if retention_until <= timezone.localdate(now):
        raise IprActionError(_("Choose a day after today."), field="retention_until")
    if retention_until > recording.retention_until:
        raise IprActionError(
            _("Choose %(day)s or earlier: your practitioner keeps it no longer than that.")
            % {"day": recording.retention_until.isoformat()},
            field="retention_until",
        )
    with transaction.atomic():
        Recording.objects.filter(pk=recording.pk).update(
            consent=scope, consent_at=now, retention_until=retention_until
        )
        recording.refresh_from_db()
        audit.record("recording.consent_given", actor=None, target=recording)
    return recording


def do_withdraw_consent(recording: Recording, *, now: dt.datetime | None = None) -> Recording:
    """The client withdraws consent: the media is deleted now, and no one else reaches it."""
    now = now or timezone.now()
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        recording.consent = ""
        recording.consent_at = None
        recording.save(update_fields=["consent", "consent_at"])
        if recording.has_media:
            _drop_media(recording, now)
        audit.record("recording.consent_withdrawn", actor=None, target=recording)
    return recording


# Reviews and marks -----------------------------------------------------------------------------


def review_of(recording: Recording, rater: Rater) -> Review | None:
    return Review.objects.filter(recording=recording, rater=rater).first()


def _open_review(
    recording: Recording, rater: Rater, actor: Membership | None, now: dt.datetime
) -> Review:
    if not recording.consent:
        raise IprActionError(_("The client has not consented to a review of this recording."))
    review, _created = Review.objects.get_or_create(
        recording=recording,
        rater=rater,
        defaults={"reviewer": actor, "started_at": now},
    )
    if review.is_finished:
        raise IprActionError(_("This review is finished; its marks can no longer change."))
    return review


def _check_rater(recording: Recording, rater: Rater, actor: Membership | None) -> None:
    if rater == Rater.CLINICIAN:
        if actor is None:
            raise IprActionError(_("The clinician's review is done in the staff pages."))
        check_can_record(actor, recording.episode)
    elif actor is not None:
        raise IprActionError(_("The client's review is done through their link."))


def do_add_mark(
    recording: Recording,
    rater: Rater,
    *,
    start: int,
    end: int | None,
    kind: str,
    rating: int | None,
    answers: Mapping[str, str],
    part: str = "",
    actor: Membership | None,
    now: dt.datetime | None = None,
) -> Mark:
    """A moment (no end, or end = start) or an interval that mattered, with its kind, a rating
    from 1 (hindering) to 9 (helpful) and the rater's answers to the recall prompts."""
    _check_rater(recording, rater, actor)
    end = start if end is None else end
    if start < 0:
        raise IprActionError(_("A time is minutes and seconds from the start."), field="start")
    if end < start:
        raise IprActionError(_("The end comes after the start."), field="end")
    if kind not in Kind.__members__.values():
        raise IprActionError(_("Choose helpful, hindering or significant."), field="kind")
    if rating is not None and not RATING_LOW <= rating <= RATING_HIGH:
        raise IprActionError(_("A rating runs from 1 to 9."), field="rating")
    if part not in Part.values:
        raise IprActionError(_("Choose where this mark stands."), field="part")
    if part and not RecallEvent.objects.filter(recording=recording).exists():
        raise IprActionError(_("No event has been named for this recording."), field="part")
    words = _words(answers)
    now = now or timezone.now()
    with transaction.atomic():
        review = _open_review(recording, rater, actor, now)
        mark = Mark(
            review=review,
            start=start,
            end=end,
            kind=kind,
            rating=rating,
            part=part,
            marked_at=now,
            key=uuid.uuid4().hex,
            client_id=recording.client_id,
        )
        mark.seal_words(words)
        mark.save()
        audit.record("mark.added", actor=actor, target=mark)
    return mark


def do_remove_mark(mark: Mark, *, actor: Membership | None) -> None:
    """Remove a mark of a review not yet finished."""
    review = mark.review
    _check_rater(review.recording, Rater(review.rater), actor)
    with transaction.atomic():
        if Review.objects.get(pk=review.pk).is_finished:
            raise IprActionError(_("This review is finished; its marks can no longer change."))
        audit.record("mark.removed", actor=actor, target=mark)
        mark.delete()


def do_finish_review(
    recording: Recording,
    rater: Rater,
    *,
    actor: Membership | None,
    now: dt.datetime | None = None,
) -> Review:
    """Finish a review: its marks are fixed, and once both are finished each rater sees the
    other's marks and the agreement of the two."""
    _check_rater(recording, rater, actor)
    now = now or timezone.now()
    with transaction.atomic():
        review = _open_review(recording, rater, actor, now)
        review.finished_at = now
        review.save(update_fields=["finished_at"])
        audit.record("review.finished", actor=actor, target=review)
    return review


def both_finished(recording: Recording) -> bool:
    return Review.objects.filter(recording=recording, finished_at__isnull=False).count() == 2


# The named event (Brief Structured Recall) ----------------------------------------------------


def do_name_event(
    recording: Recording,
    *,
    kind: str,
    rating: int,
    what: str,
    then: str,
    now: dt.datetime | None = None,
) -> RecallEvent:
    """The client names the session's most helpful (or most hindering) event, in their words,
    with what was going on for them then; both reviews can then mark its beginning, peaks and
    end."""
    if kind not in (Kind.HELPFUL, Kind.HINDERING):
        raise IprActionError(_("Choose most helpful or most hindering."), field="kind")
    if not RATING_LOW <= rating <= RATING_HIGH:
        raise IprActionError(_("A rating runs from 1 to 9."), field="rating")
    words = {"what": " ".join(what.split()), "then": " ".join(then.split())}
    if not words["what"]:
        raise IprActionError(_("Say in a few words what happened."), field="what")
    for field, text in words.items():
        if len(text) > LONGEST_ANSWER:
            raise IprActionError(
                _("This is longer than %(count)s characters; shorten it.")
                % {"count": LONGEST_ANSWER},
                field=field,
            )
    now = now or timezone.now()
    with transaction.atomic():
        event = RecallEvent.objects.filter(recording=recording).first() or RecallEvent(
            recording=recording, client_id=recording.client_id
        )
        event.kind, event.rating, event.named_at = kind, rating, now
        event.seal_words(words)
        event.save()
        audit.record("recall_event.named", actor=None, target=event)
    return event


def retention_default(today: dt.date) -> dt.date:
    """The retention date proposed at upload: ALLY_RECORDING_RETENTION_DAYS from today."""
    return today + dt.timedelta(days=settings.ALLY_RECORDING_RETENTION_DAYS)
