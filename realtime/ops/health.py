"""Health endpoints for load balancers and orchestrators (Kubernetes' liveness and readiness probes).

- `live`: the process answers HTTP. Nothing else is asked: a database or Redis outage must not get
  every process restarted (they recover by themselves, `realtime.layerlink`).
- `ready`: this process can serve sockets now: the database answers a query, the channel layer is up
  (as this process's `LayerLink` knows it: the hub's probe asks it every second), and the hub runs
  (started, not stopped, its probe recent). Each check is bounded by `REALTIME["HEALTH_TIMEOUT"]`, so
  a frozen dependency makes the answer 503, not a hung probe.

Both answer JSON, 200 or 503, are never cached, and are open to anyone (they reveal nothing an operator
would hide; keep them off the public site in nginx if you like, docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, router
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from ..conf import realtime_settings
from ..hub.registry import get_hub
from ..layerlink import PROBE_INTERVAL

__all__ = ["live", "ready"]


@never_cache
async def live(request: HttpRequest) -> JsonResponse:
    """200 while the process answers."""
    return JsonResponse({"status": "ok", "pid": os.getpid()})


@never_cache
async def ready(request: HttpRequest) -> JsonResponse:
    """200 when the database, the channel layer and the hub all work; 503 and what failed otherwise."""
    bound = float(realtime_settings.HEALTH_TIMEOUT)
    checks = {
        "database": await _bounded(_database, bound),
        "hub": await _bounded(_hub, bound),
    }
    checks["layer"] = checks["hub"].pop("layer", {"ok": False, "error": "no hub to ask"})
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


async def _bounded(check: Any, bound: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(bound):
            return await check()
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {bound:g} s"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _database() -> dict[str, Any]:
    # A worker thread of its own, not the sync thread every request shares: a database that does not
    # answer holds this probe's thread, never the site's sync views.
    await sync_to_async(_query_database, thread_sensitive=False)()
    return {"ok": True}


def _query_database() -> None:
    from ..models import TopicSequence

    alias = router.db_for_read(TopicSequence)
    try:
        # A table of the app, not SELECT 1: a database that answers but is not this site's (an empty
        # file where the SQLite database was, a wrong DATABASE_URL) is not ready either.
        list(TopicSequence.objects.using(alias).values_list("pk")[:1])
    finally:
        connections[alias].close()  # a pool thread keeps no connection


async def _hub() -> dict[str, Any]:
    hub = await get_hub()  # starts it if no socket has yet: a ready process can take sockets
    link = hub.link
    probed = time.monotonic() - link.watched_at
    running = not hub.stopped and probed < PROBE_INTERVAL + (link.timeout or 0.0) + 1.0
    hub_check: dict[str, Any] = {"ok": running}
    if not running:
        hub_check["error"] = "stopped" if hub.stopped else f"its layer probe last ran {probed:.0f} s ago"
    layer: dict[str, Any] = {"ok": not link.down}
    if link.down and link.outage.since is not None:
        layer["error"] = f"down for {time.monotonic() - link.outage.since:.0f} s"
    hub_check["layer"] = layer
    return hub_check
