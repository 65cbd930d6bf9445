"""The client's end-of-therapy review, under /a/review/, in the visit their link opened.

The link's grant is the only authority, as on every client page: the visit must hold the
review's form, still taking answers (after the ending, by the ending's own exception). The
written answers go into the sealed row only: never into a URL, a log line or the session.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from ally.web.actions.endings import EndingActionError, do_record_review
from ally.web.clinic.forms import add_action_error
from ally.web.collect.errors import AdministrationClosedError, EpisodeEndedError
from ally.web.collect.models import Administration
from ally.web.endings.forms import ReviewForm
from ally.web.endings.models import REVIEW
from ally.web.respond.views import PAGE_REFERRER_POLICY, client_page
from ally.web.respond.visit import Visit


def _review(visit: Visit) -> Administration | None:
    now = timezone.now()
    return next(
        (a for a in visit.administrations() if a.measure_id == REVIEW and a.takes_answers(now)),
        None,
    )


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def review(request: HttpRequest) -> HttpResponse:
    """The review: the overall change, then what helped, what hindered, what they will keep."""
    visit = Visit(request.session)
    administration = _review(visit)
    if administration is None:
        return redirect("respond:answer")
    form = ReviewForm(request.POST or None, prefix="review")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_record_review(
                administration,
                data["change"],
                {q: data[q] for q in ("helped", "hindered", "keep_doing")},
                idempotency_key=visit.submission_key(administration.pk),
            )
        except EndingActionError as exc:
            add_action_error(form, exc)
        except (AdministrationClosedError, EpisodeEndedError):
            return redirect("respond:answer")
        else:
            visit.drop_draft(administration.pk)
            # On to the visit's next form, or the confirmation.
            return redirect("respond:answer")
    administrations = visit.administrations()
    index = [a.pk for a in administrations].index(administration.pk) + 1
    return render(
        request,
        "endings/client_review.html",
        {
            "organisation": administration.episode.organisation,
            "form": form,
            "index": index,
            "total": len(administrations),
        },
        status=400 if form.errors else 200,
    )
