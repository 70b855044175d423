"""Tools for breaking things on purpose: a Redis of our own to kill and restart, a PostgreSQL database of
our own behind a proxy we can cut, and a client that behaves like realtime.js while counting what a
person would notice (a lost, doubled or reordered comment)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import Site, free_port, wait_for_port


# -- Redis ----------------------------------------------------------------------------------------
def sigkill(process: subprocess.Popen | None) -> None:
    """Kill a server process the way a host dies (SIGKILL: no shutdown, sockets left to the kernel), and
    reap it; nothing if it is not running."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


class RedisServer:
    """A redis-server subprocess on a port of its own, to kill and restart (keeping the port).

    No persistence: a restart forgets every key, as a crashed or replaced Redis does.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (bin/test installs it with apt-get)")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="realtime-fault-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)
        return self

    def kill(self) -> None:
        sigkill(self.process)

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- PostgreSQL -----------------------------------------------------------------------------------
def postgres_admin_url() -> str | None:
    """DATABASE_URL if it names PostgreSQL, else the local server on 127.0.0.1:5432 if one answers.
    REALTIME_FAULTS_SQLITE=1 runs the fault suite on SQLite even so (what CI without PostgreSQL runs)."""
    if os.environ.get("REALTIME_FAULTS_SQLITE"):
        return None
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return "postgres://postgres@127.0.0.1:5432/postgres"
    except OSError:
        return None


class PostgresDatabase:
    """A database of our own (`realtime_faults_<random>`) created and dropped on the server at
    `admin_url`; nothing else on that server is touched."""

    def __init__(self, admin_url: str) -> None:
        self.admin = urlsplit(admin_url)
        self.name = f"realtime_faults_{uuid.uuid4().hex[:10]}"

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.admin.hostname or "127.0.0.1",
            port=self.admin.port or 5432,
            user=self.admin.username or "postgres",
            password=self.admin.password or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def create(self) -> PostgresDatabase:
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def url(self, port: int | None = None) -> str:
        """The URL daphne and manage.py use; `port` points them at a proxy instead of the server."""
        user = self.admin.username or "postgres"
        auth = f"{user}:{self.admin.password}" if self.admin.password else user
        return f"postgres://{auth}@127.0.0.1:{port or self.admin.port or 5432}/{self.name}"

    def drop(self) -> None:
        with contextlib.suppress(Exception), self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class TcpProxy:
    """A TCP relay on a port of its own, in a thread with its own event loop. `cut()` closes every
    connection through it and refuses new ones (a database that went away); `restore()` lets them in."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        def close_all() -> None:
            self.open = False
            for writer in list(self.writers):
                transport = writer.transport
                transport.abort()  # a reset, as when the server or the network goes away
            self.writers.clear()

        self.loop.call_soon_threadsafe(close_all)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self, "open", True)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# -- the example site, on our Redis and (when there is one) PostgreSQL ------------------------------
SETUP = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from realtime.streams.models import Stream

User = get_user_model()
store = import_module(settings.SESSION_ENGINE).SessionStore
admin = User.objects.get(username="admin")
out = {"sessions": {}, "streams": {}}
for name in %(users)r:
    user, _ = User.objects.get_or_create(username=name)
    user.set_password("pw")
    user.save()
    session = store()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    out["sessions"][name] = session.session_key
for slug in %(streams)r:
    out["streams"][slug] = Stream.objects.get_or_create(slug=slug, defaults={"title": slug, "owner": admin})[0].pk
