"""Settings for benchmarking this project: the example site's settings with the bench's own database
and the posting limits lifted for the bench poster (one user posting up to hundreds of comments a
second is the load, not abuse). Everything else, including the channel layer chosen by `REDIS_URL` and
the coalescing window, is the product's own configuration.
"""

import json
import os
import tempfile

from project.settings import *  # noqa: F403
from project.settings import DATABASES, REALTIME

DEBUG = False  # DEBUG keeps every SQL query in memory; no production site runs with it

# The product's own database settings (engine options, persistent connections, ...), on the bench's
# own SQLite file: only NAME changes. With DATABASE_URL (the PostgreSQL server, a database the runner
# created for the run: bench/pgbench.py) the product's settings are used as they are.
DATABASES = {"default": dict(DATABASES["default"])}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["NAME"] = os.environ.get(
        "BENCH_SQLITE_PATH", os.path.join(tempfile.gettempdir(), "realtime-bench.sqlite3")
    )
DATABASES["default"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))

# Diagnostic knob, off by default (the recorded runs use the product's own SQLite settings):
# BENCH_SQLITE_INIT="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL" bash bench/run ...
if os.environ.get("BENCH_SQLITE_INIT"):
    DATABASES["default"]["OPTIONS"]["init_command"] = os.environ["BENCH_SQLITE_INIT"]

REALTIME = {
    **REALTIME,
    "RATE_LIMIT_COUNT": None,
    # The producer scenario's one connection sends 200 requests a second (the per-connection budget
    # of 20/s would refuse most of them); MAX_PUBLISHES_IN_FLIGHT stays the product's.
    "REQUEST_RATE": 1000.0,
    # The runner issues the ticket before it starts the servers and connects thousands of viewers.
    "TICKET_MAX_AGE": 600,
}
# `bash bench/run --setting KEY=VALUE` (e.g. COALESCE_WINDOW_MAX=0.25): tuning runs, not recorded ones.
REALTIME.update(json.loads(os.environ.get("BENCH_REALTIME") or "{}"))
