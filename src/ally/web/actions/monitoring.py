"""Fitting the practice model: the one write of routine outcome monitoring besides answers."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ally.web import audit
from ally.web.monitoring.models import FitRequest, PracticeModelFit
from ally.web.monitoring.refresh import answers_of, complete_items, fit_model, refresh_organisation
from ally.web.practice.models import Episode, Membership, Organisation

log = logging.getLogger(__name__)

STALE = dt.timedelta(hours=2)
"""A fit still "running" after this long was cut off (its server process stopped): the next
"Fit now" may start another."""


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


def running_fit(organisation: Organisation, now: dt.datetime) -> FitRequest | None:
    """The organisation's fit running now, if any."""
    return (
        FitRequest.objects.filter(
            organisation=organisation,
            outcome=FitRequest.Outcome.RUNNING,
            requested_at__gt=now - STALE,
        )
        .select_related("requested_by__user")
        .first()
    )


def do_request_fit(
    organisation: Organisation, actor: Membership, *, now: dt.datetime | None = None
) -> tuple[FitRequest, bool]:
    """An administrator's "Fit now": start a fit unless one is running. Returns the request and
    whether this call started it. The fit runs in a thread after the transaction commits
    (`ALLY_FIT_IN_BACKGROUND`), or in this call when that is off."""
    now = now or timezone.now()
    with transaction.atomic():
        # One at a time per organisation: the organisation row is the lock.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).values_list("pk").get()
        running = running_fit(organisation, now)
        if running is not None:
            return running, False
        request = FitRequest.objects.create(
            organisation=organisation, requested_by=actor, requested_at=now
        )
        audit.record("practice_model.fit_requested", actor=actor, target=request)
    if settings.ALLY_FIT_IN_BACKGROUND:
        thread = threading.Thread(
            target=_run_in_background, args=(request.pk,), name="ally-fit", daemon=True
        )
        transaction.on_commit(thread.start)
    else:
        request = run_fit_request(request.pk)
    return request, True


def run_fit_request(pk: int) -> FitRequest:
    """Fit for the request, and record how it went; a failure is logged by kind only (its
    message may quote data) and shown on the practice model page."""
    request = FitRequest.objects.select_related("organisation", "requested_by").get(pk=pk)
    try:
        fit = do_fit_practice_model(request.organisation, actor=request.requested_by)
    except Exception as exc:
        log.warning("practice model fit %s failed (%s)", pk, type(exc).__name__)
        request.outcome = FitRequest.Outcome.FAILED
        request.finished_at = timezone.now()
        request.save(update_fields=["outcome", "finished_at"])
        return request
    request.outcome, request.fit, request.finished_at = (
        FitRequest.Outcome.FITTED,
        fit,
        timezone.now(),
    )
    request.save(update_fields=["outcome", "fit", "finished_at"])
    return request


def _run_in_background(pk: int) -> None:
    try:
        run_fit_request(pk)
    finally:
        # The thread's own database connection, opened for the fit.
        connection.close()
