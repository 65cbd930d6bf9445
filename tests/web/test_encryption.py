"""Clients' names and contact details are encrypted at rest (AES-GCM) under a data key of their
own, wrapped by a master key that never enters the database; keys rotate by a command."""

from __future__ import annotations

import base64
import os
import stat
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.views.debug import ExceptionReporter
from web_practice import Practice, build_practice, database_text, sign_in

from ally.web.actions.practice import do_create_client
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.practice.models import Client, ClientIdentity
from ally.web.privacy import keys, rotation
from ally.web.privacy.keys import (
    ENV,
    DataKey,
    KeySettingError,
    KeyUnavailableError,
    master_keys,
    parse_master_keys,
    unwrap,
)
from ally.web.privacy.models import ClientKey, KeyRotation
from ally.web.privacy.sealed import SealError, open_fields

NAME, EMAIL, PHONE = "Ottilie Brandstetter", "ottilie.b@example.net", "+44 20 7946 0958"


def key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def old_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Master key 1 from the environment, set before the practice's clients are made."""
    key = key_text()
    monkeypatch.setenv(ENV, f"1:{key}")
    return key


def new_client(practice: Practice, code: str, name: str = NAME) -> Client:
    return do_create_client(
        practice.org, code, name=name, email=EMAIL, phone=PHONE, actor=practice.admin
    )


def details(client: Client) -> tuple[str, str, str]:
    """The client's details as read afresh from the database."""
    identity = ClientIdentity.objects.get(client=client)
    return identity.name, identity.email, identity.phone


def test_names_and_contact_details_are_not_in_the_database_in_plain_text(
    practice: Practice,
) -> None:
    client = new_client(practice, "E-100")
    text = database_text()
    assert "E-100" in text  # the dump does show plain columns: the check can find a value
    # Whole words of the details: four digits alone turn up in any hash of the dump by chance.
    for value in (NAME, EMAIL, PHONE, "Brandstetter", "ottilie.b", "7946 0958"):
        assert value not in text
    assert details(client) == (NAME, EMAIL, PHONE)


def test_each_client_has_a_data_key_of_their_own(practice: Practice) -> None:
    first, second = new_client(practice, "E-101"), new_client(practice, "E-102")
    key_one = unwrap(ClientKey.objects.get(client=first))
    key_two = unwrap(ClientKey.objects.get(client=second))
    assert len(key_one.material) == 32
    assert key_one.material != key_two.material
    assert bytes(ClientKey.objects.get(client=first).wrapped).find(key_one.material) == -1


def test_the_same_details_seal_differently_each_time(practice: Practice) -> None:
    client = new_client(practice, "E-103")
    identity = ClientIdentity.objects.get(client=client)
    before = bytes(identity.sealed)
    identity.name = NAME
    identity.save()
    identity.refresh_from_db()
    assert bytes(identity.sealed) != before  # a fresh nonce on every save
    assert identity.name == NAME


def test_a_sealed_value_moved_to_another_clients_row_does_not_open(practice: Practice) -> None:
    first, second = new_client(practice, "E-104"), new_client(practice, "E-105", "Someone Else")
    ClientIdentity.objects.filter(client=second).update(
        sealed=ClientIdentity.objects.get(client=first).sealed
    )
    with pytest.raises(SealError):
        details(second)


def test_a_changed_byte_does_not_open(practice: Practice) -> None:
    client = new_client(practice, "E-106")
    sealed = bytearray(ClientIdentity.objects.get(client=client).sealed)
    sealed[-1] ^= 1
    ClientIdentity.objects.filter(client=client).update(sealed=bytes(sealed))
    with pytest.raises(SealError):
        details(client)


def test_a_data_key_moved_to_another_client_does_not_open(practice: Practice) -> None:
    first, second = new_client(practice, "E-107"), new_client(practice, "E-108")
    ClientKey.objects.filter(client=second).update(
        wrapped=ClientKey.objects.get(client=first).wrapped
    )
    with pytest.raises(KeyUnavailableError, match="does not open"):
        details(second)


def test_the_details_read_and_change_as_plain_attributes(practice: Practice) -> None:
    client = new_client(practice, "E-109")
    assert ClientIdentity.objects.filter(client=client).update(email="") == 1
    assert details(client) == (NAME, "", PHONE)
    identity = ClientIdentity.objects.get(client=client)
    identity.phone = "+49 30 1234567"
    identity.save(update_fields=["phone"])
    assert details(client) == (NAME, "", "+49 30 1234567")


