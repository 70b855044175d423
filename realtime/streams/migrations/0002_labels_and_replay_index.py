# Labels for translation (no SQL) and the index the replay read (media-time order) uses.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('realtime_streams', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='comment',
            options={'ordering': ['stream', 'seq'], 'verbose_name': 'comment', 'verbose_name_plural': 'comments'},
        ),
        migrations.AlterModelOptions(
            name='reactiontotal',
            options={'verbose_name': 'reaction total', 'verbose_name_plural': 'reaction totals'},
        ),
        migrations.AlterModelOptions(
            name='stream',
            options={'ordering': ['-created_at'], 'permissions': [('moderate_stream', 'Can moderate any live stream')], 'verbose_name': 'live stream', 'verbose_name_plural': 'live streams'},
        ),
        migrations.AlterModelOptions(
            name='streamrestriction',
            options={'verbose_name': 'restriction', 'verbose_name_plural': 'restrictions'},
        ),
        migrations.AlterField(
            model_name='comment',
            name='author',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stream_comments', to=settings.AUTH_USER_MODEL, verbose_name='author'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='client_id',
            field=models.CharField(help_text='Chosen by the client; makes a retried post idempotent.', max_length=64, verbose_name='client id'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='color',
            field=models.CharField(blank=True, max_length=7, verbose_name='colour'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='created'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='media_time',
            field=models.FloatField(blank=True, help_text='Seconds into the video when posted.', null=True, verbose_name='media time'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='mode',
            field=models.CharField(choices=[('scroll', 'Scroll across'), ('top', 'Fixed at top'), ('bottom', 'Fixed at bottom')], default='scroll', max_length=10, verbose_name='display'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='seq',
            field=models.PositiveBigIntegerField(help_text="The id of its event on the stream's topic.", verbose_name='number'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='state',
            field=models.CharField(choices=[('visible', 'Visible'), ('hidden', 'Hidden by a moderator'), ('deleted', 'Deleted')], default='visible', max_length=10, verbose_name='state'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='stream',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='realtime_streams.stream', verbose_name='stream'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='text',
            field=models.CharField(max_length=500, verbose_name='text'),
        ),
        migrations.AlterField(
            model_name='reactiontotal',
            name='count',
            field=models.PositiveBigIntegerField(default=0, verbose_name='count'),
        ),
        migrations.AlterField(
            model_name='reactiontotal',
            name='kind',
            field=models.CharField(max_length=20, verbose_name='reaction'),
        ),
        migrations.AlterField(
            model_name='reactiontotal',
            name='stream',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reaction_totals', to='realtime_streams.stream', verbose_name='stream'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='allow_anonymous',
            field=models.BooleanField(default=True, help_text='Viewers who are not logged in may watch.', verbose_name='anonymous viewers'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='blocked_terms',
            field=models.TextField(blank=True, help_text='One term per line, refused in comments.', verbose_name='blocked terms'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='comments_open',
            field=models.BooleanField(default=True, verbose_name='comments open'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='created'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='moderators',
            field=models.ManyToManyField(blank=True, related_name='moderated_streams', to=settings.AUTH_USER_MODEL, verbose_name='moderators'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='owner',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='owned_streams', to=settings.AUTH_USER_MODEL, verbose_name='owner'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='slow_mode_seconds',
            field=models.PositiveIntegerField(default=0, help_text='Seconds a viewer must wait between two comments (0 = off).', verbose_name='slow mode (seconds)'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='slug',
            field=models.SlugField(unique=True, verbose_name='slug'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='status',
            field=models.CharField(choices=[('live', 'Live'), ('ended', 'Ended')], default='live', max_length=10, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='title',
            field=models.CharField(max_length=200, verbose_name='title'),
        ),
        migrations.AlterField(
            model_name='stream',
            name='video_url',
            field=models.URLField(blank=True, help_text='The video or its recording; comments replay in sync with it.', verbose_name='video URL'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='created'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='kind',
            field=models.CharField(choices=[('mute', 'Muted'), ('ban', 'Banned')], max_length=4, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='reason',
            field=models.CharField(blank=True, max_length=200, verbose_name='reason'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='stream',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='restrictions', to='realtime_streams.stream', verbose_name='stream'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='until',
            field=models.DateTimeField(blank=True, help_text='Empty means until lifted.', null=True, verbose_name='until'),
        ),
        migrations.AlterField(
            model_name='streamrestriction',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stream_restrictions', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
        migrations.AddIndex(
            model_name='comment',
            index=models.Index(fields=['stream', 'media_time', 'seq'], name='realtime_comment_replay'),
        ),
    ]
