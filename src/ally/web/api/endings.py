"""An episode's ending: how and when it ended, its outcome, what the ending sent and how the
client answered (their end-of-therapy review), the closing summary and the follow-up; and ending
an episode, by the same rules and with the same refusals as the end page.

Read through `episode_ending`, the view the client page and the end report show, so the
numbers are the same everywhere. The client's written review answers and the closing summary
are free text about the client: null for a role or token that does not see identifying data.
"""

from datetime import date, datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from ally.web.actions.endings import LONGEST_FOLLOW_UP_WEEKS, FollowUpChoice
from ally.web.actions.practice import PracticeActionError, do_end_episode
from ally.web.api.auth import Org, member
from ally.web.api.episodes import episode_or_404
from ally.web.api.errors import RequestRefusedError
from ally.web.api.schemas import BODY_REFUSED, errors
from ally.web.apiclients.models import ApiClient
from ally.web.endings.models import LONGEST_SUMMARY
from ally.web.endings.summary import EndingView, episode_ending
from ally.web.monitoring.models import EpisodeFeedback
from ally.web.practice.models import EndReason, Episode, Membership
from ally.web.scoping import Capability, scoped
from ally.web.text import NOTE, api_validator

router = Router(tags=["endings"])


class OutcomeOut(Schema):
    """A client-rated measure over the course (the episode's `ally analyze` row)."""

    measure_id: str
    first_score: float
    last_score: float
    change: float | None
    reliable_change: str
    category: str = Field(
        description="recovered, reliably_improved, no_reliable_change, reliably_deteriorated "
        "or not_clinical_at_start (docs/feedback.md)."
    )


class SentFormOut(Schema):
    administration_id: int
    purpose: str = Field(description="final (a final measure), goals (re-rated) or review.")
    measure_id: str
    status: str
    score: float | None


class ReviewOut(Schema):
    """The client's end-of-therapy review (measure ally-review, Ally's own words)."""

    change: float = Field(description="Overall change, -3 (much worse) to +3 (much better).")
    answered_at: datetime
    answers: dict[str, str] | None = Field(
        description="The written answers by question (helped, hindered, keep_doing); null for a "
        "role or token that does not see clients' words."
    )


class SummaryOut(Schema):
    version: int
    written_at: datetime
    written_by_id: int
    text: str


class FollowUpScoreOut(Schema):
    measure_id: str
    status: str
    score: float | None
    band: str
    answered_at: datetime | None
    end_score: float | None = Field(description="The last score of the course.")
    since_end: float | None


class FollowUpOut(Schema):
    measure_ids: list[str]
    weeks: int
    due_at: datetime
    answers_until: datetime
    sent_at: datetime | None
    scores: list[FollowUpScoreOut]


class EndingOut(Schema):
    episode_id: int
    ended_on: date | None = Field(description="Null while the episode runs.")
    end_reason: str | None = Field(description="planned, dropout, referred or other.")
    recorded_at: datetime | None
    recorded_by_id: int | None
    answers_until: datetime | None = Field(
        description="Until when the forms the ending sent take answers."
    )
    outcomes: list[OutcomeOut]
    forms: list[SentFormOut]
    review: ReviewOut | None
    closing_summary: SummaryOut | None = Field(
        description="The version in force; null when none is written or the caller may not "
        "read it (`closing_summary_hidden`)."
    )
    closing_summary_versions: int
    closing_summary_hidden: bool
    follow_up: FollowUpOut | None


SummaryText = Annotated[
    str,
    Field(
        max_length=LONGEST_SUMMARY,
        description="The clinician's closing summary: what the work was about, what changed, "
        "and what the client takes with them (optional now; it can be written later).",
        examples=["Worked on sleep and low mood; keeps the evening walks."],
    ),
    api_validator(NOTE),
]


class FollowUpIn(Schema):
    measure_ids: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        min_length=1,
        max_length=10,
        description="Outcome measures of Ally's library to ask again, e.g. phq9.",
        examples=[["phq9"]],
    )
    weeks: int = Field(
        ge=1, le=LONGEST_FOLLOW_UP_WEEKS, description="How many weeks after the last day."
    )


class EndIn(Schema):
    ended_on: date | None = Field(
        None, description="The last day of the episode: not in the future; today by default."
    )
    reason: EndReason = Field(
        EndReason(EndReason.PLANNED),
        description="planned (the default) sends the client the final measures, their goals "
        "to re-rate and the end-of-therapy review; the others send nothing.",
    )
    summary: SummaryText = ""
    follow_up: FollowUpIn | None = Field(
        None, description="A follow-up check: these measures, so many weeks after the ending."
    )