def test_a_bulk_insert_seals_each_row_too(practice: Practice) -> None:
    clients = [Client.objects.create(organisation=practice.org, code=f"B-{n}") for n in range(2)]
    ClientIdentity.objects.bulk_create(
        ClientIdentity(client=client, name=f"{NAME} {n}") for n, client in enumerate(clients)
    )
    assert [details(client)[0] for client in clients] == [f"{NAME} 0", f"{NAME} 1"]
    assert "Brandstetter" not in database_text()


def test_the_screens_show_the_details_opened(practice: Practice) -> None:
    browser = Browser()
    sign_in(browser, practice.clinician.user)
    html = browser.get(
        reverse("clinic:episode", kwargs={"org": "north", "pk": practice.own.pk})
    ).content.decode()
    assert "Name of N-001" in html
    assert "c@example.org" in html
    caseload = browser.get(reverse("clinic:caseload", kwargs={"org": "north"})).content.decode()
    assert "Name of N-001" in caseload


# --- master keys ---------------------------------------------------------------------------------


def test_without_a_setting_a_master_key_is_made_once_readable_by_its_owner_only(
    practice: Practice, settings
) -> None:
    new_client(practice, "E-110")
    path = settings.ALLY_DATA_DIR / keys.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = master_keys()
    assert first.newest.version == 1
    new_client(practice, "E-111")
    assert master_keys() == first
    assert set(ClientKey.objects.values_list("master_version", flat=True)) == {1}


def test_master_keys_from_the_environment_come_first_and_no_file_is_made(
    db: None, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"3:{key_text()}, 2:{key_text()}")
    client = new_client(build_practice(), "E-112")
    assert ClientKey.objects.get(client=client).master_version == 3
    assert not (settings.ALLY_DATA_DIR / keys.FILE_NAME).exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("1:{key}, two:{key}", "entry 2 is not 'version:base64key'"),
        ("1:{key}, 2:not base64!", "the key of entry 2 is not base64"),
        ("1:" + base64.b64encode(b"k" * 16).decode(), "entry 1 is 16 bytes long"),
        ("1:{key}, 1:{key}", "names a key version twice"),
        ("1:{key}, 2:{key}", "must list the newest key (the highest version) first"),
        (" , ", "holds no key"),
    ],
)
def test_a_bad_key_setting_names_the_entry_and_never_shows_a_key(
    setting: str, message: str
) -> None:
    key = key_text()
    with pytest.raises(KeySettingError) as refused:
        parse_master_keys(setting.format(key=key), ENV)
    assert message in str(refused.value)
    assert key not in str(refused.value)
    assert key[:12] not in str(refused.value)


def test_a_missing_key_file_is_not_replaced_while_data_keys_need_it(
    practice: Practice, settings
) -> None:
    new_client(practice, "E-113")
    (settings.ALLY_DATA_DIR / keys.FILE_NAME).unlink()
    with pytest.raises(KeySettingError, match="is missing"):
        master_keys()
    assert not (settings.ALLY_DATA_DIR / keys.FILE_NAME).exists()


