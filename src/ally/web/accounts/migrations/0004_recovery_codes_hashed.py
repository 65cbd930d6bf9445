"""Recovery codes as salted PBKDF2 hashes in Ally's own device (ASVS 6.5.2)."""

import hashlib
import secrets
from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# As ally.web.accounts.models has them now (a migration keeps its own copy).
ITERATIONS = 50_000
SALT_BYTES = 16


def hash_the_recovery_codes(apps: Any, schema_editor: Any) -> None:
    """Each member's recovery codes, kept in the clear by django-otp's StaticToken, become salted
    PBKDF2 hashes; the plain ones are deleted. A session verified with a recovery code signs in
    again (its device is gone)."""
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    RecoveryCodes = apps.get_model("accounts", "RecoveryCodes")
    RecoveryCode = apps.get_model("accounts", "RecoveryCode")
    for old in StaticDevice.objects.all():
        device = RecoveryCodes.objects.create(
            user_id=old.user_id, name=old.name, confirmed=old.confirmed
        )
        for token in old.token_set.all():
            salt = secrets.token_bytes(SALT_BYTES)
            digest = hashlib.pbkdf2_hmac("sha256", token.token.encode(), salt, ITERATIONS).hex()
            RecoveryCode.objects.create(device=device, salt=salt.hex(), digest=digest)
        old.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_lowercase_emails"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="RecoveryCodes",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="RecoveryCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("salt", models.CharField(max_length=32)),
                ("digest", models.CharField(max_length=64)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="codes",
                        to="accounts.recoverycodes",
                    ),
                ),
            ],
        ),
        migrations.RunPython(hash_the_recovery_codes, migrations.RunPython.noop),
    ]
