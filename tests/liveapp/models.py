from django.db import models


class Gauge(models.Model):
    """A row that changes: `secret` is never declared live, so it must never leave the server."""

    name = models.CharField(max_length=200)
    value = models.IntegerField(default=0)
    open = models.BooleanField(default=True)
    secret = models.CharField(max_length=200, default="")

    def __str__(self) -> str:
        return self.name
