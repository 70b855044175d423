"""The status across real processes (issue 22, item 2): two daphne processes on this module's own Redis,
`manage.py realtime_status` and the admin's Realtime status page in Chromium.

What must hold: the command lists both processes with the connections each really holds (`--json` and
the human form); a process frozen with SIGSTOP is reported as not answering within the command's
timeout (exit status 1); the admin page shows the same figures and follows a connection opened and
closed on the other process; a user without the permission gets neither the page nor the topic; the
page speaks Chinese to a zh-hans browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.browserkit import chromium
from tests.conftest import ROOT
from tests.faultkit import FaultSite, RedisServer, origin_headers
from tests.wsclient import WsClient

STAFF = "ops-staff"  # staff with realtime.view_status
VIEWER = "ops-viewer"  # signed in, not staff
TIMEOUT = 2.0  # the command's --timeout in these cases

GRANT = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
user = get_user_model().objects.get(username=%r)
user.is_staff = True
user.save()
user.user_permissions.add(Permission.objects.get(codename="view_status", content_type__app_label="realtime"))
"""


@pytest.fixture(scope="module")
def ops() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    site = None
    try:
        site = FaultSite(redis.url)
        made = site.setup([STAFF, VIEWER], [])
        site.manage("shell", "-c", GRANT % STAFF)
        servers = [site.server(), site.server()]
        yield SimpleNamespace(site=site, servers=servers, sessions=made["sessions"])
    finally:
        if site is not None:
            for server in site.servers:  # a failed case must not leave a frozen daphne behind
                if server.process is not None and server.process.poll() is None:
                    server.process.send_signal(signal.SIGCONT)
            site.close()
        redis.close()


