from datetime import timedelta

from realtime.announcements import announce

announce("Maintenance at 22:00", body="Expect a minute of downtime.", level="warning", ends_in=timedelta(hours=1))
