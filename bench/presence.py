"""The `presence` scenario (issue 20): a room of N signed-in viewers on a topic with presence, then M
more joining evenly within `join_window` s, beside the same room on a kind without presence.

Rooms: `page.bench` (the built-in `page.<slug>` kind: every signed-in subscriber gets the roster) and
`broadcast.all` (no presence: the baseline). Every viewer and joiner is a user of its own with a ticket
(`bench.product_setup presence`), so every one is listed, not only counted. The Node client
(`bench/node/presence.js`) connects everyone first, subscribes the N viewers and waits until each
viewer's count is N, then subscribes the M joiners on schedule. Figures, over the viewers only: presence
frames per viewer per second and their bytes, from the first join until every viewer's count reached
N + M; the count's lag (from a joiner's subscribe to the moment a viewer's count includes it, one sample
per viewer per join); and the daphne process's CPU over the same window.

What a process sends over the channel layer for presence is computed, not measured: the exchange
(realtime/presence/exchange.py) sends its whole part of a changed topic once per `PRESENCE_WINDOW`, so
its cost is the size of that message (msgpack, as channels_redis encodes it) times 1 / window.
"""

from __future__ import annotations

import json
import queue
import secrets
import subprocess
import threading
import time

from bench import procs
from bench.servers import BENCH, Context, Product

ROOMS = (("presence", "page.bench", True), ("no-presence", "broadcast.all", False))


def part_message_bytes(members: int) -> int:
    """The bytes of one exchange message carrying a part of `members` listed connections, encoded as
    channels_redis encodes it (msgpack), with the shape `Exchange.send` builds."""
    import msgpack

    body = {
        "page.bench": {
            secrets.token_hex(6): [str(10_000 + n), {"name": f"bench-viewer-{n}", "avatar": None}, None]
            for n in range(members)
        }
    }
    message = {
        "type": "realtime.presence.part",
        "origin": "specific.inmemory!" + secrets.token_hex(6),
        "lease": 15.0,
        "full": False,
        "ask": False,
        "topics": body,
    }
    return len(msgpack.packb(message, use_bin_type=True))


def layer_cost(window: float, sizes: tuple[int, ...] = (5000, 10000)) -> dict:
    out = {}
    for n in sizes:
        size = part_message_bytes(n)
        out[str(n)] = {"message_bytes": size, "bytes_per_s": round(size / window)}
    return out


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        q.put(line.decode(errors="replace").rstrip("\n"))
    q.put(None)


def run_room(server: Product, ctx: Context, room: tuple, viewers: int, joiners: int, window: float) -> dict:
    name, topic, presence = room
    row: dict = {
        "server": server.name,
        "scenario": f"presence/{name}",
        "viewers": viewers,
        "joiners": joiners,
    }
    tickets = server._setup(ctx, "presence", str(viewers + joiners))["tickets"]
    running = server.start(ctx, f"presence-{name}")
    root = running.procs[0].pid
    cfg = {
        "url": running.viewer_urls[0],
        "topic": topic,
        "presence": presence,
        "tickets": tickets,
        "viewers": viewers,
        "joiners": joiners,
        "joinWindow": window,
        "concurrency": 200,
        "settleMax": 60 + viewers / 100,
        "drainIdle": 30.0,  # a busy server answers the joins late: quiet for this long is stuck, not slow
        "drainMax": 120.0,
    }
    cfg_path = ctx.out / f"{server.name}-presence-{name}.json"
    cfg_path.write_text(json.dumps(cfg))
    client_log = ctx.out / f"{server.name}-presence-{name}-client.log"
    client = procs.spawn(
        ["node", str(BENCH / "node" / "presence.js"), str(cfg_path.resolve())],
        log=client_log,
        cwd=BENCH,
        stdout=subprocess.PIPE,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(client.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + 180 + (viewers + joiners) / 50 + window
    cpu: dict[str, float] = {}
    result = None
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"presence client did not finish in time (see {client_log})") from None
            if line is None:
                break
            if line.startswith("PHASE "):
                cpu[line.split(" ")[1]] = procs.cpu_seconds(root)
                cpu[line.split(" ")[1] + "_client"] = procs.cpu_seconds(client.pid)
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
        row["peak_rss"] = procs.rss_bytes(root)
    finally:
        procs.stop(client, grace=2)
        for p in running.procs:
            procs.stop(p)
    from bench.scenarios import scan_logs

    row["logs"] = scan_logs(running.logs)
    if result is None:
        raise RuntimeError(f"presence client gave no result (see {client_log})")
    row["client"] = result
    if result.get("error"):
        row["error"] = result["error"][:300]
        return row
    if "joining" in cpu and "done" in cpu:
        row["server_cpu"] = round(cpu["done"] - cpu["joining"], 2)
        row["client_cpu"] = round(cpu["done_client"] - cpu["joining_client"], 2)
        row["server_cpu_share"] = round(row["server_cpu"] / result["window_s"], 3)
    return row


def run(server: Product, viewers: int, joiners: int, ctx: Context, *, window: float = 10.0) -> list[dict]:
    rows = [run_room(server, ctx, room, viewers, joiners, window) for room in ROOMS]
    from realtime.conf import DEFAULTS

    rows[0]["layer"] = layer_cost(
        float(DEFAULTS["PRESENCE_WINDOW"]), (viewers, viewers + joiners, 5000, 10000)
    )
    return rows
