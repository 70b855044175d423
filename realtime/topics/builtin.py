"""The broadcast audiences that ship with the app: everyone, one user, one group of users."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from ..exceptions import ProtocolError
from .base import Topic


class BroadcastTopic(Topic):
    """`broadcast.all`: announcements to every connected client, anonymous included."""

    kind = "broadcast"

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        if key != "all":
            raise ProtocolError("not_found", _("The only broadcast topic is 'broadcast.all'."))
        return cls(name, key)

    async def can_subscribe(self, user: Any) -> bool:
        return True


class UserTopic(Topic):
    """`user.<id>`: messages to one user, on every tab and device they have open."""

    kind = "user"

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        cls.int_key(key, "user")
        return cls(name, key)

    async def can_subscribe(self, user: Any) -> bool:
        return bool(user.is_authenticated and str(user.pk) == self.key)


class GroupTopic(Topic):
    """`group.<id>`: messages to the members of one `django.contrib.auth` group."""

    kind = "group"

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        from django.contrib.auth.models import Group

        if not await Group.objects.filter(pk=cls.int_key(key, "group")).aexists():
            raise ProtocolError("not_found", _("No group with id %(id)s.") % {"id": key})
        return cls(name, key)

    async def can_subscribe(self, user: Any) -> bool:
        return bool(user.is_authenticated and await user.groups.filter(pk=self.key).aexists())
