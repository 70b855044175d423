"""docs/nginx.conf, as shipped (ports swapped in), in front of two daphne processes on Redis: browser
handshakes pass the origin check through it, sockets spread over both processes and still see each
other's events, and with one process gone new sockets go to the other. Skipped where nginx is not
installed (bin/test installs nginx-light from the OS packages when it can)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_for_port
from tests.wsclient import WsClient


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")


@pytest.fixture(scope="module")
def proxied(redis_site):
    servers = [redis_site.server(), redis_site.server()]
    workdir = Path(tempfile.mkdtemp(prefix="realtime-nginx-"))
    port = free_port()
    site_conf = (ROOT / "docs" / "nginx.conf").read_text()
    site_conf = re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", site_conf)
    upstreams = iter(servers)
    site_conf = re.sub(
        r"server 127\.0\.0\.1:800[12]", lambda m: f"server 127.0.0.1:{next(upstreams).port}", site_conf
    )
    (workdir / "realtime.conf").write_text(site_conf)
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (workdir / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/error.log;\n"
        + "events { worker_connections 256; }\n"
        + f"http {{ access_log {workdir}/access.log; {temp} include {workdir}/realtime.conf; }}\n"
    )
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield port, servers
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def browser(port: int) -> WsClient:
    """A browser tab of the site as served through nginx: its Origin is nginx's address."""
    return WsClient(f"ws://127.0.0.1:{port}/ws/realtime/", origin=f"http://127.0.0.1:{port}", proxy=None)


async def test_pages_and_sockets_go_through_the_shipped_nginx_config(proxied, redis_site):
    port, servers = proxied
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.status == 200
    async with browser(port) as first, browser(port) as second:
        assert first.hello["type"] == second.hello["type"] == "hello"  # Host kept its port: origin accepted
        for client in (first, second):
            assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
        # least_conn: one socket on each process, and each still sees the other's events (Redis).
        assert all("WSCONNECT /ws/realtime/" in server.output() for server in servers)
        await asyncio.to_thread(
            redis_site.manage,
            "broadcast",
            "broadcast.all",
            "broadcast",
            "--data",
            '{"message": "through nginx"}',
        )
        for client in (first, second):
            event = await client.receive_where(timeout=10, type="event", event="broadcast")
            assert event["data"] == {"message": "through nginx"}


async def test_with_one_process_gone_new_sockets_go_to_the_other(proxied):
    port, servers = proxied
    servers[0].stop()
    try:
        for _ in range(3):
            async with browser(port) as client:
                assert client.hello["type"] == "hello"
    finally:
        servers[0].start()
