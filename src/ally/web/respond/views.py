"""The client's pages: open a link, answer one measure per screen, and finish.

The link's token is the only authority here (clients do not sign in): opening it moves the grant
into the session and sends the browser to /a/, so the address bar and the history keep no token.
Every page is kept out of caches (a shared tablet's back button shows nothing) and tells other
sites nothing about where the client came from.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from ally.web.actions.answers import do_mark_opened, do_record_response
from ally.web.actions.groups import do_record_check_in_note, note_of
from ally.web.actions.practice import PracticeActionError
from ally.web.collect import measures
from ally.web.collect.errors import (
    AdministrationClosedError,
    IdempotencyConflictError,
    InvalidAnswersError,
)
from ally.web.collect.models import Administration, AdministrationStatus, Response
from ally.web.endings.models import REVIEW
from ally.web.goals.checks import RATES_GOALS, goal_items
from ally.web.groups.levels import check_in_measures
from ally.web.groups.models import CheckInNote
from ally.web.practice.models import Organisation
from ally.web.respond import forms
from ally.web.respond.csrf import client_page_csrf
from ally.web.respond.links import BadLinkError, OldLinkError, token_from
from ally.web.respond.visit import Visit
from ally.web.sponsors.models import Sponsorship
from ally.web.text import submission_key
from ally.web.vocabulary import speak_as

View = Callable[..., HttpResponseBase]

LINK_REFERRER_POLICY = "no-referrer"
"""For the address that holds the token: no request from it names it, not even to Ally."""
PAGE_REFERRER_POLICY = "no-referrer"
"""For /a/ and the pages after it: no request from a client's page tells anyone where it came
from. Browsers then post with `Origin: null`, which `client_page_csrf` accepts (token still
checked)."""


def client_page(
    referrer_policy: str, methods: tuple[str, ...] = ("GET", "HEAD")
) -> Callable[[View], View]:
    """No caching, no indexing, and the referrer policy given: the pages of a client's answers."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            organisation_id = Visit(request.session).organisation_id
            if organisation_id is not None:
                speak_as(Organisation.objects.filter(pk=organisation_id).first())
            if request.method not in methods:
                response: HttpResponseBase = HttpResponseNotAllowed(methods)
            else:
                response = view(request, *args, **kwargs)
            response["Referrer-Policy"] = referrer_policy
            response["X-Robots-Tag"] = "noindex, nofollow"
            return response

        return csrf_exempt(client_page_csrf(never_cache(wrapped)))

    return decorate


def _takes_answers(administration: Administration) -> bool:
    return administration.takes_answers(timezone.now())


def _organisation(visit: Visit) -> Organisation | None:
    if visit.organisation_id is None:
        return None
    return Organisation.objects.filter(pk=visit.organisation_id).first()


# Friendly pages for links and visits that do not lead to a questionnaire ------------------------


def _notice(
    request: HttpRequest,
    kind: str,
    status: int,
    organisation: Organisation | None = None,
    *,
    at_link: bool = False,
    opens_at: Any = None,
) -> HttpResponse:
    """A page that says what happened and what to do, instead of an error page.

    At the link's own address the page has no form (it must not post back to an address that
    holds the token); the browser's language is used there.
    """
    return render(
        request,
        "respond/notice.html",
        {
            "kind": kind,
            "organisation": organisation,
            "link_hours": settings.ALLY_LINK_HOURS,
            "at_link": at_link,
            "opens_at": opens_at,
            # Back to /a/ after changing the language, never to an address with a token.
            "language_next": reverse("respond:answer"),
        },
        status=status,
    )


# Opening a link ----------------------------------------------------------------------------------


@client_page(LINK_REFERRER_POLICY)
def open_link(request: HttpRequest, signed: str) -> HttpResponseBase:
    """Check the link, move its grant into a fresh session, and clean the address bar."""
    try:
        token = token_from(signed)
    except BadLinkError:
        return _notice(request, "bad_link", 404, at_link=True)
    except OldLinkError:
        return _notice(request, "old_link", 410, at_link=True)
    administration = (
        Administration.objects.select_related("episode__organisation", "session")
        .filter(link_token=token)
        .first()
    )
    if administration is None:
        return _notice(request, "bad_link", 404, at_link=True)
    organisation = administration.episode.organisation
    speak_as(organisation)
    if administration.status == AdministrationStatus.COMPLETED:
        return _notice(request, "answered", 410, organisation, at_link=True)
    if administration.is_open and administration.is_not_yet_open(timezone.now()):
        # A link to rate a session, opened before the session: it works from its start.
        opens = administration.opens_at
        return _notice(request, "not_yet", 409, organisation, at_link=True, opens_at=opens)
    if not _takes_answers(administration):
        return _notice(request, "closed", 410, organisation, at_link=True)
    try:
        do_mark_opened(administration)
    except AdministrationClosedError:
        return _notice(request, "closed", 410, organisation, at_link=True)
    # A new session key: whoever held the old cookie (or fixed it) does not get the grant.
    request.session.cycle_key()
    Visit(request.session).grant(administration)
    return redirect("respond:answer")


