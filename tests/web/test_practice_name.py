"""A practice's name is one line of plain text, refused with a message where it is typed; and the
email that carries a client's link has a one-line subject whatever name is stored (issue 19,
finding 8a)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.actions.answers import do_create_administration
from ally.web.practice.models import Organisation


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("North\nPractice", "line break"),
        ("North\r\nPractice", "line break"),
        ("North\tPractice", "line break or a tab"),
        ("North\x00Practice", "control character (U+0000)"),
        ("North \u202ePractice", "changes the direction"),
        ("North\u200bPractice", "invisible character (U+200B)"),
        ("  ", "Give the practice a name"),
    ],
)
def test_a_name_with_a_line_break_or_a_hidden_character_is_refused_saying_which(
    db: None, name: str, says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Organisation.objects.create(name=name, slug="riverside")
    (message,) = refused.value.message_dict["name"]
    assert says in message
    assert not Organisation.objects.exists()


def test_a_plain_name_is_stored_in_nfc_and_trimmed(db: None) -> None:
    organisation = Organisation.objects.create(name=" Praxis Mu\u0308ller ", slug="mueller")
    organisation.refresh_from_db()
    assert organisation.name == "Praxis M\u00fcller"


@pytest.fixture
def email(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_send_link_by_email_works_for_a_practice_whose_stored_name_has_a_line_break(
    practice: Practice, email: None
) -> None:
    # Stored before names were checked, or written around the model.
    Organisation.objects.filter(pk=practice.org.pk).update(name="North\nPractice\r\n  East")
    administration = do_create_administration(practice.own, "phq9")
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    url = reverse("clinic:form_send", kwargs={"org": "north", "pk": administration.pk})
    reply = browser.post(url)
    assert reply.status_code in (200, 302)
    (sent,) = mail.outbox
    assert sent.subject == "A short questionnaire from North Practice East"