print(json.dumps(out))
"""


class FaultSite(Site):
    """The example site (conftest's `Site`) on a Redis of our own and, given `database_url`, PostgreSQL.
    The hubs' database sync runs once a minute: what arrives within a case came through Redis (or a
    recovery), not the sync."""

    def __init__(self, redis_url: str, database_url: str | None = None) -> None:  # noqa: D107
        self.dir = tempfile.mkdtemp(prefix="realtime-faults-")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str(Path(self.dir) / "db.sqlite3"),
            "REALTIME_TEST_DIR": self.dir,
            "REDIS_URL": redis_url,
            "REALTIME_SYNC_INTERVAL": "60",
            "REALTIME_LOG_LEVEL": "INFO",
        }
        self.env.pop("DATABASE_URL", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.database_url = database_url
        self.servers = []
        self.manage("migrate", "--verbosity", "0")
        self.manage("realtime_demo", "--no-input")

    def setup(self, users: list[str], streams: list[str]) -> dict[str, Any]:
        """Users with a logged-in session each, and streams: {"sessions": {name: key}, "streams": {slug: pk}}."""
        out = self.manage("shell", "-c", SETUP % {"users": users, "streams": streams})
        return json.loads(out.strip().splitlines()[-1])

    def stored(self, topic: str, event: str = "comment", database_url: str | None = None) -> list[int]:
        """Ids of the events stored on `topic`, read straight from the database (not through daphne)."""
        query = "SELECT seq FROM realtime_event WHERE topic = %s AND name = %s ORDER BY seq"
        if database_url or self.database_url:
            import psycopg

            with psycopg.connect(_libpq(database_url or self.database_url), connect_timeout=5) as conn:
                return [row[0] for row in conn.execute(query, (topic, event))]
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.env["SQLITE_PATH"], timeout=20)) as conn:
            return [row[0] for row in conn.execute(query.replace("%s", "?"), (topic, event))]


@contextlib.contextmanager
def two_processes(
    layer_url: str, users: list[str], streams: list[str], *, proxied: bool = False
) -> Iterator[SimpleNamespace]:
    """What a module of fault cases stands on: a FaultSite whose layer is `layer_url` and whose database
    is a PostgreSQL one of its own when a server answers (reached through a TcpProxy that a case can cut,
    if `proxied`), else SQLite; `users` signed in, `streams` made; two daphne processes. All of it is
    closed and dropped on exit; the layer is the caller's."""
    admin_url = postgres_admin_url()
    database = proxy = site = None
    try:
        if admin_url:
            database = PostgresDatabase(admin_url).create()
            if proxied:
                proxy = TcpProxy(int(database.admin.port or 5432), database.admin.hostname or "127.0.0.1")
        site = FaultSite(layer_url, database.url(proxy.port if proxy else None) if database else None)
        made = site.setup(users, streams)
        servers = [site.server(), site.server()]
        yield SimpleNamespace(
            site=site,
            database=database,
            proxy=proxy,
            servers=servers,
            urls=[s.ws_url for s in servers],
            sessions=made["sessions"],
            topics={slug: f"stream.{pk}" for slug, pk in made["streams"].items()},
            direct_url=database.url() if database else None,
        )
    finally:
        if site is not None:
            site.close()
        if proxy is not None:
            proxy.close()
        if database is not None:
            database.drop()


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def origin_headers(session_key: str | None) -> Any:
    """Handshake headers for a browser tab of the site at `url` (logged in when `session_key`)."""

    def headers(url: str) -> dict[str, str]:
        parts = urlsplit(url)
        result = {"Origin": f"http://{parts.netloc}"}
        if session_key:
            result["Cookie"] = f"sessionid={session_key}"
        return result

    return headers


