from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("selfcare", "0002_check_ins_sealed"),
    ]

    operations = [
        migrations.RemoveField(model_name="checkin", name="answers"),
        migrations.RemoveField(model_name="checkin", name="note"),
    ]
