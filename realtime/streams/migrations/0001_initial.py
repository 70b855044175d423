"""Live streams were models of the core `realtime` app until 0.2; this takes over their state.

The tables already exist (created by `realtime.0001_initial`) and keep their names, so nothing in the
database changes: the models' state moves here, and their content types follow (so the
`moderate_stream` permission and admin history stay attached, now as `realtime_streams.*`).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ["stream", "comment", "streamrestriction", "reactiontotal"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        # A content type already made for the new label (e.g. by an earlier failed run) would clash.
        if not ContentType.objects.using(db).filter(app_label="realtime_streams", model=model).exists():
            ContentType.objects.using(db).filter(app_label="realtime", model=model).update(
                app_label="realtime_streams")


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(
        app_label="realtime_streams", model__in=MOVED).update(app_label="realtime")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("realtime", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Stream',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('title', models.CharField(max_length=200)),
                        ('slug', models.SlugField(unique=True)),
                        ('description', models.TextField(blank=True)),
                        ('video_url', models.URLField(blank=True)),
                        ('status', models.CharField(choices=[('live', 'Live'), ('ended', 'Ended')], default='live', max_length=10)),
                        ('allow_anonymous', models.BooleanField(default=True, help_text='Viewers who are not logged in may watch.')),
                        ('comments_open', models.BooleanField(default=True)),
                        ('slow_mode_seconds', models.PositiveIntegerField(default=0, help_text='Seconds a viewer must wait between two comments (0 = off).')),
                        ('blocked_terms', models.TextField(blank=True, help_text='One term per line, refused in comments.')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('moderators', models.ManyToManyField(blank=True, related_name='moderated_streams', to=settings.AUTH_USER_MODEL)),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='owned_streams', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'realtime_stream',
                        'ordering': ['-created_at'],
                        'permissions': [('moderate_stream', 'Can moderate any live stream')],
                    },
                ),
                migrations.CreateModel(
                    name='ReactionTotal',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=20)),
                        ('count', models.PositiveBigIntegerField(default=0)),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reaction_totals', to='realtime_streams.stream')),
                    ],
                    options={
                        'db_table': 'realtime_reactiontotal',
                        'constraints': [models.UniqueConstraint(fields=('stream', 'kind'), name='realtime_reaction_total_once')],
                    },
                ),
                migrations.CreateModel(
                    name='Comment',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveBigIntegerField(help_text="The id of its event on the stream's topic.")),
                        ('client_id', models.CharField(help_text='Chosen by the client; makes a retried post idempotent.', max_length=64)),
                        ('text', models.CharField(max_length=500)),
                        ('color', models.CharField(blank=True, max_length=7)),
                        ('mode', models.CharField(choices=[('scroll', 'Scroll across'), ('top', 'Fixed at top'), ('bottom', 'Fixed at bottom')], default='scroll', max_length=10)),
                        ('media_time', models.FloatField(blank=True, help_text='Seconds into the video when posted.', null=True)),
                        ('state', models.CharField(choices=[('visible', 'Visible'), ('hidden', 'Hidden by a moderator'), ('deleted', 'Deleted')], default='visible', max_length=10)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('author', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stream_comments', to=settings.AUTH_USER_MODEL)),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='realtime_streams.stream')),
                    ],
                    options={
                        'db_table': 'realtime_comment',
                        'ordering': ['stream', 'seq'],
                        'indexes': [models.Index(fields=['stream', 'author', 'created_at'], name='realtime_comment_rate')],
                        'constraints': [models.UniqueConstraint(fields=('stream', 'seq'), name='realtime_comment_stream_seq'), models.UniqueConstraint(fields=('stream', 'author', 'client_id'), name='realtime_comment_idempotency')],
                    },
                ),
                migrations.CreateModel(
                    name='StreamRestriction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('mute', 'Muted'), ('ban', 'Banned')], max_length=4)),
                        ('until', models.DateTimeField(blank=True, help_text='Empty means until lifted.', null=True)),
                        ('reason', models.CharField(blank=True, max_length=200)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='restrictions', to='realtime_streams.stream')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stream_restrictions', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'realtime_streamrestriction',
                        'constraints': [models.UniqueConstraint(fields=('stream', 'user', 'kind'), name='realtime_restriction_once')],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
