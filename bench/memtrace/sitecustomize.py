"""Loaded by the bench's daphne processes only when `bench/run --memprofile` puts this directory on
PYTHONPATH: starts tracemalloc at interpreter start and writes a snapshot on each SIGUSR2, to
$BENCH_TRACEMALLOC_DIR/snapshot-<n>.pickle. The runner compares the one taken with every idle
connection open against the one taken before the first connect (see bench/memdiff.py)."""

import os
import signal
import tracemalloc

_dir = os.environ.get("BENCH_TRACEMALLOC_DIR")
if _dir:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))
    _count = [0]

    def _dump(signum, frame):
        _count[0] += 1
        path = os.path.join(_dir, f"snapshot-{os.getpid()}-{_count[0]}.pickle")
        tracemalloc.take_snapshot().dump(path + ".tmp")
        os.replace(path + ".tmp", path)  # the runner waits for the final name

    signal.signal(signal.SIGUSR2, _dump)
