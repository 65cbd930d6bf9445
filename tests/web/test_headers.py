"""Browser rules on every answer: a strict Content-Security-Policy, no framing, no sniffing,
nothing stored in a cache, and no referrer from a client's pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as Browser
from django.urls import reverse
from web_practice import Practice, sign_in

from ally.web.collect.models import Administration
from ally.web.respond.links import link_url


def _staff(practice: Practice) -> Browser:
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    return browser


def _pages(practice: Practice, phq9: Administration) -> dict[str, object]:
    staff = _staff(practice)
    client = Browser()
    opened = client.get(link_url(phq9).removeprefix("http://localhost:8000"))
    return {
        "sign-in": Browser().get(reverse("login")),
        "caseload": staff.get(reverse("clinic:caseload", kwargs={"org": "north"})),
        "client page": staff.get(
            reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk})
        ),
        "api": staff.get(f"/api/o/north/episodes/{practice.own.pk}"),
        "api error": staff.get("/api/o/north/episodes/999999"),
        "client link": opened,
        "client form": client.get(reverse("respond:answer")),
    }


def test_every_answer_carries_a_strict_content_security_policy(
    practice: Practice, phq9: Administration
) -> None:
    for name, response in _pages(practice, phq9).items():
        policy = response["Content-Security-Policy"]
        directives = dict(
            ([*part.split(" ", 1), ""])[:2] for part in policy.split("; ") if part.strip()
        )
        assert directives["default-src"] == "'none'", name
        assert directives["script-src"] == "'self'", name
        assert directives["style-src"] == "'self'", name
        assert directives["frame-ancestors"] == "'none'", name
        assert "unsafe-inline" not in policy, name
        assert "unsafe-eval" not in policy, name


def test_no_page_can_be_framed_or_sniffed(practice: Practice, phq9: Administration) -> None:
    for name, response in _pages(practice, phq9).items():
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name


def test_nothing_with_client_data_is_stored_by_a_cache(
    practice: Practice, phq9: Administration
) -> None:
    for name, response in _pages(practice, phq9).items():
        assert "no-store" in response["Cache-Control"], name
        assert "private" in response["Cache-Control"], name


def test_static_files_stay_cacheable(practice: Practice) -> None:
    response = Browser().get("/static/ally/base.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_a_clients_pages_send_no_referrer(practice: Practice, phq9: Administration) -> None:
    pages = _pages(practice, phq9)
    for name in ("client link", "client form"):
        assert pages[name]["Referrer-Policy"] == "no-referrer", name


@pytest.mark.parametrize("url", ["/", "/accounts/login/"])
def test_pages_hold_no_inline_script_or_style(url: str, practice: Practice) -> None:
    text = Browser().get(url, follow=True).content.decode()
    assert "<script>" not in text
    assert "<style" not in text
    assert " style=" not in text


def _csrf_token(page: Any) -> str:
    """The CSRF token in a page's form, as a browser would send it back."""
    text = page.content.decode()
    return text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]


def _client_with_form(phq9: Administration) -> tuple[Browser, str]:
    """A client's browser (checking CSRF like a real one) on the form page, and its token."""
    client = Browser(enforce_csrf_checks=True)
    client.get(link_url(phq9).removeprefix("http://localhost:8000"))
    return client, _csrf_token(client.get(reverse("respond:answer")))


def test_a_clients_answers_posted_with_origin_null_are_taken(
    practice: Practice, phq9: Administration
) -> None:
    """Under no-referrer, browsers post a page's own form with `Origin: null`."""
    client, token = _client_with_form(phq9)
    posted = {"csrfmiddlewaretoken": token, "administration": phq9.pk, "action": "save"}
    response = client.post(reverse("respond:answer"), posted, headers={"Origin": "null"})
    assert response.status_code == 302


def test_a_clients_post_without_the_token_is_still_refused(
    practice: Practice, phq9: Administration
) -> None:
    client, _ = _client_with_form(phq9)
    posted = {"administration": phq9.pk, "action": "save"}
    response = client.post(reverse("respond:answer"), posted, headers={"Origin": "null"})
    assert response.status_code == 403


def test_a_staff_form_posted_with_origin_null_is_refused(practice: Practice) -> None:
    staff = Browser(enforce_csrf_checks=True)
    sign_in(staff, practice.clinician.user)
    token = _csrf_token(staff.get(reverse("clinic:client_new", kwargs={"org": "north"})))
    response = staff.post(
        reverse("clinic:client_new", kwargs={"org": "north"}),
        {"csrfmiddlewaretoken": token, "code": "N-099"},
        headers={"Origin": "null"},
    )
    assert response.status_code == 403
