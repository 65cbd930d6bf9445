"""The staff forms: clients, episodes, plans, sessions, links, the clinician's own rating, a
client's answers entered from paper and corrections of stored answers.

Each form stores its rows through the actions, and bad input gets a message and stores nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, sign_in

from ally.web.actions.practice import (
    PracticeActionError,
    do_add_planned_measure,
    do_schedule_session,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import (
    Administration,
    MeasurementPlan,
    PlannedMeasure,
    Respondent,
    Response,
    Timing,
)
from ally.web.collect.planning import administrations_for_session, link_expiry
from ally.web.practice.models import (
    CareTeamMember,
    Client,
    ClientIdentity,
    Episode,
    Membership,
    Session,
)
from ally.web.respond import links


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def url(name: str, **kwargs: object) -> str:
    return reverse(f"clinic:{name}", kwargs={"org": "north", **kwargs})


def plan(episode: Episode, actor: Membership, *entries: tuple[str, str, str]) -> None:
    for measure_id, respondent, timing in entries:
        do_add_planned_measure(
            episode, measure_id, respondent=respondent, timing=timing, actor=actor
        )


@pytest.fixture
def refreshed(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The episodes whose results the write functions brought up to date, call by call."""
    from ally.web.monitoring import refresh

    calls: list[list[int]] = []
    real = refresh._store

    def counted(episodes: Any, *args: Any) -> Any:
        calls.append([e.pk for e in episodes])
        return real(episodes, *args)

    monkeypatch.setattr(refresh, "_store", counted)
    return calls


# --- new clients and episodes -------------------------------------------------------------------


def test_a_new_client_gets_an_identity_and_a_first_episode(practice: Practice) -> None:
    response = browser_for(practice.clinician).post(
        url("client_new"),
        {
            "code": "N-100",
            "name": "Alex Example",
            "email": "alex@example.org",
            "phone": "",
            "clinician": practice.clinician.pk,
            "opened_on": "2026-02-01",
        },
    )
    client = Client.objects.get(organisation=practice.org, code="N-100")
    episode = Episode.objects.get(client=client)
    assert response.status_code == 302
    assert response["Location"] == url("plan", pk=episode.pk)
    assert ClientIdentity.objects.get(client=client).name == "Alex Example"
    assert (episode.clinician, episode.opened_on) == (practice.clinician, dt.date(2026, 2, 1))


def test_a_taken_code_is_refused_with_a_message_and_nothing_is_stored(
    practice: Practice,
) -> None:
    response = browser_for(practice.clinician).post(
        url("client_new"),
        {
            "code": "N-001",
            "name": "Someone Else",
            "clinician": practice.clinician.pk,
            "opened_on": "2026-02-01",
        },
    )
    assert response.status_code == 400
    assert "has this code already; choose another code" in response.content.decode()
    assert not any(i.name == "Someone Else" for i in ClientIdentity.objects.all())
    assert Episode.objects.filter(client__code="N-001").count() == 1