def _ending(caller: Membership | ApiClient, episode: Episode) -> dict[str, Any]:
    view: EndingView | None = episode_ending(caller, episode)
    outcomes = (
        scoped(EpisodeFeedback, caller)
        .filter(episode=episode, rater="client")
        .exclude(category="")
        .order_by("measure_id")
    )
    body: dict[str, Any] = {
        "episode_id": episode.pk,
        "ended_on": episode.ended_on,
        "end_reason": episode.end_reason or None,
        "recorded_at": None,
        "recorded_by_id": None,
        "answers_until": None,
        "outcomes": [
            {
                "measure_id": o.measure_id,
                "first_score": o.first_score,
                "last_score": o.last_score,
                "change": o.change,
                "reliable_change": o.reliable_change,
                "category": o.category,
            }
            for o in outcomes
        ],
        "forms": [],
        "review": None,
        "closing_summary": None,
        "closing_summary_versions": 0,
        "closing_summary_hidden": False,
        "follow_up": None,
    }
    if view is None:
        return body
    ending = view.ending
    summary = view.summary
    follow_up = view.follow_up
    body |= {
        "recorded_at": ending.recorded_at,
        "recorded_by_id": ending.recorded_by_id,
        "answers_until": ending.answers_until,
        "forms": [
            {
                "administration_id": f.administration.pk,
                "purpose": f.purpose,
                "measure_id": f.administration.measure_id,
                "status": f.administration.status,
                "score": f.score,
            }
            for f in view.forms
        ],
        "review": {
            "change": view.review.change,
            "answered_at": view.review.answered_at,
            "answers": view.review.words,
        }
        if view.review is not None
        else None,
        "closing_summary": {
            "version": summary.version,
            "written_at": summary.written_at,
            "written_by_id": summary.written_by_id,
            "text": summary.text,
        }
        if summary is not None
        else None,
        "closing_summary_versions": view.summary_versions if summary is not None else 0,
        "closing_summary_hidden": view.summary_hidden,
        "follow_up": {
            "measure_ids": list(follow_up.measure_ids),
            "weeks": follow_up.weeks,
            "due_at": follow_up.due_at,
            "answers_until": follow_up.answers_until,
            "sent_at": follow_up.sent_at,
            "scores": [
                {
                    "measure_id": s.measure_id,
                    "status": s.status,
                    "score": s.score,
                    "band": s.band,
                    "answered_at": s.answered_at,
                    "end_score": s.end_score,
                    "since_end": s.since_end,
                }
                for s in view.follow_up_scores
            ],
        }
        if follow_up is not None
        else None,
    }
    return body


@router.get(
    "/o/{org}/episodes/{episode_id}/ending",
    response={200: EndingOut, **errors(401, 404, 422)},
    operation_id="get_ending",
    url_name="get_ending",
    summary="How an episode ended, its outcome, the client's review and the closing summary",
)
def get_ending(request: HttpRequest, org: Org, episode_id: int) -> Any:
    """While the episode runs, `ended_on` is null and the lists are empty. The review's written
    answers and the closing summary are null for a researcher and for tokens (no scope reads
    clients' words); the overall change, the scores and the outcome categories are not."""
    caller = member(request, org)
    return _ending(caller, episode_or_404(caller, episode_id))


# Where each of the action's form fields is in the request body.
FIELD_LOCATIONS = {
    "ended_on": ["body", "ended_on"],
    "reason": ["body", "reason"],
    "summary": ["body", "summary"],
    "follow_up_measures": ["body", "follow_up", "measure_ids"],
    "follow_up_weeks": ["body", "follow_up", "weeks"],
}


@router.post(
    "/o/{org}/episodes/{episode_id}/ending",
    response={201: EndingOut, **errors(401, 403, 404, 409, 422, *BODY_REFUSED)},
    operation_id="end_episode",
    url_name="end_episode",
    summary="End an episode, by plan unless said otherwise",
)
def end_episode(request: HttpRequest, org: Org, episode_id: int, body: EndIn) -> Any:
    """As the end page does it: a planned ending closes the episode's later forms and sends the
    client one link to the final measures, their goals to re-rate and the end-of-therapy
    review; any ending may keep a closing summary and schedule a follow-up check. Running
    episodes is a member's work: no token scope allows it.

    201 with the ending; 409 when the episode has ended already; 422 naming the field for a
    date in the future or before the episode opened, or a follow-up measure that is not an
    outcome measure."""
    membership = member(request, org, needs=Capability.RECORD_CLINICAL_DATA)
    assert isinstance(membership, Membership)  # no token scope gives RECORD_CLINICAL_DATA
    episode = episode_or_404(membership, episode_id)
    follow_up = (
        FollowUpChoice(tuple(body.follow_up.measure_ids), body.follow_up.weeks)
        if body.follow_up is not None
        else None
    )
    try:
        ended = do_end_episode(
            episode,
            body.ended_on or timezone.localdate(),
            str(body.reason),
            actor=membership,
            follow_up=follow_up,
            summary=body.summary,
        )
    except PracticeActionError as exc:
        where = FIELD_LOCATIONS.get(exc.field)
        if where is None:
            raise RequestRefusedError(409, str(exc)) from None
        problem = {"item": None, "loc": where, "message": str(exc)}
        raise RequestRefusedError(
            422, "The ending cannot be recorded as asked; see the problem.", [problem]
        ) from None
    return Status(201, _ending(membership, ended))
