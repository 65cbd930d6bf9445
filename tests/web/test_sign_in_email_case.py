"""A member's email address is one address in any capitals: they sign in with "Alex@..." or
"alex@...", wrong passwords count against the one account however it is typed, and no second
account takes the address in other capitals (issue 19, finding 8b)."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from signing_in import password_step
from web_practice import Practice

from ally.web.accounts.forms import EmailForm
from ally.web.accounts.lockout import is_locked_anywhere
from ally.web.accounts.models import User

migration = importlib.import_module("ally.web.accounts.migrations.0003_lowercase_emails")


def test_a_member_signs_in_with_their_address_in_other_capitals(practice: Practice) -> None:
    assert practice.clinician.user.email == "clin@north.example"
    reply = password_step(Client(), "  CLIN@North.Example ")
    assert reply.status_code == 302
    assert reply.url.startswith("/accounts/two-factor")


def test_wrong_passwords_in_other_capitals_count_against_the_one_account(
    practice: Practice,
) -> None:
    spellings = ["clin@north.example", "CLIN@north.example", "Clin@North.example"]
    for n in range(settings.AXES_FAILURE_LIMIT):
        password_step(Client(), spellings[n % len(spellings)], password=f"guess {n}")
    assert is_locked_anywhere("clin@north.example")


def test_an_address_is_stored_in_lower_case_and_taken_once(db: None) -> None:
    alex = User.objects.create_user(" Alex@Practice.Example", "pw")
    assert alex.email == "alex@practice.example"
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("ALEX@practice.example", "pw")
    alex.email = "Alex.New@Practice.Example"
    alex.save()
    alex.refresh_from_db()
    assert alex.email == "alex.new@practice.example"


def test_a_new_address_another_account_has_in_other_capitals_is_refused(
    practice: Practice,
) -> None:
    form = EmailForm(practice.clinician.user, {"email": "ADMIN@north.example"})
    assert not form.is_valid()
    assert "Another account signs in with this address" in str(form.errors)
    assert EmailForm(practice.clinician.user, {"email": "Clin@NORTH.example"}).errors


def test_the_operator_unlocks_an_account_named_in_other_capitals(practice: Practice) -> None:
    out = StringIO()
    call_command("unlock_account", "Clin@North.Example", stdout=out)
    assert "clin@north.example can sign in again" in out.getvalue()


def test_the_migration_puts_stored_addresses_in_lower_case(practice: Practice) -> None:
    # Written around the model, as addresses were stored before.
    User.objects.filter(pk=practice.admin.user.pk).update(email="Admin@North.Example")
    migration.lowercase_emails(apps, None)
    assert User.objects.get(pk=practice.admin.user.pk).email == "admin@north.example"


def test_the_migration_refuses_two_accounts_that_differ_only_in_capitals(
    practice: Practice,
) -> None:
    User.objects.filter(pk=practice.admin.user.pk).update(email="Clin@North.example")
    User.objects.filter(pk=practice.supervisor.user.pk).update(email="Sup@North.example")
    with pytest.raises(migration.EmailCollisionError) as refused:
        migration.lowercase_emails(apps, None)
    message = str(refused.value)
    assert f"account {practice.clinician.user.pk} (clin@north.example)" in message
    assert f"account {practice.admin.user.pk} (Clin@North.example)" in message
    assert "Nothing was changed" in message
    assert "ally manage migrate" in message
    assert User.objects.get(pk=practice.supervisor.user.pk).email == "Sup@North.example"
