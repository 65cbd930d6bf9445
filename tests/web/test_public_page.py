"""Every practice has a public page: its name, what it offers, the members who chose to be on
it with their profiles, and how it uses feedback and protects data; the client's pages link to
it, so that the client knows who is asking."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse
from signing_in import sign_in
from web_practice import Practice

from ally.web.actions.answers import do_create_administration
from ally.web.respond.links import signed_token


def test_administrators_write_the_page_and_members_choose_to_be_on_it(
    practice: Practice,
) -> None:
    admin = Browser()
    sign_in(admin, practice.admin.user)
    admin.post(
        "/o/north/profile/",
        {"offers": "Counselling for adults, in person and online.", "feedback_and_data": ""},
    )
    clinician = Browser()
    sign_in(clinician, practice.clinician.user)
    clinician.post(
        "/o/north/profile/me/",
        {"profile": "I work with anxiety and low mood.", "on_public_page": "on"},
    )
    page = Browser().get("/p/north/").content.decode()
    assert "Counselling for adults, in person and online." in page
    assert "I work with anxiety and low mood." in page
    assert practice.clinician.user.email in page
    # The colleague did not choose to be on it; nor did anyone of another practice.
    assert practice.colleague.user.email not in page
    assert practice.outsider.user.email not in page
    # No word of clients.
    assert practice.own.client.code not in page
    assert "How we use your feedback and protect your data" in page


def test_only_administrators_edit_the_practices_text(practice: Practice) -> None:
    clinician = Browser()
    sign_in(clinician, practice.clinician.user)
    assert clinician.post("/o/north/profile/", {"offers": "x"}).status_code == 403
    assert Browser().get("/p/nowhere/").status_code == 404


def test_the_clients_pages_link_to_the_public_page(client: Browser, practice: Practice) -> None:
    form = do_create_administration(practice.own, "phq9")
    client.get(reverse("respond:open", kwargs={"signed": signed_token(form)}))
    page = client.get("/a/").content.decode()
    assert 'href="/p/north/"' in page
    assert "Who is asking: about North Practice" in page
