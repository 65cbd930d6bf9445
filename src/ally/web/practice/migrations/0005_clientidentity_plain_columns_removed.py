from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0004_clientidentity_sealed"),
    ]

    operations = [
        migrations.RemoveField(model_name="clientidentity", name="email"),
        migrations.RemoveField(model_name="clientidentity", name="name"),
        migrations.RemoveField(model_name="clientidentity", name="phone"),
    ]
