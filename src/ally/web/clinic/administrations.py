"""One form (administration): the client's link by email, copied or as a QR code; answers
entered on screen (the clinician's own rating, or a client's answers given on paper); a
completed form's answers and their corrections."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ally.measures.schema import Measure
from ally.measures.schema import Options as ResponseOptions
from ally.web.actions.answers import do_amend_response, do_mark_sent, do_record_response
from ally.web.clinic.roles import WRITERS, post_only, staff_context
from ally.web.collect import measures
from ally.web.collect.errors import (
    AdministrationClosedError,
    AmendmentRefusedError,
    IdempotencyConflictError,
    InvalidAnswersError,
)
from ally.web.collect.models import Administration, AdministrationStatus, Respondent
from ally.web.goals.checks import goal_items
from ally.web.members import member_view
from ally.web.practice.models import ClientIdentity, Membership
from ally.web.privacy.keys import data_key_for
from ally.web.respond import forms as answer_forms
from ally.web.respond import links
from ally.web.scoping import check_can_record, get_scoped_or_404, scoped

CLIENT_FORM = str(Respondent.CLIENT)
CLINICIAN_FORM = str(Respondent.CLINICIAN)
KEY_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def _form_of(request: HttpRequest, pk: int, respondent: str) -> Administration:
    """The member's administration with this respondent, or 404."""
    administrations = Administration.objects.select_related(
        "episode__client", "episode__organisation", "session"
    )
    return get_scoped_or_404(
        administrations,
        request.membership,
        pk=pk,
        respondent=respondent,
    )


def _ended(request: HttpRequest, administration: Administration) -> bool:
    """True, with a message, when the form's episode has ended: no more links go out."""
    if administration.episode.ended_on is None:
        return False
    messages.error(request, _("This episode has ended; its links are no longer sent."))
    return True


def _to_form(org: str, administration: Administration) -> HttpResponse:
    return redirect("clinic:form", org=org, pk=administration.pk)


def _to_episode(org: str, administration: Administration) -> HttpResponse:
    url = reverse("clinic:episode", kwargs={"org": org, "pk": administration.episode_id})
    anchor = f"#session-{administration.session_id}" if administration.session_id else ""
    return redirect(url + anchor)


