"""The research export page: what the export holds and leaves out, the recent exports, and the
download (a ZIP), for members whose role may export research data (researchers, administrators).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from ally.interop.research import DateProfile
from ally.web.actions.research import do_export_research
from ally.web.clinic.roles import staff_context
from ally.web.members import member_view
from ally.web.research.export import build_zip, file_name
from ally.web.research.forms import ResearchExportForm
from ally.web.research.models import ResearchExport, Via
from ally.web.scoping import Capability, roles_with, scoped

EXPORTERS = roles_with(Capability.EXPORT_RESEARCH_DATA)
RECENT = 10


def _page(
    request: HttpRequest, org: str, form: ResearchExportForm, status: int = 200
) -> HttpResponse:
    recent = (
        scoped(ResearchExport, request.membership)
        .select_related("exported_by__user", "api_client")
        .order_by("-exported_at", "-pk")[:RECENT]
    )
    context = staff_context(request, org, form=form, recent=recent)
    return render(request, "research/export.html", context, status=status)


@member_view(EXPORTERS)
def export(request: HttpRequest, org: str) -> HttpResponse:
    if request.method != "POST":
        return _page(request, org, ResearchExportForm())
    form = ResearchExportForm(request.POST)
    if not form.is_valid():
        return _page(request, org, form, status=400)
    membership = request.membership
    dates = DateProfile(form.cleaned_data["dates"])
    min_cell = form.cleaned_data["min_cell"]
    body, _ = do_export_research(
        membership.organisation,
        lambda: build_zip(membership.organisation, dates=dates, min_cell=min_cell),
        actor=membership,
        via=str(Via.PAGE),
        dates=dates,
        min_cell=min_cell,
    )
    response = HttpResponse(body, content_type="application/zip")
    name = file_name(dates, timezone.localdate().isoformat())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    add_never_cache_headers(response)
    request.audit_recorded = True
    return response
