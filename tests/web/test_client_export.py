"""A client's own copy of their data (GDPR Art. 15 and 20): a ZIP with a page they can read and
the same data as JSON, downloaded by an administrator or the client's clinician, audited, never
cached, and named without anything that identifies the client."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client as Browser
from django.urls import reverse
from web_practice import PHQ9_ITEM9, Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Administration
from ally.web.practice.models import Client, Membership

PHQ9_ITEM_1 = "Little interest or pleasure in doing things"


def export_url(client: Client) -> str:
    return reverse("privacy:export", kwargs={"org": "north", "pk": client.pk})


def browser_for(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def unzipped(payload: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


@pytest.fixture
def answered(practice: Practice, phq9: Administration) -> Administration:
    """A PHQ-9 with item 9 endorsed (so an alert), and an SRS whose text may not ship."""
    do_record_response(phq9, PHQ9_ITEM9, idempotency_key="export-phq9")
    srs = do_create_administration(practice.own, "srs")
    do_record_response(srs, [8.5, 9, 7.2, 9], idempotency_key="export-srs")
    return phq9


def download(member: Membership, client: Client) -> Any:
    response = browser_for(member).get(export_url(client))
    assert response.status_code == 200
    return response


def test_an_administrator_downloads_a_zip_named_by_the_clients_key_only(
    practice: Practice, answered: Administration
) -> None:
    client = practice.own.client
    response = download(practice.admin, client)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="ally-export-{client.pk}.zip"'
    assert "no-store" in response["Cache-Control"]
    assert set(unzipped(response.content)) == {"client.html", "client.json"}


def test_the_json_holds_the_details_episodes_answers_scores_and_alerts(
    practice: Practice, answered: Administration
) -> None:
    data = json.loads(
        unzipped(download(practice.admin, practice.own.client).content)["client.json"]
    )
    assert data["format"] == "ally-client-export"
    assert data["version"] == 1
    assert data["client"] == {
        "code": "N-001",
        "name": "Name of N-001",
        "email": "c@example.org",
        "phone": "",
        "registered_at": practice.own.client.created_at.isoformat(),
    }
    [episode] = data["episodes"]
    forms = {form["measure"]: form for form in episode["questionnaires"]}
    phq9 = forms["phq9"]
    assert phq9["question_text_included"] is True
    answers = phq9["response"]["answers"]
    assert [a["answer"] for a in answers] == PHQ9_ITEM9
    assert answers[0] == {
        "item": 1,
        "question": PHQ9_ITEM_1,
        "answer": 1,
        "label": "Several days",
    }
    assert phq9["response"]["total"] == sum(PHQ9_ITEM9)
    assert [alert["kind"] for alert in episode["alerts"]] == ["critical_item"]


def test_questions_whose_licence_keeps_their_text_back_are_given_by_number(
    practice: Practice, answered: Administration
) -> None:
    files = unzipped(download(practice.admin, practice.own.client).content)
    srs = next(
        form
        for form in json.loads(files["client.json"])["episodes"][0]["questionnaires"]
        if form["measure"] == "srs"
    )
    assert srs["question_text_included"] is False
    assert [(a["item"], a["question"], a["answer"]) for a in srs["response"]["answers"]] == [
        (1, None, 8.5),
        (2, None, 9),
        (3, None, 7.2),
        (4, None, 9),
    ]
    assert "The wording of this questionnaire is protected by its licence" in files["client.html"]


def test_the_page_reads_on_its_own(practice: Practice, answered: Administration) -> None:
    page = unzipped(download(practice.admin, practice.own.client).content)["client.html"]
    for shown in ("Name of N-001", "c@example.org", PHQ9_ITEM_1, "Several days", "Alerts"):
        assert shown in page
    # Nothing fetched, nothing run: it opens from the ZIP on any device.
    for outside in ("<script", "src=", "http://", "https://", "<link"):
        assert outside not in page


def test_the_download_is_audited_by_keys_only(practice: Practice, answered: Administration) -> None:
    client = practice.own.client
    download(practice.clinician, client)
    entry = AuditEntry.objects.get(action="client.exported")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        practice.clinician.pk,
        "practice.Client",
        str(client.pk),
    )


def test_the_clients_clinician_may_export_and_a_colleague_finds_no_client(
    practice: Practice,
) -> None:
    download(practice.clinician, practice.own.client)
    download(practice.clinician, practice.shared.client)  # in the care team
    assert browser_for(practice.clinician).get(export_url(practice.other.client)).status_code == 404


@pytest.mark.parametrize("role", ["supervisor", "researcher"])
def test_other_roles_may_not_export(practice: Practice, role: str) -> None:
    response = browser_for(getattr(practice, role)).get(export_url(practice.own.client))
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="client.exported").exists()


def test_another_organisation_finds_no_client(practice: Practice) -> None:
    browser = browser_for(practice.outsider)
    assert browser.get(export_url(practice.own.client)).status_code == 404
    url = reverse("privacy:export", kwargs={"org": "south", "pk": practice.own.client.pk})
    assert browser.get(url).status_code == 404


def test_the_episode_page_links_to_the_privacy_page_for_those_who_may_export(
    practice: Practice,
) -> None:
    url = reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk})
    privacy = reverse("privacy:client", kwargs={"org": "north", "pk": practice.own.client.pk})
    assert privacy in browser_for(practice.clinician).get(url).content.decode()
    assert privacy not in browser_for(practice.supervisor).get(url).content.decode()
    page = browser_for(practice.clinician).get(privacy).content.decode()
    assert export_url(practice.own.client) in page
    assert "Erase this client" not in page  # erasure is for administrators
    assert "Erase this client" in browser_for(practice.admin).get(privacy).content.decode()


def test_the_command_writes_the_export_for_its_owner_only(
    practice: Practice, answered: Administration, tmp_path: Path
) -> None:
    path = tmp_path / "export.zip"
    call_command("export_client", "north", "N-001", str(path), stdout=StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(unzipped(path.read_bytes())["client.json"])
    assert data["client"]["name"] == "Name of N-001"
    assert AuditEntry.objects.get(action="client.exported").actor_id is None
    with pytest.raises(CommandError, match="exists already"):
        call_command("export_client", "north", "N-001", str(path), stdout=StringIO())
