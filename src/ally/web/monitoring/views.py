"""The practice model page: what the practice's numbers rest on, and fitting it again.

Every member may read it (it holds no client's data: counts, estimates and their sources);
administrators may fit it now, as the scheduled `ally manage fit_practice` does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.feedback.etr import EtrModel
from ally.feedback.practice import PracticeModel
from ally.web.actions.monitoring import do_request_fit, running_fit
from ally.web.clinic.roles import post_only, staff_context
from ally.web.members import member_view
from ally.web.monitoring.models import FitRequest, PracticeModelFit
from ally.web.monitoring.refresh import model_for
from ally.web.scoping import Capability, can, roles_with


def _measures(model: PracticeModel, used: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each measure the practice uses, with the source of each of its numbers for each rater
    who has rated it."""
    rows = []
    for measure_id in sorted({pair[0] for pair in used} & set(model.measures)):
        m = model.measures[measure_id]
        outcome = m.outcome
        rows.append(
            {
                "id": measure_id,
                "version": m.version,
                "raters": [
                    (rater, change.source, change.cutoff, change.sudden_gain)
                    for rater, change in sorted(m.raters.items())
                    if change.source and (measure_id, rater) in used
                ],
                "subscale_drops": m.subscale_drops,
                "course": outcome.source if outcome else "",
                "fitted_course": bool(outcome and isinstance(outcome.expected, EtrModel)),
                "low_alliance": m.low_alliance_source,
                "notes": m.notes,
            }
        )
    return rows


@member_view()
def model_page(request: HttpRequest, org: str) -> HttpResponse:
    membership = request.membership
    model, fit = model_for(membership.organisation_id)
    from ally.web.monitoring.models import EpisodeFeedback

    used = set(
        EpisodeFeedback.objects.filter(episode__organisation_id=membership.organisation_id)
        .values_list("measure_id", "rater")
        .distinct()
    )
    stored = PracticeModelFit.objects.filter(organisation_id=membership.organisation_id)
    organisation = membership.organisation
    latest = FitRequest.objects.filter(organisation=organisation).first()
    context = staff_context(
        request,
        org,
        fit=fit,
        unreadable=fit is None and stored.exists(),
        model=model,
        measures=_measures(model, used),
        dropout=model.dropout,
        can_fit=can(membership, Capability.FIT_PRACTICE_MODEL),
        running=running_fit(organisation, timezone.now()),
        failed=latest if latest and latest.outcome == FitRequest.Outcome.FAILED else None,
    )
    return render(request, "monitoring/model.html", context)


@member_view(roles=roles_with(Capability.FIT_PRACTICE_MODEL))
@post_only
def fit_now(request: HttpRequest, org: str) -> HttpResponse:
    fit_request, started = do_request_fit(request.membership.organisation, request.membership)
    if fit_request.outcome == FitRequest.Outcome.FITTED and fit_request.fit is not None:
        messages.success(
            request,
            _(
                "The practice model was fitted on %(episodes)s episodes and applied to every "
                "episode."
            )
            % {"episodes": fit_request.fit.episodes},
        )
    elif started and fit_request.outcome == FitRequest.Outcome.RUNNING:
        messages.success(
            request,
            _(
                "The fit has started. It takes from seconds to some minutes, depending on the "
                "practice's history; reload this page to see when it is done."
            ),
        )
    elif not started:
        messages.info(request, _("A fit is already running: it was not started twice."))
    return redirect("monitoring:model", org=org)
