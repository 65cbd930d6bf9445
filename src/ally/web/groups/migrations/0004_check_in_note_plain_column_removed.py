from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0003_check_in_notes_sealed"),
    ]

    operations = [
        migrations.RemoveField(model_name="checkinnote", name="text"),
    ]