# Answering ---------------------------------------------------------------------------------------


def _page_language() -> str:
    return (get_language() or forms.FALLBACK).split("-")[0]


def _render_form(
    request: HttpRequest,
    visit: Visit,
    administrations: list[Administration],
    administration: Administration,
    form: forms.Form,
    status: int = 200,
    note: str = "",
) -> HttpResponse:
    total = len(administrations)
    index = [a.pk for a in administrations].index(administration.pk) + 1
    page_language = _page_language()
    return render(
        request,
        "respond/answer.html",
        {
            "administration": administration,
            "organisation": administration.episode.organisation,
            "form": form,
            "measure_language": form.language if form.language != page_language else "",
            "attribution": form.measure.licence.attribution,
            "key": visit.submission_key(administration.pk),
            "index": index,
            "total": total,
            "first": index == 1,
            "last": index == total,
            "goals_link": administration.measure_id in RATES_GOALS,
            # The group check-in's optional note on what made it harder to take part.
            "takes_note": administration.measure_id in check_in_measures(),
            "note": note,
            "sponsorship": Sponsorship.objects.filter(episode=administration.episode_id).first(),
        },
        status=status,
    )


def _next(
    request: HttpRequest, visit: Visit, administrations: list[Administration]
) -> HttpResponse:
    """Where the client goes after a questionnaire: the safety message, the next one, or done.

    `administrations` are the visit's, as they stand after the questionnaire."""
    remaining = [a for a in administrations if _takes_answers(a)]
    if not remaining:
        now = timezone.now()
        later = any(a.is_open and a.is_not_yet_open(now) for a in administrations)
        visit.finish(safety=visit.safety, later=later)
    if visit.safety:
        return redirect("respond:safety")
    return redirect("respond:answer" if remaining else "respond:done")


def _show(request: HttpRequest, visit: Visit) -> HttpResponse:
    administrations = visit.administrations()
    if not administrations:
        if visit.finished:
            return redirect("respond:done")
        return _notice(request, "no_visit", 200)
    if visit.safety:
        return redirect("respond:safety")
    current = next((a for a in administrations if _takes_answers(a)), None)
    if current is None:
        organisation = administrations[0].episode.organisation
        if any(a.status == AdministrationStatus.COMPLETED for a in administrations):
            return _next(request, visit, administrations)
        visit.finish(safety=False)
        return _notice(request, "closed", 410, organisation)
    if current.opened_at is None:
        # The questions of a further questionnaire are presented now, not when the link opened.
        try:
            do_mark_opened(current)
        except AdministrationClosedError:
            return _notice(request, "closed", 410, current.episode.organisation)
    if current.measure_id == REVIEW:
        # The end-of-therapy review has written answers: its own page (ally.web.endings).
        return redirect("endings_client:review")
    measure = measures.measure(current.measure_id)
    shown = goal_items(current)
    if shown == {}:
        # Goal progress before any goal is set: the client sets their goals first.
        return redirect("goals_client:goals")
    form = forms.build(measure, visit.draft(current.pk), shown=shown)
    return _render_form(request, visit, administrations, current, form)


