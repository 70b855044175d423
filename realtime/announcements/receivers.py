"""Receivers of other apps' signals: a live announcement deleted by any means is taken down first."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from .lifecycle import take_down
from .models import Announcement, State


@receiver(pre_delete, sender=Announcement, dispatch_uid="realtime.announcements.deleted")
def _on_delete(sender: Any, instance: Announcement, **kwargs: Any) -> None:
    """A live announcement deleted by any means (the admin's delete, `QuerySet.delete()`) is taken
    down from every open page first, as ending it would."""
    if instance.state == State.LIVE:
        take_down(instance, "deleted")
