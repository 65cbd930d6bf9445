"""A coaching practice speaks of coaches, clients (or coachees), engagements, sessions and goals:
every staff page and client page of the demo's coaching practice, in English and in German, is
free of the therapy words (THERAPY_WORDS), and a therapy practice keeps its own words."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone, translation
from ipr_media import stored_recording
from pypdf import PdfReader
from signing_in import sign_in
from test_every_view import STAFF_VIEWS
from web_practice import Practice

from ally.ipr.marks import Rater
from ally.web.accounts.models import User
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.endings import FollowUpChoice
from ally.web.actions.groups import (
    do_add_group_member,
    do_add_group_planned_measure,
    do_create_group,
    do_record_group_attendance,
    do_schedule_group_session,
)
from ally.web.actions.ipr import do_add_mark, do_finish_review
from ally.web.actions.practice import do_end_episode
from ally.web.alerts.models import Alert, AlertKind
from ally.web.clinic.reports import SECTIONS
from ally.web.collect.models import Administration, PlannedMeasure
from ally.web.demo_coaching import load_coaching_demo
from ally.web.endings.models import EndingForm
from ally.web.ipr.link import link_url
from ally.web.ipr.models import Recording
from ally.web.practice.models import (
    CareTeamMember,
    Episode,
    Group,
    Invitation,
    Membership,
    Organisation,
)
from ally.web.respond.links import signed_token

THERAPY_WORDS = re.compile(
    r"\b(patients?|symptoms?|\w*therap\w*|treatments?|clinicians?|clinician's"
    r"|Patient\w*|Symptom\w*|\w*Therap\w*|Behandlung\w*|Behandler\w*|Behandelnde\w*|Kliniker\w*)\b",
    re.IGNORECASE,
)
"""What a coaching practice never says (issue 14): patients, symptoms, therapy (therapist,
co-therapist, psychotherapy), treatment and clinicians, in English and German."""

NOW = timezone.make_aware(dt.datetime(2026, 6, 1, 9))


def _visible(page: str) -> str:
    """The text a person reads: no scripts, styles or tags (attributes' values included when
    they are read out: title, aria-label, placeholder, alt)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    read_out = " ".join(re.findall(r'(?:title|aria-label|placeholder|alt)="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + read_out)


def _make(org: Organisation, email: str, name: str, role: str) -> Membership:
    user = User.objects.create_user(email, "pw", display_name=name)
    return Membership.objects.create(user=user, organisation=org, role=role)


@pytest.fixture
def coaching(db: None) -> Organisation:
    return load_coaching_demo(
        [
            ("admin@coaching.example", "Ada", "admin"),
            ("coach1@coaching.example", "Coach One", "clinician"),
            ("coach2@coaching.example", "Coach Two", "clinician"),
        ],
        _make,
        NOW,
        seed=3,
    )


def _objects(org: Organisation) -> dict[str, int]:
    episode = Episode.objects.filter(organisation=org, goals__isnull=False).first()
    assert episode is not None
    coach2 = Membership.objects.get(organisation=org, user__email="coach2@coaching.example")
    teammate = (
        coach2
        if episode.clinician_id != coach2.pk
        else Membership.objects.get(organisation=org, user__email="coach1@coaching.example")
    )
    answered = Administration.objects.filter(
        episode=episode, measure_id="who5", completed_at__isnull=False
    ).first()
    assert answered is not None
    Alert.objects.create(episode=episode, kind=AlertKind.RUPTURE, message="m", raised_at=NOW)
    return {
        "episode": episode.pk,
        "session": episode.sessions.first().pk,
        "administration": Administration.objects.filter(episode=episode, completed_at=None)
        .first()
        .pk,
        "rating": answered.pk,
        "answered": answered.pk,
        "plan_entry": PlannedMeasure.objects.filter(plan__episode=episode).first().pk,
        "alert": Alert.objects.filter(episode=episode).first().pk,
        "client": episode.client_id,
        "membership": episode.clinician_id,
        "care_team": CareTeamMember.objects.create(episode=episode, member=teammate).pk,
        "invitation": Invitation.objects.create(
            organisation=org,
            email="new@coaching.example",
            role="clinician",
            created_at=NOW,
            expires_at=NOW + dt.timedelta(days=7),
        ).pk,
        "api_client": 0,
        # A coaching group and a recorded session: pages of their own, in the same words.
        **_group_and_recording(episode),
    }


def _group_and_recording(episode: Episode) -> dict[str, int]:
    """A coaching group with its check-in answered at a held session, and a recorded session
    both reviewed with marks: their pages show every part."""
    coach = episode.clinician
    group = do_create_group(episode.organisation, "Leadership circle", [coach], actor=coach)
    do_add_group_planned_measure(group, "ally-group", timing="after", actor=coach)
    place = do_add_group_member(group, episode, episode.opened_on, actor=coach)
    meeting = do_schedule_group_session(group, NOW - dt.timedelta(days=1), actor=coach)
    do_record_group_attendance(meeting, {episode.pk: True}, actor=coach)
    check_in = Administration.objects.get(
        session__group_part__group_session=meeting, measure_id="ally-group"
    )
    do_record_response(check_in, [7, 6, 8, 7, 8, 6, 1], idempotency_key="group")
    recording = stored_recording(episode, scope="research")
    for rater, actor in ((Rater.CLINICIAN, coach), (Rater.CLIENT, None)):
        do_add_mark(
            recording,
            rater,
            start=1,
            end=2,
            kind="helpful",
            rating=7,
            answers={"then": "unsure"},
            actor=actor,
        )
        do_finish_review(recording, rater, actor=actor)
    return {
        "group": group.pk,
        "group_member": place.pk,
        "group_session": meeting.pk,
        "recording": recording.pk,
    }


def _words_on(browser: Browser, url: str, language: str) -> set[str]:
    page = browser.get(url, HTTP_ACCEPT_LANGUAGE=language)
    if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
        return set()
    return {m.group(0) for m in THERAPY_WORDS.finditer(_visible(page.content.decode()))}


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_staff_page_of_a_coaching_practice_speaks_of_therapy(
    coaching: Organisation, language: str
) -> None:
    objects = _objects(coaching)
    found: dict[str, set[str]] = {}
    for email in ("admin@coaching.example", "coach1@coaching.example"):
        browser = Browser()
        sign_in(browser, User.objects.get(email=email))
        for name, (target, _writes, _roles) in STAFF_VIEWS.items():
            if target == "api_client":
                continue
            kwargs: dict[str, Any] = {"org": coaching.slug}
            if target is not None:
                kwargs["pk"] = objects[target]
            words = _words_on(browser, reverse(name, kwargs=kwargs), language)
            if words:
                found[f"{email} {name}"] = words
    assert found == {}


def _open_in_visit(form: Administration, language: str) -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    opened = browser.get(reverse("respond:open", kwargs={"signed": signed_token(form)}))
    assert opened.status_code == 302
    return browser


def _client_pages(org: Organisation) -> dict[str, tuple[Administration | Recording, str]]:
    """What a coaching client opens by link: the questionnaires of a visit, their goals, the
    group check-in, the end-of-engagement review, and the review of a recording (before their
    consent, and once both reviews are finished)."""
    pages: dict[str, tuple[Administration | Recording, str]] = {}
    for measure in ("who5", "ally-coaching-alliance"):
        form = Administration.objects.filter(
            episode__organisation=org, completed_at=None, measure_id=measure
        ).first()
        if form is None:
            form = Administration.objects.create(
                episode=Episode.objects.filter(organisation=org).first(),
                measure_id=measure,
                measure_version="0.1",
            )
        pages[f"{measure} questionnaire"] = (form, "/a/")
    with_goals = Episode.objects.filter(organisation=org, goals__isnull=False).first()
    assert with_goals is not None
    pages["goals"] = (do_create_administration(with_goals, "goal-progress"), "/a/goals/")
    episodes = Episode.objects.filter(organisation=org).order_by("pk")
    objects = _group_and_recording(episodes[0])
    coach = episodes[0].clinician
    group = Group.objects.get(pk=objects["group"])
    later = do_schedule_group_session(group, NOW + dt.timedelta(days=1), actor=coach)
    pages["group check-in"] = (
        Administration.objects.get(
            session__group_part__group_session=later, measure_id="ally-group"
        ),
        "/a/",
    )
    pages["review"] = (_end_by_plan(episodes[1]), "/a/review/")
    pages["recording, both reviews finished"] = (
        Recording.objects.get(pk=objects["recording"]),
        "/a/recall/",
    )
    pages["recording, before consent"] = (stored_recording(episodes[0]), "/a/recall/")
    return pages


def _end_by_plan(episode: Episode) -> Administration:
    """End the engagement by plan with a closing summary and a follow-up; its review form."""
    do_end_episode(
        episode,
        timezone.localdate(),
        "planned",
        actor=episode.clinician,
        summary="Worked on leading the weekly meeting",
        follow_up=FollowUpChoice(("who5",), 12),
    )
    return EndingForm.objects.get(ending__episode=episode, purpose="review").administration


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_client_page_of_a_coaching_practice_speaks_of_therapy(
    coaching: Organisation, language: str
) -> None:
    found: dict[str, set[str]] = {}
    for name, (opened, url) in _client_pages(coaching).items():
        if isinstance(opened, Recording):
            browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
            assert (
                browser.get(link_url(opened).removeprefix(settings.ALLY_BASE_URL)).status_code
                == 302
            )
        else:
            browser = _open_in_visit(opened, language)
        page = browser.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert page.status_code == 200, name
        words = _words_on(browser, url, language)
        if words:
            found[name] = words
    assert found == {}


@pytest.mark.parametrize("language", ["en", "de"])
def test_an_ended_engagement_its_report_and_its_pdf_speak_of_coaching(
    coaching: Organisation, language: str
) -> None:
    """The end of an engagement, answered by the client's review, on the client page, in the
    report with every section and in the PDF the coach downloads."""
    episode = Episode.objects.filter(organisation=coaching).order_by("pk")[2]
    review = _end_by_plan(episode)
    client = _open_in_visit(review, language)
    answered = client.post(
        "/a/review/", {"review-change": "2", "review-helped": "The planning exercise"}
    )
    assert answered.status_code == 302
    coach = Browser()
    sign_in(coach, episode.clinician.user)
    everything = "&".join(f"sections={name}" for name, _label in SECTIONS)
    found: dict[str, set[str]] = {}
    for name, pk, query in (
        ("clinic:episode", episode.pk, ""),
        ("clinic:form_answers", review.pk, ""),
        ("clinic:report", episode.pk, f"?audience=team&{everything}"),
        ("clinic:report", episode.pk, f"?audience=client&{everything}"),
    ):
        url = reverse(name, kwargs={"org": coaching.slug, "pk": pk}) + query
        assert coach.get(url, HTTP_ACCEPT_LANGUAGE=language).status_code == 200
        words = _words_on(coach, url, language)
        if words:
            found[name + query[:16]] = words
    pdf_url = reverse("clinic:report_pdf", kwargs={"org": coaching.slug, "pk": episode.pk})
    pdf = coach.get(f"{pdf_url}?audience=team&{everything}", HTTP_ACCEPT_LANGUAGE=language)
    assert pdf["Content-Type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Worked on leading the weekly meeting" in text
    words = {m.group(0) for m in THERAPY_WORDS.finditer(text)}
    if words:
        found["clinic:report_pdf"] = words
    # The client's own copy of their data: its page, and the questions and names in its JSON.
    export = coach.get(
        reverse("privacy:export", kwargs={"org": coaching.slug, "pk": episode.client_id}),
        HTTP_ACCEPT_LANGUAGE=language,
    )
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        page = _visible(archive.read("client.html").decode())
        data = archive.read("client.json").decode()
    assert "since the coaching began" in page or "seit das Coaching begonnen hat" in page
    questions = " ".join(re.findall(r'"(?:question|measure_name)": "([^"]*)"', data))
    words = {m.group(0) for m in THERAPY_WORDS.finditer(f"{page} {questions}")}
    if words:
        found["privacy:export"] = words
    assert found == {}


def test_a_therapy_practice_keeps_its_words(practice: Practice) -> None:
    browser = Browser()
    sign_in(browser, practice.admin.user)
    page = browser.get("/o/north/dashboard/").content.decode()
    assert "clinician" in page.lower()


def test_a_coaching_engagement_starts_with_who5_goals_and_the_coaching_check_in(
    coaching: Organisation,
) -> None:
    from ally.web.actions.practice import do_create_client_with_episode

    coach = Membership.objects.get(organisation=coaching, user__email="coach1@coaching.example")
    episode = do_create_client_with_episode(
        coaching, "K-NEW", name="New client", clinician=coach, opened_on=NOW.date(), actor=coach
    )
    plan = PlannedMeasure.objects.filter(plan__episode=episode).order_by("pk")
    assert [(p.measure_id, p.timing) for p in plan] == [
        ("who5", "before"),
        ("goal-progress", "after"),
        ("ally-coaching-alliance", "after"),
    ]


def test_a_practice_that_says_coachee_says_it_in_both_languages(coaching: Organisation) -> None:
    Organisation.objects.filter(pk=coaching.pk).update(client_word="coachee")
    browser = Browser()
    sign_in(browser, User.objects.get(email="coach1@coaching.example"))
    english = browser.get("/o/coaching/caseload/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "New coachee" in english
    assert "New client" not in english
    german = browser.get("/o/coaching/caseload/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Neue:r Coachee" in german


def test_a_coaching_caseload_counts_engagements_in_both_languages(coaching: Organisation) -> None:
    browser = Browser()
    sign_in(browser, User.objects.get(email="coach1@coaching.example"))
    english = _visible(
        browser.get("/o/coaching/caseload/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    assert re.search(r"\b\d+ engagements?\b", english)
    assert not re.search(r"\b\d+ episodes?\b", english)
    german = _visible(
        browser.get("/o/coaching/caseload/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    )
    assert re.search(r"\b\d+ Coaching-Prozesse?\b", german)
    assert not re.search(r"\b\d+ Episoden?\b", german)


@pytest.mark.parametrize("number", [1, 3])
def test_every_plural_message_of_a_coaching_practice_has_its_german_coaching_form(
    coaching: Organisation, number: int
) -> None:
    from ally.web.vocabulary import _PLURALS, in_words_of

    for (singular, plural), coaching_pair in _PLURALS:
        with in_words_of(coaching), translation.override("en"):
            english = translation.ngettext(singular, plural, number)
        assert english == coaching_pair[0 if number == 1 else 1]
        with in_words_of(coaching), translation.override("de"):
            german = translation.ngettext(singular, plural, number)
        assert german != english
        assert not THERAPY_WORDS.search(german)
        assert "Episode" not in german
