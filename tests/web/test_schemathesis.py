"""Schemathesis against the API's own OpenAPI spec: requests generated for every operation,
sent in-process to the WSGI app as a signed-in clinician of a practice with data, get no server
error, only status codes the spec declares for the operation, and bodies (data or errors) that
match the spec.

The run is bounded and derandomized, so CI sees the same requests each time.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.practice.models import Group, GroupMember

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

OPERATIONS = 17
"""The operations of the spec; a new one must be added here, so that it is known to be run."""
REFUSED_TO_CLINICIANS = {"GET /api/o/{org}/research-export"}
"""Operations the run's clinician may not use (their success is tested with a researcher and a
token in test_research_export.py); here they must refuse (403, or 404 for a practice not theirs
and 422 for a malformed request), never succeed, and answer as the spec says."""


@pytest.fixture
def in_one_transaction() -> Iterator[None]:
    """Keep the test's database transaction open across the generated requests.

    Django's handler closes the connection after each request, which would end the test's
    transaction; Django's own test client turns this off in the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def known(practice: Practice, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Rows of the practice a generated request may name: one of each kind the API takes."""
    open_form = do_create_administration(practice.own, "phq9")
    answered = do_create_administration(practice.own, "phq9")
    do_record_response(answered, PHQ9_ITEM9, idempotency_key="schemathesis-alert")
    shared = do_create_administration(practice.shared, "phq9")
    do_record_response(shared, PHQ9_MILD, idempotency_key="schemathesis-shared")
    group = Group.objects.create(organisation=practice.org, label="Tuesday group")
    group.leaders.add(practice.clinician)
    GroupMember.objects.create(group=group, episode=practice.own, joined_on=practice.own.opened_on)
    return {
        "org": practice.org.slug,
        "group_id": group.pk,
        "episode_id": practice.own.pk,
        "administration_id": open_form.pk,
        "alert_id": Alert.objects.get(episode=practice.own).pk,
    }


@pytest.fixture
def api_schema(known: dict[str, Any], in_one_transaction: None) -> Any:
    """The spec as the app serves it, with path keys aimed at the practice's rows half the time
    (generated keys alone almost never name a row, so success would go untested)."""
    application = importlib.import_module("ally.web.wsgi").application
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)

    @schema.hook("flatmap_path_parameters")
    def aim(context: Any, path_parameters: dict[str, Any]) -> Any:
        aimed = {name: known.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([aimed, path_parameters])

    return schema


@pytest.fixture
def credentials(practice: Practice) -> dict[str, dict[str, str]]:
    """The clinician's session cookie and a CSRF token, as their signed-in browser sends them."""
    browser = Client()
    sign_in(browser, practice.clinician.user)
    token = _get_new_csrf_string()
    cookies = {name: morsel.value for name, morsel in browser.cookies.items()}
    cookies[settings.CSRF_COOKIE_NAME] = token
    return {"cookies": cookies, "headers": {"X-CSRFToken": token}}


@pytest.fixture
def answered() -> Iterator[dict[str, set[int]]]:
    """The status codes each operation answered; after the run, each must include a success,
    or the run tested only refusals."""
    statuses: dict[str, set[int]] = defaultdict(set)
    yield statuses
    assert len(statuses) == OPERATIONS, sorted(statuses)
    for operation, codes in statuses.items():
        if operation in REFUSED_TO_CLINICIANS:
            assert 403 in codes, f"{operation} never refused the clinician: {codes}"
            assert not any(200 <= code < 300 for code in codes), f"{operation} let them: {codes}"
            continue
        assert any(200 <= code < 300 for code in codes), f"{operation} never succeeded: {codes}"


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_spec_says(
    case: Any, credentials: dict[str, dict[str, str]], answered: dict[str, set[int]]
) -> None:
    response = case.call_and_validate(
        headers=credentials["headers"], cookies=credentials["cookies"], checks=CHECKS
    )
    answered[case.operation.label].add(response.status_code)
