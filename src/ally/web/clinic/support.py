"""What decision support that follows the client reads: the support check's state and answers,
and the client's latest bond, goals and tasks (docs/feedback.md)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone, translation

from ally.measures import Kind
from ally.web.clinic import guidance
from ally.web.collect import measures
from ally.web.collect.models import AdministrationStatus, Response
from ally.web.collect.support import kind_of, support_checks
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Episode


def _names(measure_id: str) -> dict[str, str]:
    language = (translation.get_language() or "en").split("-")[0]
    found = {}
    for sub in measures.measure(measure_id).scoring.subscales:
        found[sub.id] = sub.name.get(language) or sub.name.get("en") or sub.id
    return found


def check_result(response: Response) -> guidance.CheckResult:
    """An answered support check's domains, names and concerns, as its measure file rules."""
    current = response.current()
    measure = measures.measure(current.measure_id)
    scores = {k: float(v) for k, v in current.subscales.items() if v is not None}
    concerns = frozenset(
        sub.id
        for sub in measure.scoring.subscales
        if sub.concern_below is not None and sub.id in scores and scores[sub.id] < sub.concern_below
    )
    answered = response.administration.completed_at or response.recorded_at
    return guidance.CheckResult(
        answered_on=timezone.localdate(answered),
        scores=scores,
        names=_names(current.measure_id),
        concerns=concerns,
    )


def check_state(episode: Episode) -> guidance.CheckState:
    """The episode's latest support check: answered (the latest answered one), open, or none."""
    checks = list(support_checks(episode))
    answered = [c for c in checks if c.administration.status == AdministrationStatus.COMPLETED]
    if answered:
        response = Response.objects.select_related("administration").get(
            administration=answered[0].administration
        )
        return guidance.CheckState(
            sent_on=timezone.localdate(answered[0].requested_at), answered=check_result(response)
        )
    if not checks:
        return guidance.CheckState()
    latest = checks[0].administration
    return guidance.CheckState(
        sent_on=timezone.localdate(checks[0].requested_at),
        expired=latest.status == AdministrationStatus.EXPIRED,
    )


def parts_now(rows: Iterable[SessionFeedback]) -> guidance.PartsNow | None:
    """The client's latest two ratings of bond, goals and tasks on the alliance measure rated
    most recently, with the part the practice model found ruptured at the latest."""
    by_measure: dict[str, list[SessionFeedback]] = {}
    for row in rows:
        if row.rater != "client" or kind_of(row.measure_id) != Kind.ALLIANCE:
            continue
        if any(part in row.subscales for part in guidance.ALLIANCE_PARTS):
            by_measure.setdefault(row.measure_id, []).append(row)
    if not by_measure:
        return None
    chosen = max(by_measure.values(), key=lambda found: max(r.session_number for r in found))
    chosen.sort(key=lambda r: r.session_number)
    latest = chosen[-1]
    previous = chosen[-2].subscales if len(chosen) > 1 else {}
    return guidance.PartsNow(
        measure=measures.short_name(latest.measure_id),
        session=latest.session_number,
        latest={k: v for k, v in latest.subscales.items() if k in guidance.ALLIANCE_PARTS},
        previous={k: v for k, v in previous.items() if k in guidance.ALLIANCE_PARTS},
        ruptured=latest.rupture_subscale if latest.rupture else "",
    )
