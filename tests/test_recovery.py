"""Recovery from outages, in one process: two hubs on a Redis of this module's own that the tests kill
and restart, revocations and bans enforced from the database when their control messages were lost,
and handshakes refused as "try again" (4013) while the database is down. The same faults against real
daphne processes: tests/test_faults.py."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.test import override_settings

from realtime import abroadcast
from realtime.hub import access, get_hub, upkeep
from realtime.layers import redis_layer
from realtime.streams.models import StreamRestriction
from realtime.streams.moderation import restrict
from realtime.testing import RealtimeClient, make_hub, override_realtime
from realtime.topics.names import group_for_topic
from tests.faultkit import RedisServer
from tests.streamkit import wait_viewers

pytestmark = pytest.mark.django_db(transaction=True)
TOPIC = "broadcast.all"


@pytest.fixture(scope="module")
def own_redis():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def layer_config(own_redis):
    """The settings' layer is this module's Redis too, so `abroadcast` publishes where the hubs read.
    The database sync is off (60 s): what arrives within a test came through Redis or a recovery."""
    if own_redis.process is None or own_redis.process.poll() is not None:
        own_redis.start()  # a test that failed half-way may have left it down
    config = redis_layer(own_redis.url, prefix=f"rt-recovery-{uuid.uuid4().hex[:8]}")
    with override_settings(CHANNEL_LAYERS={"default": config}), override_realtime(SYNC_INTERVAL=60):
        yield config


@pytest.fixture
async def hubs(layer_config):
    started = [await make_hub(layer_config), await make_hub(layer_config)]
    yield started
    for hub in started:
        await hub.stop()
        await hub.layer.close_pools()


class Records(logging.Handler):
    """Log records of `realtime.*` (which does not propagate to the root logger caplog watches)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def matching(self, text: str, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level and text in r.getMessage()]


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger("realtime")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def members(server: RedisServer, config: dict, group: str) -> set[str]:
    prefix = config["CONFIG"]["prefix"]
    with redis.Redis(port=server.port) as client:
        return {m.decode() for m in client.zrange(f"{prefix}:group:{group}", 0, -1)}


async def wait_for(condition, within: float, step: float = 0.1) -> float:
    """Seconds until `condition()` (sync, run in a thread) holds; fails the test after `within`."""
    start = time.monotonic()
    while not await asyncio.to_thread(condition):
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def restart(server: RedisServer, down_for: float) -> None:
    await asyncio.to_thread(server.restart, down_for)


# -- the layer comes back -------------------------------------------------------------------------
@pytest.mark.parametrize("down_for", [0.0, 8.0])
async def test_hubs_rejoin_their_groups_within_seconds_of_a_redis_restart(
    hubs, own_redis, layer_config, down_for
):
    """0 s: redis-py reconnects by itself and the reader may never see an error; 8 s: the reader's
    receive fails for a while (a backoff of its own must not keep it away once Redis is back)."""
    one, two = hubs
    async with RealtimeClient(hub=two) as client:
        assert (await client.subscribe(TOPIC))["type"] == "subscribed"
        await restart(own_redis, down_for)
        wanted = {one.channel, two.channel}
        seconds = await wait_for(
            lambda: (
                wanted <= members(own_redis, layer_config, "realtime.control")
                and two.channel in members(own_redis, layer_config, group_for_topic(TOPIC))
            ),
            within=10,
        )
        print(f"\nre-joined {seconds:.1f} s after Redis came back (down {down_for} s)")
        event_id = await abroadcast(TOPIC, "broadcast", {"after": "restart"})
        assert (await client.receive_event("broadcast", timeout=3))["id"] == event_id  # live, not the sync


