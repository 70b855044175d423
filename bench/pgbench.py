"""A PostgreSQL database of the benchmark's own, for the two-process server on PostgreSQL.

Several daphne processes on several machines share one database, and in production that is PostgreSQL:
SQLite serialises writers from different processes through a file lock whose busy handler sleeps, which
is the SQLite server's store latency, not the product's. The database is created for the run and
dropped when the runner exits; nothing else on the server is touched.
"""

from __future__ import annotations

import atexit
import os
from urllib.parse import urlsplit, urlunsplit

# The maintenance database to connect to for CREATE/DROP DATABASE (trust auth on this machine).
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _admin():
    import psycopg

    return psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://", 1), autocommit=True)


def create_database() -> str:
    """Create `realtime_bench_<pid>` (dropping a leftover of that name) and return its URL."""
    name = f"realtime_bench_{os.getpid()}"
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop, name)
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop(name: str) -> None:
    try:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # the run's results are already written; say what is left behind
        print(f"bench: could not drop PostgreSQL database {name}: {exc}", flush=True)
