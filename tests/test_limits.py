"""How much one client may ask of a process: connection caps (per user, per anonymous address) and the
per-connection request budget, in process and against real daphne (docs/security.md, "Limits")."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed

from realtime.limits import RequestBudget, client_address
from realtime.testing import RealtimeClient, override_realtime
from tests.conftest import ROOT, DaphneServer, wait_for_port
from tests.wsclient import WsClient

DEMO_STREAM = "stream.1"


# -- helpers shared with the other real-daphne security tests --------------------------------------
def http_login(server: DaphneServer, username: str, password: str = "demo") -> str:
    """Log in through the site's login form; the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{server.url}/accounts/login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
    opener.open(f"{server.url}/accounts/login/", data=form.encode(), timeout=10).read()
    return {cookie.name: cookie.value for cookie in jar}["sessionid"]


def as_user(server: DaphneServer, session: str) -> dict:
    """WsClient options for a same-origin page with this session cookie."""
    return {"origin": server.url, "additional_headers": {"Cookie": f"sessionid={session}"}}


def make_users(site, *names: str) -> None:
    code = (
        "from django.contrib.auth.models import User\n"
        f"for name in {list(names)!r}:\n"
        "    User.objects.filter(username=name).exists() or User.objects.create_user(name, password='demo')"
    )
    site.manage("shell", "-c", code)


async def closed_with(socket, timeout: float = 5.0) -> tuple[int | None, list[dict]]:
    """Read until the server closes; its close code and the messages before it."""
    seen: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await socket.recv())
                seen.extend(message["messages"] if message["type"] == "batch" else [message])
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd is not None else None), seen


async def refused(url: str, **options) -> tuple[int | None, list[dict]]:
    """Open a socket the server is expected to refuse after accepting (no hello)."""
    async with WsClient(url, **options) as client:  # its first frame is the error, not hello
        code, rest = await closed_with(client.socket)
        return code, [client.hello, *rest]


def assert_clean(server: DaphneServer) -> None:
    log = server.output()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]


class ProxiedDaphne(DaphneServer):
    """daphne behind a (pretend) trusted proxy: `--proxy-headers` takes the client's address from
    X-Forwarded-For."""

    def start(self) -> ProxiedDaphne:
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "--proxy-headers",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "project.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process)
        return self


@pytest.fixture(scope="module")
def proxied(site):
    server = ProxiedDaphne(site.env).start()
    site.servers.append(server)  # stopped with the site
    return server


# -- unit: the budget and the address ---------------------------------------------------------------
def test_the_budget_allows_a_burst_then_its_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("realtime.limits.time.monotonic", lambda: now[0])
    budget = RequestBudget(rate=10, burst=5)
    assert [budget.refusal(0) for _ in range(5)] == [None] * 5
    refusal = budget.refusal(0)
    assert refusal.code == "rate_limited" and refusal.retry_after == pytest.approx(0.1)
    now[0] += 0.25  # two and a half tokens back
    assert [budget.refusal(0) is None for _ in range(3)] == [True, True, False]
    # However many tokens there are, no more than `burst` requests may wait for their answers.
    now[0] += 60
    assert budget.refusal(4) is None
    assert budget.refusal(5).code == "rate_limited"


def test_after_a_refusal_everything_is_refused_until_its_retry_after_and_those_are_excused(monkeypatch):
    """What a client sent before the first refusal reached it is refused too (nothing overtakes the
    refused request's retry) but not counted as abuse; once retry_after is over, requests go through."""
    now = [100.0]
    monkeypatch.setattr("realtime.limits.time.monotonic", lambda: now[0])
    budget = RequestBudget(rate=10, burst=5)
    assert [budget.refusal(0) for _ in range(5)] == [None] * 5
    first = budget.refusal(0)
    assert first.excused is False and first.retry_after == pytest.approx(0.1)
    now[0] += 0.09  # almost a token back, and a frame the client sent before it heard of the refusal
    later = budget.refusal(0)
    assert later.code == "rate_limited" and later.excused is True
    assert later.retry_after == pytest.approx(0.01)  # the rest of the pause, not a new one
    now[0] += 0.02
    assert budget.refusal(0) is None  # the client waited retry_after: served again


