"""The JSON API: who may call what, the one error shape, CSRF, and the OpenAPI spec."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration, Response
from ally.web.practice.models import Group, GroupMember, Membership


def _alert_on_own(practice: Practice) -> Alert:
    administration = do_create_administration(practice.own, "phq9")
    response = do_record_response(administration, PHQ9_ITEM9, idempotency_key="alert-source")
    return Alert.objects.get(response=response)


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


def _episodes(p: Practice) -> Call:
    return Call("get", "/api/o/north/episodes")


def _episode(p: Practice) -> Call:
    return Call("get", f"/api/o/north/episodes/{p.own.pk}")


def _feedback(p: Practice) -> Call:
    return Call("get", f"/api/o/north/episodes/{p.own.pk}/feedback")


def _administrations(p: Practice) -> Call:
    return Call("get", f"/api/o/north/episodes/{p.own.pk}/administrations")


def _create_administration(p: Practice) -> Call:
    return Call("post", f"/api/o/north/episodes/{p.own.pk}/administrations", {"measure_id": "phq9"})


def _record_response(p: Practice) -> Call:
    administration = do_create_administration(p.own, "phq9")
    answers = dict(enumerate(PHQ9_MILD, start=1))
    return Call(
        "post",
        f"/api/o/north/administrations/{administration.pk}/responses",
        {"answers": answers},
        {"Idempotency-Key": "table-key"},
    )


def _goals(p: Practice) -> Call:
    return Call("get", f"/api/o/north/episodes/{p.own.pk}/goals")


def _ending(p: Practice) -> Call:
    return Call("get", f"/api/o/north/episodes/{p.own.pk}/ending")


def _end_episode(p: Practice) -> Call:
    return Call("post", f"/api/o/north/episodes/{p.own.pk}/ending", {"reason": "planned"})


def _alerts(p: Practice) -> Call:
    _alert_on_own(p)
    return Call("get", "/api/o/north/alerts?state=all")


def _seen(p: Practice) -> Call:
    return Call("post", f"/api/o/north/alerts/{_alert_on_own(p).pk}/seen")


def _acted(p: Practice) -> Call:
    alert = _alert_on_own(p)
    return Call("post", f"/api/o/north/alerts/{alert.pk}/acted", {"note": "Called; safe."})


def _research_export(p: Practice) -> Call:
    return Call("get", "/api/o/north/research-export?dates=year")


def _group_of_own(p: Practice) -> Group:
    """A group led by the clinician, with their own client as a member."""
    group = Group.objects.create(organisation=p.org, label="Tuesday group")
    group.leaders.add(p.clinician)
    GroupMember.objects.create(group=group, episode=p.own, joined_on=p.own.opened_on)
    return group


def _groups(p: Practice) -> Call:
    _group_of_own(p)
    return Call("get", "/api/o/north/groups")


def _group(p: Practice) -> Call:
    return Call("get", f"/api/o/north/groups/{_group_of_own(p).pk}")


def _group_sessions(p: Practice) -> Call:
    return Call("get", f"/api/o/north/groups/{_group_of_own(p).pk}/sessions")


def _group_levels(p: Practice) -> Call:
    return Call("get", f"/api/o/north/groups/{_group_of_own(p).pk}/levels")


ROLES = (
    "admin",
    "supervisor",
    "researcher",
    "clinician_on_it",
    "clinician_not_on_it",
    "other_organisation",
    "anonymous",
)
LISTS = (200, 200, 200, 200, 200, 404, 401)
"""A list: every member of the organisation gets their own rows."""
READ = (200, 200, 200, 200, 404, 404, 401)
"""One object of the clinician's episode."""
CREATE = (201, 201, 403, 201, 404, 404, 401)
WRITE = (200, 200, 403, 200, 404, 404, 401)
EXPORT = (200, 403, 200, 403, 403, 404, 401)
"""The whole practice, de-identified: administrators and researchers."""

ENDPOINTS: list[tuple[Callable[[Practice], Call], tuple[int, ...]]] = [
    (_episodes, LISTS),
    (_episode, READ),
    (_feedback, READ),
    (_administrations, READ),
    (_create_administration, CREATE),
    (_record_response, CREATE),
    (_goals, READ),
    (_ending, READ),
    (_end_episode, CREATE),
    (_alerts, LISTS),
    (_seen, WRITE),
    (_acted, WRITE),
    (_research_export, EXPORT),
    (_groups, LISTS),
    (_group, READ),
    (_group_sessions, READ),
    (_group_levels, READ),
]
TABLE = [
    pytest.param(endpoint, role, status, id=f"{endpoint.__name__[1:]}-{role}")
    for endpoint, statuses in ENDPOINTS
    for role, status in zip(ROLES, statuses, strict=True)
]