async def test_a_new_redis_server_seen_only_by_its_run_id_is_rejoined(
    hubs, own_redis, layer_config, monkeypatch, records
):
    """A restart the hub never saw fail (redis-py reconnected by itself): only the server's identity
    says its groups are gone. Stood in for by wiping Redis and reporting a new run id."""
    from realtime.hub import health

    one, two = hubs
    async with RealtimeClient(hub=two) as client:
        await client.subscribe(TOPIC)
        real = health.server_identity

        async def new_server(layer):
            return tuple(f"new-{run_id}" for run_id in await real(layer))

        with redis.Redis(port=own_redis.port) as direct:
            direct.flushall()
        monkeypatch.setattr(health, "server_identity", new_server)
        await wait_for(
            lambda: two.channel in members(own_redis, layer_config, group_for_topic(TOPIC)), within=10
        )
        event_id = await abroadcast(TOPIC, "broadcast", {})
        assert (await client.receive_event("broadcast", timeout=3))["id"] == event_id
    assert len(records.matching("server restarted")) == 2  # once per hub, and no outage was logged
    assert not records.matching("Channel layer unavailable")


async def test_a_restarted_shard_of_a_sharded_layer_is_rejoined(own_redis):
    """redis_layer() with two servers: the groups on the one that restarts are re-joined."""
    other = RedisServer().start()
    config = redis_layer([own_redis.url, other.url], prefix=f"rt-shards-{uuid.uuid4().hex[:8]}")
    try:
        with override_settings(CHANNEL_LAYERS={"default": config}), override_realtime(SYNC_INTERVAL=60):
            one, two = await make_hub(config), await make_hub(config)
            shards = [own_redis, other]
            shard = shards[one.layer.consistent_hash(group_for_topic(TOPIC))]
            async with RealtimeClient(hub=two) as client:
                await client.subscribe(TOPIC)
                await restart(shard, 0)
                await wait_for(
                    lambda: two.channel in members(shard, config, group_for_topic(TOPIC)), within=10
                )
                event_id = await abroadcast(TOPIC, "broadcast", {"shard": shards.index(shard)})
                assert (await client.receive_event("broadcast", timeout=3))["id"] == event_id
            for hub in (one, two):
                await hub.stop()
                await hub.layer.close_pools()
    finally:
        other.close()


async def test_an_outage_is_logged_once_and_its_end_once(hubs, own_redis, records):
    one, two = hubs
    async with RealtimeClient(hub=two) as client:
        await client.subscribe(TOPIC)
        own_redis.kill()
        for _ in range(5):  # publishes, presence reports, receives and probes all fail meanwhile
            await one.publish_many(TOPIC, [])
            await asyncio.sleep(0.5)
        await restart(own_redis, 0)
        await wait_for(lambda: not one.health.outage.down and not two.health.outage.down, within=10)
    said = records.matching("Channel layer")
    assert len(said) == 4, said  # per hub: the outage once, its end once
    assert len(records.matching("Channel layer unavailable")) == 2
    assert len(records.matching("Channel layer back after")) == 2
    assert not [r for r in records.records if r.exc_info], "no tracebacks for an outage"


async def test_a_stored_event_published_during_the_outage_arrives_after_it(hubs, own_redis):
    one, two = hubs
    async with RealtimeClient(hub=two) as client:
        await client.subscribe(TOPIC)
        first = await abroadcast(TOPIC, "broadcast", {"n": 1})
        assert (await client.receive_event("broadcast"))["id"] == first
        own_redis.kill()
        during = await abroadcast(TOPIC, "broadcast", {"n": 2})  # stored; its publish fails
        await restart(own_redis, 0.5)
        assert (await client.receive_event("broadcast", timeout=10))["id"] == during
        after = await abroadcast(TOPIC, "broadcast", {"n": 3})
        assert (await client.receive_event("broadcast", timeout=3))["id"] == after
        assert await client.nothing_more()


async def test_viewer_counts_add_up_across_processes_again_after_a_restart(
    hubs, own_redis, stream, alice, bob
):
    one, two = hubs
    async with RealtimeClient(user=alice, hub=one) as on_one, RealtimeClient(user=bob, hub=two) as on_two:
        await on_one.subscribe(stream.topic)
        await on_two.subscribe(stream.topic)
        await wait_viewers(on_one, 2, within=5)
        own_redis.kill()
        await wait_viewers(on_one, 1, within=5)  # the other process's report expired
        await restart(own_redis, 0)
        await wait_viewers(on_one, 2, within=10)
        await wait_viewers(on_two, 2, within=10)


