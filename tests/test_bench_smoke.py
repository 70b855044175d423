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
        room("realtime-embedded", 0, 100.0, 3.0),
        room("tutorial-memory", 5, 9000.0, 20.0),
    ]
    lines = report.table(rows).splitlines()
    assert lines[2].endswith("| ref |")
    assert lines[3].endswith("| PASS |")
    assert lines[4].endswith("| FAIL |")
    assert "CPU 3.0x node-ws" in report.targets(rows)
