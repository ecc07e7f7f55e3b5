from django.db import migrations

from products.eventstore import schema


def announce_appends(apps, schema_editor):
    schema.announce_appends(schema_editor)


def stop_announcing_appends(apps, schema_editor):
    schema.stop_announcing_appends(schema_editor)


class Migration(migrations.Migration):
    """The event store notifies eventstore.APPENDED_CHANNEL at each commit that appended events."""

    dependencies = [("products", "0001_initial")]

    operations = [migrations.RunPython(announce_appends, stop_announcing_appends)]
