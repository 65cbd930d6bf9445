"""Members' own list of signed-in devices, and practice-scoped sign-out (issue 19)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_recovery_codes_hashed"),
        ("practice", "0006_clientidentity_scrubbed"),
    ]

    operations = [
        migrations.CreateModel(
            name="PracticeSignOut",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("signed_out_at", models.DateTimeField()),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="practice.organisation",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "organisation"), name="practice_sign_out_once"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SignedInSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "session_key",
                    models.CharField(help_text="Django's key, kept up to date.", max_length=40),
                ),
                ("signed_in_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField()),
                (
                    "device",
                    models.CharField(
                        blank=True, help_text='e.g. "Firefox on Linux".', max_length=80
                    ),
                ),
                (
                    "ip",
                    models.CharField(
                        blank=True, help_text="An IP address, validated.", max_length=45
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="signed_in_sessions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["user", "last_seen_at"], name="accounts_si_user_id_b27edb_idx"
                    )
                ],
            },
        ),
    ]