def _member(practice: Practice, role: str) -> Membership | None:
    return {
        "admin": practice.admin,
        "supervisor": practice.supervisor,
        "researcher": practice.researcher,
        "clinician_on_it": practice.clinician,
        "clinician_not_on_it": practice.colleague,
        "other_organisation": practice.outsider,
        "anonymous": None,
    }[role]


def send(client: Client, call: Call) -> Any:
    if call.method == "get":
        return client.get(call.url, headers=call.headers or {})
    return client.post(
        call.url,
        data=json.dumps(call.body or {}),
        content_type="application/json",
        headers=call.headers or {},
    )


def _stored() -> tuple[int, int, int, int]:
    return (
        Administration.objects.count(),
        Response.objects.count(),
        Alert.objects.filter(seen_at__isnull=False).count(),
        Alert.objects.filter(acted_at__isnull=False).count(),
    )


@pytest.mark.parametrize(("endpoint", "role", "status"), TABLE)
def test_each_role_gets_the_status_of_the_screens_and_no_identity(
    client: Client,
    practice: Practice,
    endpoint: Callable[[Practice], Call],
    role: str,
    status: int,
) -> None:
    call = endpoint(practice)
    membership = _member(practice, role)
    if membership is not None:
        sign_in(client, membership.user)
    before = _stored()
    reply = send(client, call)
    assert reply.status_code == status, reply.content
    assert "no-store" in reply["Cache-Control"]
    if reply["Content-Type"] == "application/zip":
        # The research export: its files stand in for a body (test_research_export has more).
        archive = zipfile.ZipFile(io.BytesIO(reply.content))
        text = "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
        assert "Name of" not in text
        assert "example" not in text
        assert _stored() == before
        return
    assert reply["Content-Type"].startswith("application/json")
    text = reply.content.decode()
    # Names (ClientIdentity "Name of N-001"), client and member emails never leave the screens.
    assert "Name of" not in text
    assert "example" not in text
    body = json.loads(text)
    if status >= 400:
        assert set(body) == {"detail", "errors"}
        assert _stored() == before, "a refused request changed nothing"
    else:
        assert _stored() != before if call.method == "post" else _stored() == before


def test_a_list_holds_only_the_members_episodes(client: Client, practice: Practice) -> None:
    sign_in(client, practice.clinician.user)
    body = client.get("/api/o/north/episodes").json()
    assert sorted(row["client_code"] for row in body["items"]) == ["N-001", "N-002"]
    sign_in(client, practice.researcher.user)
    body = client.get("/api/o/north/episodes").json()
    assert (body["count"], sorted(body["items"][0])) == (
        3,
        sorted(
            [
                "id",
                "client_id",
                "client_code",
                "clinician_id",
                "opened_on",
                "ended_on",
                "end_reason",
                "open_alerts",
            ]
        ),
    )


def test_episodes_are_paged_with_limit_and_offset(client: Client, practice: Practice) -> None:
    sign_in(client, practice.admin.user)
    first = client.get("/api/o/north/episodes?limit=2").json()
    rest = client.get("/api/o/north/episodes?limit=2&offset=2").json()
    ids = [row["id"] for row in first["items"] + rest["items"]]
    assert (first["count"], len(first["items"]), len(rest["items"])) == (3, 2, 1)
    assert ids == sorted({practice.own.pk, practice.shared.pk, practice.other.pk})
    bad = client.get("/api/o/north/episodes?limit=0")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "limit"]


def test_an_episode_counts_its_open_alerts_and_sums_up_its_administrations(
    client: Client, practice: Practice
) -> None:
    alert = _alert_on_own(practice)
    do_create_administration(practice.own, "phq9")
    sign_in(client, practice.clinician.user)
    [listed] = [
        row
        for row in client.get("/api/o/north/episodes").json()["items"]
        if row["id"] == practice.own.pk
    ]
    assert listed["open_alerts"] == 1
    episode = client.get(f"/api/o/north/episodes/{practice.own.pk}").json()
    answered, waiting = episode["administrations"]
    assert (answered["status"], answered["score"]["total"], answered["score"]["critical"]) == (
        "completed",
        alert.response.total,
        True,
    )
    assert (waiting["status"], waiting["score"]) == ("created", None)
    assert "link_token" not in answered, "the client's link secret stays out of the API"
    assert episode["open_alerts"] == 1


def test_another_organisations_episode_is_a_404_with_the_one_error_shape(
    client: Client, practice: Practice
) -> None:
    sign_in(client, practice.admin.user)
    reply = client.get(f"/api/o/north/episodes/{practice.elsewhere.pk}")
    assert (reply.status_code, reply.json()) == (404, {"detail": "Not found.", "errors": []})
    assert client.get("/api/o/south/episodes").status_code == 404


