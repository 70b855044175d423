"""The JSON envelopes of docs/protocol.md: parsing client frames, encoding server frames.

Parsing is strict and total: any client input ends in a `Request` or a `ProtocolError`, never another
exception, so no frame can crash a consumer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from .exceptions import ProtocolError

CLIENT_TYPES = frozenset({"subscribe", "unsubscribe", "publish", "ping", "presence"})
# Refusals that only a broken or hostile client causes; only these count toward REALTIME["ABUSE_LIMIT"].
# A muted user pressing Send, a rate limit or a server failure is not abuse.
ABUSE_CODES = frozenset(
    {
        "bad_json",
        "bad_message",
        "unknown_type",
        "frame_too_large",
        "unknown_topic",
        "not_subscribed",
        "publish_not_allowed",
        "too_many_subscriptions",
    }
)
MAX_REF_LENGTH = 64
MAX_EVENT_NAME_LENGTH = 40

# Compact separators: these strings go out to every viewer, so every byte is multiplied.
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
dumps = _encoder.encode


@dataclass(frozen=True, slots=True)
class Request:
    """One validated client request."""

    type: str
    ref: str | None = None
    topic: str | None = None
    since: int | None = None
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    status: str | None = None  # a `presence` request's status (None: no status)


def _field(message: dict[str, Any], name: str, kind: type, *, required: bool) -> Any:
    value = message.get(name)
    if value is None:
        if required:
            raise ProtocolError("bad_message", _("Field %(name)s is required.") % {"name": repr(name)})
        return None
    # bool is an int subclass; `since: true` must not pass as 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            "bad_message",
            _("Field %(name)s must be of type %(type)s.") % {"name": repr(name), "type": kind.__name__},
        )
    return value


class MalformedRequest(ProtocolError):
    """A frame refused after its `ref` was read: the `error` answering it carries that `ref`, so a
    client waiting on it learns why instead of timing out."""

    def __init__(self, exc: ProtocolError, ref: str) -> None:
        super().__init__(exc.code, exc.message, retry_after=exc.retry_after)
        self.ref = ref


def parse_request(text: str | None, *, max_bytes: int) -> Request:
    """Validate one text frame from a client.

    Raises `ProtocolError`; once the frame is a JSON object with a valid `ref`, a `MalformedRequest`
    naming it (a frame too large or not JSON has no `ref` anyone could read).
    """
    if text is None:
        raise ProtocolError("bad_message", _("Send JSON in text frames; binary frames are not accepted."))
    # len(text) <= bytes; only encode when it might be over.
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes):
        raise ProtocolError("frame_too_large", _("Frames may be at most %(max)s bytes.") % {"max": max_bytes})
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", _("The frame is not valid JSON.")) from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", _("A frame must be a JSON object with a 'type'."))
    ref = message.get("ref")
    if ref is not None and (
        not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH or ("\\u" in text and _has_lone_surrogate(ref))
    ):
        raise ProtocolError(
            "bad_message",
            _("Field 'ref' must be a string of at most %(max)s characters.") % {"max": MAX_REF_LENGTH},
        )
    try:
        return _request(message, text)
    except ProtocolError as exc:
        if ref is None:
            raise
        raise MalformedRequest(exc, ref) from None


def _request(message: dict[str, Any], text: str) -> Request:
    ref = message.get("ref")
    if "\\u" in text and _has_lone_surrogate(message):
        raise ProtocolError(
            "bad_message",
            _(
                "Strings must be valid Unicode: a lone surrogate escape "
                "(\\ud800-\\udfff without its pair) is not text."
            ),
        )
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", _("Field 'type' is required and must be a string."))
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            _("Unknown type %(type)s; expected one of %(types)s.")
            % {"type": repr(kind[:40]), "types": sorted(CLIENT_TYPES)},
        )
    if kind == "ping":
        return Request(type=kind, ref=ref)
    topic = _field(message, "topic", str, required=True)
    if kind == "subscribe":
        since = _field(message, "since", int, required=False)
        if since is not None and since < 0:
            raise ProtocolError("bad_message", _("Field 'since' must be an integer >= 0."))
        return Request(type=kind, ref=ref, topic=topic, since=since)
    if kind == "unsubscribe":
        return Request(type=kind, ref=ref, topic=topic)
    if kind == "presence":
        status = _field(message, "status", str, required=False)
        if status is not None and not 0 < len(status) <= MAX_EVENT_NAME_LENGTH:
            raise ProtocolError(
                "bad_message",
                _("Field 'status' must be 1 to %(max)s characters, or null.")
                % {"max": MAX_EVENT_NAME_LENGTH},
            )
        return Request(type=kind, ref=ref, topic=topic, status=status)
    event = _field(message, "event", str, required=True)
    if not event or len(event) > MAX_EVENT_NAME_LENGTH:
        raise ProtocolError(
            "bad_message",
            _("Field 'event' must be 1 to %(max)s characters.") % {"max": MAX_EVENT_NAME_LENGTH},
        )
    data = _field(message, "data", dict, required=False) or {}
    return Request(type=kind, ref=ref, topic=topic, event=event, data=data)


def _has_lone_surrogate(message: Any) -> bool:
    """True if any string in the decoded frame holds a lone surrogate (only a `\\u` escape can make
    one; it would fail later, when the value is echoed, stored or encoded as UTF-8)."""
    try:
        dumps(message).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def reply(kind: str, ref: str | None = None, **fields: Any) -> str:
    """Encode a reply envelope (`subscribed`, `ack`, `pong`, ...)."""
    envelope: dict[str, Any] = {"type": kind}
    if ref is not None:
        envelope["ref"] = ref
    envelope.update(fields)
    return dumps(envelope)


_hellos: dict[tuple[Any, ...], str] = {}


def hello(user: tuple[Any, str] | None, limits: tuple[Any, Any, Any, Any, Any]) -> str:
    """Encode the `hello` frame: `user` (id, username; None: anonymous) and `limits` (heartbeat,
    max_frame, max_in_flight, request_rate, request_burst: the settings, read per connection).

    The anonymous frame is the same text for every connection while those settings stay the same,
    so it is encoded once per distinct value (a connect storm of viewers encoded it thousands of
    times a second)."""
    cached = None
    if user is None:
        try:
            cached = _hellos.get(limits, "")
        except TypeError:  # a setting holding an unhashable value: encode every time
            pass
        if cached:
            return cached
    heartbeat, max_frame, max_in_flight, request_rate, request_burst = limits
    text = reply(
        "hello",
        user={"id": user[0], "username": user[1]} if user else None,
        heartbeat=heartbeat,
        max_frame=max_frame,
        max_in_flight=max_in_flight,
        request_rate=request_rate,
        request_burst=request_burst,
    )
    if cached is not None:  # "": looked up (the settings are hashable) and not there yet
        if len(_hellos) >= 16:  # settings changed many times (tests): keep the map small
            _hellos.clear()
        _hellos[limits] = text
    return text


def error(exc: ProtocolError, *, ref: str | None = None, topic: str | None = None) -> str:
    envelope: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
    if ref is not None:
        envelope["ref"] = ref
    if topic is not None:
        envelope["topic"] = topic
    if exc.retry_after is not None:
        # Tenths of a second, never rounded down to 0 ("retry now") when a pause was asked for.
        envelope["retry_after"] = max(round(exc.retry_after, 1), 0.1) if exc.retry_after > 0 else 0
    return dumps(envelope)


def event_envelope(
    topic: str, event: str, data: dict[str, Any], *, id: int | None = None, at: str | None = None
) -> str:
    """Encode one `event` envelope. Called once per event per process, never per viewer."""
    envelope: dict[str, Any] = {"type": "event", "topic": topic, "event": event, "data": data}
    if id is not None:
        envelope["id"] = id
    if at is not None:
        envelope["at"] = at
    return dumps(envelope)


def batch_envelope(texts: list[str]) -> str:
    """Join already-encoded event envelopes into one `batch` frame without re-encoding them."""
    return '{"type":"batch","messages":[' + ",".join(texts) + "]}"