def test_a_client_that_ignores_retry_after_is_counted_again(monkeypatch):
    """Excused refusals are capped (burst per window), and every refusal after a pause counts."""
    now = [100.0]
    monkeypatch.setattr("realtime.limits.time.monotonic", lambda: now[0])
    budget = RequestBudget(rate=10, burst=5, window=10.0)
    for _ in range(5):
        budget.refusal(0)
    outcomes = [budget.refusal(0).excused for _ in range(12)]  # a flood, all inside the pause
    assert outcomes == [False] + [True] * 5 + [False] * 6
    now[0] += 0.2  # the pause is over, two tokens back: the flood goes on
    more = [budget.refusal(0) for _ in range(4)]
    assert [m is None for m in more] == [True, True, False, False]
    assert [m.excused for m in more[2:]] == [False, False]  # the cap holds across pauses
    now[0] += 10.5  # a window later the client is excused again
    assert [budget.refusal(0) is None for _ in range(6)] == [True] * 5 + [False]
    assert budget.refusal(0).excused is True


@pytest.mark.parametrize(
    "client, expected",
    [
        (("8.8.8.8", 5000), "8.8.8.8"),
        (("2001:4860::8888", 5000), "2001:4860::8888"),
        (("::ffff:8.8.4.4", 5000), "8.8.4.4"),
        (("127.0.0.1", 5000), None),  # a proxy on the same host, without --proxy-headers
        (("10.1.2.3", 5000), None),  # a proxy on the private network
        (("192.168.1.9", 5000), None),
        (("::1", 5000), None),
        (("/run/daphne.sock", None), None),  # a unix socket
        (None, None),
    ],
)
def test_only_globally_routable_client_addresses_are_capped(client, expected):
    assert client_address({"client": client} if client else {}) == expected


# -- in process: the cap and the budget ------------------------------------------------------------
uses_db = pytest.mark.django_db(transaction=True)


@uses_db
async def test_the_connection_after_the_users_cap_is_refused_and_a_closed_one_frees_its_place(alice, bob):
    with override_realtime(MAX_CONNECTIONS_PER_USER=2):
        first, second = RealtimeClient(user=alice), RealtimeClient(user=alice)
        await first.__aenter__()
        await second.__aenter__()
        third = RealtimeClient(user=alice)
        await third.__aenter__()  # accepted, then told why and closed
        assert third.hello["type"] == "error" and third.hello["code"] == "too_many_connections"
        assert (await third.receive())["code"] == 4029
        async with RealtimeClient(user=bob) as other:  # the cap is per user
            assert other.hello["type"] == "hello"
        await second.__aexit__()
        async with RealtimeClient(user=alice) as again:
            assert again.hello["type"] == "hello"
        await first.__aexit__()
        await third.__aexit__()


@uses_db
async def test_over_budget_requests_are_refused_at_once_while_earlier_ones_wait_for_the_database(
    alice, stream, monkeypatch
):
    """A slow request does not hold the refusals up: they are judged when the frame arrives."""
    from realtime.streams.topic import StreamTopic

    release = asyncio.Event()
    original = StreamTopic.publish

    async def slow_publish(self, client, event, data):
        await release.wait()  # the database is slow today
        return await original(self, client, event, data)

    monkeypatch.setattr(StreamTopic, "publish", slow_publish)
    with override_realtime(REQUEST_BURST=3, REQUEST_RATE=0.001):  # no token comes back during the test
        async with RealtimeClient(user=alice) as client:
            await client.subscribe(stream.topic)  # one token
            comment = {"type": "publish", "topic": stream.topic, "event": "comment"}
            await client.send({**comment, "ref": "c1", "data": {"text": "one", "client_id": "c1"}})
            await client.send({"type": "ping", "ref": "p1"})  # answered at once, ahead of the comment
            await client.send({"type": "ping", "ref": "p2"})  # the budget is spent: refused now
            pong = await client.receive_type("pong", timeout=1)  # the comment is still being stored
            assert pong["ref"] == "p1"
            refusal = await client.receive_type("error", timeout=1)
            assert refusal["ref"] == "p2"
            assert refusal["code"] == "rate_limited" and refusal["retry_after"] > 0
            release.set()
            ack = await client.receive_type("ack")
            assert ack["ref"] == "c1"


