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

What a process sends over the channel layer for presence is computed, not measured (the scenario
runs one process): the exchange (realtime/presence/exchange.py) sends a diff of its part once per
`PRESENCE_WINDOW` while a topic changes (the connections that came or went in it), a heartbeat every
third of `PRESENCE_LEASE`, and its whole part only when asked (a new process, a gap, a layer outage).
Its cost is the size of those messages (msgpack, as channels_redis encodes them).
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


def _records(first: int, n: int) -> dict:
    return {
        secrets.token_hex(6): [str(10_000 + k), {"name": f"bench-viewer-{k}", "avatar": None}, None]
        for k in range(first, first + n)
    }


def _packed(message: dict) -> int:
    import msgpack

    head = {"type": "realtime.presence.part", "origin": "specific.inmemory!" + secrets.token_hex(6)}
    return len(msgpack.packb({**head, "lease": 15.0, "seq": 123_456, **message}, use_bin_type=True))


def part_message_bytes(members: int) -> int:
    """One whole part of `members` listed connections (`Exchange.send_whole`: only when asked for)."""
    return _packed({"full": True, "ask": False, "topics": {"page.bench": _records(0, members)}})


def diff_message_bytes(joins: int) -> int:
    """One diff carrying `joins` new connections (`Exchange.send`: once per window while it changes)."""
    return _packed({"diff": {"page.bench": {"set": _records(0, joins), "gone": []}}})


def layer_cost(
    window: float, joins_per_s: float, lease: float, sizes: tuple[int, ...] = (5000, 10000)
) -> dict:
    """Bytes one process sends to the others: during the join storm (a diff per window), at rest (a
    heartbeat per third of a lease), and the whole part it sends when asked, at each size."""
    per_window = max(1, round(joins_per_s * window))
    out: dict = {
        "storm_diff_bytes": diff_message_bytes(per_window),
        "storm_bytes_per_s": round(diff_message_bytes(per_window) / window),
        "rest_bytes_per_s": round(_packed({}) / (lease / 3)),
    }
    for n in sizes:
        out[f"whole_part_{n}_bytes"] = part_message_bytes(n)
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
        "concurrency": 50,  # connects in flight: 200 timed out by the thousand on a loaded machine
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
        float(DEFAULTS["PRESENCE_WINDOW"]),
        joiners / window,
        float(DEFAULTS["PRESENCE_LEASE"]),
        (viewers, viewers + joiners, 5000, 10000),
    )
    return rows
