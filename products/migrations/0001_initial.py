import products.models
from django.db import migrations, models

from products.eventstore import schema


def create_event_store(apps, schema_editor):
    schema.create(schema_editor)


def drop_event_store(apps, schema_editor):
    schema.drop(schema_editor)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='SkuClaim',
            fields=[
                ('sku_key', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('product_id', models.UUIDField()),
            ],
            options={
                'db_table': 'products_sku_claim',
                'default_permissions': (),
            },
        ),
        # The event store's table, triggers and constraints are written by hand (eventstore.schema):
        # Django can't express the xid8 default or the triggers that keep the log append-only.
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_event_store, drop_event_store)],
            state_operations=[
                migrations.CreateModel(
                    name='StoredEvent',
                    fields=[
                        ('position', models.BigAutoField(primary_key=True, serialize=False)),
                        ('tx', products.models.TransactionIdField(default=0, editable=False)),
                        ('stream_type', models.CharField(max_length=50)),
                        ('stream_id', models.UUIDField()),
                        ('version', models.PositiveIntegerField()),
                        ('event_id', models.UUIDField(unique=True)),
                        ('type', models.CharField(max_length=100)),
                        ('schema_version', models.PositiveSmallIntegerField(default=1)),
                        ('data', models.JSONField()),
                        ('metadata', models.JSONField(default=dict)),
                        ('recorded_at', models.DateTimeField()),
                    ],
                    options={
                        'db_table': 'event_store',
                        'ordering': ['tx', 'position'],
                        'permissions': [('issue_product_commands', 'Can issue product commands')],
                        'default_permissions': ('view',),
                        'indexes': [models.Index(fields=['tx', 'position'], name='event_store_tx_position'), models.Index(fields=['type', 'position'], name='event_store_type_position')],
                        'constraints': [models.UniqueConstraint(fields=('stream_id', 'version'), name='event_store_stream_version_uq'), models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='event_store_version_positive')],
                    },
                ),
            ],
        ),
    ]
