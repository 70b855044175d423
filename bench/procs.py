"""Starting and stopping the benchmark's processes, and reading their cost from /proc.

Every process the runner starts gets its own session (so its process group id is its pid) and is
registered here; `stop_all()` runs on normal exit, on errors, on Ctrl-C and on SIGTERM/SIGHUP, and sends
SIGTERM then SIGKILL to exactly those process groups.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_started: list[subprocess.Popen] = []
_lock = threading.Lock()


def spawn(
    args: list[str], *, log: Path, env: dict | None = None, cwd: Path | None = None, **kw
) -> subprocess.Popen:
    """Start a process in its own session, its stdout/stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    try:
        proc = subprocess.Popen(
            args,
            stdout=kw.pop("stdout", out),
            stderr=kw.pop("stderr", out),
            env=env,
            cwd=cwd,
            start_new_session=True,
            **kw,
        )
    finally:
        out.close()
    with _lock:
        _started.append(proc)
    return proc


def stop(proc: subprocess.Popen, *, grace: float = 3.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it is still there after `grace` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while children of its group live on: kill the group regardless.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        pass
    with _lock:
        if proc in _started:
            _started.remove(proc)


def stop_all() -> None:
    with _lock:
        procs = list(_started)
    for proc in reversed(procs):
        stop(proc, grace=2.0)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # Ctrl-C must stop the run even when the runner was started in the background of a script, where
    # SIGINT arrives ignored (and Python then leaves it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------
# /proc readings
# ---------------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces: split after the closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """`root` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(root: int, *, system_only: bool = False) -> float:
    """CPU time (user + system, or system alone) of `root`, its live descendants, and the children it
    has reaped."""
    total = 0
    for pid in descendants(root):
        fields = _stat(pid)
        if not fields:
            continue
        # fields are numbered from `state` (field 3 in proc(5)): utime=14, stime=15, cutime=16, cstime=17
        total += int(fields[12]) + (0 if system_only else int(fields[11]))
        if pid == root:
            total += int(fields[14]) + (0 if system_only else int(fields[13]))
    return total / CLK_TCK


def rss_bytes(root: int) -> int:
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class PeakSampler:
    """Samples the summed RSS of some process trees every `interval` s and keeps the peak."""

    def __init__(self, roots: list[int], interval: float = 0.1):
        self.roots = roots
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def sample(self) -> int:
        value = sum(rss_bytes(r) for r in self.roots)
        self.peak = max(self.peak, value)
        return value

    def _run(self):
        # Scanning /proc for descendants costs a few ms; servers rarely fork, so sample the known pids
        # and refresh the tree once a second.
        pids: list[int] = []
        n = 0
        while not self._stop.is_set():
            if n % int(1 / self.interval) == 0:
                pids = [p for r in self.roots for p in descendants(r)]
            n += 1
            value = 0
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/statm") as f:
                        value += int(f.read().split()[1]) * PAGE
                except (FileNotFoundError, ProcessLookupError):
                    pass
            self.peak = max(self.peak, value)
            self._stop.wait(self.interval)
