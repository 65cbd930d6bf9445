"""Authenticator secrets are sealed at rest under the server's master key (issue 19: django-otp
kept them as hex, so a copy of the database could make any member's codes)."""

from __future__ import annotations

import base64
import binascii
import os
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from signing_in import authenticator, code_of, code_step, password_step
from web_practice import Practice

from ally.web.accounts.models import SealedTOTPDevice, totp_master_version
from ally.web.privacy.keys import master_keys
from ally.web.privacy.sealed import SealError

ENV = "ALLY_ENCRYPTION_KEYS"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def old_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Master key 1 from the environment, set before the practice is made."""
    key = _key()
    monkeypatch.setenv(ENV, f"1:{key}")
    return key


def _column(device: Any) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
        return str(cursor.fetchone()[0])


def test_the_database_holds_no_authenticator_secret(practice: Practice) -> None:
    device = authenticator(practice.clinician.user)
    stored = _column(device)
    assert totp_master_version(stored) == master_keys().newest.version
    assert device.bin_key.hex() not in stored
    with pytest.raises(binascii.Error):
        binascii.unhexlify(stored)


def test_a_sealed_secret_still_signs_in_and_is_bound_to_its_member(practice: Practice) -> None:
    user = practice.clinician.user
    device = authenticator(user)
    browser = Client()
    password_step(browser, user.email)
    assert code_step(browser, code_of(device)).status_code == 302
    assert browser.get("/o/north/").status_code == 200
    moved = SealedTOTPDevice.objects.get(pk=device.pk)
    moved.user_id = practice.colleague.user.pk  # a secret copied onto another member's row
    with pytest.raises(SealError):
        _ = moved.bin_key


def test_rotating_the_master_key_seals_the_secrets_again(
    old_key: str, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = old_key, _key()
    device = authenticator(practice.clinician.user)
    secret = SealedTOTPDevice.objects.get(pk=device.pk).bin_key
    assert totp_master_version(_column(device)) == 1
    monkeypatch.setenv(ENV, f"2:{new},1:{old}")
    call_command("rotate_keys", stdout=StringIO())
    monkeypatch.setenv(ENV, f"2:{new}")  # the old key removed
    assert totp_master_version(_column(device)) == 2
    assert SealedTOTPDevice.objects.get(pk=device.pk).bin_key == secret


@pytest.mark.django_db(transaction=True)
def test_secrets_kept_in_hex_by_an_older_ally_are_sealed_by_the_migration() -> None:
    before = [("accounts", "0006_setup_code_after_reset"), ("otp_totp", "0003_add_timestamps")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("accounts", "User").objects.create(email="old@north.example")
    secret = os.urandom(20)
    old.get_model("otp_totp", "TOTPDevice").objects.create(
        user=user, name="Authenticator app", confirmed=True, key=secret.hex()
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    device = SealedTOTPDevice.objects.get(user_id=user.pk)
    assert totp_master_version(device.key) is not None
    assert device.bin_key == secret
    assert secret.hex() not in TOTPDevice.objects.get(pk=device.pk).key
