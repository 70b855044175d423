from django.contrib.auth.models import User
from realtime.streams.models import Stream

admin = User.objects.get(username="admin")
Stream.objects.create(title="Launch party", slug="launch", owner=admin)
