"""Revoked access ends open sockets, on every process (docs/security.md, "Revocation").

The matrix runs against two daphne processes on Redis, with the change made the way a site makes it:
a logout through the site's own form, everything else from a separate process (`manage.py shell`, as
an admin action or a management command would). Each affected socket, on both processes, is closed
(4003) or kicked (`kicked` frame) within REVOCATION_BOUND of the change's commit, and receives no frame
of the affected topic after that, while a socket that still has access does receive the next event.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from websockets.exceptions import ConnectionClosed

from realtime.testing import RealtimeClient
from tests.wsclient import WsClient

REVOCATION_BOUND = 2.0  # seconds from the change's commit to the close or kick, on every process
QUIET = 1.0  # seconds a revoked socket is watched for frames of its topic after the next event
DEMO_STREAM = "stream.1"


# -- in process: group membership ---------------------------------------------------------------------
uses_db = pytest.mark.django_db(transaction=True)


@uses_db
@pytest.mark.parametrize(
    "how",
    [
        "user.groups.remove",
        "group.user_set.remove",
        "user.groups.clear",
        "group.user_set.clear",
        "group.delete",
    ],
)
async def test_leaving_a_group_kicks_its_subscriptions(make_user, how):
    """Membership is checked at subscribe: a user removed from a group (either side, or a clear) or a
    deleted group must not keep receiving `group.<id>`. Before: the subscription stayed."""
    from realtime import abroadcast

    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    crew = await Group.objects.acreate(name="crew")
    await sync_to_async(crew.user_set.add)(alice, bob)
    topic = f"group.{crew.pk}"
    async with RealtimeClient(user=alice) as leaving, RealtimeClient(user=bob) as staying:
        for client in (leaving, staying):
            assert (await client.subscribe(topic))["type"] == "subscribed"

        def change() -> None:
            if how == "user.groups.remove":
                alice.groups.remove(crew)
            elif how == "group.user_set.remove":
                crew.user_set.remove(alice)
            elif how == "user.groups.clear":
                alice.groups.clear()
            elif how == "group.user_set.clear":
                crew.user_set.clear()
            else:
                crew.delete()

        await sync_to_async(change)()
        kicked = await leaving.receive_type("kicked")
        assert kicked["topic"] == topic and kicked["code"] in ("forbidden", "not_found")
        if how in ("group.user_set.clear", "group.delete"):
            assert (await staying.receive_type("kicked"))["topic"] == topic
            return
        await abroadcast(topic, "note", {"n": 1})
        assert (await staying.receive_event("note"))["data"] == {"n": 1}
        assert await leaving.nothing_more()


@uses_db
async def test_a_deleted_user_loses_their_sockets(make_user):
    alice = await sync_to_async(make_user)("alice")
    async with RealtimeClient(user=alice) as client:
        await client.subscribe(f"user.{alice.pk}")
        await sync_to_async(alice.delete)()
        assert (await client.receive_type("closed"))["code"] == 4003


# -- real daphne on Redis: the matrix -----------------------------------------------------------------
SETUP = """
import json
from django.contrib.auth.models import Group, Permission, User
from realtime.streams.models import Stream
names = ["rv_logout", "rv_password", "rv_inactive", "rv_deleted", "rv_ban", "rv_group", "rv_member",
         "rv_perm", "rv_viewer"]
users = {n: User.objects.create_user(n, password="demo") for n in names}
crew = Group.objects.create(name="crew")
crew.user_set.add(users["rv_group"], users["rv_member"])
users["rv_perm"].user_permissions.add(Permission.objects.get(codename="moderate_stream"))
later = Stream.objects.create(title="Open for now", slug="open-for-now", owner=User.objects.get(username="admin"))
print(json.dumps({"users": {n: u.pk for n, u in users.items()}, "group": crew.pk, "stream": later.pk}))
"""


class Session:
    """A browser's session on the site: logged in through the form, logged out through the form."""

    def __init__(self, server, username: str) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(f"{server.url}/accounts/login/", timeout=10).read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"username": username, "password": "demo", "csrfmiddlewaretoken": csrf}
        self.opener.open(
            f"{server.url}/accounts/login/", data=urllib.parse.urlencode(form).encode(), timeout=10
        ).read()
        self.key = self.cookie("sessionid")

    def cookie(self, name: str) -> str:
        return {cookie.name: cookie.value for cookie in self.jar}[name]

    def logout(self) -> None:
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": self.cookie("csrftoken")}).encode()
        self.opener.open(f"{self.server.url}/accounts/logout/", data=form, timeout=10).read()

    def options(self, server) -> dict:
        return {"origin": server.url, "additional_headers": {"Cookie": f"sessionid={self.key}"}}