def _posted_id(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


def _already_recorded(pk: int, key: str) -> bool:
    """Whether this very submission was stored: a page sent again after the visit ended."""
    return bool(key) and Response.objects.filter(administration_id=pk, idempotency_key=key).exists()


def _submit(request: HttpRequest, visit: Visit) -> HttpResponse:
    pk = _posted_id(request.POST.get("administration"))
    posted_key = submission_key(request.POST.get("key", "").strip())
    if pk is None or not visit.granted(pk):
        if pk is not None and _already_recorded(pk, posted_key):
            return redirect("respond:safety" if visit.safety else "respond:done")
        return _notice(request, "not_here", 404)
    administrations = visit.administrations()
    administration = next(a for a in administrations if a.pk == pk)
    organisation = administration.episode.organisation
    if administration.status == AdministrationStatus.COMPLETED:
        # A second tap, or a page sent again: the first answers stand.
        return _next(request, visit, administrations)
    if administration.is_open and administration.is_not_yet_open(timezone.now()):
        opens = administration.opens_at
        return _notice(request, "not_yet", 409, organisation, opens_at=opens)
    if not _takes_answers(administration):
        return _notice(request, "closed", 410, organisation)
    if administration.measure_id == REVIEW:
        return redirect("endings_client:review")
    measure = measures.measure(administration.measure_id)
    shown = goal_items(administration)
    if shown == {}:
        return redirect("goals_client:goals")

    if request.POST.get("action") == "save":
        visit.save_draft(pk, forms.raw_answers(measure, request.POST))
        return redirect("respond:saved")

    reading = forms.read(measure, request.POST, administration.measure_version, shown)
    if not reading.ok:
        # Kept, so that the answers given are still there if the page is left and opened again.
        visit.save_draft(pk, reading.raw)
        form = forms.build(measure, reading.raw, reading.errors, reading.problems, shown=shown)
        return _render_form(request, visit, administrations, administration, form)
    key = posted_key or visit.submission_key(pk)
    note = request.POST.get("note", "") if administration.measure_id in check_in_measures() else ""
    try:
        note = note_of(note)
    except PracticeActionError as exc:
        form = forms.build(measure, reading.raw, problems=(str(exc),))
        return _render_form(request, visit, administrations, administration, form, note=note)
    try:
        response = do_record_response(administration, reading.answers, idempotency_key=key)
    except InvalidAnswersError as exc:
        visit.save_draft(pk, reading.raw)
        errors = {
            p.item: forms.problem_message(measure, p) for p in exc.problems if p.item is not None
        }
        problems = tuple(forms.problem_message(measure, p) for p in exc.problems if p.item is None)
        form = forms.build(measure, reading.raw, errors, problems, shown=shown)
        return _render_form(request, visit, administrations, administration, form)
    except IdempotencyConflictError:
        administration.refresh_from_db()
        if administration.status == AdministrationStatus.COMPLETED:
            messages.info(request, _("Your answers to that questionnaire were already saved."))
            return _next(request, visit, administrations)
        # The key belonged to another submission (an old page): a fresh key, then send again.
        visit.new_submission_key(pk)
        visit.save_draft(pk, reading.raw)
        problem = _("Your answers were not sent. Check them and send them again.")
        form = forms.build(measure, reading.raw, problems=(problem,), shown=shown)
        return _render_form(request, visit, administrations, administration, form)
    except AdministrationClosedError:
        administration.refresh_from_db()
        if administration.status == AdministrationStatus.COMPLETED:
            messages.info(request, _("Your answers to that questionnaire were already saved."))
            return _next(request, visit, administrations)
        return _notice(request, "closed", 410, organisation)
    visit.drop_draft(pk)
    if note and not CheckInNote.objects.filter(administration=administration).exists():
        do_record_check_in_note(administration, note)
    if response.critical is not False:
        visit.show_safety()
    # do_record_response marked `administration` (one of `administrations`) completed.
    return _next(request, visit, administrations)


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def answer(request: HttpRequest) -> HttpResponse:
    """The current questionnaire of the visit; a post saves it for later or sends it."""
    visit = Visit(request.session)
    if request.method == "POST":
        return _submit(request, visit)
    return _show(request, visit)


@client_page(PAGE_REFERRER_POLICY)
def saved(request: HttpRequest) -> HttpResponse:
    """The answers so far are kept; how to come back to them."""
    visit = Visit(request.session)
    if not visit.grants:
        return redirect("respond:answer")
    return render(
        request,
        "respond/saved.html",
        {"organisation": _organisation(visit), "link_hours": settings.ALLY_LINK_HOURS},
    )


# Finishing ---------------------------------------------------------------------------------------


@client_page(PAGE_REFERRER_POLICY, ("GET", "HEAD", "POST"))
def safety(request: HttpRequest) -> HttpResponse:
    """Shown at once after a critical answer: whom to contact now. Continuing clears it."""
    visit = Visit(request.session)
    if not visit.safety:
        return redirect("respond:answer")
    if request.method == "POST":
        visit.safety_seen()
        return redirect("respond:answer" if visit.grants else "respond:done")
    return render(request, "respond/safety.html", {"organisation": _organisation(visit)})


@client_page(PAGE_REFERRER_POLICY)
def done(request: HttpRequest) -> HttpResponse:
    """The confirmation, once every questionnaire of the visit is answered."""
    visit = Visit(request.session)
    if visit.safety:
        return redirect("respond:safety")
    if not visit.finished:
        return redirect("respond:answer")
    context = {"organisation": _organisation(visit), "later": visit.later}
    return render(request, "respond/done.html", context)
