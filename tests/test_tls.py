"""`wss://` end to end against daphne serving TLS itself (`daphne -e ssl:...`), with a self-signed
certificate made here by openssl.

The direct-socket writer once picked plain TCP by duck typing; Twisted's TLS layer forwards unknown
attributes to the TCP transport under it, so frames went out unencrypted inside the TLS stream and every
`wss://` client failed (WRONG_VERSION_NUMBER, then 1006) from the first frame, `hello`. The
slow-client bound holds under TLS too. nginx terminating TLS in front of daphne is tested in
tests/test_faults_nginx.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels_redis.core import RedisChannelLayer

from realtime.layers import redis_layer
from realtime.transport import CLOSE_TIMEOUT
from tests.conftest import ROOT, DaphneServer, wait_for_port
from tests.test_slow_clients import (
    CLOSING_LINE,
    TCP_ESTABLISHED,
    TOPIC,
    Stream,
    read_all,
    small_buffer_socket,
    tcp_state,
    when_logged,
)
from tests.wsclient import WsClient

DEMO_STREAM = "stream.1"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, private key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def client_context(cert: Path) -> ssl.SSLContext:
    """A client that trusts exactly this certificate (and checks the host name against it)."""
    return ssl.create_default_context(cafile=str(cert))


class TlsDaphne(DaphneServer):
    """daphne terminating TLS itself, on a Twisted endpoint string, as a site would run it."""

    def __init__(self, env: dict[str, str], cert: Path, key: Path) -> None:
        super().__init__(env)
        self.cert, self.key = cert, key

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ws/realtime/"

    def start(self) -> TlsDaphne:
        endpoint = f"ssl:{self.port}:interface=127.0.0.1:privateKey={self.key}:certKey={self.cert}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-e", endpoint, "project.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process)
        return self


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(site, certificate) -> TlsDaphne:
    server = TlsDaphne(site.env, *certificate).start()
    site.servers.append(server)
    return server


async def test_wss_to_daphne_serving_tls_itself_says_hello_delivers_and_acks(site, tls_server, certificate):
    """Every frame of the conversation crosses TLS intact: hello, subscribe, comments posted by one
    client and seen in order by another (the fan-out writer's path), the acks, and a broadcast too
    large for one TLS record."""
    context = client_context(certificate[0])
    ticket = await asyncio.to_thread(site.ticket, "alice")
    async with (
        WsClient(f"{tls_server.ws_url}?ticket={ticket}", ssl=context) as alice,
        WsClient(tls_server.ws_url, ssl=context) as viewer,
    ):
        assert alice.hello["type"] == viewer.hello["type"] == "hello"
        assert alice.hello["user"]["username"] == "alice"
        assert (await viewer.subscribe(DEMO_STREAM))["type"] == "subscribed"
        assert (await alice.subscribe(DEMO_STREAM))["type"] == "subscribed"
        acks = []
        for n in range(4):  # within the demo's comment rate limit
            ack = await alice.request(
                {
                    "type": "publish",
                    "topic": DEMO_STREAM,
                    "event": "comment",
                    "data": {"text": f"over tls {n}", "client_id": f"tls-{n}"},
                }
            )
            assert ack["type"] == "ack", ack
            acks.append(ack["id"])
        seen = []
        while len(seen) < len(acks):
            event = await viewer.receive_where(type="event", event="comment", timeout=10)
            seen.append(event["id"])
        assert seen == acks
        assert (await viewer.subscribe("broadcast.all"))["type"] == "subscribed"
        large = {"message": "x" * 60_000}
        await asyncio.to_thread(
            site.manage, "broadcast", "broadcast.all", "broadcast", "--data", json.dumps(large)
        )
        assert (await viewer.receive_where(type="event", event="broadcast", timeout=10))["data"] == large
        assert (await viewer.request({"type": "ping"}))["type"] == "pong"
    log = tls_server.output()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]


async def test_a_plain_ws_client_gets_no_websocket_from_the_tls_port(tls_server):
    """The port really is TLS: a client speaking plain `ws://` to it gets no socket."""
    with pytest.raises(Exception):  # noqa: B017 - websockets raises one of several errors here
        async with WsClient(f"ws://127.0.0.1:{tls_server.port}/ws/realtime/"):
            pass


@pytest.fixture(scope="module")
def tls_redis_server(redis_site, certificate) -> TlsDaphne:
    server = TlsDaphne(redis_site.env, *certificate).start()
    redis_site.servers.append(server)
    return server


async def test_a_tls_client_that_stops_reading_is_still_cut_off(tls_redis_server, redis_site, certificate):
    """The slow-client bound under daphne's own TLS: the backlog is read from the TCP transport under
    the TLS layer, so a client that stops reading is closed (4008) and, as it never answers, aborted
    CLOSE_TIMEOUT later, while a client that reads gets every event."""
    server = tls_redis_server
    server.log.write_text("")
    layer = RedisChannelLayer(**redis_layer(redis_site.env["REDIS_URL"])["CONFIG"])
    context = client_context(certificate[0])
    sock = small_buffer_socket(server.port)
    try:
        async with (
            WsClient(server.ws_url, ssl=context) as reader,
            WsClient(
                server.ws_url, ssl=context, sock=sock, server_hostname="127.0.0.1", max_queue=1
            ) as stalled,
        ):
            await reader.subscribe(TOPIC)
            await stalled.subscribe(TOPIC)
            raw = stalled.socket.transport.get_extra_info("socket")
            done = asyncio.Event()
            reading = asyncio.create_task(read_all(reader, done))
            stream = Stream(layer)
            closing = await when_logged(server, CLOSING_LINE, timeout=30)
            while tcp_state(raw) == TCP_ESTABLISHED and time.monotonic() < closing + CLOSE_TIMEOUT + 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            print(f"TLS: the stalled client was aborted {time.monotonic() - closing:.1f} s after the close")
            sent = await stream.stop()
            await asyncio.sleep(0.5)
            done.set()
            seen = await reading
            assert tcp_state(raw) != TCP_ESTABLISHED, "the stalled TLS client's connection is still open"
            assert seen == list(range(sent))
    finally:
        await layer.close_pools()
    log = server.output()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]


async def test_a_page_served_over_https_by_the_same_daphne_may_open_a_socket(tls_server, certificate):
    """daphne puts no scheme in a WebSocket scope: the handshake learns from the socket that it is TLS,
    so the site's own https origin is accepted with no ALLOWED_ORIGINS or CSRF_TRUSTED_ORIGINS, while
    the http origin of the same host and port, and another site, are still refused (HTTP 403)."""
    context = client_context(certificate[0])
    own = f"https://127.0.0.1:{tls_server.port}"
    async with WsClient(tls_server.ws_url, ssl=context, origin=own) as page:
        assert page.hello["type"] == "hello"
    for other in (f"http://127.0.0.1:{tls_server.port}", "https://evil.example"):
        with pytest.raises(Exception, match="403"):  # websockets' InvalidStatus: HTTP 403
            async with WsClient(tls_server.ws_url, ssl=context, origin=other):
                pass
