from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0002_organisation_crisis_contacts"),
    ]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="erasure_policy",
            field=models.TextField(
                blank=True,
                help_text="How the practice answers requests for erasure: what it must keep, on "
                "which ground (GDPR Art. 17(3)) and for how long. Shown to administrators when "
                "they decide.",
            ),
        ),
    ]
