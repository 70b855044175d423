"""The `live` scenario (issue 21): N staff viewers on the example dashboard's stream table (a
realtime.live rows view) while one stream row is updated `rate` times a second for `duration` s.

The hot row is updated the way a project's code would: a separate process saves the model
(`stream.save(update_fields=["title"])`; realtime.live captures it on commit and the view topic
re-renders the table). Each update writes its own time into the title (`bench@<epoch ms>`), so the Node
client (`bench/node/live.js`) reads from each frame how old the newest value it shows is: arrival time
minus the time of the update that produced it (same machine, same clock). Figures: frames per viewer
per second, the age's p50/p99, the updates the producer managed per second, and the daphne process's
CPU over the measured window.

    python -m bench.live setup N              N staff users (`bench-staff-live-<n>`), a ticket each, and
                                              the dashboard stream table's topic; prints JSON
    python -m bench.live produce PK RATE SECS [BATCH]
                                              save stream PK RATE times a second for SECS s (BATCH saves
                                              per transaction; default 1)
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time

VIEW = "dashboard-streams"


def setup(count: int) -> dict:
    """`count` staff users and a ticket each, and the stream table's topic as the page renders it."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.template import Context, Template
    from django.test import RequestFactory

    from realtime.tickets import issue_ticket

    user_model = get_user_model()
    start = user_model.objects.filter(username__startswith="bench-staff-live-").count()
    names = [f"bench-staff-live-{n}" for n in range(start, start + count)]
    user_model.objects.bulk_create(
        [user_model(username=name, password="!", is_staff=True) for name in names], batch_size=1000
    )
    with transaction.atomic():  # one commit: SQLite syncs once, not once per ticket
        tickets = [issue_ticket(user) for user in user_model.objects.filter(username__in=names)]
    # The topic exactly as the dashboard page gets it: render the page's tag for one of these viewers.
    request = RequestFactory().get("/dashboard/")
    request.user = user_model.objects.get(username=names[0])
    html = Template('{% load realtime_live %}{% live_rows "' + VIEW + '" tag="tbody" %}').render(
        Context({"request": request, "user": request.user})
    )
    found = re.search(r'data-live-topic="([^"]+)"', html)
    if not found:
        raise RuntimeError(f"the {VIEW} tag rendered no topic for a staff user: {html[:300]}")
    return {"tickets": tickets, "topic": found.group(1)}


def produce(pk: int, rate: float, seconds: float, batch: int = 1) -> dict:
    """Save the stream `rate` times a second on schedule (late saves go at once, none are skipped),
    `batch` saves per transaction (1: each save commits on its own, as a view handling requests would)."""
    from django.db import transaction

    from realtime.streams.models import Stream

    stream = Stream.objects.get(pk=pk)
    done, late = 0, 0.0
    t0 = time.monotonic()
    while True:
        due = t0 + done / rate
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        with transaction.atomic():
            for _ in range(batch):
                stream.title = f"bench@{time.time() * 1000:.3f}"
                stream.save(update_fields=["title"])
        done += batch
        if done == batch:
            print("STARTED", flush=True)
    elapsed = time.monotonic() - t0
    return {
        "updates": done,
        "batch": batch,
        "seconds": round(elapsed, 2),
        "rate": round(done / elapsed, 1),
        "max_late_s": round(late, 3),
    }


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        q.put(line.decode(errors="replace").rstrip("\n"))
    q.put(None)


def _lines(proc: subprocess.Popen) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    return q


def _wait_for(q: queue.Queue, prefix: str, deadline: float, what: str) -> str:
    while True:
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"{what}: no `{prefix}` in time") from None
        if line is None:
            raise RuntimeError(f"{what} ended before `{prefix}`")
        if line.startswith(prefix):
            return line


