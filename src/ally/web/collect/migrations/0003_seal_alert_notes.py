"""Alert notes (free text about a client: what was done about an answer) sealed under the client's
data key, as their name is; an older Ally stored them in the clear. (In `collect`, the write
path's app, as the alerts app takes no migrations of this change's.)"""

from typing import Any

from django.db import migrations


def seal_the_notes(apps: Any, schema_editor: Any) -> None:
    from ally.web.alerts.models import SEALED_NOTE, seal_note

    Alert = apps.get_model("alerts", "Alert")
    for alert in Alert.objects.exclude(action_note="").select_related("episode"):
        if alert.action_note.partition(":")[0] != SEALED_NOTE:
            alert.action_note = seal_note(alert, alert.action_note)
            alert.save(update_fields=["action_note"])


class Migration(migrations.Migration):
    dependencies = [
        ("collect", "0002_administration_reminded_at"),
        ("alerts", "0003_alert_details"),
        ("privacy", "0001_initial"),
    ]

    operations = [migrations.RunPython(seal_the_notes, migrations.RunPython.noop)]
