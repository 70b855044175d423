"""Smoke tests of the benchmark tooling in bench/ (not of performance): the runner drives a server with
the load client end to end, counts every delivery, and stops everything it started."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parent.parent
HAVE_CLIENT = shutil.which("node") is not None and (ROOT / "bench" / "node_modules" / "ws").is_dir()
needs_client = pytest.mark.skipif(
    not HAVE_CLIENT, reason="run `bash bench/run --help` once (npm ci in bench/)"
)


def _run_bench(tmp_path: Path, *args: str) -> list[dict]:
    out = tmp_path / "bench"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--no-record",
            "--out",
            str(out),
            "--threads",
            "1",
            "--drain-max",
            "5",
            *args,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return json.loads((out / "results.json").read_text())["rows"]


@needs_client
def test_node_relay_every_delivery_counted(tmp_path):
    """5 viewers x 10 comments through the Node relay: 50 deliveries, none lost or duplicated."""
    rows = _run_bench(
        tmp_path,
        "--servers",
        "node-ws",
        "--scenarios",
        "steady",
        "--steady-viewers",
        "5",
        "--steady-rate",
        "10",
        "--steady-duration",
        "1",
    )
    client = rows[0]["client"]
    assert (client["sent"], client["expected"], client["received"], client["lost"], client["dups"]) == (
        10,
        50,
        50,
        0,
        0,
    )
    assert client["latency"]["p99"] is not None
    assert rows[0]["server_cpu"] >= 0 and rows[0]["peak_rss"] > 0


@needs_client
def test_product_path_posts_and_delivers(tmp_path):
    """The product through the real path: ticket-authenticated poster, stored and acked comments,
    anonymous viewers subscribed to the stream topic receive every one."""
    rows = _run_bench(
        tmp_path,
        "--servers",
        "realtime-embedded",
        "--scenarios",
        "steady",
        "--steady-viewers",
        "3",
        "--steady-rate",
        "5",
        "--steady-duration",
        "1",
    )
    row = rows[0]
    assert "error" not in row, row.get("error")
    client = row["client"]
    assert client["acks"] == client["sent"] == 5
    assert client["lost"] == 0 and client["received"] == 15
    assert not client["postErrors"] and not client["viewerErrors"]


@needs_client
def test_big_room_and_producer_scenarios_run_on_the_product(tmp_path):
    """The issue-13 scenarios at tiny sizes: a room of viewers fed by one poster, and one producer
    connection whose publishes are pipelined; every comment acked and delivered once, in order."""
    rows = _run_bench(
        tmp_path,
        "--servers",
        "realtime-embedded",
        "--scenarios",
        "bigroom,producer",
        "--bigroom-viewers",
        "6",
        "--bigroom-rate",
        "10",
        "--bigroom-duration",
        "1",
        "--producer-viewers",
        "3",
        "--producer-rate",
        "60",
        "--producer-duration",
        "1",
    )
    assert [row["scenario"] for row in rows] == ["bigroom", "producer"]
    for row, viewers, sent in ((rows[0], 6, 10), (rows[1], 3, 60)):
        assert "error" not in row, row.get("error")
        client = row["client"]
        assert client["acks"] == client["sent"] == sent, client.get("postErrors")
        assert client["lost"] == 0 and client["received"] == viewers * sent
        assert not client.get("reordered") and not client["dups"]


def test_full_runs_include_the_new_scenarios_on_one_process_servers():
    from bench.__main__ import SERVERS_OF, build_scenarios, parse_args

    names = [s.name for s in build_scenarios(parse_args([]))]
    assert {"bigroom", "producer"} <= set(names)
    big = next(s for s in build_scenarios(parse_args([])) if s.name == "bigroom")
    assert (big.viewers, big.rate, big.posters) == (10000, 20, 1)
    producer = next(s for s in build_scenarios(parse_args(["--quick"])) if s.name == "producer")
    assert producer.posters == 1 and producer.rate > 0
    assert "realtime-embedded" in SERVERS_OF["bigroom"] and "node-ws" in SERVERS_OF["producer"]
    help_text = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "bigroom" in help_text and "producer" in help_text


def test_report_marks_targets():
    """The table applies the issue's targets: a lossless fast steady room passes, a lossy one fails."""

    def room(server, lost, p99, cpu):
        return {
            "server": server,
            "scenario": "steady",
            "viewers": 10,
            "server_cpu": cpu,
            "peak_rss": 2**20,
            "client": {
                "sent": 10,
                "expected": 100,
                "received": 100 - lost,
                "lost": lost,
                "deliveriesPerSec": 100.0,
                "latency": {"p50": 1.0, "p99": p99},
            },
        }

    rows = [
        room("node-ws", 0, 10.0, 1.0),
        room("realtime-embedded", 0, 60.0, 1.5),  # issue 24: p99 <= 60 ms, CPU <= 1.5x node-ws
        room("tutorial-memory", 5, 9000.0, 20.0),
    ]
    lines = report.table(rows).splitlines()
    assert lines[2].endswith("| ref |")
    assert lines[3].endswith("| PASS |")
    assert lines[4].endswith("| FAIL |")
    assert "CPU 1.50x node-ws" in report.targets(rows)
    slower = [rows[0], room("realtime-embedded", 0, 61.0, 1.5)]
    assert report.table(slower).splitlines()[3].endswith("| FAIL |")
    rows.append(room("realtime-embedded", 0, 60.0, 3.0) | {"scenario": "bigroom"})
    rows.append(room("node-ws", 0, 11_500.0, 2.5) | {"scenario": "bigroom"})
    rows.append(room("realtime-embedded", 0, 600.0, 1.0) | {"scenario": "producer"})
    lines = report.table(rows).splitlines()
    # Big room: within p99 but CPU 1.2x node-ws (target <= 0.8x); producer: p99 over 500 ms.
    assert lines[5].endswith("| FAIL |") and lines[6].endswith("| ref |") and lines[7].endswith("| FAIL |")


