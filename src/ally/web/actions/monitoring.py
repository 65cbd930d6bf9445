"""Fitting the practice model: the one write of routine outcome monitoring besides answers."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ally.web import audit
from ally.web.monitoring.models import PracticeModelFit
from ally.web.monitoring.refresh import answers_of, complete_items, fit_model, refresh_organisation
from ally.web.practice.models import Episode, Membership, Organisation


def do_fit_practice_model(
    organisation: Organisation, *, now: dt.datetime | None = None, actor: Membership | None = None
) -> PracticeModelFit:
    """Fit the organisation's practice model on all its answers, keep it, and bring every
    episode's results up to date with it. `actor` is the administrator who asked, or None for
    the scheduled command."""
    now = now or timezone.now()
    episodes = list(Episode.objects.filter(organisation=organisation))
    answers = list(answers_of([e.pk for e in episodes], items=True))
    model = fit_model(
        episodes, complete_items(answers), now.isoformat(timespec="seconds"), answers=answers
    )
    with transaction.atomic():
        fit = PracticeModelFit.objects.create(
            organisation=organisation,
            model_json=model.to_json(),
            fitted_at=now,
            episodes=model.training.episodes,
            administrations=model.training.administrations,
            fitted_by=actor,
        )
        audit.record("practice_model.fitted", actor=actor, target=fit)
    refresh_organisation(organisation, now=now)
    return fit