def test_without_the_master_key_nothing_opens_and_the_message_says_what_to_do(
    old_key: str, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = new_client(practice, "E-114")
    monkeypatch.setenv(ENV, f"2:{key_text()}")
    with pytest.raises(KeyUnavailableError) as refused:
        details(client)
    assert "Master key version 1 is not among the keys" in str(refused.value)
    assert "rotate_keys" in str(refused.value)


def test_error_reports_leave_out_keys_and_details(practice: Practice, settings) -> None:
    settings.DEBUG = False
    client = new_client(practice, "E-115")
    identity = ClientIdentity.objects.get(client=client)
    wrong = DataKey(1, os.urandom(32))
    try:
        open_fields(
            identity.sealed, wrong, table="practice_clientidentity", columns=["name"], row=1
        )
    except SealError:
        report = ExceptionReporter(None, *sys.exc_info(), is_email=True).get_traceback_text()
    else:
        pytest.fail("a wrong key opened the details")
    assert "unseal" in report
    assert "********" in report
    for secret in (wrong.material.hex(), repr(wrong.material), base64.b64encode(wrong.material)):
        assert str(secret) not in report
    assert repr(wrong.material) not in repr(wrong)
    assert wrong.material.hex() not in repr(wrong)


# --- rotation ------------------------------------------------------------------------------------


def test_after_rotating_the_old_master_key_can_be_removed(
    old_key: str, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = old_key, key_text()
    clients = [new_client(practice, f"E-12{n}", f"Client {n}") for n in range(3)]
    monkeypatch.setenv(ENV, f"2:{new},1:{old}")
    out = StringIO()
    call_command("rotate_keys", "--batch-size", "2", stdout=out)
    monkeypatch.setenv(ENV, f"2:{new}")
    for n, client in enumerate(clients):
        assert details(client) == (f"Client {n}", EMAIL, PHONE)
    # The practice's own clients (made before the test's keys) were re-wrapped too.
    assert set(ClientKey.objects.values_list("master_version", flat=True)) == {2}
    count = ClientKey.objects.count()
    assert f"{count} data keys re-wrapped" in out.getvalue()
    done = KeyRotation.objects.get()
    assert (done.rewrapped, done.renewed, done.finished_at is not None) == (count, 0, True)
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-1] == "keys.rotated"
    assert "keys.rotation_started" in actions
    assert verify().holds


def test_new_data_keys_seal_every_clients_details_again(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = new_client(practice, "E-130")
    before_key = unwrap(ClientKey.objects.get(client=client))
    before_sealed = bytes(ClientIdentity.objects.get(client=client).sealed)
    call_command("rotate_keys", "--data-keys", stdout=StringIO())
    after = ClientKey.objects.get(client=client)
    assert after.generation == 2
    assert unwrap(after).material != before_key.material
    assert details(client) == (NAME, EMAIL, PHONE)
    with pytest.raises(SealError):  # the old key no longer opens what is stored
        open_fields(
            ClientIdentity.objects.get(client=client).sealed,
            before_key,
            table="practice_clientidentity",
            columns=["email", "name", "phone"],
            row=client.pk,
        )
    assert bytes(ClientIdentity.objects.get(client=client).sealed) != before_sealed
    assert KeyRotation.objects.get().renewed == ClientKey.objects.count()


def test_a_new_master_key_can_be_added_to_the_key_file(practice: Practice, settings) -> None:
    client = new_client(practice, "E-131")
    call_command("rotate_keys", "--new-master-key", stdout=StringIO())
    path = settings.ALLY_DATA_DIR / keys.FILE_NAME
    assert [k.version for k in master_keys().keys] == [2, 1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ClientKey.objects.get(client=client).master_version == 2
    # Without the old key, everything still opens.
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert details(client) == (NAME, EMAIL, PHONE)


@pytest.mark.parametrize("data_keys", [False, True])
def test_an_interrupted_rotation_leaves_every_row_readable(
    old_key: str, practice: Practice, monkeypatch: pytest.MonkeyPatch, data_keys: bool
) -> None:
    old, new = old_key, key_text()
    clients = [new_client(practice, f"E-14{n}", f"Client {n}") for n in range(3)]
    monkeypatch.setenv(ENV, f"2:{new},1:{old}")
    calls = {"n": 0}
    real = ClientIdentity.seal_with if data_keys else rotation.wrap

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("interrupted")
        return real(*args, **kwargs)

    if data_keys:
        monkeypatch.setattr(ClientIdentity, "seal_with", failing)
    else:
        monkeypatch.setattr(rotation, "wrap", failing)
    with pytest.raises(OSError, match="interrupted"):
        rotation.rotate_keys(data_keys=data_keys, batch=2)
    monkeypatch.undo()
    monkeypatch.setenv(ENV, f"2:{new},1:{old}")
    # The first batch is done, the second as it was; every client opens.
    done = ClientKey.objects.filter(master_version=2).count()
    assert 0 < done < ClientKey.objects.count()
    for n, client in enumerate(clients):
        assert details(client) == (f"Client {n}", EMAIL, PHONE)
    rotation.rotate_keys(data_keys=data_keys, batch=2)
    monkeypatch.setenv(ENV, f"2:{new}")
    for n, client in enumerate(clients):
        assert details(client) == (f"Client {n}", EMAIL, PHONE)


def test_a_bad_key_setting_stops_the_start_with_the_entry_at_fault(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ally.web.privacy.checks import master_keys_usable

    monkeypatch.setenv(ENV, f"1:{key_text()}")
    assert master_keys_usable(None) == []
    monkeypatch.setenv(ENV, "1:short")
    [error] = master_keys_usable(None)
    assert error.id == "privacy.E001"
    assert "entry 1" in error.msg
