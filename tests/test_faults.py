"""The fault suite: real daphne processes, a real Redis the tests kill and restart, PostgreSQL (when one
answers on 127.0.0.1:5432, behind a proxy the tests cut) or SQLite, and clients that behave like
realtime.js (they resume with `since`, retry what the server could not do, and count every raw duplicate
and out-of-order arrival). Each case prints its figures (one `FAULT {...}` line) and asserts nothing was
lost, doubled or reordered, that live delivery came back within 10 s, and that no socket saw 1011.

The daphne processes sync with the database once a minute only, so what arrives within a case arrived
through Redis, or through the one catch-up a hub runs when the layer comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from realtime.hub.health import PROBE_INTERVAL
from tests.faultkit import (
    Poster,
    RedisServer,
    Viewer,
    figures,
    http_logout,
    origin_headers,
    posters,
    two_processes,
    viewers,
)

RECOVERY_LIMIT = 10.0  # seconds from Redis (or the database) returning to live delivery
POSTERS = [f"fault-poster-{n}" for n in range(4)]
LATE = ["fault-late-0", "fault-late-1"]
ACCESS = ["fault-alice", "fault-bob", "fault-carol"]
STREAMS = ["fault-redis", "fault-kill", "fault-db", "fault-access"]


@pytest.fixture(scope="module")
def faults() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    try:
        with two_processes(redis.url, POSTERS + LATE + ACCESS, STREAMS, proxied=True) as f:
            yield SimpleNamespace(**vars(f), redis=redis)
    finally:
        redis.close()


# -- helpers --------------------------------------------------------------------------------------
async def until(condition, within: float, what: str, step: float = 0.2) -> float:
    """Seconds until `condition()` holds; fails the case after `within` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"{what}: not within {within} s")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def stop(clients) -> None:
    await asyncio.gather(*(c.stop() for c in clients))


def stored(f: SimpleNamespace, topic: str, event: str = "comment") -> list[int]:
    return f.site.stored(topic, event, f.direct_url)


async def settled(
    f: SimpleNamespace, topic: str, clients, event: str = "comment", within: float = 30
) -> list[int]:
    """Wait until every client holds every stored event; return the stored ids."""
    ids: list[int] = []

    def complete() -> bool:
        nonlocal ids
        ids = stored(f, topic, event)
        return all(set(ids) <= set(c.tally.arrived) for c in clients)

    with contextlib.suppress(BaseException):
        await until(complete, within, "every viewer has every stored event", step=0.5)
    return ids


def first_delivery_after(moment: float, posted: list[Poster], clients) -> float:
    """Seconds from `moment` until the first comment acknowledged after it had reached every client."""
    after = sorted((at, event_id) for p in posted for event_id, at in p.acked_at.items() if at >= moment)
    assert after, "nothing was posted after the fault ended"
    event_id = after[0][1]
    return max(c.tally.arrived.get(event_id, float("inf")) for c in clients) - moment


def check(result: dict, clients, *, recovery: float | None = None) -> None:
    assert result["lost"] == 0, result
    assert result["raw_duplicates"] == 0, result
    assert result["out_of_order"] == 0, result
    assert result["closes_1011"] == 0, result
    assert all(1011 not in c.tally.closes for c in clients)
    if recovery is not None:
        assert recovery < RECOVERY_LIMIT, result


def acked_were_stored(posted: list[Poster], ids: list[int]) -> None:
    acked = {event_id for p in posted for event_id in p.acks.values()}
    assert acked <= set(ids), f"acknowledged but not stored: {sorted(acked - set(ids))}"


class Logs:
    """What the daphne processes logged during one case."""

    def __init__(self, servers) -> None:
        self.servers = servers
        self.start = {s.port: len(s.output()) for s in servers}

    def since(self, server) -> str:
        return server.output()[self.start.get(server.port, 0) :]

    def check_quiet(self) -> None:
        for server in self.servers:
            text = self.since(server)
            at = text.find("Traceback")
            assert at < 0, text[max(0, at - 1500) : at + 4000]
            # One outage, one warning (whatever failed during it: receives, publishes, reports, joins).
            # A relapse just after it came back (a Sentinel failover settling) is one line of its own.
            assert text.count("Channel layer unavailable (") <= 1, text[-3000:]
            assert text.count("Channel layer unavailable again") <= 2, text[-3000:]


