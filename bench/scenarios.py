"""Running one scenario against one server, and measuring it.

The load client stops at each measurement point (`PHASE ...`) until the runner answers `GO`, so CPU,
Redis command counts and memory are read exactly at the edges of the work being measured:

- room scenarios (steady, hot): from the first comment sent to the end of the drain (every delivery in,
  or nothing new for `drain_idle` s, or `drain_max` s after the last send);
- connect storm: from before the first connect to the last connect finished;
- idle memory: RSS before the first connect, and `settle` s after the last one.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.servers import BENCH, Context, Server


@dataclass
class Scenario:
    name: str
    mode: str  # room | connect
    viewers: int
    rate: float = 0
    duration: float = 0
    concurrency: int = 200
    settle: float = 0  # idle: seconds to wait before reading memory
    posters: int = 1
    only_redis: bool = False  # run only on servers that use Redis (the commands-per-comment scaling check)
    extra: dict = field(default_factory=dict)


@dataclass
class Options:
    threads: int = 2
    processes: int = 1  # >1: viewers in that many child processes of the load client (one fd limit each)
    drain_idle: float = 3.0
    drain_max: float = 20.0
    connect_timeout: float = 20.0
    py_spy: str | None = None  # path to py-spy: profile the daphne processes over the measured window
    memprofile: bool = False  # idle: tracemalloc snapshots before/after the connections (slows the server)


class Redis:
    """The Redis server the Redis-backed runs use, for flushing between scenarios and reading stats."""

    def __init__(self, url: str, pid: int | None):
        import redis

        self.url = url
        self.pid = pid
        self.client = redis.Redis.from_url(url)

    def flush(self) -> None:
        self.client.flushall()

    def snapshot(self) -> dict:
        """Calls per command (our own INFO calls left out) and the bytes Redis read and wrote."""
        stats = self.client.info("commandstats")
        out = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items() if k != "cmdstat_info"}
        net = self.client.info("stats")
        return {"cmds": out, "bytes": net["total_net_input_bytes"] + net["total_net_output_bytes"]}

    def cpu(self) -> float | None:
        return procs.cpu_seconds(self.pid) if self.pid else None


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        q.put(line.decode(errors="replace").rstrip("\n"))
    q.put(None)


LOG_PROBLEM = re.compile(r"Traceback|ERROR|CRITICAL|WARNING|Exception|Error:|killed|took too long", re.I)
# What daphne says when the runner stops it, not a problem.
LOG_SHUTDOWN = re.compile(r"INFO\s+Killed \d+ pending application instances")


def scan_logs(paths: list[Path]) -> dict:
    """Problem lines in the servers' logs: counts of distinct lines and a few samples."""
    counts: dict[str, int] = {}
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            if LOG_SHUTDOWN.search(line):
                break  # what happens while the runner kills the server is not the scenario's doing
            if LOG_PROBLEM.search(line):
                key = re.sub(r"\d+", "N", line.strip())[:200]
                counts[key] = counts.get(key, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:8]
    return {"problem_lines": sum(counts.values()), "samples": [f"{n}x {k}" for k, n in top]}


