"""Log lines an operator can search: the context of a line (connection, user, topic) and a JSON-lines
formatter.

Call sites pass the context with `extra=context(conn, topic)`; a plain formatter ignores it, and
`JsonFormatter` writes it as fields:

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "realtime.ops.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        # Not propagated: daphne gives the root logger a handler of its own (each line twice otherwise).
        "loggers": {"realtime": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }

One JSON object a line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, `pid`, then `conn`,
`user_id` and `topic` where the line has them, and `exc` (the traceback) for `logger.exception`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "TextFormatter", "connection_id", "context"]

#: The record attributes `context()` sets and `JsonFormatter` writes.
CONTEXT_FIELDS = ("conn", "user_id", "topic")

_numbers = itertools.count(1)


def connection_id(conn: Any) -> str:
    """A connection's id in the log: `<pid>.<n>`, unique on a machine while the process lives (so a
    grep across processes' logs finds one connection's lines)."""
    found = getattr(conn, "log_id", None)
    if found is None:
        found = f"{os.getpid()}.{next(_numbers)}"
        conn.log_id = found
    return found


def context(conn: Any = None, topic: str | None = None, **more: Any) -> dict[str, Any]:
    """`extra=` for a log call about `conn` (a connection) and/or `topic`."""
    found: dict[str, Any] = dict(more)
    if conn is not None:
        found["conn"] = connection_id(conn)
        found["user_id"] = getattr(conn, "user_id", None)
    if topic is not None:
        found["topic"] = topic
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module's docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The plain format with the level and, where the line has them, `conn=`, `user=`, `topic=`."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: Any = "%") -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt, style)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None)]
        if not tags:
            return text
        first, _, rest = text.partition("\n")
        return f"{first} [{' '.join(tags)}]" + (f"\n{rest}" if rest else "")
