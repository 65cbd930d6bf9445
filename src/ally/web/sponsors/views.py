"""The sponsor of an engagement: the coach's page (/o/<org>/episodes/<pk>/sponsor/), the
client's consent (/a/sponsor/, in the visit their link opened) and the sponsor's own page
(/sponsor/<signed>/)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from ally.web.actions.practice import PracticeActionError
from ally.web.actions.sponsors import do_set_sponsor, do_set_sponsor_consent
from ally.web.audit import record_event
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import WRITERS, staff_context
from ally.web.members import member_view
from ally.web.practice.models import Episode
from ally.web.respond.links import base_url
from ally.web.respond.views import PAGE_REFERRER_POLICY, client_page
from ally.web.respond.visit import Visit
from ally.web.scoping import get_scoped_or_404
from ally.web.sponsors.forms import ConsentForm, SponsorForm
from ally.web.sponsors.models import Sponsorship
from ally.web.sponsors.report import sponsor_url, sponsor_view, sponsorship_of
from ally.web.vocabulary import speak_as


@member_view(roles=WRITERS)
def episode_sponsor(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    episode = get_scoped_or_404(Episode.objects.select_related("client"), membership, pk=pk)
    current = Sponsorship.objects.filter(episode=episode).first()
    form = SponsorForm(
        request.POST or None, initial={"sponsor": current.sponsor if current else ""}
    )
    if request.method == "POST" and form.is_valid():
        try:
            do_set_sponsor(episode, form.cleaned_data["sponsor"], actor=membership)
        except PracticeActionError as refused:
            add_action_error(form, refused)
        else:
            messages.success(request, _("Saved."))
            return redirect("sponsors:episode", org=org, pk=pk)
    context = staff_context(
        request,
        org,
        episode=episode,
        form=form,
        sponsorship=current,
        link=sponsor_url(current, base_url(request)) if current else "",
    )
    return render(request, "sponsors/episode.html", context, status=400 if form.errors else 200)


def _visit_sponsorship(visit: Visit) -> Sponsorship | None:
    now = timezone.now()
    for administration in visit.administrations():
        if administration.takes_answers(now):
            found = Sponsorship.objects.filter(episode=administration.episode_id).first()
            if found is not None:
                return found
    return None


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def consent(request: HttpRequest) -> HttpResponse:
    """The client chooses what their sponsor sees, and may change it at any visit."""
    sponsorship = _visit_sponsorship(Visit(request.session))
    if sponsorship is None:
        return redirect("respond:answer")
    form = ConsentForm(
        request.POST or None, initial={"agreed": "yes" if sponsorship.consented else "no"}
    )
    if request.method == "POST" and form.is_valid():
        do_set_sponsor_consent(sponsorship, form.cleaned_data["agreed"])
        messages.success(request, _("Saved. You can change it at any of your visits."))
        return redirect("respond:answer")
    return render(
        request,
        "sponsors/consent.html",
        {
            "form": form,
            "sponsorship": sponsorship,
            "organisation": sponsorship.episode.organisation,
        },
    )


def report(request: HttpRequest, token: str) -> HttpResponse:
    """The sponsor's page: sessions held; progress only with the client's consent."""
    response = _report(request, token)
    add_never_cache_headers(response)
    return response


def _report(request: HttpRequest, token: str) -> HttpResponse:
    sponsorship = sponsorship_of(token)
    if sponsorship is None:
        response = render(request, "sponsors/report_closed.html", status=404)
    else:
        organisation = sponsorship.episode.organisation
        speak_as(organisation)
        record_event(
            "sponsor.report_viewed",
            actor=None,
            organisation_id=organisation.pk,
            target_type="sponsors.Sponsorship",
            target_id=str(sponsorship.pk),
        )
        response = render(
            request,
            "sponsors/report.html",
            {"view": sponsor_view(sponsorship), "organisation": organisation},
        )
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
