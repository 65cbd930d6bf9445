"""German: the interface follows the browser's language; a measure's text is German only where
the measure ships German text, and English otherwise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation
from web_practice import Practice

from ally.measures import load_library
from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Administration
from ally.web.respond.links import send_link_by_email, signed_token

CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "de" / "LC_MESSAGES" / "django.po"


def german_client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="de")


def open_link(client: Client, administration: Administration) -> str:
    """Open the client's link and return the questionnaire page it leads to."""
    page = client.get(
        reverse("respond:open", kwargs={"signed": signed_token(administration)}), follow=True
    )
    assert page.status_code == 200
    return page.content.decode()


def catalogue_entries() -> list[tuple[dict[str, str], list[str]]]:
    """The entries of the German .po file as (fields, flags); the header is the first."""
    entries = []
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        flags: list[str] = []
        key = ""
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#"):
                continue  # references, translator comments and obsolete (#~) entries
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            else:
                key, _, value = line.partition(" ")
                fields[key] = ast.literal_eval(value)
        if fields:
            entries.append((fields, flags))
    return entries


@pytest.fixture
def alliance(practice: Practice) -> Administration:
    return do_create_administration(practice.own, "ally-alliance")


# The interface ----------------------------------------------------------------------------------


def test_the_sign_in_page_is_german_when_the_browser_asks_for_german(db: None) -> None:
    html = german_client().get(reverse("login")).content.decode()
    assert '<html lang="de">' in html
    assert "Bei Ally anmelden" in html
    assert "Passwort" in html
    assert "Sign in to Ally" not in html


def test_the_link_email_is_german_when_german_is_active(
    practice: Practice, alliance: Administration
) -> None:
    with translation.override("de"):
        send_link_by_email(alliance, practice.clinician)
    [email] = mail.outbox
    assert email.subject == "Ein kurzer Fragebogen von North Practice"
    assert "Der Link lässt sich öffnen, bis der Fragebogen beantwortet ist" in email.body


# A measure's text -------------------------------------------------------------------------------


def test_a_client_sees_the_alliance_check_in_in_german(alliance: Administration) -> None:
    measure = load_library().get("ally-alliance")
    html = open_link(german_client(), alliance)
    assert '<html lang="de">' in html
    assert "Wer Ihre Antworten sieht" in html
    assert "Meine Antworten senden" in html
    # The measure's text is in the page's language, so it needs no lang attribute of its own.
    assert '<div class="measure">' in html
    for item in measure.items:
        assert item.text["de"] in html
        assert item.text["en"] not in html
    assert "Überhaupt nicht" in html
    assert "Denken Sie an die heutige Sitzung." in html


def test_a_measure_without_german_text_falls_back_to_english_inside_a_german_page(
    practice: Practice,
) -> None:
    # CORE-10 has no approved German text Ally may ship (core10.yaml says why).
    measure = load_library().get("core10")
    assert "de" not in measure.languages
    html = open_link(german_client(), do_create_administration(practice.own, "core10"))
    assert '<html lang="de">' in html
    assert "Meine Antworten senden" in html
    assert '<div class="measure" lang="en">' in html
    assert measure.item(1).text["en"] in html
    assert "Only occasionally" in html


# The catalogue ----------------------------------------------------------------------------------


def test_every_message_of_the_german_catalogue_is_translated() -> None:
    header, *entries = catalogue_entries()
    assert "Language: de\n" in header[0]["msgstr"]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in header[0]["msgstr"]
    assert entries
    untranslated = [
        fields["msgid"]
        for fields, _ in entries
        if not all(value for key, value in fields.items() if key.startswith("msgstr"))
    ]
    assert untranslated == []
    fuzzy = [fields["msgid"] for fields, flags in [header, *entries] if "fuzzy" in flags]
    assert fuzzy == []


def test_the_compiled_german_catalogue_matches_the_po_file() -> None:
    """A .po edited without `django-admin compilemessages` leaves the .mo behind."""
    stale = []
    with translation.override("de"):
        for fields, _ in catalogue_entries()[1:]:
            if "msgid_plural" in fields:
                found = [
                    translation.ngettext(fields["msgid"], fields["msgid_plural"], n) for n in (1, 2)
                ]
                wanted = [fields["msgstr[0]"], fields["msgstr[1]"]]
            elif "msgctxt" in fields:
                found = [translation.pgettext(fields["msgctxt"], fields["msgid"])]
                wanted = [fields["msgstr"]]
            else:
                found = [translation.gettext(fields["msgid"])]
                wanted = [fields["msgstr"]]
            if found != wanted:
                stale.append(fields["msgid"])
    assert stale == []
