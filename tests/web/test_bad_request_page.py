"""A form post Ally cannot read (too many fields, too large) gets a page that says so."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse


def test_a_post_with_too_many_fields_gets_a_plain_explanation(db: None) -> None:
    fields = {f"f{n}": "x" for n in range(1200)}  # Django reads at most 1000
    response = Browser().post(reverse("login"), fields)
    assert response.status_code == 400
    text = response.content.decode()
    assert "could not read what was sent" in text
    assert "Nothing was stored" in text
