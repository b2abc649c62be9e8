# The welcome tables move from acquisition to messaging (issue 12): the tables keep their names
# (db_table), so only Django's state moves; acquisition 0006 drops them from its state.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('acquisition', '0005_lead_campaign'),
        ('corps', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WelcomeMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('text', models.TextField(blank=True, default='')),
                        ('attachments', models.JSONField(blank=True, default=list)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('corp', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corps.corp')),
                        ('live_code', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='welcome', to='acquisition.livecode')),
                        ('staff', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='welcome', to='corps.staff')),
                    ],
                    options={
                        'db_table': 'acquisition_welcomemessage',
                    },
                ),
                migrations.CreateModel(
                    name='WelcomeSend',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('welcome_code', models.CharField(max_length=128)),
                        ('userid', models.CharField(max_length=64)),
                        ('external_userid', models.CharField(max_length=64)),
                        ('state', models.CharField(blank=True, default='', max_length=30)),
                        ('received_at', models.DateTimeField()),
                        ('deadline', models.DateTimeField(help_text="WeCom's 20-second window, from the add")),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('missed', 'Missed (window passed)'), ('failed', 'Failed'), ('none', 'No welcome configured')], default='pending', max_length=8)),
                        ('claimed_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('text', models.TextField(blank=True, default='')),
                        ('error', models.CharField(blank=True, default='', max_length=300)),
                        ('corp', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corps.corp')),
                        ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.welcomemessage')),
                    ],
                    options={
                        'db_table': 'acquisition_welcomesend',
                    },
                ),
                migrations.AddConstraint(
                    model_name='welcomemessage',
                    constraint=models.CheckConstraint(condition=models.Q(('live_code__isnull', True), ('staff__isnull', True), _connector='OR'), name='welcome_one_scope'),
                ),
                migrations.AddConstraint(
                    model_name='welcomemessage',
                    constraint=models.UniqueConstraint(condition=models.Q(('live_code__isnull', True), ('staff__isnull', True)), fields=('corp',), name='welcome_one_corp_default'),
                ),
                migrations.AddIndex(
                    model_name='welcomesend',
                    index=models.Index(fields=['corp', 'status', 'received_at'], name='acquisition_corp_id_158782_idx'),
                ),
                migrations.AddConstraint(
                    model_name='welcomesend',
                    constraint=models.UniqueConstraint(fields=('corp', 'welcome_code'), name='welcomesend_unique_code'),
                ),
            ],
        ),
        migrations.AddField(model_name='welcomesend', name='due_at', field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name='welcomesend', name='lease_until', field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name='welcomesend', name='attempts', field=models.PositiveSmallIntegerField(default=0)),
        migrations.AddField(model_name='welcomesend', name='task_id', field=models.CharField(blank=True, default='', max_length=64)),
        migrations.CreateModel(
            name='Media',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('image', 'Image'), ('video', 'Video'), ('file', 'File')], max_length=5)),
                ('name', models.CharField(max_length=128)),
                ('content_type', models.CharField(blank=True, default='', max_length=100)),
                ('content', models.BinaryField()),
                ('size', models.PositiveIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('media_id', models.CharField(blank=True, default='', max_length=128)),
                ('uploaded_at', models.DateTimeField(blank=True, help_text='when media_id was issued', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('corp', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corps.corp')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('corp', 'kind', 'sha256'), name='media_unique_content')],
            },
        ),
    ]
