"""The `round` scenario: a targeted announcement round to N staff users on one daphne process, while a
normal client pings (issue 19: "a round of 10,000 recipients leaves the process responsive").

The set-up (`bench.product_setup round`) creates N staff users and an announcement to staff scheduled a
few seconds ahead; daphne starts; a client connects anonymously, subscribes to `announcements.all`
(which starts the process's scheduler, as any page with the banner does) and pings every
`PING_INTERVAL` s. The scheduler sends the round at its start time on its own. The round is done when
every recipient's event is stored (read from the bench's SQLite file, once a second). Figures: the
ping's round-trip time before the round (baseline) and from its start to its last stored event
(during), unanswered pings counted at their age; the round's duration and the server's CPU over it.

A ping needs no database, so it shows whether the event loop stays free. The same client also
subscribes to a stream (and unsubscribes) every `SUBSCRIBE_INTERVAL` s: a subscribe reads the database
on the process's one database thread, so it shows whether the round holds that thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime

from bench import procs
from bench.servers import Context, Product

PING_INTERVAL = 0.02
SUBSCRIBE_INTERVAL = 0.25
MAX_ROUND = 180.0


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 1), "count": len(ordered)}


def _stored(db: str) -> tuple[int, float | None]:
    """Announcement events stored on users' topics, and when the last one was (epoch s)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        count, last = conn.execute(
            "SELECT count(*), max(created_at) FROM realtime_event "
            "WHERE name = 'announcement' AND topic LIKE 'announcements.user-%'"
        ).fetchone()
    if not last:
        return count, None
    return count, datetime.fromisoformat(last).replace(tzinfo=UTC).timestamp()


async def _ping(url: str, stream: str, starts_at: float, recipients: int, db: str) -> dict:
    import websockets

    pings: list[tuple[float, float]] = []  # (sent at, epoch s; round trip, ms)
    waiting: dict[str, tuple[float, float]] = {}
    subscribes: list[tuple[float, float]] = []
    asked: dict[str, tuple[float, float]] = {}
    async with websockets.connect(url, max_size=None) as ws:
        json.loads(await ws.recv())  # hello
        await ws.send(json.dumps({"type": "subscribe", "topic": "announcements.all", "ref": "s"}))
        while json.loads(await ws.recv()).get("type") != "subscribed":
            pass

        async def read() -> None:
            async for text in ws:
                frame = json.loads(text)
                if frame.get("type") == "pong" and frame.get("ref") in waiting:
                    wall, sent = waiting.pop(frame["ref"])
                    pings.append((wall, (time.perf_counter() - sent) * 1000))
                elif frame.get("type") in ("subscribed", "error") and frame.get("ref") in asked:
                    wall, sent = asked.pop(frame["ref"])
                    subscribes.append((wall, (time.perf_counter() - sent) * 1000))
                    await ws.send(json.dumps({"type": "unsubscribe", "topic": stream}))

        reader = asyncio.create_task(read())
        n, done_at, last_check, stored, last_event = 0, None, 0.0, 0, None
        while time.time() < starts_at + MAX_ROUND:
            n += 1
            waiting[str(n)] = (time.time(), time.perf_counter())
            await ws.send(json.dumps({"type": "ping", "ref": str(n)}))
            if not asked and n % round(SUBSCRIBE_INTERVAL / PING_INTERVAL) == 0:
                asked[f"sub-{n}"] = (time.time(), time.perf_counter())
                await ws.send(json.dumps({"type": "subscribe", "topic": stream, "ref": f"sub-{n}"}))
            await asyncio.sleep(PING_INTERVAL)
            now = time.time()
            if now > starts_at and now - last_check >= 1.0:
                last_check = now
                stored, last_event = await asyncio.to_thread(_stored, db)
                if stored >= recipients:
                    done_at = now
                    break
        await asyncio.sleep(0.5)  # answers to the last pings
        reader.cancel()
    for wall, sent in waiting.values():  # never answered: at least this late
        pings.append((wall, (time.perf_counter() - sent) * 1000))
    for wall, sent in asked.values():
        subscribes.append((wall, (time.perf_counter() - sent) * 1000))
    end = last_event or done_at or time.time()
    return {
        "baseline": _percentiles([rtt for wall, rtt in pings if wall < starts_at]),
        "latency": _percentiles([rtt for wall, rtt in pings if starts_at <= wall <= end]),
        "subscribe_baseline": _percentiles([rtt for wall, rtt in subscribes if wall < starts_at]),
        "subscribe": _percentiles([rtt for wall, rtt in subscribes if starts_at <= wall <= end]),
        "unanswered": len(waiting),
        "delivered": stored,
        "round_s": round(end - starts_at, 2) if last_event else None,
        "done": done_at is not None,
    }


def run(server: Product, recipients: int, ctx: Context, *, lead: float = 10.0) -> dict:
    """`lead`: seconds from the set-up to the round's start (daphne starts, the client connects)."""
    row: dict = {"server": server.name, "scenario": "round", "viewers": recipients}
    info = server._setup(ctx, "round", str(recipients), str(lead))
    running = server.start(ctx, "round")
    row["product"] = running.extra.get("product")
    root = running.procs[0].pid
    try:
        cpu0, cpu_at = None, {}

        async def measure() -> dict:
            nonlocal cpu0
            pinging = asyncio.create_task(
                _ping(
                    running.viewer_urls[0],
                    running.topic or "",
                    info["starts_at"],
                    info["recipients"],
                    server.db,
                )
            )
            await asyncio.sleep(max(0.0, info["starts_at"] - time.time()))
            cpu0 = procs.cpu_seconds(root)
            result = await pinging
            cpu_at["end"] = procs.cpu_seconds(root)
            return result

        row["client"] = asyncio.run(measure())
        row["server_cpu"] = cpu_at["end"] - cpu0 if cpu0 is not None else None
        row["recipients"] = info["recipients"]
    finally:
        for proc in running.procs:
            procs.stop(proc)
    from bench.scenarios import scan_logs

    row["logs"] = scan_logs(running.logs)
    if not row["client"]["done"]:
        row["error"] = (
            f"round not delivered in {MAX_ROUND:.0f} s ({row['client']['delivered']} of {recipients})"
        )
    return row
