"""A Redis Sentinel deployment of our own on loopback: one primary, one replica, three sentinels, each a
`redis-server` subprocess on a free port (the same binary as the rest of the suite), to kill -9 and
bring back. The sentinels notice a dead primary within a second and fail over within a few more
(`down-after-milliseconds` 1000, `failover-timeout` 3000)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.conftest import free_port, wait_for_port
from tests.faultkit import sigkill

MASTER = "realtime-primary"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class Node:
    """One redis-server process (a data node or a sentinel) on a port of its own, kept across restarts."""

    def __init__(self, binary: str, workdir: Path, name: str) -> None:
        self.binary = binary
        self.dir = workdir / name
        self.dir.mkdir()
        self.name = name
        self.port = free_port()
        self.args: list[str] = []
        self.process: subprocess.Popen | None = None
        self.frozen = False

    def start(self) -> Node:
        log = open(self.dir / "log", "ab")
        self.process = subprocess.Popen([self.binary, *self.args], stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        return self

    def kill(self) -> None:
        sigkill(self.process)

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (a host that stops answering without closing its sockets), or SIGCONT."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)
        self.frozen = frozen

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)


class SentinelCluster:
    """`start()` brings up the primary, its replica, then three sentinels that know each other."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (bin/test installs it with apt-get)")
        self.workdir = Path(tempfile.mkdtemp(prefix="realtime-sentinel-"))
        self.data = [Node(binary, self.workdir, f"redis-{n}") for n in range(2)]
        self.sentinels = [Node(binary, self.workdir, f"sentinel-{n}") for n in range(3)]
        for node in self.data:
            # No persistence: a killed node comes back empty, as the layer's Redis is deployed.
            node.args = ["--port", str(node.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            node.args += ["--dir", str(node.dir)]
        self.data[1].args += ["--replicaof", "127.0.0.1", str(self.data[0].port)]
        for node in self.sentinels:
            config = node.dir / "sentinel.conf"  # sentinels rewrite their configuration as they learn
            config.write_text(
                f"port {node.port}\nbind 127.0.0.1\ndir {node.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.data[0].port} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            node.args = [str(config), "--sentinel"]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def start(self) -> SentinelCluster:
        for node in self.data:
            node.start()
        self.wait(lambda: self.data[1].client().info("replication").get("master_link_status") == "up", 20)
        for node in self.sentinels:
            node.start()
        self.wait(self.settled, 30, "the sentinels to know each other and the replica")
        return self

    @staticmethod
    def wait(condition, within: float, what: str = "the cluster") -> float:
        start = time.monotonic()
        while True:
            try:
                if condition():
                    return time.monotonic() - start
            except redis.RedisError:
                pass
            if time.monotonic() - start > within:
                raise TimeoutError(f"waited {within} s for {what}")
            time.sleep(0.1)

    def primary(self) -> Node:
        """The data node the sentinels name as primary (asked of the first sentinel not frozen)."""
        sentinel = next(s for s in self.sentinels if not s.frozen)
        host, port = sentinel.client().sentinel_get_master_addr_by_name(MASTER)
        return next(node for node in self.data if node.port == int(port))

    def settled(self) -> bool:
        """Every sentinel sees the same primary, the other two sentinels, and a replica in sync."""
        primary = self.primary()
        for sentinel in self.sentinels:
            client = sentinel.client()
            state = client.sentinel_master(MASTER)
            if int(state["port"]) != primary.port or state["num-other-sentinels"] != 2:
                return False
            replicas = client.sentinel_slaves(MASTER)
            healthy = [r for r in replicas if r["flags"] == "slave" and r.get("master-link-status") == "ok"]
            if not healthy:
                return False
        return True

    def close(self) -> None:
        for node in self.sentinels + self.data:
            node.freeze(False)
            node.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
