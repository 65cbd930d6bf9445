"""What a recording's page shows: its marks by rater, the blind rule, the agreement of the two
reviews, and the session's alliance scores beside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ally.ipr.agreement import Agreement, agreement
from ally.ipr.marks import Kind, Rater
from ally.ipr.marks import Mark as CoreMark
from ally.web.clinic.course import AlliancePoint, courses, measure_name
from ally.web.ipr.models import Mark, Part, Recording, Review
from ally.web.monitoring.models import SessionFeedback
from ally.web.scoping import scoped


def core_mark(mark: Mark, rater: str, recording: str) -> CoreMark:
    return CoreMark(recording, Rater(rater), mark.start, mark.end, Kind(mark.kind), mark.rating)


@dataclass
class Reviews:
    """The two reviews of a recording as one viewer may see them."""

    client: Review | None
    clinician: Review | None
    client_marks: list[Mark]
    clinician_marks: list[Mark]

    @property
    def both_finished(self) -> bool:
        return bool(
            self.client
            and self.client.is_finished
            and self.clinician
            and self.clinician.is_finished
        )

    def moments(self, rater: str) -> list[Mark]:
        marks = self.client_marks if rater == Rater.CLIENT else self.clinician_marks
        return [m for m in marks if m.part == Part.MOMENT]

    def event_marks(self, rater: str) -> list[Mark]:
        marks = self.client_marks if rater == Rater.CLIENT else self.clinician_marks
        return [m for m in marks if m.part != Part.MOMENT]

    def agreement(self, recording: Recording) -> Agreement | None:
        if not self.both_finished:
            return None
        name = str(recording.pk)
        marks = [core_mark(m, Rater.CLIENT, name) for m in self.moments(Rater.CLIENT)]
        marks += [core_mark(m, Rater.CLINICIAN, name) for m in self.moments(Rater.CLINICIAN)]
        return agreement(name, marks)


def reviews_of(recording: Recording) -> Reviews:
    reviews = {r.rater: r for r in Review.objects.filter(recording=recording)}
    marks: dict[str, list[Mark]] = {Rater.CLIENT: [], Rater.CLINICIAN: []}
    for mark in Mark.objects.filter(review__recording=recording).select_related("review"):
        marks[mark.review.rater].append(mark)
    return Reviews(
        reviews.get(Rater.CLIENT),
        reviews.get(Rater.CLINICIAN),
        marks[Rater.CLIENT],
        marks[Rater.CLINICIAN],
    )


@dataclass(frozen=True)
class AllianceAtSession:
    name: str
    point: AlliancePoint
    before: AlliancePoint | None


def alliance_at(caller: Any, recording: Recording) -> list[AllianceAtSession]:
    """Each alliance measure's scores at the recorded session (and the one before), with the
    rupture and repair flags the engine set."""
    number = recording.session.number
    if number is None:
        return []
    rows = scoped(SessionFeedback, caller).filter(episode_id=recording.episode_id)
    found = []
    for course in courses(rows)[1]:
        points = {p.session: p for p in course.points}
        if number in points:
            earlier = [p for s, p in points.items() if s < number]
            found.append(
                AllianceAtSession(
                    measure_name(course.measure_id),
                    points[number],
                    max(earlier, key=lambda p: p.session) if earlier else None,
                )
            )
    return found


LANE_HEIGHT = 24
WIDTH = 600


def lanes(reviews: Reviews, length: int) -> dict[str, Any]:
    """Both raters' moments as bars on one time axis (an SVG drawn on the server: no script,
    no style attributes), in percent of `length` seconds."""
    length = max(length, 1)

    def bars(marks: list[Mark], row: int) -> list[dict[str, Any]]:
        return [
            {
                "x": round(m.start / length * WIDTH, 1),
                "width": max(round((m.end - m.start) / length * WIDTH, 1), 3),
                "y": row * (LANE_HEIGHT + 8) + 4,
                "kind": m.kind,
                "mark": m,
            }
            for m in marks
        ]

    return {
        "client": bars(reviews.moments(Rater.CLIENT), 0),
        "clinician": bars(reviews.moments(Rater.CLINICIAN), 1),
        "width": WIDTH,
        "height": 2 * (LANE_HEIGHT + 8) + 4,
        "lane": LANE_HEIGHT,
    }
