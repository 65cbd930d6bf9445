import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("practice", "0003_organisation_erasure_policy"),
    ]

    operations = [
        migrations.CreateModel(
            name="KeyRotation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("master_version", models.PositiveIntegerField()),
                (
                    "data_keys",
                    models.BooleanField(help_text="Whether clients got new data keys too."),
                ),
                ("rewrapped", models.PositiveIntegerField(default=0)),
                ("renewed", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="ClientKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "generation",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="1 for the client's first data key; rotate_keys --data-keys "
                        "adds 1.",
                    ),
                ),
                (
                    "master_version",
                    models.PositiveIntegerField(help_text="The master key that wraps this one."),
                ),
                ("wrapped", models.BinaryField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("changed_at", models.DateTimeField(auto_now=True)),
                (
                    "client",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="data_key",
                        to="practice.client",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ErasureRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "client_id",
                    models.BigIntegerField(help_text="The erased client's key (the row is gone)."),
                ),
                ("client_created_at", models.DateTimeField()),
                ("erased_at", models.DateTimeField()),
                (
                    "erased_by",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty when erased by `ally manage erase_client`.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="practice.membership",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="erasures",
                        to="practice.organisation",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organisation", "client_id"), name="erased_once"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ErasureRefusal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "exemption",
                    models.CharField(
                        choices=[
                            (
                                "legal_obligation",
                                "A legal obligation to keep the records (17(3)(b))",
                            ),
                            ("public_health", "Public health or health care (17(3)(c))"),
                            ("research", "Archiving, research or statistics (17(3)(d))"),
                            (
                                "legal_claims",
                                "Establishing or defending legal claims (17(3)(e))",
                            ),
                        ],
                        max_length=30,
                    ),
                ),
                (
                    "reason",
                    models.TextField(
                        help_text="Which duty or claim, and until when the data is kept."
                    ),
                ),
                ("decided_at", models.DateTimeField()),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="erasure_refusals",
                        to="practice.client",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="practice.membership",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="erasure_refusals",
                        to="practice.organisation",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "exemption__in",
                                ["legal_obligation", "public_health", "research", "legal_claims"],
                            )
                        ),
                        name="refusal_exemption_known",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True),
                        name="refusal_has_reason",
                    ),
                ],
            },
        ),
    ]
