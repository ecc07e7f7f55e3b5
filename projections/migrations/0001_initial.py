from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='CategoryMember',
            fields=[
                ('product_id', models.UUIDField(primary_key=True, serialize=False)),
                ('category', models.CharField(db_index=True, max_length=100)),
                ('active', models.BooleanField()),
                ('stock', models.BigIntegerField()),
                ('version', models.PositiveIntegerField()),
            ],
            options={
                'db_table': 'read_category_member',
                'default_permissions': ('view',),
            },
        ),
        migrations.CreateModel(
            name='CategorySummary',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('active_products', models.IntegerField()),
                ('discontinued_products', models.IntegerField()),
                ('total_stock', models.BigIntegerField(help_text='Stock of the active products.')),
            ],
            options={
                'verbose_name_plural': 'category summaries',
                'db_table': 'read_category_summary',
                'ordering': ['name'],
                'default_permissions': ('view',),
            },
        ),
        migrations.CreateModel(
            name='ProjectionState',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('last_tx', models.BigIntegerField(default=0)),
                ('last_position', models.BigIntegerField(default=0)),
                ('status', models.CharField(choices=[('running', 'running'), ('retrying', 'retrying'), ('stalled', 'stalled'), ('rebuilding', 'rebuilding')], default='running', max_length=20)),
                ('attempts', models.PositiveIntegerField(default=0, help_text='Batches started since the last success.')),
                ('next_retry_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('failed_position', models.BigIntegerField(blank=True, help_text='The event the last failure stopped at.', null=True)),
                ('suspect_until', models.BigIntegerField(blank=True, help_text='A runner died before this event was done.', null=True)),
                ('events_applied', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'projection',
                'db_table': 'projection_state',
                'ordering': ['name'],
                'permissions': [('operate_projections', 'Can rebuild, retry and skip projections')],
                'default_permissions': ('view',),
            },
        ),
        migrations.CreateModel(
            name='SkippedEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('projection', models.CharField(max_length=100)),
                ('position', models.BigIntegerField()),
                ('event_id', models.UUIDField()),
                ('event_type', models.CharField(max_length=100)),
                ('reason', models.TextField()),
                ('error', models.TextField(blank=True)),
                ('skipped_by', models.CharField(blank=True, max_length=150)),
                ('skipped_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'projection_skipped_event',
                'ordering': ['-skipped_at'],
                'default_permissions': ('view',),
            },
        ),
        migrations.CreateModel(
            name='CatalogProduct',
            fields=[
                ('id', models.UUIDField(primary_key=True, serialize=False)),
                ('sku', models.CharField(db_index=True, max_length=64)),
                ('name', models.CharField(max_length=200)),
                ('description', models.TextField(blank=True)),
                ('category', models.CharField(max_length=100)),
                ('price', models.DecimalField(decimal_places=2, max_digits=12)),
                ('currency', models.CharField(max_length=3)),
                ('stock', models.BigIntegerField()),
                ('status', models.CharField(max_length=20)),
                ('version', models.PositiveIntegerField()),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'verbose_name': 'catalog product',
                'db_table': 'read_product_catalog',
                'ordering': ['name', 'id'],
                'default_permissions': ('view',),
                'indexes': [models.Index(fields=['category', 'name'], name='read_catalog_category_name'), models.Index(fields=['status', 'name'], name='read_catalog_status_name'), models.Index(fields=['price', 'id'], name='read_catalog_price'), models.Index(fields=['created_at', 'id'], name='read_catalog_created'), models.Index(fields=['updated_at', 'id'], name='read_catalog_updated')],
            },
        ),
        migrations.CreateModel(
            name='PriceHistoryEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('product_id', models.UUIDField()),
                ('version', models.PositiveIntegerField(help_text='The product version that set this price.')),
                ('price', models.DecimalField(decimal_places=2, max_digits=12)),
                ('currency', models.CharField(max_length=3)),
                ('changed_at', models.DateTimeField()),
            ],
            options={
                'verbose_name_plural': 'price history',
                'db_table': 'read_price_history',
                'ordering': ['product_id', 'version'],
                'default_permissions': ('view',),
                'constraints': [models.UniqueConstraint(fields=('product_id', 'version'), name='read_price_history_product_version')],
            },
        ),
    ]
