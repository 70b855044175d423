"""Tickets move from signed tokens to database rows, so each can be used once and dies with its session."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('realtime', '0002_streams_app_event_marker'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Ticket',
            fields=[
                ('digest', models.CharField(help_text='SHA-256 (hex) of the token.', max_length=64, primary_key=True, serialize=False)),
                ('session_key', models.CharField(blank=True, default='', help_text='The session that asked for it: the ticket dies with it. Empty for a session-less ticket (manage.py realtime_ticket).', max_length=40)),
                ('fingerprint', models.CharField(help_text="Of the user's password hash when issued.", max_length=32)),
                ('created', models.DateTimeField(default=django.utils.timezone.now)),
                ('used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['created'], name='realtime_ticket_created'), models.Index(fields=['session_key'], name='realtime_ticket_session')],
            },
        ),
    ]
