"""Metrics in one process (no PROMETHEUS_MULTIPROC_DIR): what the call sites count, bounded labels, the
switch, the endpoint's refusals, and the clean-up of dead processes' files. Two daphne processes
sharing a directory: tests/test_ops_metrics_daphne.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from realtime.announcements import scheduler
from realtime.hub import get_hub
from realtime.ops import metrics
from realtime.outage import Outage
from realtime.testing import RealtimeClient, override_realtime

uses_db = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    metrics.current()
    return REGISTRY.get_sample_value(name, labels) or 0.0


@uses_db
async def test_connections_errors_and_closes_are_counted_with_bounded_labels(alice):
    errors = sample("realtime_errors_total", code="bad_json")
    closes = sample("realtime_closes_total", code="4029")
    with override_realtime(MAX_CONNECTIONS_PER_USER=1):
        async with RealtimeClient(user=alice) as signed_in, RealtimeClient() as anonymous:
            hub = await get_hub()
            await signed_in.subscribe("broadcast.all")
            metrics.sample(hub)
            assert sample("realtime_connections", auth="user") == 1
            assert sample("realtime_connections", auth="anonymous") == 1
            assert sample("realtime_connections", auth="ticket") == 0
            assert sample("realtime_subscriptions", topic_kind="broadcast") == 1
            assert sample("realtime_rooms") == len(hub.rooms)
            await anonymous.send("not json")
            assert (await anonymous.receive())["code"] == "bad_json"
            refused = RealtimeClient(user=alice)
            await refused.__aenter__()
            assert refused.hello["code"] == "too_many_connections"
            await refused.__aexit__()
    assert sample("realtime_errors_total", code="bad_json") == errors + 1
    assert sample("realtime_closes_total", code="4029") == closes + 1
    other = sample("realtime_errors_total", code="other")
    metrics.error("a_code_of_a_project_or_a_bug")
    metrics.close(4999)
    assert sample("realtime_errors_total", code="other") == other + 1
    assert sample("realtime_closes_total", code="other") >= 1


def test_topic_kinds_are_capped(monkeypatch):
    monkeypatch.setattr(metrics, "_kinds", {f"kind{n}" for n in range(metrics.MAX_KINDS)})
    assert metrics.topic_kind("kind3.1") == "kind3"
    assert metrics.topic_kind("stream.1") == "other"
    monkeypatch.setattr(metrics, "_kinds", set())
    assert metrics.topic_kind("stream.1") == "stream"
    assert metrics.topic_kind("not a kind.1") == "other"


def test_outages_are_counted_and_timed():
    started = sample("realtime_outages_total", dependency="database")
    ended = sample("realtime_outage_duration_seconds_count", dependency="database")
    outage = Outage("Database", "tests")
    assert outage.failed(OSError("gone"), "a test")
    assert not outage.failed(OSError("gone"), "a test")  # the same outage
    assert outage.answered() is not None
    assert sample("realtime_outages_total", dependency="database") == started + 1
    assert sample("realtime_outage_duration_seconds_count", dependency="database") == ended + 1


@uses_db
async def test_scheduler_runs_are_counted_by_outcome(monkeypatch):
    runs = iter([RuntimeError("database down"), None])

    def run_due(*args, **kwargs):
        failure = next(runs, None)
        if failure is not None:
            raise failure
        return None

    monkeypatch.setattr(scheduler, "run_due", run_due)
    ok, failed = (
        sample("realtime_scheduler_runs_total", outcome="ok"),
        sample("realtime_scheduler_runs_total", outcome="failed"),
    )
    with override_realtime(ANNOUNCEMENT_POLL_INTERVAL=0.05):
        hub = await get_hub()
        hub.service(scheduler.Scheduler)
        for _ in range(100):
            if sample("realtime_scheduler_runs_total", outcome="ok") > ok:
                break
            await asyncio.sleep(0.02)
    assert sample("realtime_scheduler_runs_total", outcome="failed") == failed + 1
    assert sample("realtime_scheduler_runs_total", outcome="ok") > ok


def test_the_switch_turns_counting_off():
    before = sample("realtime_errors_total", code="bad_json")
    with override_realtime(METRICS=False):
        assert metrics.current() is None
        metrics.error("bad_json")
        metrics.room_flushed(3, 3, 0.0)
        metrics.stored_many(["stream.1"])
        metrics.outage_started("Database")
    assert sample("realtime_errors_total", code="bad_json") == before


def test_dead_processes_lose_their_levels_and_keep_their_counters(tmp_path: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    for name in (f"gauge_livesum_{pid}.db", f"gauge_livemax_{pid}.db", f"counter_{pid}.db"):
        (tmp_path / name).write_bytes(b"")
    import os

    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    assert metrics.reap_dead_processes(str(tmp_path)) == [pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"counter_{pid}.db",
        f"gauge_livesum_{os.getpid()}.db",
    ]


@pytest.mark.django_db
def test_the_endpoint_is_for_staff_and_the_token_only(make_user, settings):
    url = "/realtime/ops/metrics/"
    settings.REALTIME = {"METRICS_TOKEN": "s3cret"}
    client = Client()
    refused = client.get(url)
    assert refused.status_code == 401 and refused.json()["error"] == "auth_required"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    answered = client.get(url, HTTP_AUTHORIZATION="Bearer s3cret")
    assert answered.status_code == 200 and b"# TYPE realtime_frames_written_total counter" in answered.content
    client.force_login(make_user("ops-plain"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("ops-staff", is_staff=True))
    assert client.get(url).status_code == 200
    settings.REALTIME = {"METRICS": False}
    assert client.get(url).status_code == 404


@uses_db
async def test_events_stored_and_published_through_the_api_are_counted():
    from realtime.api import abroadcast

    stored = sample("realtime_events_stored_total", topic_kind="broadcast")
    sent = sample("realtime_events_published_total", topic_kind="broadcast", outcome="sent")
    await abroadcast("broadcast.all", "notice", {"text": "hi"})
    await asyncio.sleep(0.1)  # published on commit
    assert sample("realtime_events_stored_total", topic_kind="broadcast") == stored + 1
    assert sample("realtime_events_published_total", topic_kind="broadcast", outcome="sent") == sent + 1


@uses_db
async def test_a_handshake_refused_for_now_counts_its_error_and_close(monkeypatch):
    from django.db import OperationalError

    from realtime import security
    from tests.test_recovery import handshake, refused_for_now

    def down(ticket):
        raise OperationalError("the database is down")

    monkeypatch.setattr(security, "_redeem", down)
    errors = sample("realtime_errors_total", code="unavailable")
    closes = sample("realtime_closes_total", code="4013")
    await refused_for_now(handshake([(b"host", b"127.0.0.1")], ["realtime", "realtime.ticket.abc"]))
    assert sample("realtime_errors_total", code="unavailable") == errors + 1
    assert sample("realtime_closes_total", code="4013") == closes + 1