def restart_redis(f: SimpleNamespace, down_for: float) -> float:
    """Kill Redis, keep it down, start it again; the moment it answers again."""
    f.redis.restart(down_for)
    return time.monotonic()


# -- the cases ------------------------------------------------------------------------------------
async def test_redis_restarted_mid_stream(faults):
    f, topic = faults, faults.topics["fault-redis"]
    logs = Logs(f.servers)
    watching = viewers(f, topic, 6)
    posting = posters(f, topic, POSTERS)
    clients = watching + posting
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    await asyncio.sleep(4)
    back = await asyncio.to_thread(restart_redis, f, 2.0)
    await until(lambda: all(p.done for p in posting), 60, "every comment posted")
    ids = await settled(f, topic, clients)
    recovery = first_delivery_after(back, posting, clients)
    result = figures("redis restarted mid-stream", ids, clients, recovery_s=round(recovery, 2))
    await stop(clients)
    check(result, clients, recovery=recovery)
    acked_were_stored(posting, ids)
    logs.check_quiet()
    for server in f.servers:
        assert "Channel layer back after" in logs.since(server)


async def test_one_daphne_killed_mid_stream(faults):
    f, topic = faults, faults.topics["fault-kill"]
    logs = Logs(f.servers[1:])
    watching = viewers(f, topic, 6)
    posting = posters(f, topic, POSTERS)
    clients = watching + posting
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    await asyncio.sleep(4)
    victim = f.servers[0]
    moved = [c for c in clients if c.url == victim.ws_url]
    victim.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.process.wait()
    await until(
        lambda: all(c.live.is_set() and c.url != victim.ws_url for c in moved),
        20,
        "the killed process's viewers are back on the other one",
    )
    recovery = time.monotonic() - killed
    await until(lambda: all(p.done for p in posting), 60, "every comment posted")
    ids = await settled(f, topic, clients)
    result = figures(
        "one daphne killed (SIGKILL) mid-stream",
        ids,
        clients,
        moved=len(moved),
        recovery_s=round(recovery, 2),
    )
    await stop(clients)
    await asyncio.to_thread(victim.start)  # the next cases want two processes again
    check(result, clients, recovery=recovery)
    acked_were_stored(posting, ids)
    logs.check_quiet()