class Watched:
    """A socket whose every frame is recorded with the time it arrived, and how it ended."""

    def __init__(self, client: WsClient, name: str) -> None:
        self.client = client
        self.name = name
        self.frames: list[tuple[float, dict]] = []
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                message = json.loads(await self.client.socket.recv())
                for item in message["messages"] if message["type"] == "batch" else [message]:
                    self.frames.append((time.monotonic(), item))
        except ConnectionClosed as closed:
            self.closed_at = time.monotonic()
            self.close_code = closed.rcvd.code if closed.rcvd else None

    def first(self, **fields) -> tuple[float, dict] | None:
        return next(((at, m) for at, m in self.frames if all(m.get(k) == v for k, v in fields.items())), None)

    async def wait_for(self, timeout: float = 5.0, **fields) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while (found := self.first(**fields)) is None:
            assert time.monotonic() < deadline, f"{self.name}: no {fields} in {[m for _, m in self.frames]}"
            await asyncio.sleep(0.02)
        return found

    async def wait_closed(self, timeout: float = 5.0) -> float:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        assert self.closed_at is not None
        return self.closed_at

    async def request(self, message: dict) -> dict:
        """Send a request and wait for its answer (the socket's frames are read by `_read` alone)."""
        ref = f"w{len(self.frames)}-{time.monotonic_ns()}"
        await self.client.send({**message, "ref": ref})
        return (await self.wait_for(ref=ref))[1]

    def on_topic_after(self, moment: float, topic: str) -> list[dict]:
        return [m for at, m in self.frames if at > moment and m.get("topic") == topic]


@pytest.fixture(scope="module")
def world(redis_site):
    one, two = redis_site.server(), redis_site.server()
    ids = json.loads(redis_site.manage("shell", "-c", SETUP).strip().splitlines()[-1])
    return redis_site, (one, two), ids


async def subscribed(servers, topic: str, name: str, session: Session | None = None) -> list[Watched]:
    """One socket per process, subscribed to `topic`."""
    watched = []
    for n, server in enumerate(servers):
        client = WsClient(server.ws_url, **(session.options(server) if session else {}))
        await client.__aenter__()
        reply = await client.subscribe(topic)
        assert reply["type"] == "subscribed", reply
        watched.append(Watched(client, f"{name}@{n + 1}"))
    return watched


async def act(site, code: str) -> float:
    """Run `code` in another process; the (system-wide monotonic) time just after its change committed.
    The script sets `committed = time.monotonic()` after its change."""
    script = "import time\n" + code + "\nprint('COMMITTED', committed)"
    output = await asyncio.to_thread(site.manage, "shell", "-c", script)
    return float(output.split("COMMITTED")[-1].split()[0])


async def close_all(*groups: list[Watched]) -> None:
    for group in groups:
        for watched in group:
            await watched.client.__aexit__(None, None, None)
            watched.task.cancel()


def user_script(name: str, change: str) -> str:
    return (
        f"from django.contrib.auth.models import User\nfrom realtime import broadcast\n"
        f"u = User.objects.get(username={name!r})\n{change}\ncommitted = time.monotonic()\n"
        # A private event right after the commit: it must not reach the sockets being closed.
        f"broadcast('user.' + str(u.pk) if u.pk else 'broadcast.all', 'secret', {{'after': True}})"
    )


@pytest.mark.parametrize(
    "name, change",
    [
        ("rv_password", "u.set_password('changed'); u.save()"),
        ("rv_inactive", "u.is_active = False; u.save()"),
        ("rv_deleted", "pk = u.pk; u.delete(); u.pk = pk"),
    ],
    ids=["password-change", "deactivation", "deletion"],
)
async def test_a_revoked_user_is_closed_with_4003_on_every_process(world, name, change):
    site, servers, ids = world
    session = await asyncio.to_thread(Session, servers[0], name)
    sockets = await subscribed(servers, f"user.{ids['users'][name]}", name, session)
    committed = await act(site, user_script(name, change))
    for watched in sockets:
        closed_at = await watched.wait_closed()
        assert watched.close_code == 4003
        assert closed_at - committed < REVOCATION_BOUND, f"{watched.name}: {closed_at - committed:.2f} s"
        assert watched.first(event="secret") is None  # nothing private after the change
        print(f"{name} {watched.name}: closed {(closed_at - committed) * 1000:.0f} ms after the commit")
    await close_all(sockets)


async def test_logging_out_closes_that_sessions_sockets_on_every_process_and_no_other(world):
    site, servers, ids = world
    leaving = await asyncio.to_thread(Session, servers[0], "rv_logout")
    staying = await asyncio.to_thread(Session, servers[1], "rv_logout")  # another browser
    topic = f"user.{ids['users']['rv_logout']}"
    closing, open_ = (
        await subscribed(servers, topic, "leaving", leaving),
        await subscribed(servers, topic, "other", staying),
    )
    start = time.monotonic()
    await asyncio.to_thread(leaving.logout)
    done = time.monotonic()  # the logout's response: committed by then
    for watched in closing:
        closed_at = await watched.wait_closed()
        assert watched.close_code == 4003 and closed_at - done < REVOCATION_BOUND
        print(f"logout {watched.name}: closed {(closed_at - start) * 1000:.0f} ms after the request")
    await act(
        site,
        f"from realtime import broadcast\nbroadcast({topic!r}, 'still', {{}})\ncommitted = time.monotonic()",
    )
    for watched in open_:
        await watched.wait_for(event="still")
        assert watched.closed_at is None
    await close_all(closing, open_)


