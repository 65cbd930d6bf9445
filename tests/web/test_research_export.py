"""The research export of the demo practice: a valid data package, labelled .sav and Parquet,
random pseudonyms, dates by profile, small cells suppressed, nothing identifying, audited; from
the page, the API and `ally export research`."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyreadstat
import pytest
from api_tokens import bearer, register, token_for
from click.testing import CliRunner
from django.test import Client as Browser
from frictionless import Package
from module_rows import rows_for_the_module
from signing_in import sign_in

from ally.cli.main import cli
from ally.interop.research import DateProfile
from ally.web.actions.answers import do_amend_response
from ally.web.alerts.models import Alert
from ally.web.auditlog.models import AuditEntry
from ally.web.collect import measures
from ally.web.collect.models import Administration, Response
from ally.web.demo import load_demo
from ally.web.practice.models import CareTeamMember, Client, ClientIdentity, Episode, Membership
from ally.web.research.export import build
from ally.web.research.models import ResearchExport
from ally.web.research.tables import Export, administrations
from ally.web.scoping import Role

REASON = "Corrected after a call with Ms Quillfeather about row four"


@pytest.fixture(scope="module")
def loaded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Any]:
    """The demo, loaded once for this module's tests, with text that must not leave."""
    with rows_for_the_module(django_db_blocker):
        yield _demo_with_identifying_text()


@pytest.fixture
def demo(loaded: Any, db: None) -> Any:
    return loaded


def _demo_with_identifying_text() -> Any:
    demo = load_demo(episodes=10, seed=5, today=dt.date(2026, 11, 29))
    org = demo.organisation
    # Codes as a practice might choose them (record numbers), a phone, an amendment with its
    # reason and a care-team role: text that must not leave.
    for client in Client.objects.filter(organisation=org):
        client.code = f"MRN-{4711000 + client.pk}"
        client.save()
    identity = ClientIdentity.objects.filter(client__organisation=org).first()
    identity.phone = "+44 7700 900123"
    identity.save()
    response = Response.objects.filter(administration__episode__organisation=org).first()
    clinician = response.administration.episode.clinician
    changed = {int(k): v for k, v in response.answers.items()}
    changed[1] = 0.0 if changed[1] else 1.0
    do_amend_response(response, changed, REASON, clinician)
    episode = Episode.objects.filter(organisation=org).first()
    CareTeamMember.objects.create(
        episode=episode,
        member=Membership.objects.get(organisation=org, role=Role.SUPERVISOR),
        role="Consulting psychiatrist Dr Thistlewood",
    )
    return demo


def _secrets(org: Any) -> list[str]:
    """Every identity value and free text of the practice."""
    found = {org.name, org.crisis_contacts, org.erasure_policy, REASON}
    for identity in ClientIdentity.objects.filter(client__organisation=org):
        found |= {identity.name, identity.email, identity.phone}
    found |= set(Client.objects.filter(organisation=org).values_list("code", flat=True))
    for member in Membership.objects.filter(organisation=org).select_related("user"):
        found |= {member.user.email, member.user.display_name}
    for alert in Alert.objects.filter(episode__organisation=org):
        found |= {alert.message, alert.action_note}
    found |= set(
        CareTeamMember.objects.filter(episode__organisation=org).values_list("role", flat=True)
    )
    lines = {line.strip() for text in found for line in text.splitlines()}
    return sorted(s for s in found | lines if len(s) >= 6)


def _texts(files: dict[str, bytes]) -> dict[str, bytes]:
    """Each file's bytes, and for Parquet (compressed) also its decoded values and metadata."""
    found = dict(files)
    for name, body in files.items():
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(body))
            found[name + " (decoded)"] = (str(table.to_pylist()) + str(table.schema)).encode()
    return found


def _assert_nothing_identifying(org: Any, files: dict[str, bytes]) -> None:
    texts = _texts(files)
    for secret in _secrets(org):
        needle = secret.encode()
        for name, body in texts.items():
            assert needle not in body, f"{secret!r} is in {name}"


