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
        site.env["REALTIME_LOG_FORMAT"] = "json"  # the example project's switch (docs/operations.md)
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
    # The realtime lines are JSON, each printed once (not again by daphne's root handler).
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    outages = [line for line in lines if line["message"].startswith("Channel layer unavailable")]
    assert len(outages) == 1 and outages[0]["level"] == "WARNING" and outages[0]["logger"] == "realtime.hub"
    assert log.count("Channel layer unavailable") == 1
    assert [line["level"] for line in lines if line["message"].startswith("Channel layer back")] == [
        "WARNING"
    ]


# -- in process: the bounds and the hub's part ----------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_database_that_does_not_answer_makes_readiness_503_within_the_bound(monkeypatch):
    from django.test import AsyncClient

    from realtime.ops import health as views
    from realtime.testing import override_realtime

    def frozen() -> None:
        time.sleep(1.0)

    client = AsyncClient()
    with override_realtime(HEALTH_TIMEOUT=0.2):
        assert (await client.get("/realtime/ops/health/ready/")).status_code == 200
        monkeypatch.setattr(views, "_query_database", frozen)
        started = time.monotonic()
        response = await client.get("/realtime/ops/health/ready/")
        assert time.monotonic() - started < 0.9
    assert response.status_code == 503 and response["Cache-Control"].startswith("max-age=0")
    assert response.json()["checks"]["database"] == {"ok": False, "error": "no answer within 0.2 s"}


@pytest.mark.django_db(transaction=True)
async def test_a_stopped_hub_or_a_silent_probe_is_not_ready(monkeypatch):
    from django.test import AsyncClient

    from realtime.hub import get_hub

    client = AsyncClient()
    hub = await get_hub()
    monkeypatch.setattr(hub.link, "watch", lambda: None)  # the probe stops ticking
    hub.link.watched_at -= 60  # ... a minute ago
    body = (await client.get("/realtime/ops/health/ready/")).json()
    assert body["checks"]["hub"] == {"ok": False, "error": "its layer probe last ran 60 s ago"}
    hub.stopped = True
    body = (await client.get("/realtime/ops/health/ready/")).json()
    assert body["status"] == "unavailable" and body["checks"]["hub"] == {"ok": False, "error": "stopped"}
    hub.stopped = False
    hub.link.failed(OSError("refused"), "a test")
    body = (await client.get("/realtime/ops/health/ready/")).json()
    assert body["checks"]["layer"]["ok"] is False and body["checks"]["layer"]["error"].startswith("down for")
    hub.link.answered()