def test_the_postgresql_two_process_server_is_judged_by_the_two_process_targets():
    def hot(server, p99):
        return {
            "server": server,
            "scenario": "hot",
            "viewers": 10,
            "client": {"sent": 10, "expected": 100, "received": 100, "lost": 0, "latency": {"p99": p99}},
        }

    # 200 ms passes the one-process hot target (< 500 ms), not the two-process one (<= 150 ms).
    for server in ("realtime-redis-2p", "realtime-redis-2p-pg"):
        ok, text = report.check(hot(server, 200.0), [])
        assert not ok and "p99 <= 150 ms" in text, (server, text)
    assert report.check(hot("realtime-embedded", 200.0), [])[0]
    assert "Hot room, Redis and PostgreSQL, two processes" in report.targets(
        [hot("realtime-redis-2p-pg", 90.0)]
    )


def test_the_round_scenario_sends_a_targeted_round_while_a_client_pings(tmp_path):
    """Issue 19's scenario at a tiny size: the daphne process's own scheduler sends a round to 30 staff
    users at its start time; the client's pings and subscribes are timed before and during it."""
    rows = _run_bench(
        tmp_path,
        "--servers",
        "realtime-embedded",
        "--scenarios",
        "round",
        "--round-recipients",
        "30",
        "--round-lead",
        "8",
    )
    assert [row["scenario"] for row in rows] == ["round"]
    row = rows[0]
    assert "error" not in row, row.get("error")
    client = row["client"]
    assert client["done"] and client["delivered"] == row["recipients"] == 30
    assert client["baseline"]["count"] > 0 and client["subscribe_baseline"]["count"] > 0
    assert client["unanswered"] == 0 and client["round_s"] is not None
    ok, text = report.check(row, rows)
    assert "recipients in" in text and ok == (client["latency"]["p99"] < 250)
    assert "round" in report.table(rows) and "a stream subscribe" in report.details(rows)


@needs_client
def test_the_presence_scenario_joins_a_room_with_and_without_presence(tmp_path):
    """Issue 20's scenario at a tiny size: 6 signed-in viewers on page.bench, 6 more joining within 1 s,
    beside broadcast.all; every viewer's count reaches 12, with one lag sample per viewer per join, and
    the room without presence sends no presence frame."""
    rows = _run_bench(
        tmp_path,
        "--servers",
        "realtime-embedded",
        "--scenarios",
        "presence",
        "--presence-viewers",
        "6",
        "--presence-joiners",
        "6",
        "--presence-window",
        "1",
    )
    assert [row["scenario"] for row in rows] == ["presence/presence", "presence/no-presence"]
    with_it, without = rows
    for row in rows:
        assert "error" not in row, row.get("error")
        client = row["client"]
        assert (client["viewers"], client["joiners"], client["failed"]) == (6, 6, 0)
        assert client["anonymous_viewers"] == 0 and client["joined_subscribed"] == 6
        assert row["server_cpu"] >= 0 and not client["errors"]
    client = with_it["client"]
    assert client["settled_before"] == 6 and client["saw_final"] == 6
    assert client["lag"]["samples"] == 36 and client["lag"]["p99"] is not None
    assert client["frames_per_viewer_s"] > 0
    assert without["client"]["frames_per_viewer_s"] == 0 and without["client"]["lag"]["samples"] == 0
    layer = with_it["layer"]
    assert layer["whole_part_10000_bytes"] > layer["whole_part_5000_bytes"] > layer["storm_diff_bytes"] > 0
    text = report.section(["## run"], rows)
    assert "page.bench (presence)" in text and "broadcast.all (none)" in text and "10,000 members" in text


def test_issue_24s_targets_judge_against_the_references_in_the_same_run():
    """Connects against bare daphne's rate, memory against bare daphne's, and the two-process big room
    by its p99 and by Redis commands per comment against the same server's steady room."""

    def connects(server, scenario, per_sec, kb=None):
        row = {"server": server, "scenario": scenario, "viewers": 100, "server_cpu": 1.0, "peak_rss": 2**20}
        row["client"] = {"connect": {"ok": 100, "failed": 0, "perSec": per_sec}}
        if kb is not None:
            row |= {"rss_before": 0, "rss_after": kb * 1024 * 100}
        return row

    bare_storm, bare_idle = (
        connects("daphne-bare", "storm", 1000.0),
        connects("daphne-bare", "idle", 900.0, 21.0),
    )
    assert report.check(connects("realtime-embedded", "storm", 900.0), [bare_storm])[0]
    assert not report.check(connects("realtime-embedded", "storm", 890.0), [bare_storm])[0]
    assert report.check(connects("realtime-embedded", "idle", 900.0, 20.9), [bare_idle])[0]
    assert not report.check(connects("realtime-embedded", "idle", 900.0, 21.1), [bare_idle])[0]

    def redis_room(scenario, viewers, p99, commands):
        return {
            "server": "realtime-redis-2p",
            "scenario": scenario,
            "viewers": viewers,
            "redis_cmds_total": commands * 100,
            "client": {"acks": 100, "sent": 100, "lost": 0, "latency": {"p50": 1.0, "p99": p99}},
        }

    steady = redis_room("steady", 1000, 20.0, 28.0)
    assert report.check(redis_room("bigroom", 20000, 1400.0, 25.0), [steady])[0]
    assert not report.check(redis_room("bigroom", 20000, 1500.0, 25.0), [steady])[0]  # p99 < 1.5 s
    assert not report.check(redis_room("bigroom", 20000, 900.0, 36.0), [steady])[0]  # grew with viewers
