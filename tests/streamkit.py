"""Shared helpers for the stream tests (test_streams, test_moderation, test_stream_admin,
test_streams_redis): building and posting comments, moderating, and reading what a client received.
Generic message helpers (`RealtimeClient.collect`, `events`) live in `realtime.testing`."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from channels.db import database_sync_to_async

from realtime.streams.models import Stream
from realtime.streams.storage import post_comment
from realtime.testing import RealtimeClient, events

_client_ids = itertools.count(1)


def comment(text: str, client_id: str | None = None, **extra) -> dict:
    """A comment payload; a fresh `client_id` unless one is given."""
    return {"text": text, "client_id": client_id or f"c{next(_client_ids)}", **extra}


def topic_of(stream: Stream | str) -> str:
    return stream if isinstance(stream, str) else stream.topic


async def post(
    client: RealtimeClient, stream: Stream | str, text: str, client_id: str | None = None, **extra
) -> dict:
    """Publish a comment over the socket to a stream (or its topic); return the reply (ack or error)."""
    return await client.publish(topic_of(stream), "comment", comment(text, client_id, **extra))


async def post_direct(stream: Stream, user, text: str, client_id: str | None = None) -> dict:
    """Post the way the consumer does (the ORM in a worker thread), without a socket of our own."""
    return await database_sync_to_async(post_comment)(stream.pk, user, comment(text, client_id))


async def moderate(client: RealtimeClient, stream: Stream | str, **data) -> dict:
    """Publish a `moderate` request (e.g. `action="ban", user=bob.pk`); return the reply."""
    return await client.publish(topic_of(stream), "moderate", data)


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def comment_ids(messages: list[dict]) -> list[int]:
    return [m["id"] for m in events(messages, "comment")]


def refused(reply: dict, code: str) -> None:
    """Assert that `reply` is an error with `code` and a message."""
    assert reply["type"] == "error", reply
    assert reply["code"] == code, reply
    assert reply["message"]


async def wait_viewers(client: RealtimeClient, count: int, within: float = 2.0) -> list[int]:
    """Read `viewers` events (first those `request` skipped) until one says `count`; return every count
    seen (for the failure message)."""
    seen = [m["data"]["count"] for m in client.skipped if m.get("event") == "viewers"]
    client.skipped[:] = [m for m in client.skipped if m.get("event") != "viewers"]
    if seen and seen[-1] == count:
        return seen
    try:
        async with asyncio.timeout(within):
            while True:
                message = await client.receive_event("viewers", timeout=within)
                seen.append(message["data"]["count"])
                if message["data"]["count"] == count:
                    return seen
    except TimeoutError:
        pytest.fail(f"no viewers event with count {count} within {within} s; saw {seen}")