def run(server, viewers: int, ctx, *, rate: float = 500.0, duration: float = 20.0, batch: int = 1) -> dict:
    from bench import procs
    from bench.scenarios import scan_logs
    from bench.servers import BENCH, ROOT

    row: dict = {
        "server": server.name,
        "scenario": "live",
        "viewers": viewers,
        "rate": rate,
        "duration": duration,
    }
    env = server._env(ctx)

    def python(*args: str, **kw) -> subprocess.Popen:
        return procs.spawn([sys.executable, "-m", "bench.live", *args], env=env, cwd=ROOT, **kw)

    setup_out = subprocess.run(
        [sys.executable, "-m", "bench.live", "setup", str(viewers)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if setup_out.returncode:
        raise RuntimeError(f"bench.live setup failed:\n{setup_out.stderr[-3000:]}")
    info = json.loads(setup_out.stdout.strip().splitlines()[-1])
    running = server.start(ctx, "live")
    roots = [p.pid for p in running.procs]

    def server_cpu() -> float:
        return sum(procs.cpu_seconds(pid) for pid in roots)

    row["product"] = running.extra.get("product")
    row["processes"] = len(running.procs)
    cfg = {
        "urls": running.viewer_urls,
        "topic": info["topic"],
        "tickets": info["tickets"],
        "viewers": viewers,
        "duration": duration,
        "concurrency": 200,
        "settleMax": 60 + viewers / 100,
    }
    cfg_path = ctx.out / f"{server.name}-live.json"
    cfg_path.write_text(json.dumps(cfg))
    client_log = ctx.out / f"{server.name}-live-client.log"
    client = procs.spawn(
        ["node", str(BENCH / "node" / "live.js"), str(cfg_path.resolve())],
        log=client_log,
        cwd=BENCH,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
    )
    producer = None
    lines = _lines(client)
    result = None
    try:
        _wait_for(lines, "PHASE ready", time.monotonic() + 120 + viewers / 20, "live client")
        producer = python(
            "produce",
            str(running.extra["stream"]),
            str(rate),
            str(duration + 3),
            str(batch),
            log=ctx.out / f"{server.name}-live-producer.log",
            stdout=subprocess.PIPE,
        )
        produced = _lines(producer)
        _wait_for(produced, "STARTED", time.monotonic() + 60, "live producer")
        cpu0, producer0 = server_cpu(), procs.cpu_seconds(producer.pid)
        busy0 = procs.machine_busy_seconds()
        client.stdin.write(b"GO\n")
        client.stdin.flush()
        _wait_for(lines, "PHASE done", time.monotonic() + duration + 60, "live client")
        row["server_cpu"] = round(server_cpu() - cpu0, 2)
        row["producer_cpu"] = round(procs.cpu_seconds(producer.pid) - producer0, 2)
        row["machine_busy_s"] = round(procs.machine_busy_seconds() - busy0, 2)
        result = json.loads(_wait_for(lines, "RESULT ", time.monotonic() + 30, "live client")[7:])
        row["produced"] = json.loads(
            _wait_for(produced, "RESULT ", time.monotonic() + 30, "live producer")[7:]
        )
        row["peak_rss"] = sum(procs.rss_bytes(pid) for pid in roots)
    finally:
        procs.stop(client, grace=2)
        if producer is not None:
            procs.stop(producer, grace=2)
        for p in running.procs:
            procs.stop(p)
    row["logs"] = scan_logs(running.logs)
    row["client"] = result
    if result.get("error"):
        row["error"] = result["error"][:300]
    elif result.get("window_s"):
        row["server_cpu_share"] = round(row["server_cpu"] / result["window_s"], 3)
    return row


def summary(row: dict) -> str:
    """One paragraph of the run's figures (printed by the runner; the report's tables do not know them)."""
    c = row.get("client") or {}
    if row.get("error") or not c:
        return f"live: {row.get('error') or 'no result'}"
    age, stale, produced = c.get("age") or {}, c.get("stale_before") or {}, row.get("produced") or {}
    return (
        f"live: {c['viewers']:,} viewers ({c['subscribed']:,} subscribed, {c['refused']} refused) on the "
        f"dashboard's stream table; one row saved {produced.get('rate')}/s (asked {row['rate']:g}/s, "
        f"{produced.get('updates'):,} saves, {row.get('batch', 1)} a transaction) for {c['window_s']} s: {c['frames_per_viewer_s']} frames/viewer/s, "
        f"{c['bytes_per_viewer_s']:,} B/viewer/s; age of the value shown p50 {age.get('p50')} ms, "
        f"p99 {age.get('p99')} ms, max {age.get('max')} ms ({age.get('samples'):,} samples); the value it "
        f"replaced had become p50 {stale.get('p50')} ms, p99 {stale.get('p99')} ms old; server CPU "
        f"{row.get('server_cpu')} s over {row.get('processes', 1)} process(es) ({row.get('server_cpu_share')} of a "
        f"core), producer CPU "
        f"{row.get('producer_cpu')} s, machine busy {row.get('machine_busy_s')} CPU-s"
    )


def main(argv: list[str]) -> None:
    import django

    django.setup()
    if argv[0] == "setup":
        print(json.dumps(setup(int(argv[1]))))
    elif argv[0] == "produce":
        batch = int(argv[4]) if len(argv) > 4 else 1
        print(
            "RESULT " + json.dumps(produce(int(argv[1]), float(argv[2]), float(argv[3]), batch)), flush=True
        )
    else:
        sys.exit(f"unknown command {argv[0]!r}: setup N | produce PK RATE SECS")


if __name__ == "__main__":
    main(sys.argv[1:])
