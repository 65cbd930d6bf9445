"""The group pages: the list of groups, a new group, the group page and a group session.

Every change goes through a `do_*` function in actions/groups.py; these views only read and
call them. Objects are named by numeric keys only: no client's code or name enters a URL.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_end_group_membership,
    do_record_group_attendance,
    do_schedule_group_session,
    do_set_group_schedule,
    leads,
    next_on_schedule,
)
from ally.web.actions.practice import PracticeActionError
from ally.web.clinic.charts import svg
from ally.web.clinic.forms import add_action_error
from ally.web.clinic.roles import WRITERS, post_only, staff_context
from ally.web.groups.forms import (
    WEEKDAY_WORDS,
    AttendanceForm,
    GroupForm,
    GroupPlanForm,
    GroupSessionForm,
    LeaveForm,
    MemberForm,
    ScheduleForm,
)
from ally.web.groups.models import GroupPlannedMeasure, GroupSchedule, MemberSession
from ally.web.groups.page import LEVEL_WORDS, group_view, mean_chart_spec
from ally.web.members import member_view
from ally.web.practice.models import Group, GroupMember, Membership, Session
from ally.web.scoping import Capability, can, get_scoped_or_404, scoped


def may_lead(member: Membership, group: Group) -> bool:
    """Whether the member may change the group: a leader, or a writer of the whole practice."""
    if not can(member, Capability.RECORD_CLINICAL_DATA):
        return False
    return can(member, Capability.SEE_WHOLE_PRACTICE) or leads(member, group)


def _group_of(request: HttpRequest, pk: int) -> Group:
    return get_scoped_or_404(Group, request.membership, pk=pk)


def _at_group(org: str, group: Group, anchor: str = "") -> HttpResponse:
    url = reverse("groups:group", kwargs={"org": org, "pk": group.pk})
    return redirect(f"{url}#{anchor}" if anchor else url)


@member_view()
def group_list(request: HttpRequest, org: str) -> HttpResponse:
    groups = scoped(Group, request.membership).prefetch_related("leaders__user").order_by("label")
    return render(request, "groups/list.html", staff_context(request, org, groups=groups))


@member_view(roles=WRITERS)
def group_new(request: HttpRequest, org: str) -> HttpResponse:
    membership = request.membership
    form = GroupForm(request.POST or None, membership=membership)
    if request.method == "POST" and form.is_valid():
        try:
            group = do_create_group(
                membership.organisation,
                form.cleaned_data["label"],
                list(form.cleaned_data["leaders"]),
                actor=membership,
            )
        except PracticeActionError as exc:
            add_action_error(form, exc)
        else:
            messages.success(
                request, _("Group created. Set its schedule and plan, then add members.")
            )
            return _at_group(org, group)
    return render(
        request,
        "groups/new.html",
        staff_context(request, org, form=form),
        status=400 if form.errors else 200,
    )


@member_view()
def group(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    found = _group_of(request, pk)
    view = group_view(found, membership)
    spec = mean_chart_spec(view, _("The group's mean at each level"))
    chart = svg(spec, "group-means-caption") if spec else None
    writer = may_lead(membership, found)
    schedule = GroupSchedule.objects.filter(group=found).first()
    context = staff_context(
        request,
        org,
        group=found,
        view=view,
        chart=chart,
        may_lead=writer,
        level_words=LEVEL_WORDS,
        meets=_meets(schedule),
        plan=GroupPlannedMeasure.objects.filter(group=found).order_by("pk"),
        leaders=found.leaders.select_related("user").order_by("pk"),
    )
    if writer:
        context.update(
            schedule_form=ScheduleForm(
                initial={
                    "weekday": schedule.weekday,
                    "starts_at": schedule.starts_at,
                    "minutes": schedule.minutes,
                    "every_weeks": schedule.every_weeks,
                }
                if schedule
                else None
            ),
            member_form=MemberForm(membership=membership, group=found),
            plan_form=GroupPlanForm(organisation=membership.organisation),
            session_form=GroupSessionForm(
                group=found, initial_at=next_on_schedule(found, timezone.now())
            ),
        )
    return render(request, "groups/group.html", context)


def _meets(schedule: GroupSchedule | None) -> str:
    if schedule is None:
        return ""
    return ngettext(
        "%(day)s at %(time)s for %(minutes)s minutes, every week",
        "%(day)s at %(time)s for %(minutes)s minutes, every %(count)s weeks",
        schedule.every_weeks,
    ) % {
        "day": WEEKDAY_WORDS[schedule.weekday],
        "time": schedule.starts_at.strftime("%H:%M"),
        "minutes": schedule.minutes,
        "count": schedule.every_weeks,
    }


def _refused(request: HttpRequest, org: str, group: Group, form_errors: str) -> HttpResponse:
    messages.error(request, form_errors)
    return _at_group(org, group)


def _leader_group(request: HttpRequest, pk: int) -> Group:
    found = _group_of(request, pk)
    if not may_lead(request.membership, found):
        raise PermissionDenied(_("Only the group's leaders can change the group."))
    return found


def _first_error(form: object) -> str:
    errors = getattr(form, "errors", {})
    for field, found in errors.items():
        label = form.fields[field].label if field in form.fields else ""  # type: ignore[attr-defined]
        return f"{label}: {found[0]}" if label else str(found[0])
    return _("Check the form and send it again.")


@member_view(roles=WRITERS)
@post_only
def schedule_set(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    found = _leader_group(request, pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        return _refused(request, org, found, _first_error(form))
    try:
        do_set_group_schedule(found, actor=request.membership, **form.cleaned_data)
    except PracticeActionError as exc:
        return _refused(request, org, found, str(exc))
    messages.success(request, _("Schedule saved."))
    return _at_group(org, found, "schedule")


@member_view(roles=WRITERS)
@post_only
def member_add(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    found = _leader_group(request, pk)
    form = MemberForm(request.POST, membership=request.membership, group=found)
    if not form.is_valid():
        return _refused(request, org, found, _first_error(form))
    try:
        place = do_add_group_member(
            found,
            form.cleaned_data["episode"],
            form.cleaned_data["joined_on"],
            actor=request.membership,
        )
    except PracticeActionError as exc:
        return _refused(request, org, found, str(exc))
    messages.success(
        request, _("Client %(code)s joins the group.") % {"code": place.episode.client.code}
    )
    return _at_group(org, found, "roster")


@member_view(roles=WRITERS)
@post_only
def member_leave(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    place = get_scoped_or_404(
        GroupMember.objects.select_related("group", "episode__client"), request.membership, pk=pk
    )
    found = _leader_group(request, place.group_id)
    form = LeaveForm(request.POST, prefix=f"leave-{place.pk}")
    if not form.is_valid():
        return _refused(request, org, found, _first_error(form))
    try:
        do_end_group_membership(place, form.cleaned_data["left_on"], actor=request.membership)
    except PracticeActionError as exc:
        return _refused(request, org, found, str(exc))
    messages.success(
        request, _("Client %(code)s leaves the group.") % {"code": place.episode.client.code}
    )
    return _at_group(org, found, "roster")


@member_view(roles=WRITERS)
@post_only
def plan_add(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    found = _leader_group(request, pk)
    form = GroupPlanForm(request.POST, organisation=request.membership.organisation)
    if not form.is_valid():
        return _refused(request, org, found, _first_error(form))
    data = form.cleaned_data
    try:
        do_add_group_planned_measure(
            found,
            data["measure"],
            timing=data["timing"],
            first_session=data["first_session"],
            every=data["every"],
            actor=request.membership,
        )
    except PracticeActionError as exc:
        return _refused(request, org, found, str(exc))
    messages.success(request, _("The measure is in the group's plan."))
    return _at_group(org, found, "plan")


@member_view(roles=WRITERS)
@post_only
def session_new(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    found = _leader_group(request, pk)
    form = GroupSessionForm(request.POST, group=found)
    if not form.is_valid():
        return _refused(request, org, found, _first_error(form))
    try:
        session = do_schedule_group_session(
            found,
            form.cleaned_data["scheduled_at"],
            leader=form.cleaned_data["leader"],
            actor=request.membership,
        )
    except PracticeActionError as exc:
        return _refused(request, org, found, str(exc))
    count = session.member_sessions.count()
    messages.success(
        request,
        ngettext(
            "Group session %(number)d scheduled for %(count)d member.",
            "Group session %(number)d scheduled for %(count)d members.",
            count,
        )
        % {"number": session.number, "count": count},
    )
    return redirect("groups:session", org=org, pk=session.pk)


def _parts(session: Session) -> list[MemberSession]:
    return list(
        session.member_sessions.select_related("episode__client", "session")
        .prefetch_related("session__administrations")
        .order_by("episode__client__code")
    )


@member_view()
def session(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    found = get_scoped_or_404(
        Session.objects.select_related("group"), membership, pk=pk, group__isnull=False
    )
    group_found = get_scoped_or_404(Group, membership, pk=found.group_id)
    writer = may_lead(membership, group_found)
    if not writer and not leads(membership, group_found):
        raise PermissionDenied(_("Only the group's leaders see a group session's members."))
    parts = _parts(found)
    form = AttendanceForm(request.POST or None, parts=parts)
    if request.method == "POST":
        if not writer:
            raise PermissionDenied(_("Your role can read this practice's data but not change it."))
        if form.is_valid():
            try:
                do_record_group_attendance(
                    found,
                    form.came(),
                    cancelled=form.cleaned_data["cancelled"],
                    actor=membership,
                )
            except PracticeActionError as exc:
                add_action_error(form, exc)
            else:
                messages.success(request, _("Attendance recorded for everyone."))
                return redirect("groups:session", org=org, pk=found.pk)
    return render(
        request,
        "groups/session.html",
        staff_context(
            request,
            org,
            group=group_found,
            group_session=found,
            parts=parts,
            form=form,
            may_lead=writer,
            leave_form=LeaveForm,
        ),
        status=400 if form.errors else 200,
    )
