"""Recovery codes are kept as salted hashes, never as typed (ASVS 6.5.2; issue 19: django-otp's
StaticToken stored them in the clear, so a copy of the database signed in as any member)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from signing_in import password_step
from web_practice import Practice

from ally.web.accounts.models import RecoveryCode, RecoveryCodes
from ally.web.accounts.two_factor import new_recovery_codes, recovery_codes_left

STAFF_PAGE = "/o/north/"


def _plain(code: str) -> str:
    return code.replace("-", "")


def test_the_database_holds_no_recovery_code_only_salted_hashes(practice: Practice) -> None:
    user = practice.clinician.user
    codes = [_plain(c) for c in new_recovery_codes(user)]
    stored = list(RecoveryCode.objects.filter(device__user=user).values_list("salt", "digest"))
    assert len(stored) == 10
    text = " ".join(f"{salt} {digest}" for salt, digest in stored)
    assert not any(code in text for code in codes)
    assert len({salt for salt, _ in stored}) == 10, "a salt of its own for each code"
    assert all(len(bytes.fromhex(salt)) * 8 >= 32 for salt, _ in stored)
    rows = list(RecoveryCode.objects.filter(device__user=user))
    assert all(sum(row.matches(code) for row in rows) == 1 for code in codes)


def test_a_hashed_code_signs_in_once_and_is_used_up(practice: Practice) -> None:
    user = practice.clinician.user
    codes = new_recovery_codes(user)
    browser = Client()
    password_step(browser, user.email)
    assert browser.post("/accounts/two-factor/", {"code": codes[3]}).status_code == 302
    assert browser.get(STAFF_PAGE).status_code == 200
    assert recovery_codes_left(user) == 9
    again = Client()
    password_step(again, user.email)
    assert again.post("/accounts/two-factor/", {"code": codes[3]}).status_code == 200


def test_a_wrong_code_uses_nothing_up(practice: Practice) -> None:
    device = RecoveryCodes.objects.create(user=practice.clinician.user, name="Recovery codes")
    RecoveryCode.hashed(device, "abcdefghij").save()
    assert not device.verify_token("abcdefghik")
    assert device.codes.count() == 1
    assert device.verify_token("abcdefghij")
    assert device.codes.count() == 0


@pytest.mark.django_db(transaction=True)
def test_codes_stored_in_the_clear_by_an_older_ally_are_hashed_by_the_migration(
    django_db_blocker: Any,
) -> None:
    before = [("accounts", "0003_lowercase_emails"), ("otp_static", "0003_add_timestamps")]
    after = [("accounts", "0004_recovery_codes_hashed")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("accounts", "User").objects.create(email="old@north.example")
    device = old.get_model("otp_static", "StaticDevice").objects.create(
        user=user, name="Recovery codes", confirmed=True
    )
    old.get_model("otp_static", "StaticToken").objects.create(device=device, token="abcdefghij")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = RecoveryCodes.objects.get(user_id=user.pk)
    assert new.verify_token("abcdefghij")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM otp_static_statictoken")
        assert cursor.fetchone()[0] == 0
