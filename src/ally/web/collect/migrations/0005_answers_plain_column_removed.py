from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("collect", "0004_answers_sealed"),
    ]

    operations = [
        migrations.RemoveField(model_name="response", name="answers"),
        migrations.RemoveField(model_name="amendment", name="answers"),
        migrations.RemoveField(model_name="amendment", name="reason"),
    ]
