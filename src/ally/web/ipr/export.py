"""An episode's recordings for the client's data export (GDPR Art. 15): what was recorded, what
the client consented to and until when, the event they named and their own marks in their own
words; the clinician's marks as the client sees them once both have finished (times, kind and
rating, not the clinician's words)."""

from __future__ import annotations

from typing import Any

from ally.ipr.marks import Rater
from ally.web.ipr.models import Mark, RecallEvent, Recording, Review
from ally.web.practice.models import Episode, Membership
from ally.web.privacy.when import iso
from ally.web.scoping import scoped


def _mark(mark: Mark, *, with_words: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "start_seconds": mark.start,
        "end_seconds": mark.end,
        "kind": mark.kind,
        "rating": mark.rating,
        "part": mark.part,
        "marked_at": iso(mark.marked_at),
    }
    if with_words:
        found["words"] = mark.words()
    return found


def export_recall(membership: Membership | None, episode: Episode) -> dict[str, Any]:
    """The episode's recordings and marks that `membership` may see (None: all of them)."""

    def rows(model: Any) -> Any:
        return model.objects.all() if membership is None else scoped(model, membership)

    recordings = rows(Recording).filter(episode=episode).select_related("session")
    found = []
    for recording in recordings.order_by("uploaded_at", "pk"):
        reviews = {r.rater: r for r in rows(Review).filter(recording=recording)}
        both_finished = len(reviews) == 2 and all(r.is_finished for r in reviews.values())
        event = rows(RecallEvent).filter(recording=recording).first()
        marks = rows(Mark).filter(review__recording=recording).select_related("review")
        found.append(
            {
                "session": recording.session.number,
                "attached_at": iso(recording.uploaded_at),
                "media_type": recording.media_type,
                "consent": recording.consent,
                "consent_text": recording.get_consent_display() if recording.consent else "",
                "consented_at": iso(recording.consent_at),
                "kept_until": iso(recording.retention_until),
                "media_deleted_at": iso(recording.media_deleted_at),
                "named_event": (
                    {
                        "kind": event.kind,
                        "rating": event.rating,
                        "named_at": iso(event.named_at),
                        "words": event.words(),
                    }
                    if event is not None
                    else None
                ),
                "your_marks": [
                    _mark(m, with_words=True) for m in marks if m.review.rater == Rater.CLIENT
                ],
                "practitioner_marks": [
                    _mark(m, with_words=False)
                    for m in marks
                    if both_finished and m.review.rater == Rater.CLINICIAN
                ],
            }
        )
    return {"recordings": found}