def test_an_export_is_a_valid_data_package_with_labelled_sav_and_parquet(
    demo: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    built = build(demo.organisation, folder, min_cell=11, rng=random.Random(1))
    names = sorted(p.name for p in built.files)
    assert names == sorted(
        ["datapackage.json", "codebook.csv", "summary.csv"]
        + [f"{t}.{x}" for t in ("administrations", "episodes") for x in ("csv", "parquet", "sav")]
    )
    # Frictionless validates every CSV against its schema: types, enums, item ranges.
    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    rows = (folder / "administrations.csv").read_text().count("\n") - 1
    assert (
        rows
        == built.administrations
        == (Administration.objects.filter(episode__organisation=demo.organisation).count())
    )
    # The .sav reads back with its variable and value labels (value keys come back as floats).
    frame, meta = pyreadstat.read_sav(str(folder / "administrations.sav"))
    assert len(frame) == built.administrations
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["client"] == "Client (pseudonym)"
    assert "interest" in labels["phq9_01"].lower()
    assert meta.variable_value_labels["phq9_01"][3.0] == "Nearly every day"
    assert meta.variable_value_labels["rupture"] == {0.0: "no", 1.0: "yes"}
    assert meta.variable_measure["phq9_01"] == "ordinal"
    # Parquet keeps the same labels in its field metadata.
    schema = pq.read_schema(folder / "episodes.parquet")
    assert schema.field("category").metadata[b"label"].startswith(b"Outcome category")
    assert pq.read_table(folder / "episodes.parquet").num_rows == built_rows(folder, "episodes")
    # The codebook lists every column of both tables, with each measure's licence.
    codebook = (folder / "codebook.csv").read_text()
    assert codebook.count("\nadministrations,") == len(frame.columns)
    assert f"phq9_09,{labels['phq9_09']}" in codebook or "phq9_09," in codebook
    assert measures.measure("phq9").licence.name in codebook
    assert measures.measure("wai-sr").licence.name in codebook or "wai_sr_01" not in codebook


def built_rows(folder: Path, table: str) -> int:
    return (folder / f"{table}.csv").read_text().count("\n") - 1


def test_an_invalid_answer_is_caught_by_the_data_package(demo: Any, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    build(demo.organisation, folder, min_cell=11)
    path = folder / "administrations.csv"
    header, first, *rest = path.read_text().splitlines()
    cells = first.split(",")
    column = header.split(",").index("status")
    cells[column] = "lost"
    path.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    assert not Package(str(folder / "datapackage.json")).validate().valid


def test_shifted_dates_keep_each_clients_intervals_and_year_keeps_only_the_year(
    demo: Any,
) -> None:
    org = demo.organisation
    shifted = Export(org, DateProfile.SHIFT, random.Random(2))
    table = administrations(shifted)
    by_client: dict[str, set[int]] = defaultdict(set)
    for row in table.rows:
        if row["date"] is not None:
            # date − days since first contact is the client's shifted first contact: one value.
            by_client[row["client"]].add((row["date"] - dt.timedelta(days=row["day"])).toordinal())
    assert by_client
    assert all(len(firsts) == 1 for firsts in by_client.values())
    clients = {pk: shifted.clients(pk) for pk in shifted.first}
    moved = {
        next(iter(by_client[pseudonym])) - shifted.first[pk].toordinal()
        for pk, pseudonym in clients.items()
        if pseudonym in by_client
    }
    assert all(m % 7 == 0 and m != 0 and abs(m) <= 182 for m in moved)
    assert len(moved) > 1  # each client their own offset
    year = administrations(Export(org, DateProfile.YEAR, random.Random(2)))
    assert "date" not in {v.name for v in year.variables}
    assert all(isinstance(r["year"], int) for r in year.rows if r["year"] is not None)


def test_no_name_contact_detail_code_or_free_text_is_in_any_file(demo: Any) -> None:
    org = demo.organisation
    researcher = Membership.objects.get(organisation=org, role=Role.RESEARCHER)
    browser = Browser()
    sign_in(browser, researcher.user)
    assert browser.get(f"/o/{org.slug}/research/").status_code == 200
    for dates in ("shift", "year"):
        reply = browser.post(f"/o/{org.slug}/research/", {"dates": dates, "min_cell": 11})
        assert reply.status_code == 200, reply.content[:500]
        assert reply["Content-Type"] == "application/zip"
        assert "no-store" in reply["Cache-Control"]
        archive = zipfile.ZipFile(io.BytesIO(reply.content))
        files = {name: archive.read(name) for name in archive.namelist()}
        assert len(files) == 9
        _assert_nothing_identifying(org, files)
        # No database key stands in for a pseudonym.
        data = files["administrations.csv"].decode()
        keys = {
            str(pk) for pk in Client.objects.filter(organisation=org).values_list("pk", flat=True)
        }
        first_column = {line.split(",")[0] for line in data.splitlines()[1:]}
        assert not first_column & keys
        if dates == "year":
            for name in ("administrations.csv", "episodes.csv"):
                assert not re.search(rb"\d{4}-\d{2}-\d{2}", files[name]), name
    # Every export is audited: who, when, the profile and the counts, never the content.
    made = list(ResearchExport.objects.filter(organisation=org).order_by("pk"))
    assert [(m.dates, m.exported_by, m.via) for m in made] == [
        ("shift", researcher, "page"),
        ("year", researcher, "page"),
    ]
    assert made[0].clients == 10
    assert made[0].administrations > 100
    entries = AuditEntry.objects.filter(action="research.exported")
    assert [e.target_id for e in entries.order_by("pk")] == [str(m.pk) for m in made]
    assert {e.actor_id for e in entries} == {researcher.pk}


def test_pseudonyms_are_new_in_every_export(demo: Any, tmp_path: Path) -> None:
    first = build(demo.organisation, tmp_path / "a", min_cell=11)
    second = build(demo.organisation, tmp_path / "b", min_cell=11)

    def clients(built: Any, folder: Path) -> set[str]:
        lines = (folder / "episodes.csv").read_text().splitlines()[1:]
        return {line.split(",")[0] for line in lines}

    assert clients(first, tmp_path / "a")
    assert not clients(first, tmp_path / "a") & clients(second, tmp_path / "b")


def test_small_counts_in_the_summary_are_suppressed(demo: Any, tmp_path: Path) -> None:
    build(demo.organisation, tmp_path, min_cell=11)
    lines = (tmp_path / "summary.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header == ["table", "variable", "value", "label", "count", "clients", "suppressed"]
    for line in lines[1:]:
        *_, count, clients, suppressed = line.rsplit(",", 3)
        if suppressed == "true":
            assert (count, clients) == ("", "")
        else:
            assert int(count) == 0 or int(count) >= 11
            assert int(clients) == 0 or int(clients) >= 11


def test_only_members_who_may_export_research_data_get_the_page(demo: Any) -> None:
    org = demo.organisation
    clinician = Membership.objects.filter(organisation=org, role=Role.CLINICIAN).first()
    browser = Browser()
    sign_in(browser, clinician.user)
    assert browser.get(f"/o/{org.slug}/research/").status_code == 403
    assert (
        browser.post(f"/o/{org.slug}/research/", {"dates": "shift", "min_cell": 11}).status_code
        == 403
    )
    assert not ResearchExport.objects.exists()


def test_a_token_with_research_export_downloads_the_zip(demo: Any) -> None:
    org = demo.organisation
    admin = Membership.objects.get(organisation=org, role=Role.ADMIN)
    client = register(admin, ["research:export"])
    reply = Browser().get(
        f"/api/o/{org.slug}/research-export?dates=year&min_cell=20",
        headers=bearer(token_for(client)),
    )
    assert reply.status_code == 200, reply.content[:300]
    assert "datapackage.json" in zipfile.ZipFile(io.BytesIO(reply.content)).namelist()
    made = ResearchExport.objects.get()
    assert (made.api_client, made.dates, made.min_cell, made.via) == (
        client.client,
        "year",
        20,
        "api",
    )
    assert AuditEntry.objects.get(action="research.exported").api_client_id == client.client.pk
    reader = register(admin, ["episodes:read"], name="Reader")
    refused = Browser().get(f"/api/o/{org.slug}/research-export", headers=bearer(token_for(reader)))
    assert refused.status_code == 403
    assert "research:export" in refused.json()["detail"]


def test_the_command_writes_the_export_and_audits_it(demo: Any, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = CliRunner().invoke(
        cli, ["export", "research", "--out", str(out), "--dates", "year", "--organisation", "demo"]
    )
    assert result.exit_code == 0, result.output
    assert "10 clients, dates year" in result.output
    assert json.loads((out / "datapackage.json").read_text())["resources"][0]["name"] == (
        "administrations"
    )
    made = ResearchExport.objects.get()
    assert (made.via, made.exported_by, made.api_client) == ("command", None, None)
    unknown = CliRunner().invoke(
        cli, ["export", "research", "--out", str(out), "--organisation", "x"]
    )
    assert unknown.exit_code == 1
    assert "No practice named 'x'" in unknown.output