@member_view(roles=WRITERS)
def link(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The client's link: send it by email, copy it, or show it as a QR code."""
    membership: Membership = request.membership
    administration = _form_of(request, pk, CLIENT_FORM)
    identity = (
        scoped(ClientIdentity, membership)
        .filter(client_id=administration.episode.client_id)
        .first()
    )
    usable = administration.is_open and administration.episode.ended_on is None
    context = staff_context(
        request,
        org,
        administration=administration,
        episode=administration.episode,
        url=links.link_url(administration, links.base_url(request)) if usable else "",
        has_email=bool(identity and identity.email),
        usable=usable,
    )
    return render(request, "clinic/form_link.html", context)


@member_view(roles=WRITERS)
@post_only
def send(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    administration = _form_of(request, pk, CLIENT_FORM)
    if _ended(request, administration):
        return _to_form(org, administration)
    try:
        links.send_link_by_email(administration, request.membership, base=links.base_url(request))
    except links.LinkError as exc:
        messages.error(request, str(exc))
    except AdministrationClosedError:
        messages.error(request, _("This questionnaire is no longer open; create a new one."))
    except OSError:
        messages.error(
            request, _("The email could not be sent just now. Try again, or copy the link.")
        )
    else:
        messages.success(request, _("The link was sent to the client's email address."))
    return _to_form(org, administration)


@member_view(roles=WRITERS)
@post_only
def given(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Record that the link reached the client another way (copied, or the QR code shown)."""
    administration = _form_of(request, pk, CLIENT_FORM)
    check_can_record(request.membership, administration.episode)
    if _ended(request, administration):
        return _to_form(org, administration)
    try:
        do_mark_sent(administration)
    except AdministrationClosedError:
        messages.error(request, _("This questionnaire is no longer open; create a new one."))
    else:
        messages.success(request, _("Recorded as given to the client."))
    return _to_form(org, administration)


_SIZE = re.compile(r'<svg width="(\d+)" height="(\d+)"')


def _scalable(svg: str, label_id: str) -> SafeString:
    """segno's SVG with a viewBox (so CSS can enlarge it) and an accessible name."""
    drawn = _SIZE.sub(
        lambda m: (
            f'<svg role="img" aria-labelledby="{label_id}" viewBox="0 0 {m[1]} {m[2]}" '
            f'width="{m[1]}" height="{m[2]}"'
        ),
        svg,
        count=1,
    )
    # segno draws it from the link alone, which our own code made.
    return mark_safe(drawn)


@member_view(roles=WRITERS)
def qr(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """A page for a tablet in the room: the QR code alone, nothing that names the client."""
    administration = _form_of(request, pk, CLIENT_FORM)
    if not administration.is_open or administration.episode.ended_on is not None:
        messages.error(request, _("This questionnaire is no longer open; create a new one."))
        return _to_form(org, administration)
    url = links.link_url(administration, links.base_url(request))
    code = _scalable(links.qr_svg(url), "qr-caption")
    return render(
        request,
        "clinic/form_qr.html",
        staff_context(request, org, administration=administration, code=code),
    )


@dataclass(frozen=True)
class Entry:
    """What one page of answers entered on screen is for: the words around the same form."""

    kind: str
    """"rating" (the clinician's own), "paper" (a client's answers from paper) or "correction"."""
    url: str
    clinician: bool
    """The items in the clinician's wording (a clinician-rated form)."""


def _entry_page(
    request: HttpRequest,
    org: str,
    administration: Administration,
    entry: Entry,
    form: answer_forms.Form,
    key: str,
    *,
    reason: str = "",
    reason_error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = staff_context(
        request,
        org,
        administration=administration,
        episode=administration.episode,
        entry=entry,
        form=form,
        key=key,
        reason=reason,
        reason_error=reason_error,
        attribution=form.measure.licence.attribution,
    )
    return render(request, "clinic/form_entry.html", context, status=status)


def _enter(
    request: HttpRequest, org: str, administration: Administration, entry: Entry
) -> HttpResponse:
    """Show an open form to fill in on screen, or store what was filled in as the member's entry
    (`entered_by`): the clinician's rating, or the client's paper answers."""
    membership: Membership = request.membership
    check_can_record(membership, administration.episode)
    if not administration.is_open:
        messages.info(request, _("This form has been answered already, or its time has passed."))
        return _to_episode(org, administration)
    measure = measures.measure(administration.measure_id)
    clinician = entry.clinician
    shown = goal_items(administration)  # a form that rates the client's goals shows their goals
    if request.method != "POST":
        form = answer_forms.build(measure, clinician=clinician, shown=shown)
        return _entry_page(request, org, administration, entry, form, uuid.uuid4().hex)
    key = str(request.POST.get("key", ""))
    if not KEY_PATTERN.match(key):
        key = uuid.uuid4().hex
    reading = answer_forms.read(measure, request.POST, administration.measure_version, shown)
    if not reading.ok:
        form = answer_forms.build(
            measure, reading.raw, reading.errors, reading.problems, clinician=clinician, shown=shown
        )
        return _entry_page(request, org, administration, entry, form, key, status=400)
    try:
        do_record_response(
            administration,
            reading.answers,
            # One key per member and form page: a double click stores one set of answers.
            idempotency_key=f"clinic-{membership.pk}-{key}",
            actor=membership,
        )
    except InvalidAnswersError as exc:
        form = _refused_form(measure, reading.raw, exc, clinician, shown)
        return _entry_page(request, org, administration, entry, form, key, status=400)
    except (AdministrationClosedError, IdempotencyConflictError) as exc:
        messages.error(request, str(exc))
        return _to_episode(org, administration)
    if entry.kind == "paper":
        messages.success(request, _("The answers from paper are saved, marked as entered by you."))
    else:
        messages.success(request, _("Your rating is saved."))
    return _to_episode(org, administration)


def _refused_form(
    measure: Measure,
    raw: dict[str, str],
    exc: InvalidAnswersError,
    clinician: bool,
    shown: dict[int, str] | None = None,
) -> answer_forms.Form:
    errors = {p.item: answer_forms.problem_message(measure, p) for p in exc.problems if p.item}
    problems = tuple(
        answer_forms.problem_message(measure, p) for p in exc.problems if p.item is None
    )
    return answer_forms.build(measure, raw, errors, problems, clinician=clinician, shown=shown)


@member_view(roles=WRITERS)
def rate(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """The clinician's own rating of a session (a form whose respondent is the clinician)."""
    administration = _form_of(request, pk, CLINICIAN_FORM)
    url = reverse("clinic:form_rate", kwargs={"org": org, "pk": pk})
    return _enter(request, org, administration, Entry("rating", url, clinician=True))


@member_view(roles=WRITERS)
def paper(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """A client's answers given on paper, entered by a member: stored, scored and alerted as if
    the client had sent them, and marked as entered by that member."""
    administration = _form_of(request, pk, CLIENT_FORM)
    if _ended(request, administration):
        return _to_episode(org, administration)
    url = reverse("clinic:form_paper", kwargs={"org": org, "pk": pk})
    return _enter(request, org, administration, Entry("paper", url, clinician=False))


@member_view(roles=WRITERS)
def correct(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """Correct a completed form's answers with a reason. The answers first given stay stored;
    the correction is in force from now on, and the episode's results follow it."""
    membership: Membership = request.membership
    administration = get_scoped_or_404(
        Administration.objects.select_related("episode__client", "session"),
        membership,
        pk=pk,
        status=AdministrationStatus.COMPLETED,
    )
    check_can_record(membership, administration.episode)
    response = administration.response
    measure = measures.measure(administration.measure_id)
    clinician = administration.respondent == CLINICIAN_FORM
    url = reverse("clinic:form_correct", kwargs={"org": org, "pk": pk})
    entry = Entry("correction", url, clinician=clinician)
    if request.method != "POST":
        current = {k: f"{v:g}" for k, v in response.current().answers.items() if v is not None}
        form = answer_forms.build(measure, current, clinician=clinician)
        return _entry_page(request, org, administration, entry, form, "")
    reason = str(request.POST.get("reason", ""))[:500]
    reading = answer_forms.read(measure, request.POST, administration.measure_version)
    if not reading.ok:
        form = answer_forms.build(
            measure, reading.raw, reading.errors, reading.problems, clinician=clinician
        )
        return _entry_page(request, org, administration, entry, form, "", reason=reason, status=400)
    try:
        do_amend_response(response, reading.answers, reason, membership)
    except InvalidAnswersError as exc:
        form = _refused_form(measure, reading.raw, exc, clinician)
        return _entry_page(request, org, administration, entry, form, "", reason=reason, status=400)
    except AmendmentRefusedError as exc:
        form = answer_forms.build(measure, reading.raw, clinician=clinician)
        return _entry_page(
            request,
            org,
            administration,
            entry,
            form,
            "",
            reason=reason,
            reason_error=str(exc),
            status=400,
        )
    messages.success(request, _("The correction is saved; the scores and feedback follow it."))
    return redirect("clinic:form_answers", org=org, pk=pk)


@dataclass(frozen=True)
class ItemAnswer:
    """One item of a completed form as the clinician reads it."""

    number: int
    text: str
    """The item's text in the page's language (or English); empty where it is not shipped."""
    answer: float | None
    label: str
    """The answer's words (an option's label), or the number on a scale."""
    critical: bool
    """A critical item (such as PHQ-9 item 9)."""
    endorsed: bool
    """A critical item answered at or above its threshold."""


def item_answers(measure: Measure, answers: dict[str, float | None]) -> list[ItemAnswer]:
    language = (get_language() or "en").split("-")[0]
    critical = {c.item: c for c in measure.critical_items}
    rows = []
    for item in measure.items:
        value = answers.get(str(item.number))
        response = measure.response_of(item)
        label = "" if value is None else f"{value:g}"
        if value is not None and isinstance(response, ResponseOptions):
            for option in response.options:
                if option.value == value:
                    words = option.label.get(language) or option.label.get("en", "")
                    label = f"{value:g} · {words}" if words else label
        crit = critical.get(item.number)
        rows.append(
            ItemAnswer(
                number=item.number,
                text=answer_forms.text_in(item.text)[0],
                answer=value,
                label=label,
                critical=crit is not None,
                endorsed=crit is not None and value is not None and value >= crit.min_value,
            )
        )
    return rows


@member_view()
def answers(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    """A completed form's item answers, critical items marked, with its score and corrections.

    Every member who sees the episode may read them: they are the clinical record the scores
    rest on (researchers see codes, never names, as everywhere)."""
    administration = get_scoped_or_404(
        Administration.objects.select_related("episode__client", "session"),
        request.membership,
        pk=pk,
        status=AdministrationStatus.COMPLETED,
    )
    response = administration.response
    corrections = list(
        response.amendments.select_related("amended_by__user").order_by("amended_at", "pk")
    )
    current = corrections[-1] if corrections else response
    # The answers and the reasons are sealed: the client's data key, read once, opens them all.
    key = data_key_for(administration.episode.client_id)
    for correction in corrections:
        correction.open_reason(key)
    measure = measures.measure(administration.measure_id)
    context = staff_context(
        request,
        org,
        administration=administration,
        episode=administration.episode,
        measure=measure,
        scored=current,
        items=item_answers(measure, current.open_answers(key)),
        n_items=len(measure.items),
        corrections=corrections,
        response=response,
    )
    return render(request, "clinic/answers.html", context)
