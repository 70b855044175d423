"""Shared fixtures: users and streams, the hub reset, a real Redis, real daphne processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import override_settings

from realtime.layers import redis_layer
from realtime.testing import override_realtime, reset_realtime

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(trylast=True)  # after pytest-randomly has chosen its seed and Hypothesis read its options
def pytest_configure(config: pytest.Config) -> None:
    """One printed seed replays a whole run: pytest-randomly's seed (the test order) also fixes the
    examples Hypothesis generates, unless --hypothesis-seed is given. Without this, a Hypothesis failure
    seen in CI's random order could not be replayed from the seed that run printed."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and config.getoption("hypothesis_seed", None) is None:
        from hypothesis import core

        core.global_force_seed = seed


# What gives a test the test database (pytest-django refuses it to the others).
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`REALTIME_DATABASE_TESTS_ONLY=1` (.ci/run's PostgreSQL pass): run only the tests that use the test
    database. The others cannot reach it (the daphne sites the end-to-end tests start have their own
    SQLite file whatever DATABASE_URL says), so on a second database they would repeat the first pass."""
    if not os.environ.get("REALTIME_DATABASE_TESTS_ONLY"):
        return
    keep: list[pytest.Item] = []
    others: list[pytest.Item] = []
    for item in items:
        uses = item.get_closest_marker("django_db") is not None or DATABASE_FIXTURES & set(
            getattr(item, "fixturenames", ())
        )
        (keep if uses else others).append(item)
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = keep


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


@pytest.fixture(autouse=True)
async def _fresh_realtime():
    """Each test starts with no hub and an empty in-memory layer, and leaves none behind."""
    from realtime.streams.lookup import forget_all

    await reset_realtime()
    forget_all()
    yield
    await reset_realtime()
    forget_all()
    # Django's async ORM (afirst, aexists) runs in asgiref's shared thread and leaves its connection
    # open there; close it so PostgreSQL can drop the test database at the end.
    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test ends in the default language: Django's LocaleMiddleware activates a request's language
    for the rest of the thread, so a test that fetched a page in Chinese with the test client left the
    next test's messages in Chinese (seen in random order)."""
    from django.utils import translation

    yield
    translation.deactivate()


# -- people and streams ---------------------------------------------------------------------------
@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password="pw", **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def stream(owner):
    from realtime.streams.models import Stream

    return Stream.objects.create(title="Launch party", slug="launch", owner=owner)


@pytest.fixture
def db_reads(monkeypatch):
    """The `since` of every history read that reaches the database (the room's cache answers the rest)."""
    from realtime.topics import base as topics_base

    calls = []
    original = topics_base.read_history

    def counting(topic, since, limit):
        calls.append(since)
        return original(topic, since, limit)

    monkeypatch.setattr(topics_base, "read_history", counting)
    return calls


# -- Redis ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL if set; otherwise a redis-server of our own on a free port. Never skipped."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "No REDIS_URL and no redis-server binary: run the test command from README.md, which "
            "installs one (apt-get install redis-server)."
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="realtime-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_layer_config(redis_url):
    """The channel layer switched to channels-redis, with a prefix of its own for this test.

    Hubs started here check the database only once a minute, so what a test sees arrived through Redis.
    """
    config = redis_layer(redis_url, prefix=f"rt-test-{uuid.uuid4().hex[:8]}")
    with override_settings(CHANNEL_LAYERS={"default": config}), override_realtime(SYNC_INTERVAL=60):
        yield config


# -- real daphne processes ------------------------------------------------------------------------
class DaphneServer:
    """A daphne subprocess serving the example project; stop() and start() keep the port."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log = Path(env["REALTIME_TEST_DIR"]) / f"daphne-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/realtime/"

    def start(self) -> DaphneServer:
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Site:
    """A migrated example site (its own SQLite file) that daphne processes and commands share."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="realtime-site-")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str(Path(self.dir) / "db.sqlite3"),
            "REALTIME_TEST_DIR": self.dir,
            "REALTIME_SYNC_INTERVAL": "1",
        }
        self.env.pop("REDIS_URL", None)
        self.env.pop("DATABASE_URL", None)
        if redis_url:
            # Deliveries must come through Redis, not the hubs' database sync.
            self.env.update(REDIS_URL=redis_url, REALTIME_SYNC_INTERVAL="60")
        self.servers: list[DaphneServer] = []
        self.manage("migrate", "--verbosity", "0")
        self.manage("realtime_demo", "--no-input")

    def manage(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def ticket(self, username: str) -> str:
        return self.manage("realtime_ticket", username).strip()

    def server(self) -> DaphneServer:
        server = DaphneServer(self.env).start()
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The embedded default: SQLite and the in-memory layer, one daphne process."""
    site = Site()
    try:
        yield site
    finally:
        site.close()


@pytest.fixture(scope="module")
def redis_site(redis_url) -> Iterator[Site]:
    """The same site on channels-redis, for several daphne processes."""
    site = Site(redis_url=redis_url)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture(scope="module")
def daphne_server(site) -> DaphneServer:
    return site.server()
