"""Reactions (hearts and friends): cheap to send, summed before they fan out.

A popular stream can get hundreds of hearts a second; one frame per heart per viewer would cost more
than all the comments. Each process sums its reactions per topic and, once per `REACTION_INTERVAL`,
publishes one ephemeral `reactions` event with the counts and adds them to the stored totals in one
query per kind. Who may react, and how often, is `realtime.streams.policy`'s call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.db.models import F
from django.utils.translation import gettext as _

from ..eventlog import StoredEvent
from ..exceptions import ProtocolError
from .conf import realtime_settings
from .models import ReactionTotal

if TYPE_CHECKING:
    from ..hub import Hub

logger = logging.getLogger("realtime.reactions")


def validate_kind(kind: object) -> str:
    if not isinstance(kind, str) or kind not in realtime_settings.REACTIONS:
        raise ProtocolError(
            "bad_reaction",
            _("Reaction must be one of %(kinds)s.") % {"kinds": ", ".join(realtime_settings.REACTIONS)},
        )
    return kind


class Reactions:
    """Per-process reaction sums, one per hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pending: dict[str, Counter[str]] = {}
        self.flush_handle: asyncio.TimerHandle | None = None

    def add(self, topic: str, kind: object) -> None:
        self.pending.setdefault(topic, Counter())[validate_kind(kind)] += 1
        if self.flush_handle is None:
            loop = asyncio.get_running_loop()
            self.flush_handle = loop.call_later(
                float(realtime_settings.REACTION_INTERVAL), lambda: loop.create_task(self.flush())
            )

    async def flush(self) -> None:
        self.flush_handle = None
        pending, self.pending = self.pending, {}
        for topic, counts in pending.items():
            await self.hub.publish(StoredEvent(topic=topic, name="reactions", data={"counts": dict(counts)}))
        try:
            await database_sync_to_async(save_totals)(pending)
        except Exception:
            logger.exception("Could not store reaction totals")


def save_totals(pending: dict[str, Counter[str]]) -> None:
    for topic, counts in pending.items():
        stream_id = int(topic.split(".", 1)[1])
        for kind, count in counts.items():
            updated = ReactionTotal.objects.filter(stream_id=stream_id, kind=kind).update(
                count=F("count") + count
            )
            if not updated:
                _, created = ReactionTotal.objects.get_or_create(
                    stream_id=stream_id, kind=kind, defaults={"count": count}
                )
                if not created:
                    ReactionTotal.objects.filter(stream_id=stream_id, kind=kind).update(
                        count=F("count") + count
                    )
