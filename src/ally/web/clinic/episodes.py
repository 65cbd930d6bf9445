"""The client page (one episode), and the forms that open, staff and end an episode."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import BooleanField, ExpressionWrapper, F, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ally.web.actions.alerts import AlertActionError, do_record_used_suggestions
from ally.web.actions.answers import SupportCheckRefusedError, do_send_support_check
from ally.web.actions.practice import (
    PracticeActionError,
    do_add_care_team_member,
    do_change_care_team_member,
    do_end_episode,
    do_open_episode,
    do_remove_care_team_member,
)
from ally.web.alerts.models import Alert, AlertKind, UsedSuggestion, most_severe_first
from ally.web.clinic import charts, guidance
from ally.web.clinic.alerts import Following, alert_views, positions_of
from ally.web.clinic.course import AllianceCourse, OutcomeCourse, courses
from ally.web.clinic.forms import (
    CareTeamForm,
    EpisodeForm,
    SessionStatusForm,
    UsedSuggestionsForm,
    add_action_error,
)
from ally.web.clinic.guidance import Suggestion
from ally.web.clinic.labels import days_without_session, risk_flag_words
from ally.web.clinic.roles import WRITERS, can_write, post_only, staff_context
from ally.web.clinic.urgency import latest_session_rows, overdue_forms
from ally.web.collect.models import Administration, PlannedMeasure, Respondent
from ally.web.collect.support import off_track_since, support_checks
from ally.web.endings.forms import EndWithChoicesForm
from ally.web.members import member_view
from ally.web.monitoring.models import (
    ChartDrawing,
    EpisodeFeedback,
    PracticeModelFit,
    SessionFeedback,
)
from ally.web.practice.models import (
    CareTeamMember,
    ClientIdentity,
    Episode,
    Membership,
    Session,
    SessionStatus,
    TeamRole,
)
from ally.web.scoping import get_scoped_or_404, scoped


@dataclass
class Chart:
    course: OutcomeCourse | AllianceCourse
    svg: SafeString
    caption_id: str


@dataclass
class Advice:
    """Decision support for a signal that raised no alert (yellow), or whose alert is closed."""

    course: OutcomeCourse
    guidance: guidance.Guidance
    steps: list[str]
    suggestions: list[Suggestion] = field(default_factory=list)
    order_note: str = ""
    form: UsedSuggestionsForm | None = None


@dataclass
class SessionLine:
    session: Session
    forms: list[Administration]
    status_form: SessionStatusForm | None


def episode_of(request: HttpRequest, pk: int) -> Episode:
    """The episode if the member may see it; 404 otherwise (also another organisation's)."""
    episodes = Episode.objects.select_related("client", "clinician__user", "organisation")
    return get_scoped_or_404(episodes, request.membership, pk=pk)


def _chart_specs(
    outcomes: list[OutcomeCourse], alliances: list[AllianceCourse]
) -> dict[str, dict[str, Any]]:
    """The specs of an episode's charts by name (the name is also the caption's id stem)."""
    specs = {f"outcome-{c.measure_id}": charts.outcome_spec(c) for c in outcomes}
    specs |= {f"alliance-{a.measure_id}": charts.alliance_spec(a) for a in alliances}
    return specs


def episode_charts(
    drawings: QuerySet[ChartDrawing],
    episode: Episode,
    outcomes: list[OutcomeCourse],
    alliances: list[AllianceCourse],
) -> dict[str, Any]:
    drawn = charts.episode_drawings(drawings, episode.pk, _chart_specs(outcomes, alliances))

    def chart(name: str, course: Any) -> Chart:
        caption = f"{name}-caption"
        return Chart(course, charts.labelled(drawn[name], caption), caption)

    return {
        "outcome_charts": [chart(f"outcome-{c.measure_id}", c) for c in outcomes],
        "alliance_charts": [chart(f"alliance-{a.measure_id}", a) for a in alliances],
    }


def draw_charts(episode_id: int) -> None:
    """Draw and store an episode's charts in the practice's language before anyone opens its
    page (benchmarks/web_data.py draws a built practice's charts with it)."""
    rows = list(SessionFeedback.objects.filter(episode_id=episode_id))
    summaries = list(EpisodeFeedback.objects.filter(episode_id=episode_id))
    with translation.override(settings.LANGUAGE_CODE):
        specs = _chart_specs(*courses(rows, summaries))
        charts.episode_drawings(ChartDrawing.objects.all(), episode_id, specs)


@dataclass(frozen=True)
class DropoutNow:
    """The latest session's dropout risk and the indicators met, as the caseload shows them."""

    session: int
    risk: float | None
    reasons: list[str]


def dropout_now(rows: list[SessionFeedback], gap: str = "") -> DropoutNow | None:
    """`gap`: the days without a session as of now (`days_without_session`), the first sign."""
    last = latest_session_rows([row for row in rows if row.rater == "client"] or rows)
    if not last:
        return None
    risks = [row.dropout_risk for row in last if row.dropout_risk is not None]
    flags = sorted({flag for row in last for flag in row.risk_flags.split(";") if flag})
    words = risk_flag_words(";".join(flags))
    return DropoutNow(
        last[0].session_number, max(risks) if risks else None, [gap, *words] if gap else words
    )


def _advice(
    outcomes: list[OutcomeCourse],
    open_kinds: set[str],
    following: Following | None = None,
    writer: bool = False,
) -> list[Advice]:
    """What to explore for a yellow or red latest signal that no open alert covers already, in
    the order the client's support check and alliance give (`following`)."""
    advice = []
    for course in outcomes:
        signal = course.latest.signal
        found = guidance.for_signal(signal)
        if found is None or (signal == "red" and str(AlertKind.SIGNAL_RED) in open_kinds):
            continue
        item = Advice(course, found, [guidance.step_text(s) for s in found.steps])
        if following is not None:
            item.suggestions = following.suggestions(found)
            item.order_note = following.note(found)
            if writer:
                steps = [s.step for s in item.suggestions]
                item.form = UsedSuggestionsForm(
                    steps=steps,
                    initial={"guidance": found.key},
                    prefix=f"used-{course.measure_id}",
                )
        advice.append(item)
    return advice


SHOWN_PAST = 12
"""Past sessions the client page lists unless asked for all: each session's block takes about
2 ms to draw, so a long episode's page stays quick (docs/benchmarks.md)."""
SHOWN_UPCOMING = 4


def shown(lines: list[SessionLine], now: dt.datetime) -> list[SessionLine]:
    """The latest past sessions and the next upcoming ones, in order."""
    past = [line for line in lines if line.session.scheduled_at <= now]
    upcoming = [line for line in lines if line.session.scheduled_at > now]
    return past[-SHOWN_PAST:] + upcoming[:SHOWN_UPCOMING]


def _sessions(membership: Membership, episode: Episode, writer: bool) -> list[SessionLine]:
    now = timezone.now()
    forms = Administration.objects.annotate(
        overdue=ExpressionWrapper(overdue_forms(now), output_field=BooleanField())
    ).order_by("timing", "measure_id", "respondent")
    sessions = (
        scoped(Session, membership)
        .filter(episode=episode)
        .select_related("clinician__user")
        .prefetch_related(Prefetch("administrations", queryset=forms, to_attr="forms"))
        .order_by("number", "scheduled_at")
    )
    open_episode = episode.ended_on is None
    return [
        SessionLine(
            session,
            session.forms,
            SessionStatusForm(initial={"status": session.status}, prefix=f"session-{session.pk}")
            if writer and open_episode
            else None,
        )
        for session in sessions
    ]


def _gap(episode: Episode, sessions: list[SessionLine]) -> str:
    attended = [
        line.session.scheduled_at
        for line in sessions
        if line.session.status == SessionStatus.ATTENDED
    ]
    if episode.ended_on is not None or not attended:
        return ""
    return days_without_session(max(attended), timezone.now())


def page_context(request: HttpRequest, org: str, episode: Episode) -> dict[str, Any]:
    membership: Membership = request.membership
    writer = can_write(membership)
    all_sessions = request.GET.get("sessions") == "all"
    sessions = _sessions(membership, episode, writer)
    rows = list(scoped(SessionFeedback, membership).filter(episode=episode))
    summaries = list(scoped(EpisodeFeedback, membership).filter(episode=episode))
    outcomes, alliances = courses(rows, summaries)
    alerts = list(
        scoped(Alert, membership)
        .filter(episode=episode)
        .select_related("episode", "seen_by__user", "acted_by__user")
        .order_by(F("acted_at").desc(nulls_first=True), most_severe_first(), "-raised_at", "-pk")
    )
    open_alerts = [a for a in alerts if a.acted_at is None]
    following = Following.of(episode, rows)
    loose_forms = (
        scoped(Administration, membership)
        .filter(episode=episode, session__isnull=True)
        .order_by("created_at")
    )
    return staff_context(
        request,
        org,
        episode=episode,
        identity=scoped(ClientIdentity, membership).filter(client_id=episode.client_id).first(),
        care_team=scoped(CareTeamMember, membership)
        .filter(episode=episode)
        .select_related("member__user"),
        outcomes=outcomes,
        alliances=alliances,
        open_alerts=alert_views(open_alerts, membership, rows, following),
        past_alerts=[a for a in alerts if a.acted_at is not None],
        advice=_advice(outcomes, {a.kind for a in open_alerts}, following, writer),
        support_checks=list(support_checks(episode)[:5]),
        support_open=any(
            c.administration.is_open and not c.administration.is_past_expiry(timezone.now())
            for c in support_checks(episode)
        ),
        used_suggestions=[
            (used, guidance.step_done(used.guidance, used.step))
            for used in scoped(UsedSuggestion, membership)
            .filter(episode=episode)
            .select_related("recorded_by__user")
            .order_by("-recorded_at", "-pk")[:50]
        ],
        sessions=sessions if all_sessions else shown(sessions, timezone.now()),
        session_count=len(sessions),
        loose_forms=list(loose_forms),
        plan=scoped(PlannedMeasure, membership).filter(plan__episode=episode).order_by("pk"),
        client_respondent=Respondent.CLIENT,
        clinician_respondent=Respondent.CLINICIAN,
        writable=writer and episode.ended_on is None,
        model_fit=scoped(PracticeModelFit, membership).only("fitted_at", "episodes").first(),
        dropout=dropout_now(rows, _gap(episode, sessions)),
        **episode_charts(scoped(ChartDrawing, membership), episode, outcomes, alliances),
    )


@member_view()
def episode(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The client page: alerts with what to explore, charts, sessions and forms, the plan."""
    chosen = episode_of(request, pk)
    return render(request, "clinic/episode.html", page_context(request, org, chosen))


@member_view(roles=WRITERS)
def episode_new(request: HttpRequest, org: str) -> HttpResponse:
    """A further episode for a client the member already knows."""
    membership = request.membership
    initial = {}
    # isdigit() alone takes "²" for a digit, which int() refuses.
    if (client := request.GET.get("client", "")).isascii() and client.isdigit():
        initial["client"] = int(client)
    form = EpisodeForm(request.POST or None, membership=membership, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            opened = do_open_episode(
                data["client"], data["clinician"], data["opened_on"], actor=membership
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("Episode opened. Next: plan the measures."))
            if not scoped(Episode, membership).filter(pk=opened.pk).exists():
                return redirect("clinic:caseload", org=org)
            return redirect("clinic:plan", org=org, pk=opened.pk)
    return render(
        request,
        "clinic/episode_new.html",
        staff_context(request, org, form=form),
        status=400 if form.errors else 200,
    )


@member_view(roles=WRITERS)
def episode_end(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    chosen = episode_of(request, pk)
    if chosen.ended_on is not None:
        messages.info(request, _("This episode has ended already."))
        return redirect("clinic:episode", org=org, pk=pk)
    form = EndWithChoicesForm(request.POST or None, organisation=membership.organisation)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_end_episode(
                chosen,
                data["ended_on"],
                data["reason"],
                actor=membership,
                follow_up=form.follow_up(),
                summary=data["summary"],
                tell_stopped=bool(data.get("tell_stopped")),
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("The episode has ended."))
            # What the ending sent, and the closing summary if it is still to be written.
            return redirect("endings:ending", org=org, pk=pk)
    return render(
        request,
        "clinic/episode_end.html",
        staff_context(request, org, episode=chosen, form=form),
        status=400 if form.errors else 200,
    )


@member_view(roles=WRITERS)
def care_team_add(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    chosen = episode_of(request, pk)
    team = scoped(CareTeamMember, membership).filter(episode=chosen)
    present = [chosen.clinician_id, *team.values_list("member_id", flat=True)]
    form = CareTeamForm(request.POST or None, membership=membership, exclude=present)
    if request.method == "POST" and form.is_valid():
        try:
            do_add_care_team_member(
                chosen,
                form.cleaned_data["member"],
                form.cleaned_data["role"],
                receives_alerts=form.cleaned_data["receives_alerts"],
                actor=membership,
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(request, _("Added to the care team."))
            return redirect("clinic:episode", org=org, pk=pk)
    return render(
        request,
        "clinic/care_team.html",
        staff_context(
            request,
            org,
            episode=chosen,
            form=form,
            team=team.select_related("member__user").order_by("pk"),
            team_roles=TeamRole.choices,
        ),
        status=400 if form.errors else 200,
    )


@member_view(roles=WRITERS)
@post_only
def care_team_change(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """A care-team member's role on the team and whether they receive the episode's alerts."""
    entry = get_scoped_or_404(
        CareTeamMember.objects.select_related("episode", "member__user"), request.membership, pk=pk
    )
    try:
        do_change_care_team_member(
            entry,
            role=request.POST.get("role", ""),
            receives_alerts=request.POST.get("receives_alerts") == "on",
            actor=request.membership,
        )
    except PracticeActionError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, _("Saved for %(member)s.") % {"member": entry.member.user})
    return redirect("clinic:care_team_add", org=org, pk=entry.episode_id)


@member_view(roles=WRITERS)
@post_only
def care_team_remove(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    entry = get_scoped_or_404(
        CareTeamMember.objects.select_related("episode", "member__user"), request.membership, pk=pk
    )
    episode_pk = entry.episode_id
    do_remove_care_team_member(entry, actor=request.membership)
    messages.success(request, _("%(member)s is off the care team.") % {"member": entry.member.user})
    return redirect("clinic:care_team_add", org=org, pk=episode_pk)


@member_view(roles=WRITERS)
@post_only
def support_check_send(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Send the support check by hand: it goes with the next session's forms."""
    chosen = episode_of(request, pk)
    rows = SessionFeedback.objects.filter(episode=chosen, rater="client")
    try:
        do_send_support_check(chosen, actor=request.membership, spell_started=off_track_since(rows))
    except SupportCheckRefusedError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("The support check was created; it goes to the client with their next forms."),
        )
    return redirect(reverse("clinic:episode", kwargs={"org": org, "pk": pk}) + "#explore")


@member_view(roles=WRITERS)
@post_only
def suggestions_used(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Record the suggestions used for a signal that raised no alert (the form of the measure
    named by `measure`)."""
    chosen = episode_of(request, pk)
    measure = request.POST.get("measure", "")
    advice = guidance.by_key(request.POST.get(f"used-{measure}-guidance", ""))
    steps = list(advice.steps) if advice else []
    form = UsedSuggestionsForm(request.POST, steps=steps, prefix=f"used-{measure}")
    if advice is None or not form.is_valid():
        messages.error(request, _("Not recorded: tick the suggestions you used."))
    else:
        try:
            do_record_used_suggestions(
                chosen,
                request.membership,
                advice.key,
                form.cleaned_data["done"],
                positions_of(chosen, advice),
            )
        except AlertActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Recorded the suggestions you used."))
    return redirect(reverse("clinic:episode", kwargs={"org": org, "pk": pk}) + "#explore")