def test_missing_fields_are_named(practice: Practice) -> None:
    response = browser_for(practice.clinician).post(
        url("client_new"), {"code": "", "name": "", "email": "not-an-email", "opened_on": "x"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Client code: This field is required." in html
    assert "Email address: Enter a valid email address." in html
    assert "Opened on: Enter a valid date." in html
    assert Client.objects.filter(organisation=practice.org).count() == 3


def test_a_clinician_may_open_a_second_episode_only_after_the_first_ended(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    data = {
        "client": practice.own.client_id,
        "clinician": practice.clinician.pk,
        "opened_on": "2026-06-01",
    }
    refused = browser.post(url("episode_new"), data)
    assert refused.status_code == 400
    assert "has an open episode already" in refused.content.decode()
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=dt.date(2026, 5, 1), end_reason="planned"
    )
    assert browser.post(url("episode_new"), data).status_code == 302
    assert Episode.objects.filter(client=practice.own.client).count() == 2


def test_a_clinician_cannot_open_an_episode_for_a_client_they_do_not_see(
    practice: Practice,
) -> None:
    response = browser_for(practice.clinician).post(
        url("episode_new"),
        {
            "client": practice.other.client_id,
            "clinician": practice.clinician.pk,
            "opened_on": "2026-06-01",
        },
    )
    assert response.status_code == 400
    assert Episode.objects.filter(client=practice.other.client).count() == 1


# --- ending an episode and the care team --------------------------------------------------------


def test_ending_an_episode_stores_date_and_reason_and_refreshes_feedback(
    practice: Practice, refreshed: list[list[int]]
) -> None:
    response = browser_for(practice.clinician).post(
        url("episode_end", pk=practice.own.pk), {"ended_on": "2026-03-01", "reason": "dropout"}
    )
    practice.own.refresh_from_db()
    assert response.status_code == 302
    assert (practice.own.ended_on, practice.own.end_reason) == (dt.date(2026, 3, 1), "dropout")
    assert refreshed == [[practice.own.pk]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ended_on": "2025-01-01", "reason": "planned"}, "before the episode was opened"),
        ({"ended_on": "2999-01-01", "reason": "planned"}, "The end date is in the future"),
        ({"ended_on": "2026-03-01", "reason": "bored"}, "Select a valid choice"),
    ],
)
def test_a_wrong_ending_is_refused(practice: Practice, data: dict[str, str], message: str):
    response = browser_for(practice.clinician).post(url("episode_end", pk=practice.own.pk), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    practice.own.refresh_from_db()
    assert practice.own.ended_on is None


def test_adding_a_care_team_member_lets_them_see_the_episode(practice: Practice) -> None:
    colleague = browser_for(practice.colleague)
    assert colleague.get(url("episode", pk=practice.own.pk)).status_code == 404
    response = browser_for(practice.clinician).post(
        url("care_team_add", pk=practice.own.pk),
        {"member": practice.colleague.pk, "role": "psychiatrist"},
    )
    assert response.status_code == 302
    assert CareTeamMember.objects.get(episode=practice.own).role == "psychiatrist"
    assert colleague.get(url("episode", pk=practice.own.pk)).status_code == 200


def test_a_researcher_cannot_join_a_care_team(practice: Practice) -> None:
    response = browser_for(practice.clinician).post(
        url("care_team_add", pk=practice.own.pk), {"member": practice.researcher.pk}
    )
    assert response.status_code == 400
    assert not CareTeamMember.objects.filter(episode=practice.own).exists()


# --- the plan and the forms of a session --------------------------------------------------------


def test_a_plan_entry_is_added_and_bad_sessions_are_refused(practice: Practice) -> None:
    browser = browser_for(practice.clinician)
    entry = {
        "measure": "phq9",
        "respondent": "client",
        "timing": "before",
        "first_session": "1",
        "every": "1",
        "last_session": "",
    }
    assert browser.post(url("plan", pk=practice.own.pk), entry).status_code == 302
    stored = PlannedMeasure.objects.get(plan__episode=practice.own)
    assert (stored.measure_id, stored.every, stored.last_session) == ("phq9", 1, None)
    twice = browser.post(url("plan", pk=practice.own.pk), entry)
    assert twice.status_code == 400
    assert "has this measure" in twice.content.decode()
    backwards = {**entry, "measure": "gad7", "first_session": "4", "last_session": "2"}
    response = browser.post(url("plan", pk=practice.own.pk), backwards)
    assert response.status_code == 400
    assert "The last session comes before the first" in response.content.decode()
    unknown = browser.post(url("plan", pk=practice.own.pk), {**entry, "measure": "bdi"})
    assert unknown.status_code == 400
    assert PlannedMeasure.objects.filter(plan__episode=practice.own).count() == 1


def test_a_measure_whose_text_is_not_installed_is_not_planned_for_the_client(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    entry = {"measure": "srs", "respondent": "client", "timing": "after", "first_session": "1"}
    entry["every"] = "1"
    response = browser.post(url("plan", pk=practice.own.pk), entry)
    assert response.status_code == 400
    assert "are not installed" in response.content.decode()
    assert not PlannedMeasure.objects.filter(plan__episode=practice.own).exists()
    # The clinician may still rate with it, e.g. from the licensed paper form.
    rated = browser.post(url("plan", pk=practice.own.pk), {**entry, "respondent": "clinician"})
    assert rated.status_code == 302


def test_removing_a_plan_entry(practice: Practice) -> None:
    plan(practice.own, practice.clinician, ("phq9", "client", "before"))
    entry = PlannedMeasure.objects.get(plan__episode=practice.own)
    response = browser_for(practice.clinician).post(url("plan_entry_remove", pk=entry.pk))
    assert response.status_code == 302
    assert not PlannedMeasure.objects.filter(pk=entry.pk).exists()


def test_scheduling_a_session_creates_its_forms_from_the_plan(practice: Practice) -> None:
    plan(
        practice.own,
        practice.clinician,
        ("phq9", Respondent.CLIENT, Timing.BEFORE),
        ("ally-alliance", Respondent.CLIENT, Timing.AFTER),
        ("ally-alliance", Respondent.CLINICIAN, Timing.AFTER),
    )
    response = browser_for(practice.clinician).post(
        url("session_new", pk=practice.own.pk),
        {"scheduled_at": "2030-04-02T10:00", "clinician": practice.clinician.pk},
    )
    session = Session.objects.get(episode=practice.own)
    assert response.status_code == 302
    assert response["Location"].endswith(f"#session-{session.pk}")
    assert session.number == 1
    forms = Administration.objects.filter(session=session)
    assert sorted(forms.values_list("measure_id", "respondent", "timing")) == [
        ("ally-alliance", "client", "after"),
        ("ally-alliance", "clinician", "after"),
        ("phq9", "client", "before"),
    ]
    hours = dt.timedelta(hours=72)
    assert {f.expires_at for f in forms} == {session.scheduled_at + hours}


def test_a_schedule_in_bad_form_is_refused(practice: Practice) -> None:
    response = browser_for(practice.clinician).post(
        url("session_new", pk=practice.own.pk), {"scheduled_at": "next tuesday"}
    )
    assert response.status_code == 400
    assert "Date and time: Enter a valid date/time." in response.content.decode()
    assert not Session.objects.filter(episode=practice.own).exists()


def test_administrations_for_a_session_are_never_made_twice(practice: Practice) -> None:
    plan(
        practice.own,
        practice.clinician,
        ("phq9", Respondent.CLIENT, Timing.BEFORE),
        ("ally-alliance", Respondent.CLIENT, Timing.AFTER),
    )
    session = do_schedule_session(
        practice.own, timezone.now() + dt.timedelta(days=1), actor=practice.clinician
    )
    assert administrations_for_session(session, practice.clinician) == []
    assert administrations_for_session(session, practice.clinician) == []
    assert Administration.objects.filter(session=session).count() == 2


def test_the_plan_decides_which_sessions_get_a_measure(practice: Practice) -> None:
    do_add_planned_measure(
        practice.own,
        "gad7",
        respondent="client",
        timing="before",
        first_session=2,
        every=2,
        last_session=4,
        actor=practice.clinician,
    )
    numbers = []
    for _ in range(6):
        session = do_schedule_session(
            practice.own, timezone.now() + dt.timedelta(days=1), actor=practice.clinician
        )
        if session.administrations.exists():
            numbers.append(session.number)
    assert numbers == [2, 4]


def test_a_session_in_the_past_gets_forms_that_expire_from_now(practice: Practice) -> None:
    plan(practice.own, practice.clinician, ("phq9", "client", "after"))
    past = timezone.now() - dt.timedelta(days=10)
    session = do_schedule_session(practice.own, past, actor=practice.clinician)
    form = Administration.objects.get(session=session)
    assert form.expires_at > timezone.now() + dt.timedelta(hours=71)
    assert form.expires_at == link_expiry(session, form.expires_at - dt.timedelta(hours=72))


def test_a_plan_added_later_gives_forms_to_sessions_already_scheduled(practice: Practice) -> None:
    session = do_schedule_session(
        practice.own, timezone.now() + dt.timedelta(days=2), actor=practice.clinician
    )
    browser_for(practice.clinician).post(
        url("plan", pk=practice.own.pk),
        {
            "measure": "phq9",
            "respondent": "client",
            "timing": "before",
            "first_session": "1",
            "every": "1",
        },
    )
    assert Administration.objects.filter(session=session, measure_id="phq9").count() == 1


def test_recording_a_status_and_closing_forms_a_missed_session_no_longer_needs(
    practice: Practice,
) -> None:
    plan(
        practice.own,
        practice.clinician,
        ("phq9", "client", "before"),
        ("ally-alliance", "client", "after"),
    )
    session = do_schedule_session(practice.own, timezone.now(), actor=practice.clinician)
    browser = browser_for(practice.clinician)
    response = browser.post(
        url("session_status", pk=session.pk), {f"session-{session.pk}-status": "missed"}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "missed"
    assert session.status_changed_at is not None
    states = dict(Administration.objects.filter(session=session).values_list("timing", "status"))
    assert states == {"before": "created", "after": "expired"}
    bad = browser.post(
        url("session_status", pk=session.pk),
        {f"session-{session.pk}-status": "late"},
        follow=True,
    )
    assert "Choose the session&#x27;s status from the list" in bad.content.decode()


def test_an_ended_episode_gets_no_new_sessions(practice: Practice) -> None:
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=dt.date(2026, 3, 1), end_reason="planned"
    )
    practice.own.refresh_from_db()
    with pytest.raises(PracticeActionError):
        do_schedule_session(practice.own, timezone.now(), actor=practice.clinician)


# --- links --------------------------------------------------------------------------------------


@pytest.fixture
def client_form(practice: Practice) -> Administration:
    plan(practice.own, practice.clinician, ("phq9", "client", "before"))
    session = do_schedule_session(
        practice.own, timezone.now() + dt.timedelta(days=1), actor=practice.clinician
    )
    return Administration.objects.get(session=session)


def test_the_link_page_shows_the_link_in_a_labelled_readonly_field(
    practice: Practice, client_form: Administration
) -> None:
    html = browser_for(practice.clinician).get(url("form", pk=client_form.pk)).content.decode()
    assert '<label for="client-link">' in html
    assert f'readonly value="{links.link_url(client_form)}"' in html


def test_sending_the_link_by_email_marks_it_sent(
    practice: Practice, client_form: Administration
) -> None:
    response = browser_for(practice.clinician).post(
        url("form_send", pk=client_form.pk), follow=True
    )
    assert "The link was sent" in response.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["c@example.org"]
    client_form.refresh_from_db()
    assert client_form.status == "sent"


def test_without_an_email_address_the_page_says_what_to_do(
    practice: Practice, client_form: Administration
) -> None:
    ClientIdentity.objects.filter(client=practice.own.client).update(email="")
    response = browser_for(practice.clinician).post(
        url("form_send", pk=client_form.pk), follow=True
    )
    assert (
        "no email address on file; copy the link or show the QR code" in response.content.decode()
    )
    assert mail.outbox == []


def test_the_qr_page_shows_a_named_code_and_nothing_about_the_client(
    practice: Practice, client_form: Administration
) -> None:
    html = browser_for(practice.clinician).get(url("form_qr", pk=client_form.pk)).content.decode()
    assert '<svg role="img" aria-labelledby="qr-caption"' in html
    assert "N-001" not in html
    assert "Name of" not in html


def test_recording_a_link_as_given_marks_it_sent(
    practice: Practice, client_form: Administration
) -> None:
    browser_for(practice.clinician).post(url("form_given", pk=client_form.pk))
    client_form.refresh_from_db()
    assert client_form.status == "sent"
    assert client_form.sent_at is not None


def test_link_pages_are_for_the_caseload_and_not_for_researchers(
    practice: Practice, client_form: Administration
) -> None:
    assert browser_for(practice.colleague).get(url("form", pk=client_form.pk)).status_code == 404
    researcher = browser_for(practice.researcher)
    assert researcher.get(url("form", pk=client_form.pk)).status_code == 403
    assert researcher.post(url("form_send", pk=client_form.pk)).status_code == 403


# --- the clinician's own rating -----------------------------------------------------------------


@pytest.fixture
def own_rating(practice: Practice) -> Administration:
    plan(practice.own, practice.clinician, ("ally-alliance", "clinician", "after"))
    session = do_schedule_session(practice.own, timezone.now(), actor=practice.clinician)
    return Administration.objects.get(session=session)


def answers(values: list[int], key: str = "k" * 32) -> dict[str, str]:
    posted = {f"item_{n}": str(v) for n, v in enumerate(values, start=1)}
    posted["key"] = key
    return posted


def test_the_clinician_rates_the_session_once_even_when_posting_twice(
    practice: Practice, own_rating: Administration, refreshed: list[list[int]]
) -> None:
    browser = browser_for(practice.clinician)
    page = browser.get(url("form_rate", pk=own_rating.pk)).content.decode()
    assert 'name="key"' in page
    # The clinician rates from their own side, in their own words.
    assert "My client felt listened to." in page
    assert "I felt listened to." not in page
    first = browser.post(url("form_rate", pk=own_rating.pk), answers([3, 3, 3, 3, 3, 3, 3]))
    again = browser.post(url("form_rate", pk=own_rating.pk), answers([3, 3, 3, 3, 3, 3, 3]))
    assert first.status_code == again.status_code == 302
    response = Response.objects.get(administration=own_rating)
    assert response.total == 21
    assert response.entered_by == practice.clinician
    assert refreshed == [[practice.own.pk]]


def test_a_rating_with_a_missing_answer_is_refused_and_nothing_stored(
    practice: Practice, own_rating: Administration, refreshed: list[list[int]]
) -> None:
    posted = answers([3, 3, 3, 3, 3, 3, 3])
    del posted["item_4"]
    posted["item_5"] = "9"
    response = browser_for(practice.clinician).post(url("form_rate", pk=own_rating.pk), posted)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Question 4: choose an answer." in html
    assert "Question 5: choose one of the answers shown." in html
    assert not Response.objects.filter(administration=own_rating).exists()
    assert refreshed == []


def test_only_clinician_forms_are_rated_here(
    practice: Practice, client_form: Administration
) -> None:
    assert (
        browser_for(practice.clinician).get(url("form_rate", pk=client_form.pk)).status_code == 404
    )


# --- answers from paper, and corrections ------------------------------------------------------


def test_a_clients_paper_answers_are_entered_scored_alerted_and_marked(
    practice: Practice, client_form: Administration, refreshed: list[list[int]]
) -> None:
    browser = browser_for(practice.clinician)
    page = browser.get(url("form_paper", pk=client_form.pk)).content.decode()
    # The client's own wording: the paper they filled in.
    assert "Little interest or pleasure in doing things" in page
    posted = answers([1, 1, 1, 1, 1, 1, 1, 1, 2])
    first = browser.post(url("form_paper", pk=client_form.pk), posted)
    again = browser.post(url("form_paper", pk=client_form.pk), posted)
    assert first.status_code == again.status_code == 302
    response = Response.objects.get(administration=client_form)
    assert response.total == 10
    assert response.entered_by == practice.clinician
    assert refreshed == [[practice.own.pk]]
    # Item 9 endorsed on paper reaches the clinician as it would by link.
    assert Alert.objects.filter(episode=practice.own, kind=AlertKind.CRITICAL_ITEM).count() == 1
    html = browser.get(url("form_answers", pk=client_form.pk)).content.decode()
    assert "The client gave these answers on paper;" in html


def test_paper_answers_with_a_gap_are_refused_and_nothing_is_stored(
    practice: Practice, client_form: Administration
) -> None:
    posted = answers([1, 1, 1, 1, 1, 1, 1, 1, 0])
    posted["item_3"] = "7"
    response = browser_for(practice.clinician).post(url("form_paper", pk=client_form.pk), posted)
    assert response.status_code == 400
    assert "Question 3: choose one of the answers shown." in response.content.decode()
    assert not Response.objects.filter(administration=client_form).exists()


def test_no_paper_answers_for_an_ended_episode(
    practice: Practice, client_form: Administration
) -> None:
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=timezone.localdate(), end_reason="planned"
    )
    browser = browser_for(practice.clinician)
    response = browser.post(url("form_paper", pk=client_form.pk), answers([0] * 9), follow=True)
    assert "This episode has ended" in response.content.decode()
    assert not Response.objects.filter(administration=client_form).exists()


@pytest.fixture
def answered(practice: Practice, client_form: Administration) -> Administration:
    browser_for(practice.clinician).post(
        url("form_paper", pk=client_form.pk), answers([1, 1, 1, 1, 1, 1, 1, 1, 0])
    )
    return client_form


def test_a_correction_keeps_the_first_answers_and_moves_the_scores(
    practice: Practice, answered: Administration, refreshed: list[list[int]]
) -> None:
    browser = browser_for(practice.clinician)
    page = browser.get(url("form_correct", pk=answered.pk)).content.decode()
    # The form opens with the answers in force, ready to change.
    assert 'name="item_1" value="1" checked' in page
    posted = answers([3, 1, 1, 1, 1, 1, 1, 1, 0]) | {"reason": "Item 1 misread from the paper"}
    response = browser.post(url("form_correct", pk=answered.pk), posted, follow=True)
    html = response.content.decode()
    assert "The correction is saved" in html
    assert "Item 1 misread from the paper" in html
    stored = Response.objects.get(administration=answered)
    assert stored.total == 8  # the first answers stay as given
    assert stored.current().total == 10
    assert refreshed[-1] == [practice.own.pk]


@pytest.mark.parametrize(
    ("reason", "values", "message"),
    [
        ("", [3, 1, 1, 1, 1, 1, 1, 1, 0], "a correction needs a reason"),
        ("No change", [1, 1, 1, 1, 1, 1, 1, 1, 0], "change an answer to correct it"),
    ],
)
def test_a_correction_without_reason_or_change_is_refused(
    practice: Practice, answered: Administration, reason: str, values: list[int], message: str
) -> None:
    posted = answers(values) | {"reason": reason}
    response = browser_for(practice.clinician).post(url("form_correct", pk=answered.pk), posted)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Response.objects.get(administration=answered).amendments.exists()


def test_corrections_are_for_the_care_team_and_not_for_researchers(
    practice: Practice, answered: Administration
) -> None:
    posted = answers([3, 1, 1, 1, 1, 1, 1, 1, 0]) | {"reason": "r"}
    assert (
        browser_for(practice.colleague)
        .post(url("form_correct", pk=answered.pk), posted)
        .status_code
        == 404
    )
    assert (
        browser_for(practice.researcher)
        .post(url("form_correct", pk=answered.pk), posted)
        .status_code
        == 403
    )
    assert not Response.objects.get(administration=answered).amendments.exists()


# --- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("client_new", {}),
        ("episode_new", {}),
        ("plan", {"pk": "own"}),
        ("session_new", {"pk": "own"}),
        ("episode_end", {"pk": "own"}),
        ("care_team_add", {"pk": "own"}),
    ],
)
def test_a_researcher_gets_403_on_every_form(
    practice: Practice, name: str, kwargs: dict[str, str]
) -> None:
    resolved = {k: getattr(practice, v).pk for k, v in kwargs.items()}
    browser = browser_for(practice.researcher)
    assert browser.get(url(name, **resolved)).status_code == 403
    assert browser.post(url(name, **resolved), {"code": "R-1", "name": "x"}).status_code == 403
    assert not Client.objects.filter(code="R-1").exists()
    assert not MeasurementPlan.objects.exists()