def http_logout(base_url: str, session_key: str) -> int:
    """Log a session out the way a browser does: the login page for a CSRF token, then POST /logout/."""
    import re
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    cookie = f"sessionid={session_key}"
    with opener.open(
        urllib.request.Request(base_url + "/accounts/login/", headers={"Cookie": cookie}), timeout=10
    ) as page:
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.read()).group(1).decode()
        csrf = [
            v.split(";")[0] for v in page.headers.get_all("Set-Cookie") or [] if v.startswith("csrftoken=")
        ]
    request = urllib.request.Request(
        base_url + "/accounts/logout/",
        data=f"csrfmiddlewaretoken={token}".encode(),
        method="POST",
        headers={
            "Cookie": "; ".join([cookie, *csrf]),
            "Origin": base_url,
            "Referer": base_url + "/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with opener.open(request, timeout=10) as response:
        return response.status


# -- a client that behaves like realtime.js --------------------------------------------------------
RETRYABLE = ("unavailable", "internal_error")


@dataclass
class Tally:
    """What one viewer saw of a topic, across reconnects."""

    arrived: dict[int, float] = field(default_factory=dict)  # stored event id -> monotonic arrival time
    last: int = 0  # the highest id received: where a resume starts
    duplicates: int = 0  # ids received more than once (the protocol promises none)
    out_of_order: int = 0  # ids lower than one already received
    closes: list[int] = field(default_factory=list)  # close codes the server sent (not 1000/1001/1006)
    errors: list[str] = field(default_factory=list)  # error codes answering our subscribes
    reconnects: int = 0
    closed_at: float | None = None  # when the server closed us for good (4003)

    def saw(self, event_id: int) -> None:
        if event_id in self.arrived:
            self.duplicates += 1
            return
        if event_id < self.last:
            self.out_of_order += 1
        self.arrived[event_id] = time.monotonic()
        self.last = max(self.last, event_id)


class Viewer:
    """Subscribes to one topic and keeps it, as realtime.js does: a dropped connection is re-opened
    (to the next URL of its list, as a load balancer would send it elsewhere) with backoff and resumed
    with `since`; a subscribe refused with `unavailable`/`internal_error` is sent again after
    `retry_after`; 4003 stops it. `headers(url)` gives the handshake's headers (a session cookie and
    the matching Origin for a logged-in viewer)."""

    def __init__(
        self,
        urls: list[str],
        topic: str,
        *,
        name: str = "",
        event: str = "comment",
        headers: Any = None,
        first: int = 0,
    ) -> None:
        self.urls = urls
        self.topic = topic
        self.name = name
        self.event = event
        self.headers = headers
        self.server = first  # index into urls of the current (or next) connection
        self.tally = Tally()
        self.live = asyncio.Event()  # subscribed on the current connection
        self.stopped = asyncio.Event()
        self.socket: Any = None
        self.tasks: list[asyncio.Task] = []
        self.replies: dict[str, asyncio.Future] = {}

    def start(self) -> Viewer:
        self.tasks.append(asyncio.get_running_loop().create_task(self._run()))
        return self

    async def stop(self) -> None:
        self.stopped.set()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task

    @property
    def url(self) -> str:
        return self.urls[self.server % len(self.urls)]

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        attempt = 0
        while not self.stopped.is_set():
            url = self.url
            try:
                async with connect(
                    url,
                    open_timeout=10,
                    max_size=None,
                    proxy=None,
                    ping_interval=None,
                    additional_headers=self.headers(url) if self.headers else None,
                ) as socket:
                    self.socket = socket
                    if await self._session(socket):
                        attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # refused or dropped: try again, as the browser would
            finally:
                self.socket = None
                self.live.clear()
                for reply in self.replies.values():
                    if not reply.done():
                        reply.set_exception(ConnectionError("connection lost"))
            if self.stopped.is_set():
                return
            self.tally.reconnects += 1
            attempt += 1
            if attempt > 1:
                self.server += 1  # this server keeps failing us: the balancer picks another
            await asyncio.sleep(min(2.0, 0.1 * 2 ** min(attempt, 5)))

    async def _session(self, socket: Any) -> bool:
        greeted = False
        try:
            await self._subscribe(socket)
            async for raw in socket:
                frame = json.loads(raw)
                for message in frame["messages"] if frame.get("type") == "batch" else [frame]:
                    greeted = greeted or message.get("type") == "hello"
                    self._handle(socket, message)
        finally:
            code = socket.close_code
            if code is not None and code not in (1000, 1001, 1006):
                self.tally.closes.append(code)
            if code == 4003:
                self.tally.closed_at = time.monotonic()
                self.stopped.set()
        return greeted

    async def _subscribe(self, socket: Any) -> None:
        request: dict[str, Any] = {"type": "subscribe", "topic": self.topic, "ref": "sub"}
        if self.tally.last:
            request["since"] = self.tally.last
        await socket.send(json.dumps(request))

    def _handle(self, socket: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        ref = message.get("ref")
        if kind == "subscribed" and ref == "sub":
            self.live.set()
        elif kind == "event" and message.get("topic") == self.topic and message.get("event") == self.event:
            if message.get("id") is not None:
                self.tally.saw(message["id"])
        elif kind == "error" and ref == "sub":
            self.tally.errors.append(message.get("code", ""))
            if message.get("code") in RETRYABLE:
                asyncio.get_running_loop().call_later(message.get("retry_after") or 1.0, self._again, socket)
        elif ref in self.replies and not self.replies[ref].done():
            self.replies[ref].set_result(message)

    def _again(self, socket: Any) -> None:
        if self.socket is socket and not self.stopped.is_set():
            self.tasks.append(asyncio.get_running_loop().create_task(self._subscribe(socket)))


class Poster(Viewer):
    """A logged-in viewer who also comments: one post every `period` seconds, `count` in all. Like
    realtime.js with a `client_id`, a post whose answer was lost with its connection is sent again (same
    client_id) on the next one; `unavailable` is retried after `retry_after`."""

    def __init__(self, *args: Any, count: int, period: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count = count
        self.period = period
        self.acks: dict[str, int] = {}  # client_id -> the stored comment's id
        self.refusals: list[str] = []  # error codes our posts got
        self.acked_at: dict[int, float] = {}
        self.sent_at: dict[str, float] = {}  # client_id -> when it was first sent (monotonic)
        self.ack_wait: dict[int, float] = {}  # stored comment id -> seconds from first send to its ack
        self.refs = iter(range(1, 1 << 30))

    def start(self) -> Poster:
        super().start()
        self.tasks.append(asyncio.get_running_loop().create_task(self._post_all()))
        return self

    @property
    def done(self) -> bool:
        return len(self.acks) >= self.count

    async def _post_all(self) -> None:
        for n in range(self.count):
            await self._post(f"{self.name}-{n}", f"comment {n} from {self.name}")
            await asyncio.sleep(self.period)

    async def _post(self, client_id: str, text: str) -> None:
        while not self.stopped.is_set():
            await self.live.wait()
            socket, ref = self.socket, f"p{next(self.refs)}"
            reply = self.replies[ref] = asyncio.get_running_loop().create_future()
            self.sent_at.setdefault(client_id, time.monotonic())
            try:
                await socket.send(
                    json.dumps(
                        {
                            "type": "publish",
                            "topic": self.topic,
                            "event": "comment",
                            "data": {"text": text, "client_id": client_id},
                            "ref": ref,
                        }
                    )
                )
                answer = await asyncio.wait_for(reply, 20)
            except Exception:
                await asyncio.sleep(0.2)  # the connection went: send it again on the next one
                continue
            finally:
                self.replies.pop(ref, None)
            if answer.get("type") == "ack":
                self.acks[client_id] = answer["id"]
                self.acked_at[answer["id"]] = time.monotonic()
                self.ack_wait[answer["id"]] = self.acked_at[answer["id"]] - self.sent_at[client_id]
                return
            self.refusals.append(answer.get("code", ""))
            if answer.get("code") in (*RETRYABLE, "rate_limited", "slow_mode"):
                await asyncio.sleep(answer.get("retry_after") or 1.0)
                continue
            return  # a final refusal: not this client's to fix


def viewers(f: Any, topic: str, count: int, *, prefix: str = "v", **kwargs: Any) -> list[Viewer]:
    """`count` anonymous viewers of `topic`, started, spread over the case's processes (`f.urls`)."""
    return [
        Viewer(f.urls, topic, name=f"{prefix}{n}", headers=origin_headers(None), first=n, **kwargs).start()
        for n in range(count)
    ]


def posters(
    f: Any, topic: str, names: list[str], *, count: int = 6, period: float = 2.0, suffix: str = ""
) -> list[Poster]:
    """A poster per signed-in user in `names` (sessions from `f.sessions`), started, spread over the
    processes; each posts `count` comments, one every `period` s. `suffix` makes new client ids."""
    return [
        Poster(
            f.urls,
            topic,
            name=f"{name}{suffix}",
            headers=origin_headers(f.sessions[name]),
            first=n,
            count=count,
            period=period,
        ).start()
        for n, name in enumerate(names)
    ]


def live_from(
    moment: float, posted: list[Poster], clients: list[Viewer], latency: float, after: str
) -> float:
    """Seconds from `moment` (`after`: what happened then) to the ack of the first comment from which on
    every comment acknowledged reached every client within `latency` of its ack; infinite if the last
    one did not."""
    acked = sorted((at, event_id) for p in posted for event_id, at in p.acked_at.items() if at >= moment)
    assert acked, f"nothing was posted after {after}"
    since = None
    for at, event_id in acked:
        if max(c.tally.arrived.get(event_id, float("inf")) for c in clients) - at > latency:
            since = None
        elif since is None:
            since = at
    return float("inf") if since is None else since - moment


def figures(name: str, stored: list[int], viewers: list[Viewer], **extra: Any) -> dict[str, Any]:
    """The numbers a fault case reports (and asserts on), printed as one line."""
    wanted = set(stored)
    counts = [len(wanted & set(v.tally.arrived)) for v in viewers]
    result = {
        "case": name,
        "stored": len(stored),
        "viewers": len(viewers),
        "delivered_min": min(counts, default=0),
        "delivered_max": max(counts, default=0),
        "lost": sum(len(wanted - set(v.tally.arrived)) for v in viewers),
        "raw_duplicates": sum(v.tally.duplicates for v in viewers),
        "out_of_order": sum(v.tally.out_of_order for v in viewers),
        "closes_1011": sum(v.tally.closes.count(1011) for v in viewers),
        "reconnects": sum(v.tally.reconnects for v in viewers),
        **extra,
    }
    print("\nFAULT", json.dumps(result))
    return result
