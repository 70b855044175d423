"""`page.<slug>`: "who is here" on any page of a site (the `{% realtime_presence %}` tag's topic).

Anyone may subscribe (anonymous viewers are counted, never listed); only signed-in users see the
roster. Nothing is published on it: it exists for its presence.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from ..exceptions import ProtocolError
from ..topics.base import Client, Topic
from .policy import PresencePolicy

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class PagePresence(PresencePolicy):
    async def can_see(self, client: Client) -> bool:
        return bool(getattr(client.user, "is_authenticated", False))


class PageTopic(Topic):
    kind = "page"
    persistent = False
    presence = PagePresence

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        if not SLUG.fullmatch(key):
            raise ProtocolError(
                "not_found",
                _("No page %(key)s: use 1 to 64 lowercase letters, digits, '-' or '_'.")
                % {"key": repr(key[:80])},
            )
        return cls(name, key)

    async def can_subscribe(self, user: Any) -> bool:
        return True