def status(ops: SimpleNamespace, *args: str) -> tuple[int, str, float]:
    """`manage.py realtime_status` in a process of its own: (exit status, stdout, seconds taken)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "realtime_status", "--timeout", str(TIMEOUT), *args],
        cwd=ROOT,
        env=ops.site.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not result.stderr.strip() or result.returncode == 1, result.stderr
    return result.returncode, result.stdout, time.monotonic() - started


def by_pid(ops: SimpleNamespace, report: dict) -> dict[int, dict]:
    pids = {server.process.pid: n for n, server in enumerate(ops.servers)}
    return {pids[int(p["name"].rsplit(":", 1)[1])]: p for p in report["processes"]}


@contextlib.asynccontextmanager
async def sockets(ops: SimpleNamespace, server: int, count: int, signed_in: int = 0):
    url = ops.servers[server].ws_url
    clients = [
        WsClient(url, additional_headers=origin_headers(ops.sessions[VIEWER] if n < signed_in else None)(url))
        for n in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        yield clients


async def test_the_command_lists_both_processes_with_their_connections(ops):
    # A process's hub starts with its first WebSocket connection: one each, and what is there is the base.
    async with sockets(ops, 0, 1), sockets(ops, 1, 1):
        _, out, _ = await asyncio.to_thread(status, ops, "--json")
        before = by_pid(ops, json.loads(out))  # what other cases left (their errors, their sockets)
        async with sockets(ops, 0, 2, signed_in=1), sockets(ops, 1, 3, signed_in=2) as on_b:
            assert (await on_b[0].subscribe("nonsense.1"))["code"] == "unknown_topic"
            code, out, took = await asyncio.to_thread(status, ops, "--json")
            assert code == 0, out
            found = by_pid(ops, json.loads(out))
            assert sorted(found) == [0, 1] and all(p["answering"] for p in found.values())
            figures = [
                tuple(found[n][key] - before[n][key] for key in ("connections", "signed_in", "anonymous"))
                for n in (0, 1)
            ]
            assert figures == [(2, 1, 1), (3, 2, 1)]
            errors = [
                found[n]["errors"].get("unknown_topic", 0) - before[n]["errors"].get("unknown_topic", 0)
                for n in (0, 1)
            ]
            assert errors == [0, 1]
            assert found[0]["layer"]["up"] and found[1]["database"]["up"]
            assert took < TIMEOUT + 10  # the answers are in well before the bound (a process start included)

            code, out, _ = await asyncio.to_thread(status, ops)
            assert code == 0
            assert out.count("connections    ") == 2
            line = "connections    {} ({} signed in, {} anonymous)"
            assert line.format(*(found[1][key] for key in ("connections", "signed_in", "anonymous"))) in out
            assert "unknown_topic " in out
            assert "2 process(es) answered, 0 not answering" in out


async def test_a_frozen_process_is_reported_as_not_answering_within_the_bound(ops):
    # A process's hub starts with its first WebSocket connection: until then it has nothing to report.
    async with sockets(ops, 0, 1), sockets(ops, 1, 1):
        code, _, _ = await asyncio.to_thread(status, ops, "--json")  # both know each other from here on
        assert code == 0
        await asyncio.sleep(0.5)
        frozen = ops.servers[1].process
        frozen.send_signal(signal.SIGSTOP)
        try:
            code, out, took = await asyncio.to_thread(status, ops, "--json")
        finally:
            frozen.send_signal(signal.SIGCONT)
    assert code == 1, out  # scripts and monitors can test it
    report = json.loads(out)
    answering = {p["name"]: p["answering"] for p in report["processes"]}
    assert answering == {
        p["name"]: p["name"].endswith(f":{ops.servers[0].process.pid}") for p in report["processes"]
    }
    assert len(answering) == 2
    assert TIMEOUT <= report["waited"] < TIMEOUT + 0.5 and took < TIMEOUT + 10


# -- the admin page in Chromium --------------------------------------------------------------------
def open_page(browser, ops, username: str | None, locale: str = "en-US"):
    base = ops.servers[0].url
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    context.set_default_timeout(10000)
    if username:
        context.add_cookies([{"name": "sessionid", "value": ops.sessions[username], "url": base}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{base}/admin/realtime/statuspage/")
    return context, page, response, errors


def connections_shown(page, server: SimpleNamespace) -> str:
    card = page.locator(f'[data-process][data-name$=":{server.process.pid}"]')
    return card.locator('[data-field="connections"]').text_content() or ""


def wait_shown(page, server: SimpleNamespace, expected: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while connections_shown(page, server) != str(expected):
        assert time.monotonic() < deadline, (
            f"the page shows {connections_shown(page, server)!r}, not {expected}"
        )
        page.wait_for_timeout(200)


def test_the_admin_page_follows_both_processes_live(ops):
    with chromium() as browser:
        context, page, response, errors = open_page(browser, ops, STAFF)
        assert response.status == 200
        # Sockets on the other process, opened by a second tab of the site (its own origin). The first
        # starts that process's hub (a process appears once it has had a connection).
        other = context.new_page()
        other.goto(f"{ops.servers[1].url}/admin/login/")
        opened = (
            "url => { window.opened = (window.opened || []).concat([new WebSocket(url, ['realtime'])]); }"
        )
        other.evaluate(opened, ops.servers[1].ws_url)
        page.wait_for_selector('[data-rt-ops-status][data-live="true"]')
        page.wait_for_selector('[data-process][data-answering="true"] >> nth=1')
        assert page.locator("[data-process]").count() == 2
        wait_shown(page, ops.servers[1], 1)
        wait_shown(page, ops.servers[0], 1)  # the page's own socket
        other.evaluate(opened, ops.servers[1].ws_url)
        other.evaluate(opened, ops.servers[1].ws_url)
        wait_shown(page, ops.servers[1], 3)
        other.evaluate("() => window.opened[0].close()")
        wait_shown(page, ops.servers[1], 2)
        # The command sees what the page shows.
        code, out, _ = status(ops, "--json")
        found = by_pid(ops, json.loads(out))
        assert (found[0]["connections"], found[1]["connections"]) == (1, 2)
        assert (
            page.locator("svg.rt-ops__chart").count() == 4
            and page.locator("script[src^='http']").count() == 0
        )
        assert page.locator("dt", has_text="Connections").count() == 2
        # A frozen process: its card says so once its snapshots stop (three intervals), and recovers.
        card = f'[data-process][data-name$=":{ops.servers[1].process.pid}"]'
        ops.servers[1].process.send_signal(signal.SIGSTOP)
        try:
            page.wait_for_selector(f'{card}[data-answering="false"]', timeout=12000)
            assert "Not answering" in (page.locator(card).text_content() or "")
            assert page.locator('[data-process][data-answering="true"]').count() == 1
        finally:
            ops.servers[1].process.send_signal(signal.SIGCONT)
        page.wait_for_selector(f'{card}[data-answering="true"]', timeout=12000)
        context.close()
        assert errors == []


def test_the_page_and_the_topic_refuse_a_user_without_the_permission(ops):
    with chromium() as browser:
        context, page, response, _ = open_page(browser, ops, VIEWER)
        assert "/admin/login/" in page.url  # not staff: the admin's login instead of the page
        context.close()

    async def subscribe() -> dict:
        url = ops.servers[1].ws_url
        async with WsClient(url, additional_headers=origin_headers(ops.sessions[VIEWER])(url)) as client:
            return await client.subscribe("ops.status")

    reply = asyncio.run(subscribe())
    assert (reply["type"], reply.get("code")) == ("error", "forbidden")


def test_the_page_speaks_chinese(ops):
    with chromium() as browser:
        context, page, response, errors = open_page(browser, ops, STAFF, locale="zh-Hans")
        page.wait_for_selector('[data-process][data-answering="true"]')
        assert page.locator("dt", has_text="连接数").count() >= 1
        assert page.locator("h3", has_text="热门主题").count() >= 1
        assert "实时状态" in page.title()
        context.close()
        assert errors == []
