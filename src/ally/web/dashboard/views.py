"""The practice dashboard: caseloads, alerts, outcomes and alliance over clinicians."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ally.web.dashboard import chart, tables
from ally.web.dashboard.alliance_outcome import alliance_outcome_lines, meta_analysis
from ally.web.dashboard.figures import Period, clinicians_of, practice_figures
from ally.web.dashboard.forms import FilterForm
from ally.web.dashboard.signals import signals_backtest
from ally.web.members import member_view
from ally.web.monitoring.refresh import model_for
from ally.web.scoping import Capability, can, roles_with

# Clinicians get a 403: their own figures are on their caseload, and a page of colleagues'
# numbers is for the roles that oversee the whole practice.
DASHBOARD_ROLES = roles_with(Capability.SEE_DASHBOARD)


@member_view(roles=DASHBOARD_ROLES)
def home(request: HttpRequest, org: str) -> HttpResponse:
    membership = request.membership
    members = clinicians_of(membership)
    default = Period.last_twelve_months(timezone.localdate())
    form = FilterForm(request.GET or None, members=members, default=default)
    show = tables.Display(hide_small=not can(membership, Capability.SEE_IDENTITY))
    model, fit = model_for(membership.organisation_id)
    context = {
        "form": form,
        "org": org,
        "membership": membership,
        "small_cell": tables.SMALL_CELL,
        "signals": signals_backtest(model, fit, show),
    }
    if form.is_bound and not form.is_valid():
        return render(request, "dashboard/home.html", context, status=400)
    period, chosen = (form.period(), form.chosen()) if form.is_bound else (default, None)
    figures = practice_figures(membership, period, members, chosen)
    context.update(
        figures=figures,
        chosen=chosen,
        hide_small=show.hide_small,
        caseload=tables.caseload_table(figures, show),
        alerts=tables.alerts_table(figures, show),
        outcomes=[tables.outcome_table(figures, show, m) for m in tables.outcome_measures(figures)],
        alliance=tables.alliance_table(figures, show),
        outcome_chart=chart.outcome_svg(
            tables.chart_values(figures, show), "outcome-chart-caption"
        ),
    )
    context.update(
        alliance_outcome=alliance_outcome_lines(membership, period, chosen, show),
        # Flückiger et al.'s figure is psychotherapy's; a coaching practice is not compared to it.
        alliance_meta=meta_analysis(),
        compare_with_psychotherapy=request.membership.organisation.kind != "coaching",
    )
    return render(request, "dashboard/home.html", context)
