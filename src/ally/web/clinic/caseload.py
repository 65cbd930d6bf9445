"""The caseload: the member's episodes, the most urgent first (urgency.py has the rule)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ally.web.clinic.forms import CaseloadFilter
from ally.web.clinic.roles import staff_context
from ally.web.clinic.urgency import OVERDUE_AFTER_HOURS, caseload_rows
from ally.web.members import member_view


@member_view()
def caseload(request: HttpRequest, org: str) -> HttpResponse:
    """Every role lands here. A researcher sees the same list without names (they see every
    episode, never ClientIdentity) and, like everyone, cannot change anything from it."""
    form = CaseloadFilter(request.GET or None)
    show = "open"
    if form.is_valid():
        show = form.cleaned_data["show"] or "open"
    rows = caseload_rows(
        request.membership,
        include_open=show != "ended",
        include_ended=show != "open",
    )
    # A clinician's own caseload needs no Clinician column, unless it holds a colleague's
    # episode they work on in the care team.
    mine = request.membership.pk
    show_clinician = any(row.episode.clinician_id != mine for row in rows)
    context = staff_context(
        request,
        org,
        rows=rows,
        form=form,
        show=show,
        overdue_hours=OVERDUE_AFTER_HOURS,
        show_clinician=show_clinician,
    )
    return render(request, "clinic/caseload.html", context)
