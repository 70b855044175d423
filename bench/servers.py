"""The servers under test: how to start each one, and where its viewers and poster connect.

Each scenario gets freshly started server processes, so peak memory and CPU belong to that scenario
alone and nothing left over from the previous one (groups, queues, open sockets) skews it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import pgbench, procs

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Running:
    """A started server: the processes to measure and the URLs the load client uses."""

    procs: list[subprocess.Popen]
    logs: list[Path]
    viewer_urls: list[str]
    poster_url: str
    topic: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Context:
    out: Path
    redis_url: str | None = None
    coalesce_window: float | None = None
    realtime: dict = field(default_factory=dict)  # REALTIME overrides for the product (--setting)
    extra_env: dict = field(default_factory=dict)  # for the daphne processes of the next start()


def _daphne(port: int, app: str, env: dict, log: Path, ctx: Context) -> subprocess.Popen:
    env = {**env, **ctx.extra_env}
    if "BENCH_TRACEMALLOC_DIR" in env:
        env["PYTHONPATH"] = f"{BENCH / 'memtrace'}:{env['PYTHONPATH']}"
    # A listen backlog of 1024 (daphne's -b/-p give Twisted's default of 50, which a burst of 200
    # concurrent connects overflows: each overflowed SYN is retried by the client's kernel a second
    # later). Every daphne server of the bench gets the same; docs/deployment.md says why production does.
    backlog = os.environ.get("BENCH_DAPHNE_BACKLOG", "1024")
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={backlog}"
    return procs.spawn(
        [str(VENV_BIN / "daphne"), "-e", endpoint, app],
        log=log,
        env=env,
        cwd=ROOT,
    )


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REDIS_URL", "REALTIME_", "DATABASE_URL", "SQLITE_PATH"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def product_version() -> str:
    """The last commit that touched the product (realtime/, project/), the checkout's HEAD, and whether
    the product's files differ from HEAD. daphne imports them afresh for every scenario, so this is read
    per row as well as per run."""
    git = ["git", "-C", str(ROOT)]

    def out(*args: str) -> str:
        return subprocess.run([*git, *args], capture_output=True, text=True).stdout.strip()

    product = out("log", "-1", "--format=%h", "--", "realtime", "project")
    head = out("rev-parse", "--short", "HEAD")
    dirty = out("status", "--porcelain", "--", "realtime", "project")
    return f"product as of commit {product or '?'} (HEAD {head or '?'})" + (
        " plus uncommitted changes in realtime/ or project/" if dirty else ""
    )


class Server:
    name = ""
    description = ""
    uses_redis = False
    kind = ""  # the load client's protocol: node (plain relay) | tutorial | product
    python = True  # daphne processes (py-spy can profile them)
    # Scenarios it runs when not named explicitly in --servers (None = all).
    default_scenarios: set[str] | None = None

    def prepare(self, ctx: Context) -> None:
        """Once per run, before the first scenario."""

    def start(self, ctx: Context, tag: str) -> Running:
        raise NotImplementedError


class NodeRelay(Server):
    name = "node-ws"
    description = "Node `ws` relay: every message sent to every open client (bench/node/relay.js)"
    kind = "node"
    python = False

    def start(self, ctx, tag):
        port = procs.free_port()
        log = ctx.out / f"{self.name}-{tag}.log"
        proc = procs.spawn(["node", str(BENCH / "node" / "relay.js"), str(port)], log=log, cwd=BENCH)
        procs.wait_port(port, proc)
        url = f"ws://127.0.0.1:{port}/"
        return Running([proc], [log], [url], url)


class DaphneBare(Server):
    kind = "node"

    def __init__(self, write: str = "asgi"):
        self.write = write
        self.name = "daphne-bare" if write == "asgi" else f"daphne-bare-{write}"
        self.description = (
            "raw ASGI app on daphne, no Channels/Django/layer, relaying to the process's sockets "
            f"(bench/bare.py, BENCH_BARE_WRITE={write})"
        )
        # Without --servers naming them: the plain one runs steady, storm and idle (the floor), the
        # write-path variants only steady (what one socket write costs).
        self.default_scenarios = {"steady", "storm", "idle"} if write == "asgi" else {"steady"}

    def start(self, ctx, tag):
        port = procs.free_port()
        log = ctx.out / f"{self.name}-{tag}.log"
        proc = _daphne(port, "bench.bare:application", _env(BENCH_BARE_WRITE=self.write), log, ctx)
        procs.wait_port(port, proc)
        url = f"ws://127.0.0.1:{port}/"
        return Running([proc], [log], [url], url)


class Tutorial(Server):
    kind = "tutorial"

    def __init__(self, layer: str):
        self.layer = layer
        self.uses_redis = layer == "redis"
        self.name = f"tutorial-{layer}"
        self.description = (
            "Channels tutorial AsyncWebsocketConsumer (group_add per viewer, group_send per message) "
            f"on one daphne, {'channels_redis.core.RedisChannelLayer' if self.uses_redis else 'InMemoryChannelLayer'}"
        )

    def start(self, ctx, tag):
        port = procs.free_port()
        log = ctx.out / f"{self.name}-{tag}.log"
        env = _env(
            DJANGO_SETTINGS_MODULE="bench.tutorial.settings",
            BENCH_LAYER=self.layer,
            BENCH_REDIS_URL=ctx.redis_url if self.uses_redis else None,
        )
        proc = _daphne(port, "bench.tutorial.asgi:application", env, log, ctx)
        procs.wait_port(port, proc)
        url = f"ws://127.0.0.1:{port}/ws/chat/bench/"
        return Running([proc], [log], [url], url)


POSTER_TICKETS = 64


class Product(Server):
    """This project through the product path: ticket-authenticated poster, stored comments, anonymous
    viewers subscribed to `stream.<id>`, events arriving as `event` or coalesced `batch` frames."""

    kind = "product"

    def __init__(self, processes: int, postgres: bool = False, metrics: bool = True):
        self.processes = processes
        self.metrics = metrics  # False: REALTIME["METRICS"] off, to measure what counting costs
        self.uses_redis = processes > 1
        self.postgres = postgres
        self.database_url: str | None = None
        if postgres:  # the database's part in the room scenarios; connects and idle sockets do not differ
            self.default_scenarios = {"steady", "steady-small", "hot"}
        if not metrics:  # beside the same server with metrics on: the steady room is the comparison
            self.default_scenarios = {"steady"}
        self.name = (
            ("realtime-redis-2p" + ("-pg" if postgres else "")) if self.uses_redis else "realtime-embedded"
        ) + ("" if metrics else "-metrics-off")
        database = "PostgreSQL (a database of its own)" if postgres else "SQLite"
        self.description = (
            f"this project (project.asgi with bench.settings), {processes} daphne processes, "
            + (
                f"channels-redis, {database}, viewers split across processes, poster on the first"
                if self.uses_redis
                else "embedded default: SQLite + in-memory layer"
            )
        )

    def _env(self, ctx):
        settings = {**(ctx.realtime or {}), **({} if self.metrics else {"METRICS": False})}
        return _env(
            DJANGO_SETTINGS_MODULE="bench.settings",
            BENCH_SQLITE_PATH=self.db,
            DATABASE_URL=self.database_url,
            REDIS_URL=ctx.redis_url if self.uses_redis else None,
            REALTIME_COALESCE_WINDOW=ctx.coalesce_window,
            BENCH_REALTIME=json.dumps(settings) if settings else None,
            # Several processes count into one directory, as docs/operations.md says to deploy them.
            PROMETHEUS_MULTIPROC_DIR=self.metrics_dir if self.uses_redis and self.metrics else None,
        )

    def _setup(self, ctx, *args) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "bench.product_setup", *args],
            env=self._env(ctx),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode:
            raise RuntimeError(f"bench.product_setup {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def prepare(self, ctx):
        self.db = str(ctx.out / f"{self.name}.sqlite3")
        self.metrics_dir = str(ctx.out / f"{self.name}-metrics")
        Path(self.metrics_dir).mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(self.db + suffix).unlink(missing_ok=True)
        if self.postgres:
            self.database_url = pgbench.create_database()
        self._setup(ctx, "migrate")

    def start(self, ctx, tag):
        # A fresh stream per scenario (no history replay from an earlier one) and fresh tickets: they are
        # single-use, so each poster connection needs its own. The runner does not tell a server how
        # many posters a scenario has, so enough for any sensible --posters are issued.
        info = self._setup(ctx, "stream", f"bench {tag}", str(POSTER_TICKETS))
        info["product"] = product_version()
        env = self._env(ctx)
        running, logs, ports = [], [], []
        for i in range(self.processes):
            port = procs.free_port()
            log = ctx.out / f"{self.name}-{tag}-p{i}.log"
            running.append(_daphne(port, "project.asgi:application", env, log, ctx))
            logs.append(log)
            ports.append(port)
        for port, proc in zip(ports, running, strict=True):
            procs.wait_port(port, proc)
        viewer_urls = [f"ws://127.0.0.1:{p}/ws/realtime/" for p in ports]
        # load.js takes the tickets out of the URL and gives each poster its own, in the subprotocol.
        tickets = "&".join(f"ticket={ticket}" for ticket in info.pop("tickets"))
        poster_url = f"ws://127.0.0.1:{ports[0]}/ws/realtime/?{tickets}"
        return Running(running, logs, viewer_urls, poster_url, topic=info["topic"], extra=info)


def all_servers() -> list[Server]:
    return [
        NodeRelay(),
        DaphneBare("asgi"),
        DaphneBare("transport"),
        DaphneBare("direct"),
        Tutorial("memory"),
        Tutorial("redis"),
        Product(1),
        Product(1, metrics=False),
        Product(2),
        Product(2, postgres=True),
    ]
