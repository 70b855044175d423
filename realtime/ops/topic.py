"""`ops.status`: the admin status page's live feed. Every process publishes its snapshot here (an
ephemeral `snapshot` event, never stored) every `STATUS_INTERVAL` while a page is subscribed anywhere.

Only active staff with the `realtime.view_status` permission may subscribe (`access.py`). Access follows
`ACCOUNT`, so losing staff status or the permission ends the subscription on every process
(`realtime.signals` re-checks it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from ..conf import realtime_settings
from ..exceptions import ProtocolError
from ..topics import ACCOUNT, Client, Topic
from .access import may_view_status
from .exchange import STATUS_TOPIC, request, snapshot


def _may_view(user_id: int) -> bool:
    # Read fresh: a socket's user object keeps the permissions (and their cache) it had when it connected.
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return user is not None and may_view_status(user)


class StatusWatch:
    """One per hub with status page subscribers: asks every process for a snapshot each interval."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.hub.spawn(self._ask_while_watched())

    async def _ask_while_watched(self) -> None:
        interval = float(realtime_settings.STATUS_INTERVAL)
        while True:
            await self.hub.send_to_hubs(request(publish=True))
            await asyncio.sleep(interval)
            room = self.hub.rooms.get(STATUS_TOPIC)
            if room is None or not len(room):
                return  # the last page closed: nothing more is asked (the next subscribe starts again)


class StatusTopic(Topic):
    kind = "ops"
    persistent = False

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        if name != STATUS_TOPIC:
            raise ProtocolError("not_found", _("The only ops topic is 'ops.status'."))
        return cls(name, key)

    def follows(self) -> tuple[str, ...]:
        return (ACCOUNT,)  # staff status and the permission: losing either ends the subscription

    async def can_subscribe(self, user: Any) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return await database_sync_to_async(_may_view)(user.pk)

    async def state(self, client: Client) -> dict[str, Any]:
        client.hub.service(StatusWatch).ensure_running()
        return {
            "interval": float(realtime_settings.STATUS_INTERVAL),
            "processes": [snapshot(client.hub)],
        }
