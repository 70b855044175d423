"""Live streams moved to their own app (`realtime.streams`); the event log learns markers.

Stream, Comment, StreamRestriction and ReactionTotal leave this app's state only: their tables stay
and `realtime_streams.0001_initial` takes them over. Projects that do not install `realtime.streams`
keep the (empty) tables from 0001.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("realtime", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="Comment"),
                migrations.DeleteModel(name="StreamRestriction"),
                migrations.DeleteModel(name="ReactionTotal"),
                migrations.DeleteModel(name="Stream"),
            ],
        ),
        migrations.AddField(
            model_name="event",
            name="marker",
            field=models.BooleanField(
                default=False,
                help_text="Announces a change to earlier events or to the topic's state (e.g. a comment "
                          "deleted); replayed alongside them, never counted against HISTORY_LIMIT.",
            ),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["created_at"], name="realtime_event_created"),
        ),
    ]
