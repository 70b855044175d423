"""What channels-redis' sharding over several Redis servers gives and does not give, measured (issue 24).

`.venv/bin/python -m bench.sharding [--groups 64] [--processes 4] [--sends 2000] [--repeat 3]`

No daphne: one channels-redis layer per simulated process, configured as realtime configures it
(`realtime.layers.redis_layer([url, ...])`), each with one inbox channel as a realtime hub has, all in
every group (every process has viewers on every topic). It measures, with one Redis and with two:

1. where things live: groups and inboxes per shard (channels-redis hashes each name, CRC32 mod 4096,
   onto the ring of servers);
2. the cost of a `group_send` on each shard (Redis commands and Redis CPU, from `INFO commandstats` and
   `INFO cpu`) and the group_sends a second one client achieves (medians of --repeat runs);
3. one shard killed (SIGKILL): which group_sends still succeed, which processes still receive, and what
   realtime's health probe (`server_identity`, every shard's run id) answers.

Prints one JSON document and writes it to bench/out/<time>/sharding.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from channels_redis.core import RedisChannelLayer

from realtime.layers import redis_layer, server_identity

OUT = Path(__file__).resolve().parent / "out"


def make_layers(urls: list[str], count: int, prefix: str) -> list[RedisChannelLayer]:
    config = redis_layer(urls, prefix=prefix)["CONFIG"]
    return [RedisChannelLayer(**config) for _ in range(count)]


def redis_totals(url: str) -> dict[str, float]:
    import redis

    client = redis.Redis.from_url(url)
    stats = client.info("commandstats")
    cpu = client.info("cpu")
    return {
        "commands": sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info"),  # ours left out
        "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
    }


async def place(urls: list[str], groups: list[str], processes: int) -> dict[str, Any]:
    layers = make_layers(urls, processes, f"bench-shard-{uuid.uuid4().hex[:6]}")
    inboxes = [await layer.new_channel() for layer in layers]
    layer = layers[0]
    by_group = [layer.consistent_hash(g) for g in groups]
    by_inbox = [layer.consistent_hash(layer.non_local_name(c)) for c in inboxes]
    thousand = [layer.consistent_hash(f"realtime.t.stream.{n}") for n in range(1, 1001)]
    return {
        "groups_per_shard": [by_group.count(i) for i in range(len(urls))],
        "of_1000_stream_groups_per_shard": [thousand.count(i) for i in range(len(urls))],
        "inboxes_per_shard": [by_inbox.count(i) for i in range(len(urls))],
    }


async def throughput(urls: list[str], groups: list[str], processes: int, sends: int) -> dict[str, Any]:
    """One sender's group_sends a second to groups every process is in, and each shard's cost."""
    layers = make_layers(urls, processes + 1, f"bench-shard-{uuid.uuid4().hex[:6]}")
    sender, receivers = layers[0], layers[1:]
    inboxes = [await layer.new_channel() for layer in receivers]
    for layer, inbox in zip(receivers, inboxes, strict=True):
        for group in groups:
            await layer.group_add(group, inbox)
    received = [0] * len(receivers)

    async def drain(index: int) -> None:
        while True:
            await receivers[index].receive(inboxes[index])
            received[index] += 1

    drains = [asyncio.create_task(drain(i)) for i in range(len(receivers))]
    before = [redis_totals(u) for u in urls]
    start = time.perf_counter()
    for n in range(sends):
        await sender.group_send(groups[n % len(groups)], {"type": "x", "n": n})
    elapsed = time.perf_counter() - start
    deadline = time.monotonic() + 30
    while sum(received) < sends * len(receivers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    after = [redis_totals(u) for u in urls]
    for task in drains:
        task.cancel()
    await asyncio.gather(*drains, return_exceptions=True)
    for layer in layers:
        await layer.flush()
    return {
        "group_sends_per_s": round(sends / elapsed),
        "delivered": sum(received),
        "expected": sends * len(receivers),
        "commands_per_send_by_shard": [
            round((a["commands"] - b["commands"]) / sends, 2) for a, b in zip(after, before, strict=True)
        ],
        "redis_cpu_ms_per_1000_sends_by_shard": [
            round((a["cpu_s"] - b["cpu_s"]) * 1e6 / sends, 1) for a, b in zip(after, before, strict=True)
        ],
    }


async def one_shard_dies(redis_servers: list[Any], groups: list[str], processes: int) -> dict[str, Any]:
    """Every process in every group; kill the last shard; one group_send per group; who got what."""
    urls = [r.url for r in redis_servers]
    layers = make_layers(urls, processes + 1, f"bench-shard-{uuid.uuid4().hex[:6]}")
    sender, receivers = layers[0], layers[1:]
    inboxes = [await layer.new_channel() for layer in receivers]
    dead = len(urls) - 1
    inbox_shard = [sender.consistent_hash(sender.non_local_name(c)) for c in inboxes]
    # Even groups: every process is a member (a topic with viewers everywhere). Odd groups: only the
    # processes whose inbox is on a live shard (a topic whose viewers happen to be elsewhere).
    members: dict[str, list[int]] = {
        g: [i for i in range(len(receivers)) if n % 2 == 0 or inbox_shard[i] != dead]
        for n, g in enumerate(groups)
    }
    for group, indexes in members.items():
        for i in indexes:
            await receivers[i].group_add(group, inboxes[i])
    identity_before = await server_identity(sender)
    redis_servers[dead].kill()
    killed = time.monotonic()
    group_shard = {g: sender.consistent_hash(g) for g in groups}
    errors: set[str] = set()
    send_ms: list[float] = []
    sent: dict[str, bool] = {}
    for group in groups:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(sender.group_send(group, {"type": "x", "group": group}), 5)
            sent[group] = True
        except Exception as exc:
            sent[group] = False
            errors.add(type(exc).__name__)
        send_ms.append((time.perf_counter() - started) * 1000)
    got: list[set[str]] = []
    for layer, inbox in zip(receivers, inboxes, strict=True):
        seen: set[str] = set()
        try:
            while True:
                message = await asyncio.wait_for(layer.receive(inbox), 1.0)
                seen.add(message["group"])
        except Exception as exc:  # the timeout (nothing more), or the dead shard's error
            if not isinstance(exc, TimeoutError):
                seen.add(f"<receive failed: {type(exc).__name__}>")
        got.append(seen)
    try:
        probe = await asyncio.wait_for(server_identity(sender), 5)
        probe_answer = "answered" if probe != identity_before else "unchanged"
    except Exception as exc:
        probe_answer = f"raised {type(exc).__name__}"
    live_receivers = [i for i in range(len(receivers)) if inbox_shard[i] != dead]

    def kind(group: str) -> str:
        where = "group on the dead shard" if group_shard[group] == dead else "group on a live shard"
        everyone = len(members[group]) == len(receivers)
        return f"{where}, {'every process a member' if everyone else 'members all on live shards'}"

    by_kind: dict[str, dict[str, int]] = {}
    for group in groups:
        row = by_kind.setdefault(
            kind(group), {"groups": 0, "sends_ok": 0, "live_inbox_deliveries": 0, "of": 0}
        )
        row["groups"] += 1
        row["sends_ok"] += sent[group]
        row["of"] += len(live_receivers)
        row["live_inbox_deliveries"] += sum(group in got[i] for i in live_receivers)
    return {
        "seconds_after_kill": round(time.monotonic() - killed, 2),
        "inboxes_on_dead_shard": len(receivers) - len(live_receivers),
        "processes": len(receivers),
        "by_kind": by_kind,
        "receives_failed_on_dead_shard_inboxes": sum(
            any(g.startswith("<receive failed") for g in got[i])
            for i in range(len(receivers))
            if i not in live_receivers
        ),
        "send_errors": sorted(errors),
        "send_ms_median": round(statistics.median(send_ms), 1),
        "send_ms_max": round(max(send_ms), 1),
        "realtime_probe_server_identity": probe_answer,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from realtime.topics.names import group_for_topic  # after django.setup()
    from tests.faultkit import RedisServer

    servers = [RedisServer().start() for _ in range(2)]
    groups = [group_for_topic(f"stream.{n}") for n in range(1, args.groups + 1)]
    try:
        result: dict[str, Any] = {"groups": args.groups, "processes": args.processes, "sends": args.sends}
        for shards in (1, 2):
            urls = [s.url for s in servers[:shards]]
            runs = [await throughput(urls, groups, args.processes, args.sends) for _ in range(args.repeat)]
            result[f"{shards}_shard"] = {
                **(await place(urls, groups, args.processes)),
                "group_sends_per_s_median": statistics.median(r["group_sends_per_s"] for r in runs),
                "runs": runs,
            }
        result["ratio_2_to_1_group_sends_per_s"] = round(
            result["2_shard"]["group_sends_per_s_median"] / result["1_shard"]["group_sends_per_s_median"], 2
        )
        result["one_of_two_shards_killed"] = await one_shard_dies(servers, groups, args.processes)
        return result
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    import os

    import django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=64)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    figures = asyncio.run(main(parser.parse_args()))
    folder = OUT / dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-sharding")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sharding.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    print(f"written to {folder / 'sharding.json'}")
