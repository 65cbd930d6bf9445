"""`ally serve` says how to answer on a phone: which addresses a phone on the same network opens
when Ally listens on all of them, or how to make it listen there; and a client's link, made in
a request under `ally serve`, starts with the address that request reached Ally at."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from ally.cli.serve import network_addresses, on_your_phone


def test_listening_on_this_machine_only_says_how_to_listen_on_the_network() -> None:
    said = on_your_phone("127.0.0.1", 8000, [])
    assert "ally serve --host 0.0.0.0 --port 8000" in said
    assert "network you trust" in said


def test_listening_on_every_address_names_each_for_a_phone() -> None:
    said = on_your_phone("0.0.0.0", 8001, ["192.168.1.20", "10.0.0.5"])
    assert "http://192.168.1.20:8001/" in said
    assert "http://10.0.0.5:8001/" in said


def test_network_addresses_are_never_loopback() -> None:
    assert all(not a.startswith("127.") for a in network_addresses())


def test_a_link_starts_with_the_address_the_request_reached_ally_at(settings: object) -> None:
    from ally.web.respond.links import base_url

    settings.LOCAL_HTTP = True  # type: ignore[attr-defined]
    settings.ALLOWED_HOSTS = ["localhost", "192.168.1.20"]  # type: ignore[attr-defined]
    settings.ALLY_BASE_URL = "http://localhost:8000"  # type: ignore[attr-defined]
    request = RequestFactory().get("/", HTTP_HOST="192.168.1.20:8000")
    assert base_url(request) == "http://192.168.1.20:8000"
    # Any other Host is refused by Django before it can become a link.
    from django.core.exceptions import DisallowedHost

    with pytest.raises(DisallowedHost):
        base_url(RequestFactory().get("/", HTTP_HOST="evil.example"))
    # Behind HTTPS in production, links keep the configured address.
    settings.LOCAL_HTTP = False  # type: ignore[attr-defined]
    assert base_url(request) == "http://localhost:8000"
