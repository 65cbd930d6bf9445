"""The one-time setup code an administrator hands over with a reset of the second factor."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_signed_in_devices"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="setup_code",
            field=models.CharField(
                blank=True,
                help_text="Salt and PBKDF2 hash of the one-time code an administrator handed over when they reset the second factor: asked for with the password when a new app is set up.",
                max_length=120,
            ),
        ),
    ]
