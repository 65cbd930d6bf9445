"""The keys of `answers` are item numbers in plain ASCII digits: any other key ("²", "①", "+1")
is a 422 that names it, never a 500; and a caller who is no member of the practice gets its
404 before Ally reads their body at all (issue 19, finding 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_practice import PHQ9_MILD, Practice, sign_in

from ally.web.collect.models import Administration, Response

MILD = {str(number): answer for number, answer in enumerate(PHQ9_MILD, start=1)}


def post(client: Client, administration: Administration, body: Any, key: str = "key-1") -> Any:
    return client.post(
        f"/api/o/north/administrations/{administration.pk}/responses",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


@pytest.fixture
def signed_in(client: Client, practice: Practice) -> Client:
    sign_in(client, practice.clinician.user)
    return client


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("²", '"²"'),  # superscript two: str.isdigit() says yes, int() says no
        ("①", '"①"'),  # circled one, likewise
        ("١", '"١"'),  # Arabic-Indic one, which int() would read as 1
        ("９", '"９"'),  # full-width nine
        ("+1", '"+1"'),
        (" 1", '" 1"'),
        ("1_0", '"1_0"'),
        ("1.0", '"1.0"'),
        ("", '""'),
        ("\u202e9", '"\\u202e9"'),  # a direction control, shown escaped
        pytest.param("9" * 5000, '"' + "9" * 20 + '..."', id="5000-digits"),
    ],
)
def test_an_answer_key_that_is_not_plain_digits_is_a_422_naming_it(
    signed_in: Client, phq9: Administration, key: str, shown: str
) -> None:
    reply = post(signed_in, phq9, {"answers": {**MILD, key: 1}})
    assert reply.status_code == 422
    (problem,) = reply.json()["errors"]
    assert problem["item"] is None
    assert problem["message"].startswith(f"answers: the key {shown} is not an item number")
    assert not Response.objects.exists()


def test_plain_digit_keys_still_name_their_items(signed_in: Client, phq9: Administration) -> None:
    reply = post(signed_in, phq9, {"answers": {**MILD, "3": 7}})
    assert reply.status_code == 422
    (problem,) = reply.json()["errors"]
    assert problem["item"] == 3
    assert post(signed_in, phq9, {"answers": MILD}, key="key-2").status_code == 201


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=st.text(max_size=6).filter(lambda key: not key.isascii() or not key.isdigit()))
def test_no_answer_key_gives_a_server_error(
    signed_in: Client, phq9: Administration, key: str
) -> None:
    reply = post(signed_in, phq9, {"answers": {**MILD, key: 1}})
    assert reply.status_code == 422, reply.content
    assert "is not an item number" in reply.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"answers": {"²": 1}}, id="superscript-key"),
        pytest.param('{"answers": {"1": 1,', id="cut-off-json"),
        pytest.param({"answer": MILD}, id="no-answers-field"),
        pytest.param({"answers": MILD}, id="good-answers"),
    ],
)
def test_a_member_of_another_practice_gets_404_whatever_the_body(
    client: Client, practice: Practice, phq9: Administration, body: Any
) -> None:
    sign_in(client, practice.outsider.user)
    reply = post(client, phq9, body)
    assert (reply.status_code, reply.json()) == (404, {"detail": "Not found.", "errors": []})
    assert not Response.objects.exists()


def test_a_practice_the_caller_is_no_member_of_is_404_before_the_body_is_read(
    client: Client, practice: Practice, phq9: Administration
) -> None:
    sign_in(client, practice.clinician.user)
    for org in ("south", "nowhere"):
        reply = client.post(
            f"/api/o/{org}/administrations/{phq9.pk}/responses",
            data=json.dumps({"answers": {"²": 1}}),
            content_type="application/json",
            headers={"Idempotency-Key": "k"},
        )
        assert reply.status_code == 404, org
