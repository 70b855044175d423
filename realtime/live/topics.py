"""The live topic kinds.

`live.<name>`: a registered model's changes (`capture`), stored, last value wins: each frame and each
replay carries only the newest change per row (`Topic.compact_key`), at most one frame per
`LIVE_INTERVAL`, so a row updated 1,000 times a second reaches a page a few times a second with its
latest value. Subscribing needs the registration's `can_view` (default: the model's view permission).

`livev.<view>_<audience>[-<language>][_<pk>]`: a view rendered on the server (`render`), in the
language the name gives (LANGUAGE_CODE without one: `realtime.live.languages`). Stored nowhere: its state
comes with `subscribed` (so a reconnect jumps to the present) and changes follow as `render`, `rows`
or `value` events. Subscribing needs `can_view` and the user's audience to be the topic's.

Both follow `ACCOUNT`: a permission, a group or staff status taken away re-checks them at once, on
every process, with the user as the database has them now (a socket's user object keeps the
permissions it connected with), and kicks who may no longer see them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from ..conf import realtime_settings
from ..eventlog import History, StoredEvent, read_history
from ..exceptions import Denied, ProtocolError
from ..hub.lastvalue import newest_only
from ..topics import ACCOUNT, Client, Topic
from . import languages, registry
from .registry import AUDIENCE, PK, CanView, Fragment, LiveModel, View

#: How many more events than HISTORY_LIMIT a resume reads to compact: a hot row's changes count once.
REPLAY_READ_FACTOR = 10


def fresh(user: Any) -> Any:
    """The user as the database has them now (None: gone or inactive); anonymous users as they are."""
    if not getattr(user, "is_authenticated", False):
        return user
    return get_user_model()._default_manager.filter(pk=user.pk, is_active=True).first()


def allowed(can_view: CanView, user: Any) -> bool:
    user = fresh(user)
    return user is not None and bool(can_view(user))


class ModelTopic(Topic):
    kind = "live"

    def __init__(self, name: str, key: str, entry: LiveModel) -> None:
        super().__init__(name, key)
        self.entry = entry

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        entry = registry.model_named(key)
        if entry is None:
            raise ProtocolError(
                "not_found", _("No live model is registered as %(name)s.") % {"name": repr(key)}
            )
        return cls(name, key, entry)

    def follows(self) -> tuple[str, ...]:
        return (ACCOUNT,)

    async def can_subscribe(self, user: Any) -> bool:
        return await database_sync_to_async(allowed)(self.entry.can_view, user)

    def compact_key(self, event: StoredEvent) -> Hashable | None:
        pk = event.data.get("pk") if event.name == "change" else None
        return str(pk) if pk is not None else None

    def min_window(self) -> float:
        return float(realtime_settings.LIVE_INTERVAL or 0)

    async def history(self, since: int | None, limit: int) -> History:
        """Read further back than `limit` events, so that after compaction (the hub keeps the newest
        change per row) a resume still covers `limit` rows: a hot row's thousand changes count once."""
        history = await database_sync_to_async(read_history)(self.name, since, limit * REPLAY_READ_FACTOR)
        events = newest_only(history.events, self.compact_key)
        truncated = history.truncated or len(events) > limit
        return History(events[-limit:] if limit > 0 else [], history.last_id, truncated)


class ViewTopic(Topic):
    kind = "livev"
    persistent = False

    def __init__(
        self, name: str, key: str, view: View, audience: str, pk: str | None, language: str | None = None
    ) -> None:
        super().__init__(name, key)
        self.view = view
        self.audience = audience
        self.pk = pk
        #: What the renderer renders in (None: LANGUAGE_CODE); see `realtime.live.languages`.
        self.language = language

    @classmethod
    async def load(cls, name: str, key: str) -> Topic:
        view_name, _sep, rest = key.partition("_")
        part, _sep, pk = rest.partition("_")
        audience, language = languages.split(part)
        view = registry.view_named(view_name)
        known = language is None or (language != languages.default() and languages.supported(language))
        if view is None or not AUDIENCE.match(audience) or not known:
            raise ProtocolError(
                "not_found",
                _("No live view %(name)s; view topics are livev.<view>_<audience>[_<pk>].")
                % {"name": repr(key)},
            )
        if isinstance(view, Fragment) != bool(pk) or (isinstance(view, Fragment) and not canonical(view, pk)):
            raise ProtocolError(
                "not_found", _("No such object for the live view %(view)s.") % {"view": view_name}
            )
        return cls(name, key, view, audience, pk or None, language)

    def follows(self) -> tuple[str, ...]:
        return (ACCOUNT,)

    async def can_subscribe(self, user: Any) -> bool:
        return await database_sync_to_async(self._may_see)(user)

    def _may_see(self, user: Any) -> bool:
        user = fresh(user)
        if user is None or not self.view.can_view(user):
            return False
        return self.view.audience(user) == self.audience

    async def authorize_subscribe(self, client: Client) -> None:
        if not await self.can_subscribe(client.user):
            if getattr(client.user, "is_authenticated", False):
                raise Denied("forbidden", _("You may not see this live view."))
            raise Denied("auth_required", _("Log in to see this live view."))

    async def state(self, client: Client) -> dict[str, Any]:
        from .render import Renderer

        return await client.hub.service(Renderer).state(self)


def canonical(view: Fragment, pk: str) -> bool:
    """The one spelling of the object's key (so `x_all_07` is not a second room of object 7)."""
    try:
        return PK.match(pk) is not None and str(view.model._meta.pk.to_python(pk)) == pk
    except Exception:  # a key its field refuses (ValidationError, ValueError): no such object
        return False
