"""The research export for a program: the same ZIP as the research export page, for a token with
the scope research:export that reaches the whole practice (or a member who may export)."""

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from ninja import Query, Router, Schema
from pydantic import Field

from ally.interop.research import DateProfile
from ally.interop.research.deidentify import MIN_CELL
from ally.web.actions.research import do_export_research
from ally.web.api.auth import Org, member
from ally.web.api.schemas import errors
from ally.web.research.export import build_zip, file_name
from ally.web.research.models import Via
from ally.web.scoping import Capability

router = Router(tags=["research"])


class ExportOptions(Schema):
    dates: Literal["shift", "year"] = Field(
        "shift",
        description="shift: each client's dates moved by their own random number of weeks "
        "(intervals kept); year: the year only, with days since the client's first contact.",
    )
    min_cell: int = Field(
        MIN_CELL, ge=1, le=1000, description="Counts in summary.csv below this are suppressed."
    )


@router.get(
    "/o/{org}/research-export",
    response={200: None, **errors(401, 403, 404, 422)},
    operation_id="get_research_export",
    url_name="get_research_export",
    summary="A de-identified research export of the whole practice (ZIP)",
    openapi_extra={
        "responses": {
            "200": {
                "description": "A ZIP: administrations and episodes as CSV with "
                "datapackage.json, Parquet and SPSS .sav, codebook.csv and summary.csv "
                "(docs/research.md).",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def get_research_export(request: HttpRequest, org: Org, options: Query[ExportOptions]) -> Any:
    """Random pseudonyms, new in every call; no names, contact details, codes or free text;
    dates shifted per client or cut to the year. Every export is audited under the caller."""
    caller = member(request, org, needs=Capability.EXPORT_RESEARCH_DATA)
    dates = DateProfile(options.dates)
    organisation = caller.organisation
    body, _ = do_export_research(
        organisation,
        lambda: build_zip(organisation, dates=dates, min_cell=options.min_cell),
        actor=caller,
        via=str(Via.API),
        dates=dates,
        min_cell=options.min_cell,
    )
    response = HttpResponse(body, content_type="application/zip")
    name = file_name(dates, timezone.localdate().isoformat())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    add_never_cache_headers(response)
    request.audit_recorded = True
    return response