async def test_database_unavailable_mid_stream(faults):
    """Posts during the outage get `unavailable` (never an ack for a comment that was not stored), and
    viewers who subscribe during it get the stream once it is back. PostgreSQL: the proxy in front of it
    is cut (connections reset, new ones refused). SQLite: the file is locked by an exclusive
    transaction, so everything waits instead of failing."""
    f, topic = faults, faults.topics["fault-db"]
    logs = Logs(f.servers)
    watching = viewers(f, topic, 6)
    posting = posters(f, topic, POSTERS, count=7)
    clients = watching + posting
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    await asyncio.sleep(4)
    lock = None
    if f.proxy is not None:
        f.proxy.cut()
    else:
        lock = sqlite3.connect(f.site.env["SQLITE_PATH"], timeout=20, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
    await asyncio.sleep(1)
    late = viewers(f, topic, 2) + [
        Viewer(f.urls, topic, name=name, headers=origin_headers(f.sessions[name]), first=n).start()
        for n, name in enumerate(LATE)
    ]
    await asyncio.sleep(4)
    if f.proxy is not None:
        f.proxy.restore()
    else:
        lock.execute("ROLLBACK")
        lock.close()
    restored = time.monotonic()
    clients += late
    await until(
        lambda: all(c.live.is_set() for c in late), 30, "viewers who came during the outage subscribed"
    )
    late_live = time.monotonic() - restored
    await until(lambda: all(p.done for p in posting), 60, "every comment posted")
    ids = await settled(f, topic, clients)
    recovery = first_delivery_after(restored, posting, clients)
    refusals = sorted({code for p in posting for code in p.refusals})
    result = figures(
        "database unavailable mid-stream",
        ids,
        clients,
        database="postgresql" if f.proxy else "sqlite",
        post_refusals=refusals,
        late_subscriber_errors=sorted({e for c in late for e in c.tally.errors}),
        late_closes=sorted({code for c in late for code in c.tally.closes}),
        late_live_s=round(late_live, 2),
        recovery_s=round(recovery, 2),
    )
    await stop(clients)
    check(result, clients, recovery=recovery)
    acked_were_stored(posting, ids)
    assert set(refusals) <= {"unavailable", "rate_limited"}, refusals  # retryable, never internal_error
    if f.proxy is not None:
        assert "unavailable" in refusals  # the outage was real: posts were refused, not acknowledged
        assert result["late_closes"] == [4013]  # a logged-in handshake: "try again", never an HTTP 500
    logs.check_quiet()


async def test_a_broadcast_while_redis_is_down(faults):
    f, topic = faults, "broadcast.all"
    logs = Logs(f.servers)
    watching = viewers(f, topic, 6, event="broadcast")
    await until(lambda: all(c.live.is_set() for c in watching), 20, "everyone subscribed")
    f.redis.kill()
    await asyncio.to_thread(
        f.site.manage, "broadcast", topic, "broadcast", "--data", '{"message": "while down"}'
    )
    during = max(stored(f, topic, "broadcast"))
    await asyncio.sleep(1)
    back = await asyncio.to_thread(restart_redis, f, 0)
    await until(lambda: all(during in c.tally.arrived for c in watching), 20, "the broadcast arrived")
    recovery = max(c.tally.arrived[during] for c in watching) - back
    await asyncio.sleep(1)
    await asyncio.to_thread(f.site.manage, "broadcast", topic, "broadcast", "--data", '{"message": "after"}')
    after = max(stored(f, topic, "broadcast"))
    live = await until(
        lambda: all(after in c.tally.arrived for c in watching), 10, "the next broadcast arrived"
    )
    ids = [i for i in stored(f, topic, "broadcast") if i >= during]
    result = figures(
        "broadcast while Redis is down",
        ids,
        watching,
        recovery_s=round(recovery, 2),
        next_broadcast_s=round(live, 2),
    )
    await stop(watching)
    check(result, watching, recovery=recovery)
    logs.check_quiet()


async def test_revocations_during_a_redis_outage(faults):
    """A logout (HTTP, on process A) and a deactivation (manage.py) while Redis is down: their
    disconnect_user() messages are lost, yet the sockets close with 4003 once Redis is back."""
    f, topic = faults, faults.topics["fault-access"]
    alice, bob, carol = (
        Viewer(f.urls, topic, name=name, headers=origin_headers(f.sessions[name]), first=first)
        for name, first in zip(ACCESS, (1, 0, 1), strict=True)
    )
    clients = [alice.start(), bob.start(), carol.start()]
    await until(lambda: all(c.live.is_set() for c in clients), 20, "everyone subscribed")
    # The previous test ended with a Redis restart, which each process notices at its next probe (one
    # a second) and follows with a catch-up that checks access in the database: were that catch-up to
    # run after the logout below, it would close the sockets before this test's outage is over. Let
    # both processes finish recovering first.
    await asyncio.sleep(3 * PROBE_INTERVAL)
    f.redis.kill()
    status = await asyncio.to_thread(http_logout, f.servers[0].url, f.sessions["fault-alice"])
    await asyncio.to_thread(
        f.site.manage,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "u = get_user_model().objects.get(username='fault-bob'); u.is_active = False; u.save()",
    )
    await asyncio.sleep(1)
    assert alice.tally.closed_at is None and bob.tally.closed_at is None  # nothing could tell them yet
    back = await asyncio.to_thread(restart_redis, f, 0)
    await until(lambda: alice.tally.closed_at and bob.tally.closed_at, 20, "the revoked sockets closed")
    recovery = max(alice.tally.closed_at, bob.tally.closed_at) - back
    await asyncio.sleep(1)
    result = figures(
        "revocation during a Redis outage",
        [],
        clients,
        logout_status=status,
        closes={c.name: c.tally.closes for c in clients},
        recovery_s=round(recovery, 2),
    )
    assert carol.live.is_set() and carol.tally.closes == []  # her access never changed
    await stop(clients)
    assert alice.tally.closes == [4003] and bob.tally.closes == [4003]
    check(result, clients, recovery=recovery)
