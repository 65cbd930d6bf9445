"""What a sponsor sees of one engagement, and the signed link that shows it.

Without the client's consent: the practice, the engagement's start and how many sessions took
place. With it: also the WHO-5 wellbeing percentage and the mean goal progress by session. No
other answer, no name, no note, ever.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.urls import reverse

from ally.web.collect.models import Administration
from ally.web.practice.models import SessionStatus
from ally.web.sponsors.models import Sponsorship

SALT = "ally.sponsors.report"
LINK_DAYS = 92
"""A sponsor's link works for about a quarter; the coach gives a new one after that."""
SHARED_MEASURES = ("who5", "goal-progress")
"""The only answers a sponsor may see, and only with the client's consent."""


@dataclass(frozen=True)
class SponsorView:
    sponsorship: Sponsorship
    sessions_held: int
    opened_on: dt.date
    ended_on: dt.date | None
    progress: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """With consent: per shared measure, (session number, score) in session order."""


def sponsor_token(sponsorship: Sponsorship) -> str:
    return signing.dumps(sponsorship.pk, salt=SALT)


def sponsor_url(sponsorship: Sponsorship, base_url: str | None = None) -> str:
    path = reverse("sponsor_report", kwargs={"token": sponsor_token(sponsorship)})
    return f"{(base_url or settings.ALLY_BASE_URL).rstrip('/')}{path}"


def sponsorship_of(token: str) -> Sponsorship | None:
    """The sponsorship a sponsor's link names while it holds; None for a changed, old or
    replaced link."""
    try:
        pk = signing.loads(token, salt=SALT, max_age=dt.timedelta(days=LINK_DAYS))
    except signing.BadSignature:
        return None
    if not isinstance(pk, int):
        return None
    return (
        Sponsorship.objects.select_related("episode__organisation")
        .filter(pk=pk, episode__organisation__kind="coaching")
        .first()
    )


def sponsor_view(sponsorship: Sponsorship) -> SponsorView:
    episode = sponsorship.episode
    held = episode.sessions.filter(status=SessionStatus.ATTENDED).count()
    progress: dict[str, list[tuple[int, float]]] = {}
    if sponsorship.consented:
        answered = (
            Administration.objects.filter(
                episode=episode,
                measure_id__in=SHARED_MEASURES,
                respondent="client",
                response__isnull=False,
                session__isnull=False,
            )
            .select_related("response", "session")
            .order_by("session__number", "pk")
        )
        for administration in answered:
            score = administration.response.current().total
            progress.setdefault(administration.measure_id, []).append(
                (int(administration.session.number or 0), float(score))
            )
    return SponsorView(sponsorship, held, episode.opened_on, episode.ended_on, progress)
