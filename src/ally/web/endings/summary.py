"""What the client page, the ending page and the end report show of an ending: the forms it
sent and their state, the client's review, the clinician's closing summary, and the follow-up
with its scores beside the end scores.

Everything is read through the member's scope; the written words only where the member may see
identifying rows (a researcher sees the overall change, never the words).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ally.web.clinic.course import measure_name
from ally.web.collect.models import Administration, Response
from ally.web.endings.models import (
    REVIEW,
    REVIEW_QUESTIONS,
    ClosingSummary,
    Ending,
    EndingForm,
    FollowUp,
    Purpose,
    ReviewWords,
)
from ally.web.monitoring.models import EpisodeFeedback
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Capability, can, scoped

if TYPE_CHECKING:
    from ally.web.scoping import Caller


@dataclass(frozen=True)
class SentForm:
    administration: Administration
    purpose: str
    name: str
    score: float | None


@dataclass(frozen=True)
class Review:
    change: float
    """Overall change as the client sees it, -3 (much worse) to +3 (much better)."""
    answered_at: dt.datetime
    words: dict[str, str] | None
    """By question (REVIEW_QUESTIONS); None where the member may not read the client's words."""

    def answers(self) -> list[tuple[str, str]]:
        return [(q, self.words[q]) for q in REVIEW_QUESTIONS if self.words and self.words.get(q)]


@dataclass(frozen=True)
class FollowUpScore:
    measure_id: str
    name: str
    score: float | None
    band: str
    answered_at: dt.datetime | None
    end_score: float | None
    """The episode's last in-treatment score of the measure (EpisodeFeedback.last_score)."""
    status: str

    @property
    def since_end(self) -> float | None:
        if self.score is None or self.end_score is None:
            return None
        return self.score - self.end_score


@dataclass
class EndingView:
    ending: Ending
    forms: list[SentForm] = field(default_factory=list)
    review: Review | None = None
    summary: ClosingSummary | None = None
    summary_versions: int = 0
    summary_hidden: bool = False
    """True where a summary exists that the member may not read (a researcher)."""
    follow_up: FollowUp | None = None
    follow_up_scores: list[FollowUpScore] = field(default_factory=list)

    @property
    def planned(self) -> bool:
        return self.ending.episode.end_reason == "planned"


def _score(administration: Administration) -> Response | None:
    try:
        return administration.response
    except Response.DoesNotExist:
        return None


def episode_ending(membership: Caller, episode: Episode) -> EndingView | None:
    """The episode's ending as `membership` may see it; None before the episode has ended."""
    ending = scoped(Ending, membership).filter(episode=episode).select_related("episode").first()
    if ending is None and episode.ended_on is not None:
        # Ended before Ally kept endings: its date and reason, nothing sent.
        ending = Ending(organisation_id=episode.organisation_id, episode=episode)
    if ending is None:
        return None
    view = EndingView(ending=ending)
    readers = can(membership, Capability.SEE_IDENTITY)
    sent = (
        scoped(EndingForm, membership)
        .filter(ending__episode=episode)
        .select_related("administration__response")
        .order_by("administration__pk")
    )
    for form in sent:
        administration = form.administration
        response = _score(administration)
        score = response.current().total if response is not None else None
        if form.purpose != Purpose.FOLLOW_UP:
            view.forms.append(
                SentForm(
                    administration, form.purpose, measure_name(administration.measure_id), score
                )
            )
        if administration.measure_id == REVIEW and response is not None:
            # Identifying rows: a de-identified role's scope holds none of them.
            words = scoped(ReviewWords, membership).filter(administration=administration).first()
            view.review = Review(
                change=response.current().total,
                answered_at=response.recorded_at,
                words=words.words() if words is not None else ({} if readers else None),
            )
    summaries = ClosingSummary.objects.filter(episode=episode)
    view.summary_versions = summaries.count()
    view.summary = (
        scoped(ClosingSummary, membership).filter(episode=episode).order_by("-version").first()
    )
    view.summary_hidden = view.summary is None and view.summary_versions > 0
    view.follow_up = scoped(FollowUp, membership).filter(ending__episode=episode).first()
    if view.follow_up is not None:
        view.follow_up_scores = _follow_up_scores(membership, episode, view.follow_up)
    return view


def _follow_up_scores(
    membership: Caller, episode: Episode, follow_up: FollowUp
) -> list[FollowUpScore]:
    ends = {
        f.measure_id: f.last_score
        for f in scoped(EpisodeFeedback, membership).filter(episode=episode, rater="client")
    }
    forms = {
        f.administration.measure_id: f.administration
        for f in scoped(EndingForm, membership)
        .filter(ending=follow_up.ending, purpose=Purpose.FOLLOW_UP)
        .select_related("administration__response")
    }
    found = []
    for measure_id in follow_up.measure_ids:
        administration = forms.get(measure_id)
        response = _score(administration) if administration is not None else None
        current = response.current() if response is not None else None
        found.append(
            FollowUpScore(
                measure_id=measure_id,
                name=measure_name(measure_id),
                score=current.total if current is not None else None,
                band=current.band if current is not None else "",
                answered_at=response.recorded_at if response is not None else None,
                end_score=ends.get(measure_id),
                status=administration.status if administration is not None else "planned",
            )
        )
    return found


def export_ending(membership: Membership | None, episode: Episode) -> dict[str, Any]:
    """The ending for the client's data export (GDPR Art. 15): their review in their words, the
    closing summary's versions, and the follow-up."""

    def rows(model: Any) -> Any:
        return model.objects.all() if membership is None else scoped(model, membership)

    ending = rows(Ending).filter(episode=episode).first()
    if ending is None:
        return {"ending": None}
    reviews = rows(ReviewWords).filter(administration__episode=episode).order_by("pk")
    follow_up = rows(FollowUp).filter(ending=ending).first()
    return {
        "ending": {
            "recorded_at": ending.recorded_at.isoformat(),
            "review_words": [
                {"written_at": r.written_at.isoformat(), **r.words()} for r in reviews
            ],
            "closing_summaries": [
                {"version": c.version, "written_at": c.written_at.isoformat(), "text": c.text}
                for c in rows(ClosingSummary).filter(episode=episode).order_by("version")
            ],
            "follow_up": {
                "measures": list(follow_up.measure_ids),
                "weeks": follow_up.weeks,
                "due_at": follow_up.due_at.isoformat(),
            }
            if follow_up is not None
            else None,
        }
    }