@uses_db
async def test_a_page_resubscribing_everything_after_a_reconnect_is_within_the_budget(alice, stream):
    """The default burst covers MAX_SUBSCRIPTIONS subscribes and a ping sent at once."""
    async with RealtimeClient(user=alice) as client:
        for n in range(50):
            await client.send(
                {"type": "subscribe", "topic": stream.topic if n % 2 else "broadcast.all", "ref": str(n)}
            )
        await client.send({"type": "ping", "ref": "ping"})
        answers = [m for m in await client.collect(quiet=0.5) if m.get("ref")]
        assert Counter(m["type"] for m in answers) == {"subscribed": 50, "pong": 1}


# -- real daphne: the caps -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def carol_session(site, daphne_server):
    make_users(site, "carol")
    return http_login(daphne_server, "carol")


async def test_real_daphne_refuses_a_users_21st_socket_with_too_many_connections_then_4029(
    daphne_server, carol_session
):
    """MAX_CONNECTIONS_PER_USER (20): one user opened 300 sockets, all accepted."""
    daphne_server.log.write_text("")
    options = as_user(daphne_server, carol_session)
    clients = [WsClient(daphne_server.ws_url, **options) for _ in range(20)]
    try:
        for client in clients:
            await client.__aenter__()
            assert client.hello["type"] == "hello" and client.hello["user"]["username"] == "carol"
        code, seen = await refused(daphne_server.ws_url, **options)
        assert code == 4029
        assert [m["code"] for m in seen] == ["too_many_connections"]
        # Anonymous sockets from the same (loopback) address are not this user's.
        async with WsClient(daphne_server.ws_url) as anonymous:
            assert anonymous.hello["type"] == "hello"
        # A closed socket gives its place back once daphne has told the application.
        await clients.pop().__aexit__(None, None, None)
        for _ in range(50):
            async with WsClient(daphne_server.ws_url, **options) as again:
                if again.hello["type"] == "hello":
                    break
            await asyncio.sleep(0.1)
        assert again.hello["type"] == "hello"
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)
    assert_clean(daphne_server)


async def test_behind_a_trusted_proxy_anonymous_sockets_are_capped_per_forwarded_address(proxied):
    """MAX_CONNECTIONS_PER_ADDRESS (100) with daphne --proxy-headers: the address is X-Forwarded-For."""

    def via(address: str) -> dict:
        return {"additional_headers": {"X-Forwarded-For": address}}

    clients = [WsClient(proxied.ws_url, **via("8.8.8.8")) for _ in range(100)]
    try:
        for client in clients:
            await client.__aenter__()
            assert client.hello["type"] == "hello"
        code, seen = await refused(proxied.ws_url, **via("8.8.8.8"))
        assert code == 4029 and [m["code"] for m in seen] == ["too_many_connections"]
        async with WsClient(proxied.ws_url, **via("8.8.4.4")) as elsewhere:
            assert elsewhere.hello["type"] == "hello"
        async with WsClient(proxied.ws_url) as direct:  # 127.0.0.1, the proxy itself: never capped
            assert direct.hello["type"] == "hello"
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)
    assert_clean(proxied)


async def test_without_proxy_headers_a_forwarded_address_is_ignored(daphne_server):
    """A client cannot get another address capped by sending X-Forwarded-For to a daphne that does not
    trust it: all of these are 127.0.0.1, which is not capped."""
    clients = [
        WsClient(daphne_server.ws_url, additional_headers={"X-Forwarded-For": "8.8.8.8"}) for _ in range(110)
    ]
    try:
        for client in clients:
            await client.__aenter__()
            assert client.hello["type"] == "hello"
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)


