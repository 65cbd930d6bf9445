"""An episode's report: a progress report at any time, the end report once it has ended.

The clinician chooses what goes in and for whom (the care team, the client, a referrer); the
same choices give the printable page and the PDF, which WeasyPrint renders from the same
template with the same stored chart drawings, so the two never differ. Every PDF download is
audited; the page itself is a read of the client page's numbers.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ally.web import audit
from ally.web.clinic.course import courses
from ally.web.clinic.episodes import episode_charts, episode_of
from ally.web.clinic.roles import sees_names, staff_context
from ally.web.endings.summary import episode_ending
from ally.web.goals.course import episode_goals
from ally.web.members import member_view
from ally.web.monitoring.models import (
    ChartDrawing,
    EpisodeFeedback,
    PracticeModelFit,
    SessionFeedback,
)
from ally.web.practice.models import ClientIdentity, Episode, Membership, Session, SessionStatus
from ally.web.scoping import scoped

AUDIENCES = (
    ("team", _("The care team")),
    ("client", _("The client")),
    ("referrer", _("A referrer")),
)
SECTIONS = (
    ("outcome", _("Outcome: scores, change and reliable change")),
    ("charts", _("Charts (with the expected course and signals)")),
    ("scores", _("Scores session by session")),
    ("expected", _("Expected course and signals")),
    ("alliance", _("Alliance: its course, ruptures and repairs")),
    ("sessions", _("Sessions attended and missed")),
    ("goals", _("Goals: first and last progress, attainment (GAS)")),
    ("summary", _("The closing summary")),
    ("review", _("The client's end-of-therapy review")),
    ("name", _("The client's name")),
)
DEFAULTS = {
    # What a copy holds unless the clinician chooses otherwise. The expected course and the
    # signals are the team's working tools; a client or referrer reads the change itself.
    "team": [
        *("outcome", "charts", "scores", "expected", "alliance", "sessions"),
        *("goals", "summary", "review"),
    ],
    "client": ["outcome", "charts", "alliance", "sessions", "goals", "summary", "review"],
    # The client's own words (goals, review) go to a referrer only when the clinician adds them.
    "referrer": ["outcome", "scores", "sessions", "summary"],
}


class ReportForm(forms.Form):
    """What goes into a report, and for whom; read from the query string."""

    audience = forms.ChoiceField(label=_("For"), choices=AUDIENCES, initial="team")
    sections = forms.MultipleChoiceField(
        label=_("What goes in"),
        choices=SECTIONS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=DEFAULTS["team"],
    )

    def __init__(self, data: Any, *, names: bool) -> None:
        data = data.copy() if data else None
        if data is not None and "sections" not in data:
            data.setlist("sections", DEFAULTS.get(data.get("audience", "team"), DEFAULTS["team"]))
        super().__init__(data)
        if not names:  # only those who see identities may put a name in a report
            field = self.fields["sections"]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = [c for c in SECTIONS if c[0] != "name"]

    def choices(self) -> tuple[str, set[str]]:
        if not self.is_bound:
            return "team", set(DEFAULTS["team"])
        if not self.is_valid():
            return "team", set(DEFAULTS["team"])
        return self.cleaned_data["audience"], set(self.cleaned_data["sections"])


def _attendance(membership: Membership, episode: Episode) -> dict[str, Any]:
    sessions = scoped(Session, membership).filter(episode=episode)
    attended = sessions.filter(status=SessionStatus.ATTENDED).order_by("scheduled_at")
    first, last = attended.first(), attended.last()
    return {
        "attended": attended.count(),
        "missed": sessions.filter(status=SessionStatus.MISSED).count(),
        "first": first.scheduled_at if first else None,
        "last": last.scheduled_at if last else None,
    }


def report_context(request: HttpRequest, org: str, episode: Episode) -> dict[str, Any]:
    """The report's numbers for the chosen audience and sections: the client page's own rows."""
    membership: Membership = request.membership
    form = ReportForm(request.GET or None, names=sees_names(membership))
    audience, sections = form.choices()
    rows = list(scoped(SessionFeedback, membership).filter(episode=episode))
    summaries = list(scoped(EpisodeFeedback, membership).filter(episode=episode))
    outcomes, alliances = courses(rows, summaries)
    identity = None
    if "name" in sections and sees_names(membership):
        identity = scoped(ClientIdentity, membership).filter(client_id=episode.client_id).first()
    return staff_context(
        request,
        org,
        episode=episode,
        form=form,
        audience=audience,
        audience_words=dict(AUDIENCES)[audience],
        sections=sections,
        identity=identity,
        outcomes=outcomes,
        alliances=alliances,
        attendance=_attendance(membership, episode),
        goals=episode_goals(membership, episode) if "goals" in sections else None,
        ending=episode_ending(membership, episode),
        model_fit=scoped(PracticeModelFit, membership).only("fitted_at", "episodes").first(),
        made_at=timezone.now(),
        query=request.GET.urlencode(),
        **episode_charts(scoped(ChartDrawing, membership), episode, outcomes, alliances),
    )


@member_view()
def report(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The report to read, print or download, with the choices of what goes in."""
    episode = episode_of(request, pk)
    return render(request, "clinic/report.html", report_context(request, org, episode))


@member_view()
def report_pdf(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The same report as a PDF file, rendered by WeasyPrint from the report's own template."""
    # WeasyPrint loads Pango and its fonts: only a PDF request pays for that.
    from weasyprint import HTML

    episode = episode_of(request, pk)
    context = report_context(request, org, episode)
    html = render_to_string("clinic/report_document.html", context, request=request)
    pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
    audit.record_event(
        "report.downloaded",
        actor=request.membership,
        organisation_id=episode.organisation_id,
        target_type="episode",
        target_id=f"{episode.pk}:{context['audience']}",
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    kind = "end-report" if episode.ended_on else "progress-report"
    # The file is named by the episode's number only: no client's code or name in it.
    response["Content-Disposition"] = f'attachment; filename="ally-{kind}-{episode.pk}.pdf"'
    return response