def run(server: Server, scenario: Scenario, ctx: Context, opts: Options, redis: Redis | None) -> dict:
    tag = scenario.name
    row: dict = {"server": server.name, "scenario": scenario.name, "viewers": scenario.viewers}
    if server.uses_redis and redis:
        redis.flush()
    memdir = None
    if opts.memprofile and scenario.name == "idle" and server.python:
        memdir = ctx.out / f"{server.name}-{tag}-tracemalloc"
        memdir.mkdir(exist_ok=True)
        ctx.extra_env = {"BENCH_TRACEMALLOC_DIR": str(memdir)}
    try:
        running = server.start(ctx, tag)
    finally:
        ctx.extra_env = {}
    roots = [p.pid for p in running.procs]
    if "product" in running.extra:
        row["product"] = running.extra["product"]
    cfg = {
        "kind": server.kind,
        "origin": server.kind == "tutorial",
        "mode": scenario.mode,
        "viewerUrls": running.viewer_urls,
        "posterUrl": running.poster_url,
        "topic": running.topic,
        "viewers": scenario.viewers,
        "rate": scenario.rate,
        "duration": scenario.duration,
        "concurrency": scenario.concurrency,
        "threads": opts.threads,
        "processes": opts.processes,
        "posters": scenario.posters,
        "connectTimeout": opts.connect_timeout,
        "drainIdle": opts.drain_idle,
        "drainMax": opts.drain_max,
        "runId": f"{os.getpid() % 1000}{int(time.time()) % 100000}",
    }
    client_log = ctx.out / f"{server.name}-{tag}-client.log"
    client = procs.spawn(
        ["node", str(BENCH / "node" / "load.js"), json.dumps(cfg)],
        log=client_log,
        cwd=BENCH,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(client.stdout, lines), daemon=True).start()
    deadline = (
        time.monotonic() + 90 + scenario.viewers / 40 + scenario.duration + opts.drain_max + scenario.settle
    )

    def snapshot() -> dict:
        return {
            "t": time.monotonic(),
            "server": sum(procs.cpu_seconds(r) for r in roots),
            "server_sys": sum(procs.cpu_seconds(r, system_only=True) for r in roots),
            "client": procs.cpu_seconds(client.pid),
            "runner": procs.cpu_seconds(os.getpid()),
            "redis": redis.cpu() if (server.uses_redis and redis) else None,
            "redis_cmds": redis.snapshot() if (server.uses_redis and redis) else None,
            "machine": procs.machine_busy_seconds(),
            "rss": sum(procs.rss_bytes(r) for r in roots),
        }

    def go() -> None:
        client.stdin.write(b"GO\n")
        client.stdin.flush()

    snaps: dict[str, dict] = {}
    result = None
    profilers: list[tuple[subprocess.Popen, Path]] = []

    def start_profiles() -> None:
        if not opts.py_spy or not server.python:
            return
        for i, pid in enumerate(roots):
            path = ctx.out / f"{server.name}-{tag}-p{i}.pyspy.txt"
            prof = procs.spawn(
                [
                    opts.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--output",
                    str(path),
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--duration",
                    "3600",
                ],
                log=ctx.out / f"{server.name}-{tag}-pyspy.log",
            )
            profilers.append((prof, path))

    def stop_profiles() -> None:
        for prof, _ in profilers:
            if prof.poll() is None:
                os.killpg(prof.pid, signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for prof, _ in profilers:
            try:
                prof.wait(20)
            except subprocess.TimeoutExpired:
                procs.stop(prof)
        row["profiles"] = [str(path) for _, path in profilers if path.exists()]

    try:
        with procs.PeakSampler(roots) as sampler:
            while True:
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError(f"load client did not finish in time (see {client_log})") from None
                if line is None:
                    break
                if line.startswith("PHASE "):
                    _, name, payload = line.split(" ", 2)
                    if name == "connected" and scenario.settle:
                        time.sleep(scenario.settle)
                    if memdir and name in ("start", "connected"):
                        memory_snapshots(memdir, roots)
                    if name in ("drained", "connected"):
                        stop_profiles()
                    snaps[name] = snapshot()
                    snaps[name]["payload"] = json.loads(payload)
                    if (name == "ready") or (name == "start" and scenario.mode == "connect"):
                        start_profiles()
                    go()
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
            row["peak_rss"] = sampler.peak
    finally:
        stop_profiles()
        procs.stop(client, grace=2)
        for p in running.procs:
            procs.stop(p)
    row["logs"] = scan_logs(running.logs)
    row["log_files"] = [str(p) for p in running.logs]
    if result is None:
        raise RuntimeError(f"load client gave no result (see {client_log})")
    row["client"] = result
    if result.get("error"):
        row["error"] = result["error"]
        return row

    if scenario.mode == "room":
        a, b = snaps["ready"], snaps["drained"]
    else:
        a, b = snaps["start"], snaps["connected"]
    row["window_s"] = b["t"] - a["t"]
    row["server_cpu"] = b["server"] - a["server"]
    row["server_sys_cpu"] = round(b["server_sys"] - a["server_sys"], 2)  # in the kernel: socket writes
    row["client_cpu"] = b["client"] - a["client"]
    row["redis_cpu"] = (b["redis"] - a["redis"]) if b["redis"] is not None else None
    ours = row["server_cpu"] + row["client_cpu"] + (row["redis_cpu"] or 0) + (b["runner"] - a["runner"])
    row["noise_cpu"] = max(0.0, (b["machine"] - a["machine"]) - ours)
    if b["redis_cmds"] is not None:
        row["redis_bytes"] = b["redis_cmds"]["bytes"] - a["redis_cmds"]["bytes"]
        b_cmds, a_cmds = b["redis_cmds"]["cmds"], a["redis_cmds"]["cmds"]
        delta = {k: b_cmds.get(k, 0) - a_cmds.get(k, 0) for k in b_cmds}
        row["redis_cmds"] = {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}
        row["redis_cmds_total"] = sum(delta.values())
    if scenario.mode == "connect":
        row["rss_before"] = snaps["start"]["rss"]
        row["rss_after"] = snaps["connected"]["rss"]
    if memdir:
        from bench.memdiff import diff

        ok = result["connect"]["ok"]
        texts = []
        for pid in roots:
            before, after = sorted(memdir.glob(f"snapshot-{pid}-*.pickle"))[:2]
            texts.append(f"== pid {pid}\n" + diff(before, after, max(1, ok // len(roots))))
        (memdir / "diff.txt").write_text("\n\n".join(texts))
        row["memprofile"] = str(memdir / "diff.txt")
    return row


def memory_snapshots(memdir: Path, roots: list[int], timeout: float = 60) -> None:
    """Ask each traced daphne for a tracemalloc snapshot (SIGUSR2) and wait until it is written."""
    want = {pid: len(list(memdir.glob(f"snapshot-{pid}-*.pickle"))) + 1 for pid in roots}
    for pid in roots:
        os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(list(memdir.glob(f"snapshot-{pid}-*.pickle"))) >= n for pid, n in want.items()):
            return
        time.sleep(0.2)
    raise RuntimeError(f"tracemalloc snapshots did not appear in {memdir}")
