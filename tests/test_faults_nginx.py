"""docs/nginx.conf, as shipped (ports swapped in), in front of two daphne processes on Redis: browser
handshakes pass the origin check through it, sockets spread over both processes and still see each
other's events, and with one process gone new sockets go to the other. The same server block again
with TLS (as docs/deployment.md's "TLS" section has it): `wss://` through nginx terminating TLS. Skipped where nginx is not
installed (bin/test installs nginx-light from the OS packages when it can)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT, DaphneServer, free_port, wait_for_port
from tests.test_tls import client_context, make_certificate
from tests.wsclient import WsClient


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")


def proxy_server(redis_site) -> DaphneServer:
    """A daphne process configured as docs/deployment.md says for a TLS-terminating proxy: the
    handshake's scheme comes from nginx's X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER)."""
    server = DaphneServer({**redis_site.env, "DJANGO_SETTINGS_MODULE": "tests.settings_proxy"}).start()
    redis_site.servers.append(server)
    return server


def with_tls_server_block(site_conf: str, port: int, cert: Path, key: Path) -> str:
    """The shipped config plus a copy of its server block listening with TLS, as deployment.md's
    "TLS" section has it (the same locations; nginx sets X-Forwarded-Proto to https there)."""
    block = site_conf[site_conf.index("server {") :]
    tls = re.sub(
        r"listen [^;]+;",
        f"listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};",
        block,
        count=1,
    )
    return site_conf + "\n" + tls


@pytest.fixture(scope="module")
def nginx(redis_site, tmp_path_factory):
    """nginx running docs/nginx.conf (plus its TLS variant) in front of two daphne processes."""
    servers = [proxy_server(redis_site), proxy_server(redis_site)]
    workdir = Path(tempfile.mkdtemp(prefix="realtime-nginx-"))
    port, tls_port = free_port(), free_port()
    site_conf = (ROOT / "docs" / "nginx.conf").read_text()
    site_conf = re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", site_conf)
    upstreams = iter(servers)
    site_conf = re.sub(
        r"server 127\.0\.0\.1:800[12]", lambda m: f"server 127.0.0.1:{next(upstreams).port}", site_conf
    )
    cert, key = make_certificate(tmp_path_factory.mktemp("nginx-tls"))
    (workdir / "realtime.conf").write_text(with_tls_server_block(site_conf, tls_port, cert, key))
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
        wait_for_port(tls_port, process)
        yield SimpleNamespace(port=port, servers=servers, tls_port=tls_port, context=client_context(cert))
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def proxied(nginx):
    """nginx's plain-HTTP port and the daphne processes behind it."""
    return nginx.port, nginx.servers


def browser(port: int) -> WsClient:
    """A browser tab of the site as served through nginx: its Origin is nginx's address."""
    return WsClient(f"ws://127.0.0.1:{port}/ws/realtime/", origin=f"http://127.0.0.1:{port}", proxy=None)


async def test_pages_and_sockets_go_through_the_shipped_nginx_config(proxied, redis_site):
    port, servers = proxied
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.status == 200
    before = [server.output().count("WSCONNECT /ws/realtime/") for server in servers]
    async with browser(port) as first, browser(port) as second:
        assert first.hello["type"] == second.hello["type"] == "hello"  # Host kept its port: origin accepted
        for client in (first, second):
            assert (await client.subscribe("broadcast.all"))["type"] == "subscribed"
        # least_conn spreads sockets over both processes, and each still sees the other's events
        # (Redis). nginx keeps a process it failed to reach out of the rotation for fail_timeout (10 s),
        # as after test_with_one_process_gone_new_sockets_go_to_the_other, so more tabs may be needed.
        async with contextlib.AsyncExitStack() as more_tabs:
            deadline = asyncio.get_running_loop().time() + 20
            while not all(
                server.output().count("WSCONNECT /ws/realtime/") > seen
                for server, seen in zip(servers, before, strict=True)
            ):
                assert asyncio.get_running_loop().time() < deadline, "nginx sent every socket to one process"
                await more_tabs.enter_async_context(browser(port))
                await asyncio.sleep(0.5)
        await asyncio.to_thread(
            redis_site.manage,
            "broadcast",
            "broadcast.all",
            "broadcast",
            "--data",
            '{"message": "through nginx"}',
        )
        for client in (first, second):
            # Matched on its data: the subscribe's replay may hold earlier broadcasts of this site.
            await client.receive_where(
                timeout=10, type="event", event="broadcast", data={"message": "through nginx"}
            )


async def test_with_one_process_gone_new_sockets_go_to_the_other(proxied):
    port, servers = proxied
    servers[0].stop()
    try:
        for _ in range(3):
            async with browser(port) as client:
                assert client.hello["type"] == "hello"
    finally:
        servers[0].start()


async def test_wss_through_nginx_terminating_tls(nginx, redis_site):
    """A browser tab of the https site: wss:// to nginx, which terminates TLS and talks ws:// to daphne.
    Its https Origin is accepted (X-Forwarded-Proto), it subscribes, receives a broadcast, and posts."""
    port = nginx.tls_port
    url = f"wss://127.0.0.1:{port}/ws/realtime/"
    ticket = await asyncio.to_thread(redis_site.ticket, "alice")
    options = {"origin": f"https://127.0.0.1:{port}", "proxy": None, "ssl": nginx.context}
    async with WsClient(url, **options) as viewer, WsClient(f"{url}?ticket={ticket}", **options) as alice:
        assert viewer.hello["type"] == "hello" and alice.hello["user"]["username"] == "alice"
        assert (await viewer.subscribe("broadcast.all"))["type"] == "subscribed"
        await asyncio.to_thread(
            redis_site.manage, "broadcast", "broadcast.all", "broadcast", "--data", '{"message": "over tls"}'
        )
        await viewer.receive_where(timeout=10, type="event", event="broadcast", data={"message": "over tls"})
        await alice.subscribe("stream.1")
        await viewer.subscribe("stream.1")
        ack = await alice.request(
            {
                "type": "publish",
                "topic": "stream.1",
                "event": "comment",
                "data": {"text": "through nginx tls", "client_id": "nginx-tls-1"},
            }
        )
        assert ack["type"] == "ack", ack
        seen = await viewer.receive_where(timeout=10, type="event", event="comment", id=ack["id"])
        assert seen["data"]["text"] == "through nginx tls"
    # An http page's origin is not the https site's: refused, as without the proxy.
    with pytest.raises(Exception):  # noqa: B017 - websockets raises InvalidStatus (HTTP 403)
        async with WsClient(url, **{**options, "origin": f"http://127.0.0.1:{port}"}):
            pass
