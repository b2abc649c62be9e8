# Group welcomes move from the group code's own fields into messaging (issue 12).

import django.db.models.deletion
from django.db import migrations, models


def copy_group_welcomes(apps, schema_editor):
    GroupCode = apps.get_model("groups", "GroupCode")
    GroupWelcome = apps.get_model("messaging", "GroupWelcome")
    for code in GroupCode.objects.exclude(welcome_text="", welcome_template_id=""):
        GroupWelcome.objects.create(
            corp_id=code.corp_id, group_code=code, text=code.welcome_text, template_id=code.welcome_template_id,
            # A template that was never created (or is left after the text was emptied) is brought in step.
            push_status="done" if bool(code.welcome_text) == bool(code.welcome_template_id) else "due",
        )


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0001_initial'),
        ('groups', '0002_groupcode_groupcodegroup_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='GroupWelcome',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('text', models.TextField(blank=True, default='')),
                ('attachments', models.JSONField(blank=True, default=list, help_text="at most one (WeCom's template holds one)")),
                ('template_id', models.CharField(blank=True, default='', max_length=64)),
                ('pushed_at', models.DateTimeField(blank=True, null=True)),
                ('push_status', models.CharField(default='done', max_length=8)),
                ('push_due_at', models.DateTimeField(blank=True, null=True)),
                ('push_claimed_at', models.DateTimeField(blank=True, null=True)),
                ('push_lease_until', models.DateTimeField(blank=True, null=True)),
                ('push_attempts', models.PositiveSmallIntegerField(default=0)),
                ('push_error', models.CharField(blank=True, default='', max_length=300)),
                ('push_task_id', models.CharField(blank=True, default='', max_length=64)),
                ('corp', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corps.corp')),
                ('group_code', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='welcome', to='groups.groupcode')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.RunPython(copy_group_welcomes, migrations.RunPython.noop),
    ]
