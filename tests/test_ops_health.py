"""Health endpoints against a real daphne process on the test's own Redis and SQLite file: liveness
answers whatever happens to the dependencies; readiness goes 503 while the database cannot be opened
or Redis is down, within a bounded time, and back to 200 once they return."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from realtime.conf import DEFAULTS
from tests.faultkit import FaultSite, RedisServer

BOUND = float(DEFAULTS["HEALTH_TIMEOUT"]) + 1.0  # seconds any answer may take


@pytest.fixture(scope="module")
def health() -> Iterator[SimpleNamespace]:
    redis = RedisServer().start()
    site = None
    try:
        site = FaultSite(redis.url)
        yield SimpleNamespace(redis=redis, site=site, server=site.server())
    finally:
        if site is not None:
            site.close()
        redis.close()


def probe(server, which: str) -> tuple[int, dict, float]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    try:
        with opener.open(f"{server.url}/realtime/ops/health/{which}/", timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body), time.monotonic() - started


def until(server, which: str, status: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got, body, took = probe(server, which)
        assert took < BOUND, f"{which} took {took:.1f} s"
        if got == status:
            return body
        assert time.monotonic() < deadline, f"{which} still {got}: {body}"
        time.sleep(0.2)


def test_readiness_follows_the_database_and_the_layer_and_liveness_does_not(health):
    server = health.server
    body = until(server, "ready", 200)
    assert body == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "hub": {"ok": True}, "layer": {"ok": True}},
    }
    assert probe(server, "live")[:2] == (200, {"status": "ok", "pid": server.process.pid})

    # The database cannot be opened: a directory where the SQLite file was (root ignores file modes).
    database = Path(health.site.env["SQLITE_PATH"])
    away = database.with_name("away.sqlite3")
    os.rename(database, away)
    database.mkdir()
    try:
        body = until(server, "ready", 503)
        assert body["status"] == "unavailable" and not body["checks"]["database"]["ok"]
        assert "OperationalError" in body["checks"]["database"]["error"]
        assert body["checks"]["layer"] == {"ok": True}
        assert probe(server, "live")[0] == 200
    finally:
        database.rmdir()
        os.rename(away, database)
    until(server, "ready", 200)

    # Redis down: the hub's probe notices within PROBE_INTERVAL + LAYER_TIMEOUT.
    health.redis.kill()
    try:
        body = until(server, "ready", 503)
        assert not body["checks"]["layer"]["ok"] and body["checks"]["database"] == {"ok": True}
        assert probe(server, "live")[0] == 200
    finally:
        health.redis.start()
    until(server, "ready", 200)
    log = server.output()
    assert "Traceback" not in log, log[-3000:]