async def test_a_ban_kicks_the_stream_on_every_process_and_nothing_of_it_follows(world):
    site, servers, ids = world
    session = await asyncio.to_thread(Session, servers[0], "rv_ban")
    banned = await subscribed(servers, DEMO_STREAM, "banned", session)
    viewers = await subscribed(servers, DEMO_STREAM, "viewer")
    committed = await act(
        site,
        (
            "from django.contrib.auth.models import User\n"
            "from realtime.streams.models import Stream, StreamRestriction\n"
            "from realtime.streams.moderation import restrict\n"
            "restrict(Stream.objects.get(pk=1), User.objects.get(username='rv_ban'), StreamRestriction.Kind.BAN,"
            " by=User.objects.get(username='admin'))\ncommitted = time.monotonic()"
        ),
    )
    await assert_kicked(site, banned, viewers, DEMO_STREAM, committed, "banned")
    # And the way back in is shut too.
    again = await banned[0].request({"type": "subscribe", "topic": DEMO_STREAM})
    assert again["type"] == "error" and again["code"] == "banned"
    await close_all(banned, viewers)


async def test_removal_from_a_group_kicks_its_topic_on_every_process(world):
    site, servers, ids = world
    topic = f"group.{ids['group']}"
    removed = await subscribed(
        servers, topic, "removed", await asyncio.to_thread(Session, servers[0], "rv_group")
    )
    members = await subscribed(
        servers, topic, "member", await asyncio.to_thread(Session, servers[1], "rv_member")
    )
    committed = await act(
        site,
        (
            "from django.contrib.auth.models import Group, User\n"
            f"User.objects.get(username='rv_group').groups.remove(Group.objects.get(pk={ids['group']}))\n"
            "committed = time.monotonic()"
        ),
    )
    await assert_kicked(site, removed, members, topic, committed, "forbidden")
    await close_all(removed, members)


async def test_a_stream_made_members_only_kicks_anonymous_viewers_on_every_process(world):
    site, servers, ids = world
    topic = f"stream.{ids['stream']}"
    anonymous = await subscribed(servers, topic, "anonymous")
    members = await subscribed(
        servers, topic, "member", await asyncio.to_thread(Session, servers[1], "rv_viewer")
    )
    committed = await act(
        site,
        (
            "from realtime.streams.models import Stream\n"
            f"s = Stream.objects.get(pk={ids['stream']}); s.allow_anonymous = False; s.save()\n"
            "committed = time.monotonic()"
        ),
    )
    await assert_kicked(site, anonymous, members, topic, committed, "auth_required")
    await close_all(anonymous, members)


async def test_a_lost_moderation_permission_is_refused_on_the_next_request_on_every_process(world):
    """Moderation rights are read again for every `moderate` request (subscriptions stay: a former
    moderator may still watch)."""
    site, servers, ids = world
    session = await asyncio.to_thread(Session, servers[0], "rv_perm")
    sockets = await subscribed(servers, DEMO_STREAM, "moderator", session)
    slow_mode = {
        "type": "publish",
        "topic": DEMO_STREAM,
        "event": "moderate",
        "data": {"action": "slow_mode", "seconds": 0},
    }
    for watched in sockets:
        assert (await watched.request(slow_mode))["type"] == "ack"
    await act(
        site,
        (
            "from django.contrib.auth.models import Permission, User\n"
            "User.objects.get(username='rv_perm').user_permissions.remove("
            "Permission.objects.get(codename='moderate_stream'))\ncommitted = time.monotonic()"
        ),
    )
    for watched in sockets:
        refused = await watched.request(slow_mode)
        assert refused["type"] == "error" and refused["code"] == "forbidden", refused
    await close_all(sockets)


async def assert_kicked(
    site, affected: list[Watched], others: list[Watched], topic: str, committed: float, code: str
) -> None:
    """Each affected socket is kicked off `topic` within the bound and receives nothing of it after,
    while the others get the next event on it."""
    kicks = []
    for watched in affected:
        at, kicked = await watched.wait_for(type="kicked", topic=topic)
        assert kicked["code"] == code, kicked
        assert at - committed < REVOCATION_BOUND, f"{watched.name}: {at - committed:.2f} s"
        kicks.append(at)
        print(f"{topic} {watched.name}: kicked ({code}) {(at - committed) * 1000:.0f} ms after the commit")
    await act(
        site,
        f"from realtime import broadcast\nbroadcast({topic!r}, 'next', {{}})\ncommitted = time.monotonic()",
    )
    for watched in others:
        await watched.wait_for(event="next")
    await asyncio.sleep(QUIET)
    for watched, kicked_at in zip(affected, kicks, strict=True):
        assert watched.on_topic_after(kicked_at, topic) == [], watched.name
        assert watched.closed_at is None  # a kick leaves the connection open
        assert (await watched.request({"type": "ping"}))["type"] == "pong"