# -- control messages lost in the outage, enforced from the database ------------------------------
def session_for(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = SessionStore()
    store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def client_with_session(user, hub, session_key: str | None) -> RealtimeClient:
    client = RealtimeClient(user=user, hub=hub)
    if session_key:
        client.communicator.scope["session"] = SessionStore(session_key)
    return client


async def test_a_deactivation_during_a_redis_outage_closes_the_users_sockets_after_it(
    hubs, own_redis, alice, bob
):
    one, two = hubs
    async with RealtimeClient(user=alice, hub=two) as gone, RealtimeClient(user=bob, hub=two) as stays:
        await gone.subscribe(TOPIC)
        await stays.subscribe(TOPIC)
        own_redis.kill()
        alice.is_active = False
        await database_sync_to_async(alice.save)()  # disconnect_user() cannot reach the layer now
        await restart(own_redis, 0.5)
        assert (await gone.receive_type("closed", timeout=10)) == {"type": "closed", "code": 4003}
        assert await stays.nothing_more()


async def test_a_logout_during_a_redis_outage_closes_that_sessions_sockets_after_it(hubs, own_redis, alice):
    one, two = hubs
    out, kept = (
        await database_sync_to_async(session_for)(alice),
        await database_sync_to_async(session_for)(alice),
    )
    async with client_with_session(alice, two, out) as gone, client_with_session(alice, two, kept) as stays:
        await gone.subscribe(TOPIC)
        await stays.subscribe(TOPIC)
        own_redis.kill()
        await database_sync_to_async(SessionStore(out).delete)()  # what logout does to the session
        await restart(own_redis, 0.5)
        assert (await gone.receive_type("closed", timeout=10)) == {"type": "closed", "code": 4003}
        assert await stays.nothing_more()


async def test_a_ban_during_a_redis_outage_kicks_the_user_after_it(
    hubs, own_redis, stream, owner, alice, bob
):
    one, two = hubs
    async with RealtimeClient(user=alice, hub=two) as banned, RealtimeClient(user=bob, hub=two) as other:
        await banned.subscribe(stream.topic)
        await other.subscribe(stream.topic)
        own_redis.kill()
        await database_sync_to_async(restrict)(stream, alice, StreamRestriction.Kind.BAN, by=owner)
        await restart(own_redis, 0.5)
        kicked = await banned.receive_type("kicked", timeout=10)
        assert (kicked["topic"], kicked["code"]) == (stream.topic, "banned")
        assert not [m for m in await other.collect(0.5) if m["type"] == "kicked"]


async def test_the_sync_loop_closes_sockets_whose_access_ended_without_any_message(alice, bob):
    """No outage at all: a password changed by a queryset update sends no signal, yet the socket closes
    within a sync interval."""
    with override_realtime(SYNC_INTERVAL=0.2):  # read when the hub starts
        await get_hub()
        async with RealtimeClient(user=alice) as changed, RealtimeClient(user=bob) as unchanged:
            await get_user_model().objects.filter(pk=alice.pk).aupdate(password="!changed")
            assert (await changed.receive_type("closed", timeout=5)) == {"type": "closed", "code": 4003}
            assert await unchanged.nothing_more(0.5)


def test_the_access_check_costs_two_queries_however_many_connections(django_assert_num_queries, make_user):
    users = [make_user(f"u{n}") for n in range(30)]
    creds = [access.Credentials(u.pk, u.password, session_for(u)) for u in users for _ in range(3)]
    gone = creds[4]
    SessionStore(gone.session_key).delete()
    users[7].is_active = False
    users[7].save()
    with django_assert_num_queries(2):
        bad = access.revoked(creds)
    assert bad == {gone} | {c for c in creds if c.user_id == users[7].pk}


# -- the database goes away -----------------------------------------------------------------------
async def test_a_database_outage_in_the_hubs_sync_is_logged_once_and_its_end_once(monkeypatch, records):
    failing = True
    real = upkeep.eventlog.last_ids

    def last_ids(topics):
        if failing:
            raise OperationalError("connection refused")
        return real(topics)

    monkeypatch.setattr(upkeep.eventlog, "last_ids", last_ids)
    with override_realtime(SYNC_INTERVAL=0.05):
        await get_hub()
        async with RealtimeClient() as client:
            await client.subscribe(TOPIC)
            await abroadcast(TOPIC, "broadcast", {})
            await asyncio.sleep(0.6)  # a dozen failed syncs
            failing = False
            await asyncio.sleep(0.3)
    said = records.matching("Database") + records.matching("upkeep")
    assert len(said) == 2, said
    assert len(records.matching("Database unavailable")) == 1
    assert len(records.matching("Database back after")) == 1


def handshake(
    headers: list[tuple[bytes, bytes]], subprotocols: list[str] | None = None
) -> WebsocketCommunicator:
    from realtime.asgi import websocket_application

    return WebsocketCommunicator(
        websocket_application(), "/ws/realtime/", headers=headers, subprotocols=subprotocols
    )


async def refused_for_now(communicator: WebsocketCommunicator) -> None:
    connected, subprotocol = await communicator.connect(timeout=3)
    assert connected and subprotocol == "realtime"
    error = await communicator.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "unavailable") and error["retry_after"] > 0
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4013}


