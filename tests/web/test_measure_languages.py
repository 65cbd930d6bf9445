"""A client reads a questionnaire in their own language where its published translation ships
(PHQ-9 and GAD-7 in the German PHQ-D), and in English otherwise (CORE-10); the language never
changes the score or the risk check."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse
from web_practice import PHQ9_ITEM9, Practice

from ally.measures import load_library
from ally.web.actions.answers import do_create_administration
from ally.web.alerts.models import Alert, AlertKind
from ally.web.collect.models import Administration, Response
from ally.web.respond.links import signed_token

ANSWER = "/a/"

# PHQ-D (Löwe, Spitzer, Zipfel & Herzog 2002) as shipped by the German Medical Informatics
# Initiative: kerndatensatzmodul-proms, input/fsh/definitions/phq-9/mii-qst-pro-phq-9.fsh.
PHQ9_ITEM9_DE = "Gedanken, dass Sie lieber tot wären oder sich Leid zufügen möchten"
PHQ9_ANSWERS_DE = (
    "Überhaupt nicht",
    "An einzelnen Tagen",
    "An mehr als der Hälfte der Tage",
    "Beinahe jeden Tag",
)


def client_in(language: str) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def open_form(client: Client, administration: Administration) -> str:
    """Open the client's link and return the questionnaire page it leads to."""
    page = client.get(
        reverse("respond:open", kwargs={"signed": signed_token(administration)}), follow=True
    )
    assert page.status_code == 200
    return page.content.decode()


def answer(client: Client, administration: Administration, answers: list[Any]) -> Response:
    key = client.get(ANSWER).context["key"]
    data = {"administration": str(administration.pk), "key": key, "action": "submit"}
    data |= {f"item_{number}": str(value) for number, value in enumerate(answers, start=1)}
    assert client.post(ANSWER, data).status_code == 302
    return Response.objects.get(administration=administration)


def test_a_german_client_reads_phq9_in_the_published_german_wording(
    phq9: Administration,
) -> None:
    html = open_form(client_in("de"), phq9)
    assert '<html lang="de">' in html
    # The questionnaire is in the page's language, so it needs no lang attribute of its own.
    assert '<div class="measure">' in html
    assert PHQ9_ITEM9_DE in html
    for label in PHQ9_ANSWERS_DE:
        assert f">{label}</label>" in html
    assert "Wie oft fühlten Sie sich im Verlauf der letzten 2 Wochen" in html
    for item in load_library().get("phq9").items:
        assert item.text["en"] not in html
    assert "Several days" not in html


def test_an_english_client_still_reads_phq9_in_english(phq9: Administration) -> None:
    html = open_form(client_in("en"), phq9)
    assert '<html lang="en">' in html
    assert "Thoughts that you would be better off dead" in html
    assert ">Several days</label>" in html
    assert PHQ9_ITEM9_DE not in html


def test_a_german_answer_scores_and_raises_the_risk_check_as_the_english_one_does(
    practice: Practice, phq9: Administration
) -> None:
    english = do_create_administration(practice.other, "phq9")
    german_client = client_in("de")
    open_form(german_client, phq9)
    german = answer(german_client, phq9, PHQ9_ITEM9)
    english_client = client_in("en")
    open_form(english_client, english)
    in_english = answer(english_client, english, PHQ9_ITEM9)
    assert german.total == in_english.total == sum(PHQ9_ITEM9)
    assert german.answers == in_english.answers
    assert german.critical is in_english.critical is True
    alerts = Alert.objects.filter(kind=AlertKind.CRITICAL_ITEM, item=9)
    assert {a.episode_id for a in alerts} == {practice.own.pk, practice.other.pk}


def test_a_german_client_reads_gad7_in_german_and_it_scores_as_in_english(
    practice: Practice,
) -> None:
    gad7 = do_create_administration(practice.own, "gad7")
    client = client_in("de")
    html = open_form(client, gad7)
    assert '<div class="measure">' in html
    for item in load_library().get("gad7").items:
        assert item.text["de"] in html
        assert item.text["en"] not in html
    assert ">Beinahe jeden Tag</label>" in html
    assert answer(client, gad7, [3, 2, 1, 0, 1, 2, 3]).total == 12


def test_core10_has_no_published_german_text_here_so_a_german_client_reads_english(
    practice: Practice,
) -> None:
    core10 = do_create_administration(practice.own, "core10")
    measure = load_library().get("core10")
    assert measure.languages == ("en",)
    html = open_form(client_in("de"), core10)
    assert '<html lang="de">' in html
    # The page is German, the questionnaire English, and each says so.
    assert '<div class="measure" lang="en">' in html
    assert measure.item(6).text["en"] in html
    assert "Meine Antworten senden" in html
