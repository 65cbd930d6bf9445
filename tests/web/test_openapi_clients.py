"""The published spec is valid OpenAPI 3.1, names the token scheme, and a client generated from
it by openapi-python-client reads feedback and records answers against a running server."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_tokens import register
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate
from web_practice import PHQ9_MILD, Practice, build_practice

from ally.web.actions.answers import do_create_administration
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Response
from ally.web.practice.models import Session
from ally.web.scoping import ApiScope


def _spec(client: Client) -> dict[str, Any]:
    reply = client.get("/api/openapi.json")
    assert reply.status_code == 200
    return dict(json.loads(reply.content))


def test_the_served_spec_is_valid_openapi(client: Client) -> None:
    # The Idempotency-Key's example was once a list under `examples`, which 3.1 refuses.
    validate(_spec(client))


def test_the_spec_documents_the_client_credentials_scheme_and_its_scopes(
    client: Client,
) -> None:
    spec = _spec(client)
    scheme = spec["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    flow = scheme["flows"]["clientCredentials"]
    assert (scheme["type"], flow["tokenUrl"]) == ("oauth2", "/oauth/token/")
    assert set(flow["scopes"]) == set(ApiScope.values)
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert {"OAuth2ClientCredentials": []} in operation["security"], (method, path)
            assert {"SessionAuth": []} in operation["security"], (method, path)


@pytest.fixture
def live_server(transactional_db: None, settings: Any) -> Iterator[Any]:
    """A live server of this test's own (as in test_journey), speaking plain HTTP."""
    from pytest_django.live_server_helper import LiveServer

    settings.SECURE_SSL_REDIRECT = False
    server = LiveServer("localhost:0")
    yield server
    server.stop()


def _generate(spec_url: str, into: Path) -> None:
    """openapi-python-client, offline (no formatter hooks), refusing on any warning."""
    generator = shutil.which("openapi-python-client") or str(
        Path(sys.executable).with_name("openapi-python-client")
    )
    if not Path(generator).exists():
        pytest.skip("openapi-python-client is not installed (pip install -e '.[dev]')")
    spec = into / "spec.json"
    import httpx

    spec.write_bytes(httpx.get(spec_url, timeout=10).content)
    config = into / "config.yaml"
    # The research export answers a ZIP, which the generator reads as plain bytes.
    config.write_text(
        "post_hooks: []\ncontent_type_overrides:\n  application/zip: application/octet-stream\n"
    )
    subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(into / "ally_api_client"),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_generated_client_reads_feedback_and_records_answers_with_a_token(
    live_server: Any, tmp_path: Path
) -> None:
    import httpx

    practice: Practice = build_practice()
    registered = register(practice.admin, ["episodes:read", "responses:write"])
    session = Session.objects.create(
        organisation=practice.org, episode=practice.own, number=1, scheduled_at=timezone.now()
    )
    administration = do_create_administration(practice.own, "phq9", session=session)
    _generate(f"{live_server.url}/api/openapi.json", tmp_path)
    token_reply = httpx.post(
        f"{live_server.url}/oauth/token/",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.client_secret),
        timeout=10,
    )
    assert token_reply.status_code == 200, token_reply.text
    token = token_reply.json()["access_token"]

    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module("ally_api_client")
        feedback = importlib.import_module("ally_api_client.api.feedback.get_episode_feedback")
        record = importlib.import_module("ally_api_client.api.responses.record_response")
        models = importlib.import_module("ally_api_client.models")
        api = package.AuthenticatedClient(base_url=live_server.url, token=token, timeout=10)
        with api:
            before = feedback.sync(org="north", episode_id=practice.own.pk, client=api)
            assert isinstance(before, models.FeedbackOut)
            assert (before.episode_id, before.sessions) == (practice.own.pk, [])
            answers = models.ResponseInAnswers.from_dict(
                {str(i): a for i, a in enumerate(PHQ9_MILD, start=1)}
            )
            stored = record.sync_detailed(
                org="north",
                administration_id=administration.pk,
                client=api,
                body=models.ResponseIn(answers=answers),
                idempotency_key="generated-client-1",
            )
            assert stored.status_code == 201, stored.content
            assert isinstance(stored.parsed, models.ResponseOut)
            assert stored.parsed.total == sum(PHQ9_MILD)
            after = feedback.sync(org="north", episode_id=practice.own.pk, client=api)
            [row] = after.sessions
            assert (row.measure_id, row.session_number, row.score) == ("phq9", 1, sum(PHQ9_MILD))
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("ally_api_client")]:
            del sys.modules[name]
    assert Response.objects.get().administration_id == administration.pk
    recorded = AuditEntry.objects.get(action="response.recorded")
    assert recorded.api_client_id == registered.client.pk
