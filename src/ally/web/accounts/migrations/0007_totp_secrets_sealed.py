"""Authenticator secrets sealed under the master key (django-otp keeps them as hex)."""

import binascii
from typing import Any

from django.db import migrations


def seal_the_secrets(apps: Any, schema_editor: Any) -> None:
    """Every TOTP secret still in hex is sealed (the function of today's models: the format of
    a sealed secret is the one the running Ally reads)."""
    from ally.web.accounts.models import seal_totp_secret, totp_master_version

    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    for device in TOTPDevice.objects.all():
        if totp_master_version(device.key) is None:
            secret = binascii.unhexlify(device.key.encode())
            device.key = seal_totp_secret(secret, device.user_id)
            device.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_setup_code_after_reset"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="SealedTOTPDevice",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("otp_totp.totpdevice",),
        ),
        migrations.RunPython(seal_the_secrets, migrations.RunPython.noop),
    ]
