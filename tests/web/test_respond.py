"""The client's side: a signed link opens a visit, one measure per screen, then a confirmation."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice

from ally.web.actions.answers import (
    do_create_administration,
    do_expire_administration,
    do_record_response,
)
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import Administration, AdministrationStatus, Response
from ally.web.practice.models import Session
from ally.web.respond.links import signed_token

ANSWER = "/a/"
ALLIANCE_MOSTLY = [3, 3, 3, 3, 3, 3, 3]


def link_path(administration: Administration) -> str:
    return reverse("respond:open", kwargs={"signed": signed_token(administration)})


def form_data(administration: Administration, key: str, answers: list[Any], **extra: str) -> dict:
    data = {"administration": str(administration.pk), "key": key, "action": "submit"}
    for number, value in enumerate(answers, start=1):
        if value is not None:
            data[f"item_{number}"] = str(value)
    return {**data, **extra}


def shown_key(client: Client) -> str:
    """Open the current questionnaire and read its submission key from the page."""
    page = client.get(ANSWER)
    assert page.status_code == 200
    return page.context["key"]


def submit(client: Client, administration: Administration, answers: list[Any], key: str = ""):
    return client.post(ANSWER, form_data(administration, key or shown_key(client), answers))


@pytest.fixture
def session(practice: Practice) -> Session:
    return Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=timezone.now()
    )


@pytest.fixture
def before(practice: Practice, session: Session) -> Administration:
    return do_create_administration(practice.own, "phq9", session=session, timing="before")


@pytest.fixture
def after(practice: Practice, session: Session) -> Administration:
    return do_create_administration(practice.own, "ally-alliance", session=session, timing="after")


@pytest.fixture
def alone(practice: Practice) -> Administration:
    """A PHQ-9 given outside any session: the visit holds it alone."""
    return do_create_administration(practice.own, "phq9")


# Opening the link --------------------------------------------------------------------------------


def test_opening_a_link_redirects_to_an_address_without_the_token(
    client: Client, alone: Administration
) -> None:
    page = client.get(link_path(alone))
    assert page.status_code == 302
    assert page["Location"] == ANSWER
    assert alone.link_token not in page["Location"]
    assert signed_token(alone).split(":")[0] not in page["Location"]


def test_opening_a_link_marks_the_administration_opened(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    alone.refresh_from_db()
    assert alone.status == AdministrationStatus.OPENED
    assert alone.opened_at is not None


def test_opening_a_link_gives_a_new_session_key(client: Client, alone: Administration) -> None:
    before_open = client.session
    before_open["earlier"] = True
    before_open.save()
    old_key = before_open.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = old_key
    client.get(link_path(alone))
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != old_key


def test_the_page_after_opening_holds_no_token(client: Client, alone: Administration) -> None:
    page = client.get(link_path(alone), follow=True)
    assert page.status_code == 200
    assert alone.link_token not in page.content.decode()
    assert 'name="next" type="hidden" value="/a/"' in page.content.decode()


def test_a_tampered_token_gets_a_friendly_404(client: Client, alone: Administration) -> None:
    path = link_path(alone)
    position = len("/a/") + 5
    changed = "A" if path[position] != "A" else "B"
    tampered = path[:position] + changed + path[position + 1 :]
    page = client.get(tampered)
    assert page.status_code == 404
    assert "This link does not work" in page.content.decode()
    assert "ask your practitioner for a new one" in page.content.decode()
    alone.refresh_from_db()
    assert alone.opened_at is None


def test_a_signature_cut_short_gets_the_same_friendly_404(
    client: Client, alone: Administration
) -> None:
    page = client.get(link_path(alone)[:-4] + "/")
    assert page.status_code == 404
    assert "This link does not work" in page.content.decode()


def test_a_link_older_than_the_link_hours_gets_410(client: Client, alone: Administration) -> None:
    path = link_path(alone)
    later = time.time() + (settings.ALLY_LINK_HOURS + 1) * 3600
    with mock.patch("django.core.signing.time.time", return_value=later):
        page = client.get(path)
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    alone.refresh_from_db()
    assert alone.opened_at is None


def test_a_link_within_the_link_hours_still_works(client: Client, alone: Administration) -> None:
    path = link_path(alone)
    later = time.time() + (settings.ALLY_LINK_HOURS - 1) * 3600
    with mock.patch("django.core.signing.time.time", return_value=later):
        page = client.get(path)
    assert page.status_code == 302


def test_a_link_whose_administration_is_past_expires_at_gets_410(
    client: Client, practice: Practice
) -> None:
    old = do_create_administration(
        practice.own, "phq9", expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    page = client.get(link_path(old))
    assert page.status_code == 410
    assert "This questionnaire has closed" in page.content.decode()


def test_a_link_to_an_expired_administration_gets_410(
    client: Client, alone: Administration
) -> None:
    do_expire_administration(alone)
    page = client.get(link_path(alone))
    assert page.status_code == 410
    assert "This questionnaire has closed" in page.content.decode()


def test_a_used_link_gets_a_friendly_410(client: Client, alone: Administration) -> None:
    client.get(link_path(alone))
    submit(client, alone, PHQ9_MILD)
    page = Client().get(link_path(alone))
    assert page.status_code == 410
    assert "Already answered, thank you" in page.content.decode()
    assert Response.objects.filter(administration=alone).count() == 1


def test_without_a_link_the_client_is_told_to_use_theirs(client: Client, db: None) -> None:
    page = client.get(ANSWER)
    assert page.status_code == 200
    assert "Please use your link" in page.content.decode()
    assert '<form method="post" action="/a/" id="answers"' not in page.content.decode()


# Answering ---------------------------------------------------------------------------------------


def test_answering_phq9_stores_one_response_with_its_total(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    page = submit(client, alone, PHQ9_MILD)
    assert page.status_code == 302
    response = Response.objects.get(administration=alone)
    assert response.total == sum(PHQ9_MILD)
    assert response.answers == {str(n): v for n, v in enumerate(PHQ9_MILD, start=1)}
    assert response.entered_by is None
    alone.refresh_from_db()
    assert alone.status == AdministrationStatus.COMPLETED


def test_the_screen_shows_the_items_instructions_and_progress(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(before))
    page = client.get(ANSWER)
    html = page.content.decode()
    assert "Over the last 2 weeks" in html
    assert '<legend><span class="number">9.</span> Thoughts that you would be better off' in html
    assert html.count('type="radio"') == 9 * 4
    assert "Questionnaire 1 of 2" in html
    assert '<progress id="progress" max="2" value="1">' in html
    assert "Who sees your answers" in html
    assert "North Practice" in html


def test_the_alliance_check_in_follows_in_the_same_visit(
    client: Client, before: Administration, after: Administration
) -> None:
    page = client.get(link_path(before))
    page = submit(client, before, PHQ9_MILD)
    assert page["Location"] == ANSWER
    page = client.get(ANSWER)
    html = page.content.decode()
    assert page.context["administration"] == after
    assert "Ally alliance check-in" in html
    assert "Questionnaire 2 of 2" in html
    assert "Who sees your answers" not in html
    after.refresh_from_db()
    assert after.opened_at is not None  # presented now, on its own screen
    page = submit(client, after, ALLIANCE_MOSTLY)
    assert page["Location"] == reverse("respond:done")
    assert Response.objects.get(administration=after).total == sum(ALLIANCE_MOSTLY)


def test_the_visit_starts_with_the_questionnaire_before_the_session(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(after))
    assert client.get(ANSWER).context["administration"] == before


def test_the_visit_leaves_out_other_sessions_and_clinician_ratings(
    client: Client, practice: Practice, before: Administration, session: Session
) -> None:
    later = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=2, scheduled_at=timezone.now()
    )
    do_create_administration(practice.own, "ally-alliance", session=later, timing="after")
    do_create_administration(
        practice.own, "ally-alliance", session=session, timing="after", respondent="clinician"
    )
    client.get(link_path(before))
    page = client.get(ANSWER)
    assert page.context["total"] == 1


def test_a_double_tap_stores_one_response(client: Client, alone: Administration) -> None:
    client.get(link_path(alone))
    key = shown_key(client)
    first = client.post(ANSWER, form_data(alone, key, PHQ9_MILD))
    second = client.post(ANSWER, form_data(alone, key, PHQ9_MILD))
    assert first.status_code == second.status_code == 302
    assert Response.objects.filter(administration=alone).count() == 1
    assert client.get(second["Location"], follow=True).status_code == 200


def test_a_double_tap_within_a_visit_goes_on_to_the_next_questionnaire(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(before))
    key = shown_key(client)
    client.post(ANSWER, form_data(before, key, PHQ9_MILD))
    again = client.post(ANSWER, form_data(before, key, PHQ9_MILD))
    assert again["Location"] == ANSWER
    assert client.get(ANSWER).context["administration"] == after
    assert Response.objects.filter(administration=before).count() == 1


def test_a_page_sent_again_after_the_visit_ended_is_no_error(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    key = shown_key(client)
    client.post(ANSWER, form_data(alone, key, PHQ9_MILD))
    assert client.get(reverse("respond:done")).status_code == 200
    again = client.post(ANSWER, form_data(alone, key, PHQ9_MILD))
    assert again.status_code == 302
    assert again["Location"] == reverse("respond:done")
    page = client.get(again["Location"])
    assert "Thank you, your answers are saved" in page.content.decode()
    assert Response.objects.filter(administration=alone).count() == 1


def test_the_key_stays_the_same_when_the_form_is_shown_again(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    key = shown_key(client)
    page = client.post(ANSWER, form_data(alone, key, PHQ9_MILD[:8]))
    assert page.context["key"] == key
    assert shown_key(client) == key


def test_an_out_of_range_answer_is_named_and_nothing_is_stored(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    answers = list(PHQ9_MILD)
    answers[2] = 7
    page = submit(client, alone, answers)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'role="alert"' in html
    assert "Question 3: choose one of the answers shown." in html
    assert '<a href="#item_3-0">' in html
    assert 'aria-describedby="item_3-error"' in html
    assert not Response.objects.exists()


def test_missing_answers_are_named_and_the_given_ones_kept(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    answers: list[Any] = list(PHQ9_MILD)
    answers[1] = None
    answers[8] = None
    page = submit(client, alone, answers)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Question 2: choose an answer." in html
    assert "Question 9: choose an answer." in html
    assert "Question 1:" not in html
    assert 'id="item_1-1" name="item_1" value="1" checked' in html
    assert html.startswith("<!doctype html>")
    assert "<title>Error:" in html
    assert not Response.objects.exists()
    alone.refresh_from_db()
    assert alone.is_open


def test_an_answer_that_is_not_a_number_is_named(client: Client, alone: Administration) -> None:
    client.get(link_path(alone))
    answers: list[Any] = list(PHQ9_MILD)
    answers[4] = "lots"
    page = submit(client, alone, answers)
    assert "Question 5: write a number" in page.content.decode()
    assert not Response.objects.exists()


def test_a_scale_answer_takes_a_decimal_comma(client: Client, practice: Practice) -> None:
    ors = do_create_administration(practice.own, "ors")
    client.get(link_path(ors))
    page = client.get(ANSWER)
    assert 'inputmode="decimal"' in page.content.decode()
    submit(client, ors, ["5,5", "6", "7.5", "8"])
    assert Response.objects.get(administration=ors).total == 27.0


def test_a_questionnaire_that_closes_during_the_visit_takes_no_answers(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    key = shown_key(client)
    do_expire_administration(alone)
    page = client.post(ANSWER, form_data(alone, key, PHQ9_MILD))
    assert page.status_code == 410
    assert "This questionnaire has closed" in page.content.decode()
    assert not Response.objects.exists()


def test_a_key_used_for_another_questionnaire_is_not_taken_as_sent(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(before))
    key = shown_key(client)
    client.post(ANSWER, form_data(before, key, PHQ9_MILD))
    page = client.post(ANSWER, form_data(after, key, ALLIANCE_MOSTLY))
    assert page.status_code == 200
    assert "Your answers were not sent" in page.content.decode()
    assert not Response.objects.filter(administration=after).exists()
    assert submit(client, after, ALLIANCE_MOSTLY).status_code == 302
    assert Response.objects.filter(administration=after).count() == 1


# Save and resume ---------------------------------------------------------------------------------


def test_save_and_finish_later_keeps_the_answers_and_stores_nothing(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    key = shown_key(client)
    page = client.post(ANSWER, form_data(alone, key, [2, 3, None], action="save"))
    assert page["Location"] == reverse("respond:saved")
    assert "saved for later" in client.get(page["Location"]).content.decode()
    assert not Response.objects.exists()
    html = client.get(ANSWER).content.decode()
    assert 'id="item_1-2" name="item_1" value="2" checked' in html
    assert 'id="item_2-3" name="item_2" value="3" checked' in html
    assert "checked" not in html.split('name="item_3"')[1].split(">")[0]


def test_opening_the_link_again_restores_the_saved_answers(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    client.post(ANSWER, form_data(alone, shown_key(client), [2, 3], action="save"))
    assert client.get(link_path(alone))["Location"] == ANSWER
    html = client.get(ANSWER).content.decode()
    assert 'id="item_1-2" name="item_1" value="2" checked' in html


def test_another_link_in_the_same_browser_does_not_see_saved_answers(
    client: Client, practice: Practice, alone: Administration
) -> None:
    client.get(link_path(alone))
    client.post(ANSWER, form_data(alone, shown_key(client), [2, 3], action="save"))
    stranger = do_create_administration(practice.other, "phq9")
    client.get(link_path(stranger))
    page = client.get(ANSWER)
    assert page.context["administration"] == stranger
    assert "checked" not in page.content.decode()


# Finishing ---------------------------------------------------------------------------------------


def test_the_confirmation_ends_the_visit(client: Client, alone: Administration) -> None:
    client.get(link_path(alone))
    page = submit(client, alone, PHQ9_MILD)
    page = client.get(page["Location"])
    assert "Thank you, your answers are saved" in page.content.decode()
    # The device can be handed back: the next person gets no questionnaire.
    assert client.get(ANSWER)["Location"] == reverse("respond:done")
    assert client.get(reverse("respond:saved"))["Location"] == ANSWER


def test_an_endorsed_critical_item_shows_the_crisis_contacts_first(
    client: Client, practice: Practice, alone: Administration
) -> None:
    practice.org.crisis_contacts = "Crisis line: 0800 111 222\nText <SHOUT> to 85258"
    practice.org.save()
    client.get(link_path(alone))
    page = submit(client, alone, PHQ9_ITEM9)
    assert page["Location"] == reverse("respond:safety")
    assert client.get(reverse("respond:done"))["Location"] == reverse("respond:safety")
    page = client.get(reverse("respond:safety"))
    html = page.content.decode()
    assert "If you are thinking of harming yourself, please talk to someone now" in html
    # A phone number is a link a phone can call (a 5-digit text code is not); markup is text.
    assert (
        'Crisis line: <a href="tel:0800111222">0800 111 222</a><br>Text &lt;SHOUT&gt; to 85258'
    ) in html
    assert "Your practitioner has been told" in html
    alert = Alert.objects.get(episode=practice.own)
    assert (alert.kind, alert.item) == (AlertKind.CRITICAL_ITEM, 9)
    page = client.post(reverse("respond:safety"))
    assert page["Location"] == reverse("respond:done")
    assert "Thank you" in client.get(page["Location"]).content.decode()
    assert client.get(reverse("respond:safety"))["Location"] == ANSWER


def test_without_crisis_contacts_the_safety_page_gives_the_emergency_number(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    submit(client, alone, PHQ9_ITEM9)
    html = client.get(reverse("respond:safety")).content.decode()
    assert "call your local emergency number" in html


def test_the_safety_message_comes_before_the_next_questionnaire(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(before))
    page = submit(client, before, PHQ9_ITEM9)
    assert page["Location"] == reverse("respond:safety")
    assert client.get(ANSWER)["Location"] == reverse("respond:safety")
    page = client.post(reverse("respond:safety"))
    assert page["Location"] == ANSWER
    assert client.get(ANSWER).context["administration"] == after


def test_no_safety_page_without_a_critical_answer(client: Client, alone: Administration) -> None:
    client.get(link_path(alone))
    submit(client, alone, PHQ9_MILD)
    assert client.get(reverse("respond:safety"))["Location"] == ANSWER
    assert not Alert.objects.exists()


# Safety of the pages -----------------------------------------------------------------------------


def test_client_pages_are_not_cached(client: Client, alone: Administration) -> None:
    pages = [client.get(link_path(alone)), client.get(ANSWER)]
    pages.append(client.post(ANSWER, form_data(alone, pages[1].context["key"], PHQ9_MILD[:3])))
    pages.append(Client().get("/a/not-a-link/"))
    pages.append(Client().get(ANSWER))
    for page in pages:
        assert "no-store" in page["Cache-Control"]


def test_the_link_address_sends_no_referrer(client: Client, alone: Administration) -> None:
    pages = [Client().get("/a/not-a-link/"), client.get(link_path(alone))]
    submit(client, alone, PHQ9_MILD)
    pages.append(client.get(link_path(alone)))
    assert [page.status_code for page in pages] == [404, 302, 410]
    for page in pages:
        assert page["Referrer-Policy"] == "no-referrer"
    # No form on a page at the link's address: under no-referrer it would post `Origin: null`.
    assert "<form" not in pages[0].content.decode()


def test_pages_after_the_link_send_no_referrer_at_all(
    client: Client, alone: Administration
) -> None:
    client.get(link_path(alone))
    pages = [client.get(ANSWER), submit(client, alone, PHQ9_MILD), client.get("/a/done/")]
    for page in pages:
        assert page["Referrer-Policy"] == "no-referrer"


def test_another_episodes_administration_cannot_be_answered_by_its_id(
    client: Client, practice: Practice, alone: Administration
) -> None:
    theirs = do_create_administration(practice.other, "phq9")
    elsewhere = do_create_administration(practice.elsewhere, "phq9")
    client.get(link_path(alone))
    key = shown_key(client)
    for target in (theirs, elsewhere):
        page = client.post(ANSWER, form_data(target, key, PHQ9_MILD))
        assert page.status_code == 404
        assert "not open here" in page.content.decode()
    assert not Response.objects.filter(administration__in=[theirs, elsewhere]).exists()


def test_a_stored_key_does_not_open_another_administration_after_the_visit(
    client: Client, practice: Practice, alone: Administration
) -> None:
    theirs = do_create_administration(practice.other, "phq9")
    stored = do_record_response(theirs, PHQ9_MILD, idempotency_key="their-key")
    page = client.post(ANSWER, form_data(alone, stored.idempotency_key, PHQ9_MILD))
    assert page.status_code == 404


def test_client_pages_show_no_staff_navigation(client: Client, alone: Administration) -> None:
    html = client.get(link_path(alone), follow=True).content.decode()
    assert "<nav" not in html
    assert 'class="client"' in html


def test_the_page_language_and_the_measure_language_are_marked(
    client: Client, practice: Practice
) -> None:
    core10 = do_create_administration(practice.own, "core10")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    client.get(link_path(core10))
    html = client.get(ANSWER).content.decode()
    assert '<html lang="de">' in html
    # CORE-10 ships in English only, so its text says so.
    assert '<div class="measure" lang="en">' in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(ANSWER).content.decode()
    assert '<div class="measure">' in html


def test_the_licence_attribution_is_shown(client: Client, practice: Practice) -> None:
    core10 = do_create_administration(practice.own, "core10")
    client.get(link_path(core10))
    assert "© CORE System Trust" in client.get(ANSWER).content.decode()


def test_a_link_only_opens_with_get(client: Client, alone: Administration) -> None:
    assert client.post(link_path(alone)).status_code == 405
    assert client.post(reverse("respond:done")).status_code == 405
    alone.refresh_from_db()
    assert alone.opened_at is None


def test_opening_the_link_again_still_shows_an_unseen_safety_message(
    client: Client, before: Administration, after: Administration
) -> None:
    client.get(link_path(before))
    submit(client, before, PHQ9_ITEM9)
    client.get(link_path(after))
    assert client.get(ANSWER)["Location"] == reverse("respond:safety")


def test_an_after_session_form_opens_only_once_its_session_has_started(
    client: Client, practice: Practice
) -> None:
    from ally.web.actions.answers import do_create_administration, do_mark_sent
    from ally.web.collect.errors import AdministrationClosedError
    from ally.web.collect.models.choices import Timing
    from ally.web.practice.models import Session
    from ally.web.respond.links import link_url

    later = timezone.now() + dt.timedelta(days=3)
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=later
    )
    check_in = do_create_administration(
        practice.own, "ally-alliance", session=session, timing=Timing.AFTER
    )
    do_mark_sent(check_in)  # its link may go out ahead
    page = client.get(link_url(check_in))
    assert page.status_code == 409
    assert "opens after your session" in page.content.decode()
    with pytest.raises(AdministrationClosedError, match="opens when the session starts"):
        do_record_response(check_in, [3] * 7, idempotency_key="early")
    # Once the session has started, the same link works.
    Session.objects.filter(pk=session.pk).update(scheduled_at=timezone.now())
    assert client.get(link_url(check_in)).status_code == 302


def test_the_done_page_says_questions_about_the_session_follow_after_it(
    client: Client, practice: Practice
) -> None:
    from ally.web.collect.models.choices import Timing
    from ally.web.practice.models import Session

    session = Session.objects.create(
        organisation=practice.org,
        episode=practice.own,
        number=1,
        scheduled_at=timezone.now() + dt.timedelta(hours=1),
    )
    before = do_create_administration(practice.own, "phq9", session=session, timing=Timing.BEFORE)
    do_create_administration(practice.own, "ally-alliance", session=session, timing=Timing.AFTER)
    client.get(link_path(before))
    assert submit(client, before, [0] * 9)["Location"] == reverse("respond:done")
    page = client.get(reverse("respond:done")).content.decode()
    assert "After your session you will be asked a few questions about it." in page
    assert "nothing more to do now" in page