def test_a_path_id_that_is_not_a_number_is_a_422_not_a_500(
    client: Client, practice: Practice
) -> None:
    sign_in(client, practice.admin.user)
    reply = client.get("/api/o/north/episodes/abc")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["loc"] == ["path", "episode_id"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("episodes?limit=101", 422),
        ("episodes?offset=-1", 422),
        ("episodes?offset=99999999999999999999", 422),
        ("alerts?limit=abc", 422),
        ("episodes/99999999999999999999", 404),
        ("episodes/-1/feedback", 404),
        ("alerts/99999999999999999999/seen", 404),
    ],
)
def test_numbers_out_of_range_are_refused_never_a_500(
    client: Client, practice: Practice, path: str, status: int
) -> None:
    sign_in(client, practice.admin.user)
    method = client.post if path.endswith("seen") else client.get
    reply = method(f"/api/o/north/{path}")
    assert reply.status_code == status
    assert set(reply.json()) == {"detail", "errors"}


def test_a_signed_out_caller_is_told_to_sign_in(client: Client, practice: Practice) -> None:
    reply = client.get("/api/o/north/episodes")
    assert reply.status_code == 401
    assert "Sign in" in reply.json()["detail"]


def test_an_inactive_membership_sees_nothing(client: Client, practice: Practice) -> None:
    practice.clinician.is_active = False
    practice.clinician.save()
    sign_in(client, practice.clinician.user)
    assert client.get("/api/o/north/episodes").status_code == 404


def _csrf_client(practice: Practice) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the sign-in page sets the CSRF cookie, as in a browser
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    sign_in(client, practice.clinician.user)
    return client, token


def test_a_session_post_needs_the_csrf_token(practice: Practice) -> None:
    client, token = _csrf_client(practice)
    url = f"/api/o/north/episodes/{practice.own.pk}/administrations"
    body = json.dumps({"measure_id": "phq9"})
    refused = client.post(url, data=body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Administration.objects.exists()
    accepted = client.post(
        url, data=body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201
    assert client.get(url).status_code == 200, "reading needs no token"


def test_the_openapi_spec_lists_every_operation_with_its_responses(client: Client) -> None:
    reply = client.get("/api/openapi.json")
    assert reply.status_code == 200
    spec = json.loads(reply.content)
    assert spec["openapi"].startswith("3.")
    operations = {
        (method, path): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == {
        ("get", "/api/o/{org}/episodes"),
        ("get", "/api/o/{org}/research-export"),
        ("get", "/api/o/{org}/episodes/{episode_id}"),
        ("get", "/api/o/{org}/episodes/{episode_id}/feedback"),
        ("get", "/api/o/{org}/episodes/{episode_id}/goals"),
        ("get", "/api/o/{org}/episodes/{episode_id}/ending"),
        ("post", "/api/o/{org}/episodes/{episode_id}/ending"),
        ("get", "/api/o/{org}/episodes/{episode_id}/administrations"),
        ("post", "/api/o/{org}/episodes/{episode_id}/administrations"),
        ("post", "/api/o/{org}/administrations/{administration_id}/responses"),
        ("get", "/api/o/{org}/alerts"),
        ("post", "/api/o/{org}/alerts/{alert_id}/seen"),
        ("post", "/api/o/{org}/alerts/{alert_id}/acted"),
        ("get", "/api/o/{org}/groups"),
        ("get", "/api/o/{org}/groups/{group_id}"),
        ("get", "/api/o/{org}/groups/{group_id}/sessions"),
        ("get", "/api/o/{org}/groups/{group_id}/levels"),
    }
    ids = [operation["operationId"] for operation in operations.values()]
    assert len(set(ids)) == len(ids)
    error = {"$ref": "#/components/schemas/Error"}
    for (method, path), operation in operations.items():
        responses = operation["responses"]
        success = (
            "201"
            if method == "post" and path.endswith(("administrations", "responses", "ending"))
            else "200"
        )
        assert success in responses, (method, path)
        for code in ("401", "404"):
            assert responses[code]["content"]["application/json"]["schema"] == error, (path, code)
        if method == "post":
            assert "403" in responses, (method, path)
        if "requestBody" in operation:
            # Too large, not JSON, not valid: each body-taking operation says it may refuse so.
            assert {"413", "415", "422"} <= set(responses), (method, path)
    assert spec["components"]["securitySchemes"]["SessionAuth"]["in"] == "cookie"
    refs = set(_refs(spec))
    assert "#/components/schemas/Error" in refs
    assert {ref.rsplit("/", 1)[1] for ref in refs} <= set(spec["components"]["schemas"])


def _refs(node: Any) -> list[str]:
    """Every "$ref" in a part of the spec."""
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_docs_page_is_served(client: Client) -> None:
    assert client.get("/api/docs").status_code == 200
