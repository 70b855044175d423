"""Log lines an operator can search: JSON lines with level, logger, message and the connection, user and
topic where a line has them; the text format keeps the level and the same context."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from realtime.ops.logs import JsonFormatter, TextFormatter, connection_id, context
from realtime.testing import RealtimeClient, override_realtime


class Conn:
    user_id = 7


def record(level: int, message: str, *args, extra=None, exc_info=None) -> logging.LogRecord:
    logger = logging.getLogger("realtime.consumer")
    return logger.makeRecord(logger.name, level, __file__, 1, message, args, exc_info, extra=extra)


def test_json_lines_carry_level_context_and_traceback():
    conn = Conn()
    line = JsonFormatter().format(
        record(logging.WARNING, "Refusing %s", "x", extra=context(conn, "stream.4"))
    )
    fields = json.loads(line)
    assert "\n" not in line
    assert fields["level"] == "WARNING" and fields["logger"] == "realtime.consumer"
    assert fields["message"] == "Refusing x"
    assert fields["conn"] == connection_id(conn) and fields["conn"].startswith(f"{os.getpid()}.")
    assert fields["user_id"] == 7 and fields["topic"] == "stream.4"
    assert fields["time"].endswith("+00:00") and isinstance(fields["pid"], int)
    assert connection_id(conn) == fields["conn"]  # one id per connection, every line
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(logging.ERROR, "Unexpected", exc_info=sys.exc_info())
    fields = json.loads(JsonFormatter().format(failed))
    assert fields["level"] == "ERROR" and "ValueError: boom" in fields["exc"]
    assert "conn" not in fields and "topic" not in fields  # no context: no empty fields
    assert json.loads(JsonFormatter().format(record(logging.DEBUG, "quiet")))["level"] == "DEBUG"


def test_text_lines_keep_the_level_and_the_context():
    text = TextFormatter().format(record(logging.INFO, "Closing", extra=context(Conn(), "stream.4")))
    assert " INFO realtime.consumer: Closing [conn=" in text and "user_id=7 topic=stream.4]" in text
    assert TextFormatter().format(record(logging.INFO, "plain")).endswith("INFO realtime.consumer: plain")


@pytest.mark.django_db(transaction=True)
async def test_the_consumers_lines_name_the_connection_and_user(alice, caplog):
    caplog.set_level(logging.INFO, logger="realtime")
    with override_realtime(MAX_CONNECTIONS_PER_USER=1):
        async with RealtimeClient(user=alice):
            refused = RealtimeClient(user=alice)
            await refused.__aenter__()
            await refused.__aexit__()
    [line] = [r for r in caplog.records if r.getMessage().startswith("Refusing a connection")]
    assert line.levelname == "INFO" and line.user_id == alice.pk and line.conn
    fields = json.loads(JsonFormatter().format(line))
    assert fields["user_id"] == alice.pk and fields["conn"] == line.conn
