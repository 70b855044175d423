"""Fan-out benchmark: `bash bench/run [options]` (or `.venv/bin/python -m bench` after `npm ci` in bench/).

Starts each server, drives it with the same Node `ws` load client, and prints one table. See
bench/README.md for what each server and column is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench import live as live_scenario
from bench import presence as presence_scenario
from bench import procs, report
from bench import round as round_scenario
from bench.scenarios import Options, Redis, Scenario, run
from bench.servers import BENCH, ROOT, Context, Product, all_servers, product_version

FULL = {
    "steady": dict(viewers=1000, rate=20, duration=15, posters=1),
    # 200 comments/s come from many people, not one connection (whose requests are handled in turn,
    # and whose user would be rate limited): 20 posters at 10/s each.
    "hot": dict(viewers=2000, rate=200, duration=10, posters=20),
    # A big room at a normal rate, on one process: one socket write per viewer per frame (issue 13).
    "bigroom": dict(viewers=10000, rate=20, duration=10, posters=1),
    # One busy producer connection (a bot, an ingest bridge): its publishes are pipelined (issue 13).
    "producer": dict(viewers=500, rate=200, duration=10, posters=1),
    "storm": dict(viewers=2000, concurrency=200),
    "idle": dict(viewers=5000, concurrency=200, settle=3),
    # A targeted announcement round to 10,000 staff while a normal client pings (issue 19).
    "round": dict(viewers=10000),
    # A room of 5,000 signed-in viewers on a presence topic while 5,000 more join within 10 s (issue 20).
    "presence": dict(viewers=5000, extra={"joiners": 5000, "window": 10.0}),
    # 1,000 staff on the example dashboard's stream table while one row is saved 500 times a second (issue 21).
    "live": dict(viewers=1000, rate=500, duration=20),
}
QUICK = {
    "steady": dict(viewers=200, rate=20, duration=5, posters=1),
    "hot": dict(viewers=400, rate=100, duration=5, posters=10),
    "bigroom": dict(viewers=2000, rate=20, duration=5, posters=1),
    "producer": dict(viewers=100, rate=100, duration=5, posters=1),
    "storm": dict(viewers=400, concurrency=100),
    "idle": dict(viewers=1000, concurrency=100, settle=2),
    "round": dict(viewers=1000),
    "presence": dict(viewers=500, extra={"joiners": 500, "window": 10.0}),
    "live": dict(viewers=200, rate=200, duration=5),
}
SCENARIO_ORDER = [
    "steady",
    "steady-small",
    "hot",
    "bigroom",
    "producer",
    "storm",
    "idle",
    "round",
    "presence",
    "live",
]
ROOMS = ("steady", "hot", "bigroom", "producer")
# Scenarios about one process: in a full run (--servers all) they run on these servers only.
ONE_PROCESS = ("node-ws", "tutorial-memory", "realtime-embedded")
SERVERS_OF = {
    "bigroom": ONE_PROCESS,
    "producer": ONE_PROCESS,
    "round": ("realtime-embedded",),
    "presence": ("realtime-embedded",),
    "live": ("realtime-embedded", "realtime-redis-2p"),
}
# Scenarios only the product can run (an announcement round); it reads the embedded server's SQLite file.
PRODUCT_ONLY = {
    "round": ("realtime-embedded",),
    "presence": ("realtime-embedded",),
    "live": ("realtime-embedded", "realtime-redis-2p"),
}


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes (about a minute); not recorded unless --record"
    )
    p.add_argument(
        "--servers",
        default="all",
        help="comma list: node-ws,daphne-bare,daphne-bare-transport,daphne-bare-direct,tutorial-memory,"
        "tutorial-redis,realtime-embedded,realtime-redis-2p,realtime-redis-2p-pg (all: daphne-bare runs steady, storm and idle, "
        "its -transport/-direct write-path variants steady only, unless named)",
    )
    p.add_argument(
        "--scenarios",
        default="all",
        help="comma list: steady,steady-small,hot,bigroom,producer,storm,idle,round (steady-small runs on Redis "
        "servers only; bigroom = 10,000 viewers x 20/s and producer = one connection at 200/s to 500 "
        "viewers run on node-ws, tutorial-memory and realtime-embedded unless --servers names others; "
        "round = a targeted announcement to 10,000 staff while a client pings, realtime-embedded only; "
        "presence = 5,000 joining a room of 5,000 on page.<slug> within 10 s beside broadcast.all, "
        "realtime-embedded only)",
    )
    for name in ROOMS:
        p.add_argument(f"--{name}-viewers", type=int)
        p.add_argument(f"--{name}-rate", type=float, help="comments per second")
        p.add_argument(f"--{name}-duration", type=float, help="seconds of posting")
        p.add_argument(f"--{name}-posters", type=int, help="poster connections sharing the schedule")
    p.add_argument("--storm-connects", type=int)
    p.add_argument("--storm-concurrency", type=int)
    p.add_argument("--idle-connections", type=int)
    p.add_argument(
        "--round-recipients", type=int, help="staff users the round scenario's announcement goes to"
    )
    p.add_argument(
        "--round-lead",
        type=float,
        default=10.0,
        help="seconds from the round's set-up to its start (daphne starts and the client connects meanwhile)",
    )
    p.add_argument("--presence-viewers", type=int, help="presence: viewers in the room before the joins")
    p.add_argument("--presence-joiners", type=int, help="presence: viewers joining during the window")
    p.add_argument("--presence-window", type=float, help="presence: seconds the joins are spread over")
    p.add_argument("--live-viewers", type=int, help="live: staff viewers on the dashboard's stream table")
    p.add_argument("--live-rate", type=float, help="live: saves of the hot row per second")
    p.add_argument("--live-duration", type=float, help="live: seconds measured")
    p.add_argument(
        "--live-batch", type=int, help="live: saves per transaction (default 1: each commits alone)"
    )
    p.add_argument(
        "--small-divisor", type=int, default=10, help="steady-small has steady's viewers / this (default 10)"
    )
    p.add_argument(
        "--posters",
        type=int,
        help="poster connections for every room scenario (overrides the per-scenario ones)",
    )
    p.add_argument(
        "--threads", type=int, default=2, help="load client viewer threads (default 2: the machine's cores)"
    )
    p.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="run the viewers in this many child processes of the load client instead of threads (one "
        "process holds at most `ulimit -n` sockets: 20,000 viewers need 2)",
    )
    p.add_argument(
        "--drain-idle", type=float, default=3.0, help="stop waiting after this many s without a delivery"
    )
    p.add_argument(
        "--drain-max",
        type=float,
        default=20.0,
        help="stop waiting this many s after the last comment was sent",
    )
    p.add_argument(
        "--coalesce-window",
        type=float,
        help="REALTIME COALESCE_WINDOW for the product (default: the product's)",
    )
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a REALTIME setting for the product, VALUE as JSON (e.g. COALESCE_WINDOW_MAX=0.25, "
        "MAX_PUBLISHES_IN_FLIGHT=1); repeatable",
    )
    p.add_argument(
        "--redis-url",
        help="use this Redis instead of starting a private redis-server (its command counts then include other clients)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the daphne processes with py-spy ($PY_SPY or on PATH) over each measured window",
    )
    p.add_argument(
        "--memprofile",
        action="store_true",
        help="idle: tracemalloc breakdown of per-connection memory (slows the daphne servers down: "
        "a diagnostic run, not a measurement)",
    )
    p.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write bench/RESULTS.md (default: yes for full runs)",
    )
    p.add_argument(
        "--rerender",
        type=Path,
        metavar="RUN_DIR",
        help="run nothing: print the report of an earlier run (bench/out/<time>) again; "
        "with --record, replace its section in RESULTS.md",
    )
    p.add_argument(
        "--out", type=Path, help="directory for logs and results.json (default bench/out/<timestamp>)"
    )
    return p.parse_args(argv)


def build_scenarios(args) -> list[Scenario]:
    sizes = {k: dict(v) for k, v in (QUICK if args.quick else FULL).items()}
    for name in ROOMS:
        for field in ("viewers", "rate", "duration", "posters"):
            value = getattr(args, f"{name}_{field}")
            if value is not None:
                sizes[name][field] = value
    if args.posters:
        for name in ROOMS:
            sizes[name]["posters"] = args.posters
    if args.storm_connects:
        sizes["storm"]["viewers"] = args.storm_connects
    if args.storm_concurrency:
        sizes["storm"]["concurrency"] = args.storm_concurrency
    if args.idle_connections:
        sizes["idle"]["viewers"] = args.idle_connections
    if args.round_recipients:
        sizes["round"]["viewers"] = args.round_recipients
    presence = sizes["presence"]
    presence["extra"] = dict(presence["extra"])
    if args.presence_viewers:
        presence["viewers"] = args.presence_viewers
    if args.presence_joiners:
        presence["extra"]["joiners"] = args.presence_joiners
    if args.presence_window:
        presence["extra"]["window"] = args.presence_window
    for field in ("viewers", "rate", "duration"):
        if getattr(args, f"live_{field}") is not None:
            sizes["live"][field] = getattr(args, f"live_{field}")
    sizes["live"]["extra"] = {"batch": args.live_batch or 1}
    wanted = SCENARIO_ORDER if args.scenarios == "all" else args.scenarios.split(",")
    out = []
    for name in SCENARIO_ORDER:
        if name not in wanted:
            continue
        if name == "steady-small":
            s = dict(sizes["steady"])
            s["viewers"] = max(1, s["viewers"] // args.small_divisor)
            out.append(Scenario(name, "room", only_redis=True, **s))
        elif name in ROOMS:
            out.append(Scenario(name, "room", **sizes[name]))
        elif name in ("round", "presence", "live"):
            out.append(Scenario(name, name, **sizes[name]))
        else:
            out.append(Scenario(name, "connect", **sizes[name]))
    unknown = set(wanted) - set(SCENARIO_ORDER)
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return out


def start_redis(out: Path) -> tuple[str, int]:
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed: install it or pass --redis-url redis://127.0.0.1:6379/0")
    port = procs.free_port()
    proc = procs.spawn(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            "10000",
            "--protected-mode",
            "yes",
        ],
        log=out / "redis.log",
        cwd=out,
    )
    procs.wait_port(port, proc)
    return f"redis://127.0.0.1:{port}/0", proc.pid


def machine_info() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    import channels
    import daphne
    import django
    import redis

    return (
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, Node {node}, "
        f"Django {django.get_version()}, channels {channels.__version__}, daphne {daphne.__version__}, "
        f"redis-py {redis.__version__}; load average before the run {' '.join(load)}; at the start {product_version()}"
    )


def rerender(path: Path, record: bool) -> int:
    """Print (and with --record, record) the report of an earlier run from its results.json."""
    run_dir = path if path.is_dir() else path.parent
    data = json.loads((run_dir / "results.json").read_text())
    header = data.get("header")
    if header is None:  # runs from before the header was stored: take it from section.md
        header = (run_dir / "section.md").read_text().split("\n| server")[0].rstrip().splitlines()
    section = report.section(header, data["rows"])
    (run_dir / "section.md").write_text(section)
    print(section)
    if record:
        report.record(BENCH / "RESULTS.md", section)
        print(f"\nbench: recorded in {BENCH / 'RESULTS.md'}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender(args.rerender, bool(args.record))
    procs.install_cleanup()
    started = dt.datetime.now()
    out = args.out or BENCH / "out" / started.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    scenarios = build_scenarios(args)
    servers = all_servers()
    if args.servers != "all":
        names = args.servers.split(",")
        unknown = set(names) - {s.name for s in servers}
        if unknown:
            sys.exit(f"unknown server(s): {', '.join(sorted(unknown))}")
        servers = [s for s in servers if s.name in names]
    opts = Options(
        threads=args.threads,
        processes=args.client_processes,
        drain_idle=args.drain_idle,
        drain_max=args.drain_max,
    )
    opts.memprofile = args.memprofile
    if args.profile:
        opts.py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
        if not opts.py_spy:
            sys.exit("--profile needs py-spy: pip install py-spy, or set PY_SPY=/path/to/py-spy")
    info = machine_info()
    print(f"bench: {info}\nbench: logs and results.json in {out}", flush=True)

    redis = None
    if any(s.uses_redis for s in servers):
        url, pid = (args.redis_url, None) if args.redis_url else start_redis(out)
        redis = Redis(url, pid)
    ctx = Context(out=out, redis_url=redis.url if redis else None, coalesce_window=args.coalesce_window)
    ctx.realtime = {key: json.loads(value) for key, _, value in (s.partition("=") for s in args.setting)}

    rows = []
    try:
        for server in servers:
            try:
                server.prepare(ctx)
            except Exception as exc:  # a server that cannot even start is a result too
                print(f"bench: {server.name}: prepare failed: {exc}", flush=True)
                for sc in scenarios:
                    if sc.only_redis and not server.uses_redis:
                        continue
                    rows.append(
                        {
                            "server": server.name,
                            "scenario": sc.name,
                            "viewers": sc.viewers,
                            "error": f"prepare failed: {str(exc).splitlines()[-1][:200]}",
                        }
                    )
                continue
            for sc in scenarios:
                if sc.only_redis and not server.uses_redis:
                    continue
                if sc.name in PRODUCT_ONLY and server.name not in PRODUCT_ONLY[sc.name]:
                    continue
                if args.servers == "all" and (
                    (server.default_scenarios is not None and sc.name not in server.default_scenarios)
                    or (sc.name in SERVERS_OF and server.name not in SERVERS_OF[sc.name])
                ):
                    continue
                t0 = time.monotonic()
                print(f"bench: {server.name} / {sc.name} ({sc.viewers} viewers) ...", end="", flush=True)
                try:
                    if sc.mode == "round":
                        assert isinstance(server, Product)
                        row = round_scenario.run(server, sc.viewers, ctx, lead=args.round_lead)
                    elif sc.mode == "presence":
                        assert isinstance(server, Product)
                        *before, row = presence_scenario.run(
                            server, sc.viewers, sc.extra["joiners"], ctx, window=sc.extra["window"]
                        )
                        rows.extend(before)
                    elif sc.mode == "live":
                        assert isinstance(server, Product)
                        row = live_scenario.run(
                            server,
                            sc.viewers,
                            ctx,
                            rate=sc.rate,
                            duration=sc.duration,
                            batch=sc.extra["batch"],
                        )
                    else:
                        row = run(server, sc, ctx, opts, redis)
                except Exception as exc:
                    traceback.print_exc(file=open(out / "runner-errors.log", "a"))
                    row = {
                        "server": server.name,
                        "scenario": sc.name,
                        "viewers": sc.viewers,
                        "error": str(exc)[:300],
                    }
                rows.append(row)
                c = row.get("client") or {}
                summary = row.get("error") or (
                    f"lost {c.get('lost')}, p99 {(c.get('latency') or {}).get('p99')} ms"
                    if sc.mode == "room"
                    else f"ping p99 {(c.get('latency') or {}).get('p99')} ms during a {c.get('round_s')} s round"
                    if sc.mode == "round"
                    else f"count lag p99 {(rows[-2].get('client') or {}).get('lag', {}).get('p99')} ms"
                    if sc.mode == "presence"
                    else live_scenario.summary(row)
                    if sc.mode == "live"
                    else f"{c.get('connect', {}).get('ok')} ok, {c.get('connect', {}).get('failed')} failed"
                )
                print(f" {time.monotonic() - t0:.0f}s: {summary}", flush=True)
                (out / "results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped, partial table follows", flush=True)
    finally:
        procs.stop_all()

    sizes = ", ".join(
        f"{s.name} {s.viewers}"
        + (
            f" {'viewers' if s.mode == 'room' else 'connections'}"
            if s.mode not in ("round", "presence", "live")
            else ""
        )
        + (
            f" viewers + {s.extra['joiners']} joining in {s.extra['window']:g} s"
            if s.mode == "presence"
            else f" staff viewers, one row saved {s.rate:g}/s for {s.duration:g} s"
            if s.mode == "live"
            else f" x {s.rate:g}/s x {s.duration:g}s"
            if s.mode == "room"
            else " recipients"
            if s.mode == "round"
            else f" @ {s.concurrency}"
        )
        for s in scenarios
    )
    window = args.coalesce_window if args.coalesce_window is not None else "product default"
    header = [
        f"## {started:%Y-%m-%d %H:%M} {'quick' if args.quick else 'full'} run",
        "",
        f"Machine: {info}.",
        f"Scenarios: {sizes}. "
        + (
            (
                f"Load client: 1 Node process, {args.threads} viewer threads, "
                if args.client_processes <= 1
                else f"Load client: 1 Node process and {args.client_processes} viewer processes, "
            )
            + f"posters: {', '.join(f'{s.name} {s.posters}' for s in scenarios if s.mode == 'room')}. "
            if any(s.mode != "round" for s in scenarios)
            else ""
        )
        + (
            "Round client: the runner's own (a ping every 20 ms, a stream subscribe every 0.25 s). "
            if any(s.mode == "round" for s in scenarios)
            else ""
        )
        + f"Coalescing window: {window}. "
        + (f"Settings: {', '.join(args.setting)}. " if args.setting else "")
        + f"Wall time {(dt.datetime.now() - started).total_seconds():.0f} s.",
    ]
    (out / "results.json").write_text(json.dumps({"info": info, "header": header, "rows": rows}, indent=1))
    section = report.section(header, rows)
    (out / "section.md").write_text(section)
    print("\n" + section)
    for row in rows:
        if row.get("scenario") == "live":
            print("\n" + live_scenario.summary(row))
    record = args.record if args.record is not None else not args.quick
    if record:
        report.record(BENCH / "RESULTS.md", section)
        print(f"\nbench: recorded in {BENCH / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