@pytest.mark.parametrize("name", ["plan", "session_new", "episode_end", "care_team_add"])
def test_a_colleagues_or_another_organisations_episode_is_a_404(
    practice: Practice, name: str
) -> None:
    browser = browser_for(practice.clinician)
    assert browser.get(url(name, pk=practice.other.pk)).status_code == 404
    assert browser.get(url(name, pk=practice.elsewhere.pk)).status_code == 404
    supervisor = browser_for(practice.supervisor)
    assert supervisor.get(url(name, pk=practice.other.pk)).status_code == 200
    assert supervisor.get(url(name, pk=practice.elsewhere.pk)).status_code == 404


def test_a_cancelled_session_closes_its_open_forms_and_gets_no_new_ones(
    practice: Practice,
) -> None:
    plan(practice.own, practice.clinician, ("phq9", "client", "before"))
    session = do_schedule_session(practice.own, timezone.now(), actor=practice.clinician)
    browser_for(practice.clinician).post(
        url("session_status", pk=session.pk), {f"session-{session.pk}-status": "cancelled"}
    )
    assert list(
        Administration.objects.filter(session=session).values_list("status", flat=True)
    ) == ["expired"]
    session.refresh_from_db()
    plan(practice.own, practice.clinician, ("gad7", "client", "before"))
    assert administrations_for_session(session, practice.clinician) == []


@pytest.mark.parametrize(
    "name", ["form_send", "form_given", "session_status", "alert_seen", "alert_act"]
)
def test_actions_answer_only_to_post(practice: Practice, name: str) -> None:
    assert browser_for(practice.clinician).get(url(name, pk=1)).status_code == 405


def test_no_link_goes_out_for_an_ended_episode(
    practice: Practice, client_form: Administration
) -> None:
    Episode.objects.filter(pk=practice.own.pk).update(
        ended_on=dt.date(2026, 3, 1), end_reason="planned"
    )
    browser = browser_for(practice.clinician)
    response = browser.post(url("form_send", pk=client_form.pk), follow=True)
    assert "This episode has ended" in response.content.decode()
    assert mail.outbox == []
    assert 'id="client-link"' not in browser.get(url("form", pk=client_form.pk)).content.decode()
