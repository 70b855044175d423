"""realtime.live against real daphne processes serving the example site with tests/liveapp: changes made
in another OS process (`manage.py shell`) on the embedded default (SQLite, in-memory layer: they arrive
through the database), and two daphne processes on Redis (through the layer), frames counted raw."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT, Site
from tests.wsclient import WsClient

MODEL_TOPIC = "live.liveapp-gauge"

PEOPLE = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from realtime.tickets import issue_ticket
out = {}
for name, staff, may in (("vee", False, True), ("sam", True, True), ("nob", False, False)):
    user, _ = get_user_model().objects.get_or_create(username=name, defaults={"is_staff": staff})
    if may:
        user.user_permissions.add(Permission.objects.get(codename="view_gauge"))
    out[name] = [issue_ticket(user) for _ in range(4)]
print(json.dumps(out))
"""


def live_site(redis_url: str | None = None) -> Site:
    site = Site(redis_url)
    site.env["DJANGO_SETTINGS_MODULE"] = "tests.settings_live"
    site.manage("migrate", "--verbosity", "0")
    return site


def shell(site: Site, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def new_gauge(site: Site, name: str, value: int) -> int:
    """A Gauge made in a shell of the site (another process, as a task queue would); its pk."""
    code = f"from tests.liveapp.models import Gauge; print(Gauge.objects.create(name={name!r}, value={value}).pk)"
    return int(shell(site, code))


def tickets(site: Site) -> dict[str, list[str]]:
    return json.loads(shell(site, PEOPLE).splitlines()[-1])


async def socket(server: Any, ticket: str, *topics: str) -> WsClient:
    client = await WsClient(f"{server.ws_url}?ticket={ticket}").__aenter__()
    for topic in topics:
        reply = await client.subscribe(topic)
        assert reply["type"] == "subscribed", reply
    return client


async def raw_frames(client: WsClient, quiet: float) -> list[list[dict[str, Any]]]:
    got = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(client.socket.recv(), quiet))
        except TimeoutError:
            return got
        got.append(message["messages"] if message["type"] == "batch" else [message])


@pytest.fixture(scope="module")
def embedded():
    site = live_site()
    try:
        server = site.server()
        yield site, server, tickets(site)
    finally:
        site.close()


async def test_a_change_made_in_a_shell_reaches_model_and_view_subscribers(embedded):
    site, server, people = embedded
    pk = new_gauge(site, "g", 1)
    model = await socket(server, people["vee"][0], MODEL_TOPIC)
    card = await socket(server, people["vee"][1], f"livev.gauge-card_all_{pk}")
    staff = await socket(server, people["sam"][0], f"livev.gauge-card_staff_{pk}")
    refused = await WsClient(f"{server.ws_url}?ticket={people['nob'][0]}").__aenter__()
    try:
        assert (await refused.subscribe(MODEL_TOPIC))["code"] == "forbidden"
        assert (await refused.subscribe(f"livev.gauge-card_all_{pk}"))["code"] == "forbidden"
        assert (await staff.subscribe(f"livev.gauge-card_all_{pk}"))[
            "code"
        ] == "forbidden"  # not its audience
        shell(
            site,
            f"from tests.liveapp.models import Gauge; g = Gauge.objects.get(pk={pk}); g.value = 2; g.secret = 'hush'; g.save()",
        )
        change = await model.receive_where(type="event", event="change", timeout=5)
        while change["data"]["op"] == "create":  # the replay of the create
            change = await model.receive_where(type="event", event="change", timeout=5)
        assert change["data"] == {"op": "update", "pk": pk, "fields": {"name": "g", "value": 2, "open": True}}
        render = await card.receive_where(type="event", event="render", timeout=5)
        assert render["data"] == {"html": '<p class="gauge">g: 2 (all)</p>\n', "deleted": False}
        render = await staff.receive_where(type="event", event="render", timeout=5)
        assert "(staff)" in render["data"]["html"]
        shell(site, f"from tests.liveapp.models import Gauge; Gauge.objects.filter(pk={pk}).delete()")
        render = await card.receive_where(type="event", event="render", timeout=5)
        assert render["data"] == {"html": "", "deleted": True}
    finally:
        for client in (model, card, staff, refused):
            await client.__aexit__(None, None, None)
    assert "Traceback" not in server.output()


@pytest.fixture(scope="module")
def on_redis(redis_url):
    site = live_site(redis_url)
    try:
        servers = [site.server(), site.server()]
        yield site, servers, tickets(site)
    finally:
        site.close()


async def test_two_processes_on_redis_a_hot_row_arrives_as_few_frames_with_its_latest_value(on_redis):
    site, servers, people = on_redis
    pk = new_gauge(site, "hot", 0)
    sockets = [
        await socket(
            servers[n], people["vee"][n], MODEL_TOPIC, f"livev.gauge-card_all_{pk}", "livev.open-gauges_all"
        )
        for n in (0, 1)
    ]
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        hammer = asyncio.create_task(
            asyncio.to_thread(
                shell,
                site,
                "from tests.liveapp.models import Gauge\n"
                f"g = Gauge.objects.get(pk={pk})\n"
                "for n in range(1, 1001):\n    g.value = n; g.save()\n",
            )
        )
        got = await asyncio.gather(*(raw_frames(s, quiet=3.0) for s in sockets))
        await hammer
        elapsed = loop.time() - start
        for frames in got:
            messages = [m for frame in frames for m in frame if m.get("type") == "event"]
            changes = [m["data"] for m in messages if m["event"] == "change" and m["data"]["pk"] == pk]
            renders = [m["data"]["html"] for m in messages if m["event"] == "render"]
            rows = [m["data"] for m in messages if m["event"] == "rows"]
            assert changes[-1]["fields"]["value"] == 1000
            assert renders[-1] == '<p class="gauge">hot: 1000 (all)</p>\n'
            assert rows[-1]["html"][str(pk)] == f'<li data-live-key="{pk}">hot = 1000</li>\n'
            # Three topics, each at most one frame per LIVE_INTERVAL (0.15 s) and its leading edge.
            assert len(frames) <= 3 * (elapsed / 0.15 + 2), (len(frames), elapsed)
            # One change per frame at most for one row: never a backlog, however fast it is saved.
            assert len(changes) <= elapsed / 0.15 + 2, (len(changes), elapsed)
            print(f"{len(frames)} frames, {len(changes)} changes, {len(renders)} renders in {elapsed:.1f} s")
    finally:
        for client in sockets:
            await client.__aexit__(None, None, None)
    for server in servers:
        assert "Traceback" not in server.output()