async def test_a_ticket_handshake_while_the_database_is_down_is_refused_as_try_again(monkeypatch, records):
    from realtime import security

    def down(ticket):
        raise OperationalError("the database is down")

    monkeypatch.setattr(security, "_redeem", down)
    for _ in range(3):
        await refused_for_now(handshake([(b"host", b"127.0.0.1")], ["realtime", "realtime.ticket.abc"]))
    assert len(records.matching("Database")) == 1, records.matching("Database")
    assert not [r for r in records.records if r.exc_info]


async def test_a_session_handshake_while_the_database_is_down_is_refused_as_try_again(monkeypatch):
    import channels.auth

    async def down(scope):
        raise OperationalError("the database is down")

    monkeypatch.setattr(channels.auth, "get_user", down)
    headers = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1"), (b"cookie", b"sessionid=abc")]
    await refused_for_now(handshake(headers, ["realtime"]))


async def test_catching_up_after_a_layer_outage_waits_for_the_database_too(monkeypatch, records):
    """The layer came back but the database did not: the catch-up is owed, retried each probe, done once."""
    hub = await get_hub()
    calls = []

    async def sync(hub):
        calls.append(len(calls))
        if len(calls) < 3:
            raise OperationalError("the database is down too")

    monkeypatch.setattr(upkeep, "sync", sync)
    hub.health.owed = ["sync", "access", "reauthorize"]
    for _ in range(4):
        await hub.health.tick()
        if hub.health.catching is not None:
            await hub.health.catching
    assert hub.health.owed == [] and len(calls) == 3
    said = records.matching("Database")
    assert len(said) == 2 and "unavailable" in said[0] and "back after" in said[1], said


async def test_a_message_acknowledgement_that_fails_is_an_outage_not_a_traceback(monkeypatch, records):
    """channels-redis acknowledges each received message in a task of its own; Redis going away at that
    moment failed it, and asyncio logged "Task exception was never retrieved" with a traceback."""
    import gc

    hub = await get_hub()
    layer = hub.layer
    errors = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    layer.receive_cleaners = []  # what channels-redis keeps; the in-memory layer has none
    original = layer.receive

    async def fail():
        raise ConnectionError("Error 111 connecting to redis")

    async def receive(channel):
        message = await original(channel)
        cleaner = asyncio.ensure_future(fail())
        layer.receive_cleaners.append(cleaner)
        cleaner.add_done_callback(layer.receive_cleaners.remove)
        return message

    monkeypatch.setattr(layer, "receive", receive)
    for n in range(3):  # the first arrives through the receive already waiting
        await layer.send(hub.channel, {"type": "realtime.nothing", "n": n})
        await asyncio.sleep(0.05)
    gc.collect()
    await asyncio.sleep(0.05)
    assert not [e for e in errors if "never retrieved" in e.get("message", "")], errors
    assert hub.health.outage.down and len(records.matching("Channel layer unavailable")) == 1
