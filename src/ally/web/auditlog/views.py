"""The audit log for a practice's administrators: filter, page through, export as CSV.

Administrators see their own organisation's entries only (the chain is one for all of Ally, and
`ally manage verify_audit` checks it whole). Each export is itself an entry.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ally.web import csvsafe
from ally.web.apiclients.models import ApiClient
from ally.web.audit import record_event
from ally.web.auditlog.models import AuditEntry
from ally.web.clinic.roles import staff_context
from ally.web.dashboard.forms import DateInput
from ally.web.members import member_view
from ally.web.practice.models import Membership
from ally.web.scoping import Capability, roles_with, scoped

PAGE_SIZE = 100
CSV_COLUMNS = (
    "entry",
    "at",
    "member",
    "action",
    "target_type",
    "target_id",
    "ip",
    "digest",
    "api_client",
)


class AuditFilter(forms.Form):
    action = forms.CharField(
        label=_("Action begins with"),
        required=False,
        max_length=60,
        help_text=_('For example "read", "response." or "login."'),
    )
    member = forms.ModelChoiceField(
        label=_("Member"), queryset=Membership.objects.none(), required=False
    )
    since = forms.DateField(label=_("From"), required=False, widget=DateInput())
    until = forms.DateField(label=_("To (inclusive)"), required=False, widget=DateInput())

    def __init__(self, *args: Any, members: QuerySet[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        member_field = self.fields["member"]
        assert isinstance(member_field, forms.ModelChoiceField)
        member_field.queryset = members
        member_field.label_from_instance = lambda m: f"{m.user} ({m.get_role_display()})"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_('"From" is after "To": swap the two dates.'))
        return cleaned

    def entries(self, organisation_id: int) -> QuerySet[AuditEntry]:
        rows = AuditEntry.objects.filter(organisation_id=organisation_id)
        data = self.cleaned_data if self.is_bound else {}
        if action := data.get("action"):
            rows = rows.filter(action__startswith=action)
        if member := data.get("member"):
            rows = rows.filter(actor_id=member.pk)
        zone = timezone.get_current_timezone()
        if since := data.get("since"):
            rows = rows.filter(at__gte=dt.datetime.combine(since, dt.time.min, zone))
        if until := data.get("until"):
            next_day = until + dt.timedelta(days=1)
            rows = rows.filter(at__lt=dt.datetime.combine(next_day, dt.time.min, zone))
        return rows.order_by("-pk")


def _filtered(request: HttpRequest) -> tuple[AuditFilter, dict[int, Membership]]:
    members = scoped(Membership, request.membership).select_related("user").order_by("user__email")
    form = AuditFilter(request.GET or None, members=members)
    return form, {m.pk: m for m in members}


def _api_clients(request: HttpRequest) -> dict[int, ApiClient]:
    """The organisation's API clients, revoked ones too, that entries may name."""
    return {client.pk: client for client in scoped(ApiClient, request.membership)}


@member_view(roles=roles_with(Capability.READ_AUDIT_LOG))
def log(request: HttpRequest, org: str) -> HttpResponse:
    form, members = _filtered(request)
    context = staff_context(request, org, form=form)
    if form.is_bound and not form.is_valid():
        return render(request, "auditlog/log.html", context, status=400)
    page = Paginator(form.entries(request.membership.organisation_id), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    clients = _api_clients(request)
    rows = [
        (entry, members.get(entry.actor_id or 0), clients.get(entry.api_client_id or 0))
        for entry in page
    ]
    context.update(page=page, rows=rows, query=query.urlencode())
    return render(request, "auditlog/log.html", context)


@member_view(roles=roles_with(Capability.READ_AUDIT_LOG))
def export(request: HttpRequest, org: str) -> HttpResponse | StreamingHttpResponse:
    form, members = _filtered(request)
    if form.is_bound and not form.is_valid():
        return render(request, "auditlog/log.html", staff_context(request, org, form=form), 400)
    membership = request.membership
    rows = form.entries(membership.organisation_id)
    clients = _api_clients(request)
    record_event(
        "audit.exported",
        actor=membership,
        organisation_id=membership.organisation_id,
        target_type="auditlog:export",
    )
    request.audit_recorded = True

    def lines() -> Iterator[str]:
        out = _Line()
        writer = csv.writer(out)
        writer.writerow(csvsafe.row(CSV_COLUMNS))
        yield out.take()
        for entry in rows.iterator(chunk_size=2000):
            member = members.get(entry.actor_id) if entry.actor_id else None
            writer.writerow(
                csvsafe.row(
                    [
                        entry.pk,
                        entry.at.isoformat(),
                        member.user.email if member else "",
                        entry.action,
                        entry.target_type,
                        entry.target_id,
                        entry.ip,
                        entry.digest,
                        clients[entry.api_client_id].name if entry.api_client_id in clients else "",
                    ]
                )
            )
            yield out.take()

    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ally-audit-{org}-{stamp}.csv"'
    return response


class _Line:
    """A file-like sink for csv.writer that hands back each row as it is written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def take(self) -> str:
        text, self.text = self.text, ""
        return text
