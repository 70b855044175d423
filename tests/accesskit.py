"""Helpers for tests of access and audiences against daphne: people, sockets opened as a logged-in
browser would, kicks waited for and timed, the shell as another process making a change."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.announcekit import Browser
from tests.wsclient import WsClient

# Seconds from the committed change to the `kicked` frame on the other process. Measured 17-483 ms on
# two processes on Redis; the bound is test_revocation's 2 s because CI's two cores also run browsers
# (1.21 s was seen once there). The figures themselves belong to the issue notes, not to this bound.
KICK_BOUND = 2.0


def run(site: Any, code: str) -> Any:
    """Run `code` in `manage.py shell` (a process of its own); it prints one JSON value last."""
    output = site.manage("shell", "-c", code)
    return json.loads(output.strip().splitlines()[-1])


PEOPLE = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
User = get_user_model()
out = {}
for name, staff in %r:
    user, created = User.objects.get_or_create(username=name, defaults={"is_staff": staff})
    user.set_password("demo")
    user.save()
    out[name] = user.pk
print(json.dumps(out))
"""


async def timed_kicks(site: Any, change: str, clients: list[WsClient], topics: set[str], code: str) -> float:
    """Make `change` in `manage.py shell` while `clients` wait for their kicks; seconds from the change's
    commit (its publish, the shell's first connection to the layer included) to the last kick read."""
    body = "".join(f"    {line}\n" for line in change.strip().splitlines())
    script = (
        "import json, time\nfrom django.db import transaction\ncommitted = []\n"
        "with transaction.atomic():\n"
        "    transaction.on_commit(lambda: committed.append(time.time()))  # first: before the publish\n"
        f"{body}print(json.dumps(committed[0]))"
    )
    running = asyncio.create_task(asyncio.to_thread(run, site, script))
    try:
        for client in clients:  # bounded by the shell's start-up (Django's setup) plus the kick
            assert await kicked(client, topics, 30) == dict.fromkeys(topics, code)
        arrived = time.time()
    finally:
        committed = await running
    return arrived - committed


def people(site: Any, *names: str, staff: tuple[str, ...] = ()) -> dict[str, int]:
    return run(site, PEOPLE % ([(name, name in staff) for name in names],))


async def socket(server: Any, browser: Browser | None = None) -> WsClient:
    # The page's own origin: the session cookie is the browser's, whichever process served the login.
    options = {**browser.ws_options(), "origin": server.url} if browser is not None else {}
    return await WsClient(server.ws_url, **options).__aenter__()


async def subscribe_all(client: WsClient, *topics: str) -> None:
    for topic in topics:
        reply = await client.subscribe(topic)
        assert reply["type"] == "subscribed", reply


async def kicked(client: WsClient, topics: set[str], timeout: float) -> dict[str, str]:
    """Wait for a `kicked` frame for each of `topics`: {topic: code}."""
    got: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while set(got) != topics:
        frame = await client.receive_where(type="kicked", timeout=max(deadline - loop.time(), 0.01))
        got[frame["topic"]] = frame["code"]
    return got


async def quiet(client: WsClient, seconds: float = 0.6) -> list[dict[str, Any]]:
    got = []
    while True:
        try:
            got.append(await client.receive(timeout=seconds))
        except TimeoutError:
            return got


def shown(frames: list[dict[str, Any]]) -> list[int]:
    return [f["data"]["id"] for f in frames if f.get("type") == "event" and f.get("event") == "announcement"]