# -- real daphne: floods end in errors and a policy close ---------------------------------------------
def flood_frames(kind: str, count: int) -> list[str]:
    def frame(n: int) -> dict:
        ref = str(n)
        if kind == "comment":
            return {
                "type": "publish",
                "topic": DEMO_STREAM,
                "event": "comment",
                "ref": ref,
                "data": {"text": f"flood {n}", "client_id": f"flood-{n}"},
            }
        if kind == "reaction":
            return {
                "type": "publish",
                "topic": DEMO_STREAM,
                "event": "reaction",
                "ref": ref,
                "data": {"kind": "heart"},
            }
        if kind == "subscribe":
            return {"type": "subscribe", "topic": DEMO_STREAM if n % 2 else "broadcast.all", "ref": ref}
        return {"type": "ping", "ref": ref}

    return [json.dumps(frame(n)) for n in range(count)]


async def flood(socket, frames: list[str]) -> None:
    """Send as fast as the socket takes them, until the server has closed it. Yielding now and then
    lets the client read what arrives meanwhile, as a browser's network stack does whatever the page's
    script is busy with (a client that reads nothing loses the close frame to the reset that ends it)."""
    try:
        for n, text in enumerate(frames):
            await socket.send(text)
            if n % 50 == 0:
                await asyncio.sleep(0)
    except ConnectionClosed:
        pass


@pytest.fixture(scope="module")
def bob_session(daphne_server):
    return http_login(daphne_server, "bob")


@pytest.mark.parametrize(
    "kind, count", [("comment", 1_000), ("subscribe", 10_000), ("reaction", 5_000), ("ping", 20_000)]
)
async def test_real_daphne_answers_a_flood_with_errors_then_a_policy_close(
    daphne_server, bob_session, kind, count
):
    """Every request gets at most one answer, the socket ends with 4429 right after an `error`, and a
    viewer on the same process is served throughout. Before: 1,000 comments got 5 acks and 995
    rate_limited answers, each after a database transaction, and 10,000 subscribes kept the process
    busy for 23 s; earlier still the flood ended in 1011."""
    daphne_server.log.write_text("")
    async with (
        WsClient(daphne_server.ws_url) as viewer,
        WsClient(daphne_server.ws_url, **as_user(daphne_server, bob_session)) as flooder,
    ):
        await viewer.subscribe(DEMO_STREAM)
        await flooder.subscribe(DEMO_STREAM)
        await flood(flooder.socket, flood_frames(kind, count))
        code, seen = await closed_with(flooder.socket, timeout=20)
        answers = [m for m in seen if m.get("ref")]
        refs = Counter(m["ref"] for m in answers)
        assert code == 4429, (code, Counter(m["type"] for m in seen))
        assert max(refs.values()) == 1, "a request answered twice"
        assert answers[-1]["type"] == "error"
        limited = [m for m in answers if m.get("code") == "rate_limited"]
        assert len(limited) > 20 and all(m["retry_after"] > 0 for m in limited)
        if kind == "comment":
            assert sum(m["type"] == "ack" for m in answers) <= 5  # RATE_LIMIT_COUNT still holds
        # The viewer never noticed.
        start = asyncio.get_running_loop().time()
        assert (await viewer.request({"type": "ping"}))["type"] == "pong"
        assert asyncio.get_running_loop().time() - start < 1.0
    assert_clean(daphne_server)


async def test_real_daphne_a_client_that_waits_retry_after_is_not_closed_for_frames_already_sent(
    daphne_server,
):
    """A client learns of a refusal a round trip late: everything it sent meanwhile is refused too
    (nothing overtakes the refused request's retry) but not counted as abuse. Here 160 pings at once
    (the burst is 100): 60 refusals, three times ABUSE_LIMIT. The client then waits the longest
    `retry_after` it was given and is served again. Before: closed 4429 at the 21st refusal."""
    async with WsClient(daphne_server.ws_url) as client:
        for text in flood_frames("ping", 160):
            await client.socket.send(text)
        answers: list[dict] = []
        while len(answers) < 160:
            answers.append(await client.receive(timeout=5))
        limited = [m for m in answers if m.get("code") == "rate_limited"]
        assert Counter(m["type"] for m in answers) == {"pong": 100, "error": 60}
        assert len(limited) == 60 and all(m["retry_after"] > 0 for m in limited)
        await asyncio.sleep(max(m["retry_after"] for m in limited))
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        assert client.socket.close_code is None, "still open"
