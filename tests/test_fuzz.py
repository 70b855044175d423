"""Fuzzing the protocol against real daphne: generated frames must never crash a connection.

A few thousand frames from a fixed seed (invalid JSON and UTF-8, every field of every request type
replaced by values of the wrong type, lone surrogates, NUL, deep nesting, huge numbers, oversize and
binary frames), sent as fast as daphne takes them over a handful of connections at a time (reconnecting
whenever the server closes one). Then: no 1011 close, nothing in the server's log that looks like a
crash, and a well-behaved client on the same process kept its ping latency throughout.

Closes the fuzzers may see, all by design: 4429 (too many malformed or excess requests); no close frame
at all after a text frame that is not UTF-8 or a message over daphne's 1 MiB (autobahn drops such a
connection before the application sees the frame); 4008 (a fuzzer that did not read fast enough).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from websockets.exceptions import ConnectionClosed

from tests.test_limits import as_user, http_login
from tests.wsclient import WsClient

SEED = 20261121
FRAMES = 4_000
WINDOW = 8  # frames a fuzzer may have sent and not yet seen answered
# None: no close frame. autobahn (daphne's WebSocket library) fails a connection that sends a text
# frame that is not UTF-8 or a message over daphne's 1 MiB by dropping it (`failByDrop`): a TCP reset,
# which browsers report as 1006. Nothing of realtime runs for those frames.
EXPECTED_CLOSES = {4429, 4008, None}
P99_PING_BOUND = 1.0


class Raw:
    """A JSON token written as is (a lone surrogate escape, a 400-digit number, NaN)."""

    def __init__(self, text: str) -> None:
        self.text = text


def deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


WEIRD = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**63,
    -(2**63),
    10**30,
    1e308,
    Raw("1" * 400),
    Raw("-" + "9" * 5000),
    Raw("1e400"),
    Raw("NaN"),
    Raw("-Infinity"),
    "",
    "x" * 65,
    "x" * 300,
    "\x00",
    "a\x00b",
    "\u202eevil",
    "\U0001f600",
    "\ufeff",
    "\r\n\t",
    Raw('"\\ud800"'),
    Raw('"\\udfff"'),
    Raw('"a\\udbffb"'),
    Raw('"\\ud83d\\ude00"'),
    Raw('"\\u0000"'),
    "stream.1",
    "stream.01",
    "stream.-1",
    "stream." + "9" * 30,
    "stream.1\x00",
    "user.1",
    "group.1",
    "broadcast.all",
    "broadcast.x",
    "nokind",
    ".",
    "a" * 200 + ".1",
    [],
    [1, 2],
    ["stream.1"],
    {},
    {"a": 1},
    {"text": "hi"},
    deep(50),
    deep(900),
]

REQUESTS = {
    "ping": {"type": "ping", "ref": "r"},
    "subscribe": {"type": "subscribe", "ref": "r", "topic": "stream.1", "since": 0},
    "unsubscribe": {"type": "unsubscribe", "ref": "r", "topic": "stream.1"},
    "comment": {
        "type": "publish",
        "ref": "r",
        "topic": "stream.1",
        "event": "comment",
        "data": {"text": "fuzz", "client_id": "c", "color": "#ffffff", "mode": "scroll", "media_time": 1.5},
    },
    "reaction": {
        "type": "publish",
        "ref": "r",
        "topic": "stream.1",
        "event": "reaction",
        "data": {"kind": "heart"},
    },
    "moderate": {
        "type": "publish",
        "ref": "r",
        "topic": "stream.1",
        "event": "moderate",
        "data": {
            "action": "hide",
            "comment": 1,
            "user": 2,
            "minutes": 5,
            "reason": "x",
            "seconds": 3,
            "open": True,
        },
    },
}


def encode(value: object) -> str:
    """json.dumps, with Raw tokens substituted where they stand."""
    raws: list[str] = []

    def swap(item: object) -> object:
        if isinstance(item, Raw):
            raws.append(item.text)
            return f"\x01RAW{len(raws) - 1}\x01"
        if isinstance(item, dict):
            return {key: swap(val) for key, val in item.items()}
        if isinstance(item, list):
            return [swap(val) for val in item]
        return item

    text = json.dumps(swap(value), ensure_ascii=False)
    for n, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01RAW{n}\x01", ensure_ascii=False), raw)
    return text


@dataclass
class Frame:
    data: str | bytes
    text: bool = True  # bytes sent as a text frame: not UTF-8
    violation: bool = False  # breaks RFC 6455 or daphne's size limit: autobahn drops the connection


def generate(rng: random.Random) -> list[Frame]:
    frames: list[Frame] = []
    for n in range(FRAMES):
        roll = rng.random()
        if roll < 0.55:  # a real request with one field (or one field of its data) of the wrong kind
            name = rng.choice(list(REQUESTS))
            request = json.loads(json.dumps(REQUESTS[name]))
            request["ref"] = f"f{n}"
            target = request["data"] if "data" in request and rng.random() < 0.5 else request
            key = rng.choice(list(target) + ["extra"])
            target[key] = rng.choice(WEIRD)
            frames.append(Frame(encode(request)))
        elif roll < 0.70:  # not JSON, or not an object
            valid = encode(REQUESTS[rng.choice(list(REQUESTS))])
            frames.append(
                Frame(
                    rng.choice(
                        [
                            valid[: rng.randrange(1, len(valid))],
                            valid + ",",
                            "{",
                            "[",
                            "nul",
                            "NaN",
                            '"str"',
                            "42",
                            "{'type': 'ping'}",
                            '{"type":"ping",}',
                            "\x00",
                            " ",
                            "",
                            "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 200))),
                        ]
                    )
                )
            )
        elif roll < 0.78:  # deep nesting, in the frame and inside fields
            depth = rng.choice([100, 1000, 5000, 8000])
            frames.append(
                Frame(
                    rng.choice(
                        [
                            "[" * depth + "]" * depth,
                            '{"type":"ping","ref":' + "[" * depth + "]" * depth + "}",
                            '{"type":"subscribe","topic":' + '{"a":' * depth + "1" + "}" * depth + "}",
                        ]
                    )
                )
            )
        elif roll < 0.86:  # binary frames
            frames.append(
                Frame(
                    rng.choice(
                        [
                            bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))),
                            encode(REQUESTS["ping"]).encode(),
                        ]
                    ),
                    text=False,
                )
            )
        elif roll < 0.95:  # text frames that are not UTF-8 (a lone surrogate, overlong, stray bytes)
            body = encode(REQUESTS["ping"]).encode()
            cut = rng.randrange(len(body))
            frames.append(
                Frame(
                    body[:cut] + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"]) + body[cut:],
                    violation=True,
                )
            )
        elif roll < 0.995:  # over MAX_FRAME_BYTES: refused with frame_too_large
            frames.append(Frame(encode({**REQUESTS["ping"], "pad": "p" * rng.randrange(16_400, 60_000)})))
        else:  # over daphne's 1 MiB message limit
            frames.append(Frame("x" * (1024 * 1024 + 10), text=rng.random() < 0.5, violation=True))
    return frames


@dataclass
class Tally:
    sent: int = 0
    connections: int = 0
    closes: Counter = field(default_factory=Counter)  # by close code; None: dropped, no close frame
    unexplained_drops: int = 0  # dropped though no frame broke the protocol
    errors: Counter = field(default_factory=Counter)
    replies: Counter = field(default_factory=Counter)
    errors_without_ref: int = 0
    frames_without_ref: int = 0  # sent, and no `ref` could be read from them


def readable_ref(frame: Frame) -> bool:
    """Whether the server can read a `ref` from the frame (a JSON object within MAX_FRAME_BYTES whose
    `ref` is a string of at most 64 characters): every error answering such a frame must carry it."""
    if (
        not frame.text
        or not isinstance(frame.data, str)
        or len(frame.data.encode("utf-8", "replace")) > 16384
    ):
        return False
    try:
        message = json.loads(frame.data)
        ref = message.get("ref") if isinstance(message, dict) else None
        if isinstance(ref, str):
            ref.encode()  # a lone surrogate is not text: it cannot be echoed
        return isinstance(ref, str) and len(ref) <= 64
    except (ValueError, RecursionError, UnicodeEncodeError):
        return False


async def fuzz_worker(url: str, options: dict, frames: list[Frame], tally: Tally) -> None:
    """Send `frames` as fast as the server answers them (at most WINDOW unanswered), reconnecting
    whenever the server closes the socket. Every frame the application sees gets exactly one answer:
    an `error`, or a reply carrying its `ref`."""
    position = 0
    while position < len(frames):
        async with WsClient(url, **options) as client:
            tally.connections += 1
            await client.subscribe("stream.1")
            first = position
            answered = 0
            dropped = asyncio.Event()

            async def read(dropped: asyncio.Event) -> None:
                nonlocal answered
                try:
                    while True:
                        message = json.loads(await client.socket.recv())
                        for item in message["messages"] if message["type"] == "batch" else [message]:
                            if item["type"] == "error":
                                tally.errors[item["code"]] += 1
                                tally.errors_without_ref += "ref" not in item
                                answered += 1
                            elif item.get("ref"):
                                tally.replies[item["type"]] += 1
                                answered += 1
                except ConnectionClosed as closed:
                    tally.closes[closed.rcvd.code if closed.rcvd else None] += 1
                    if closed.rcvd is None:
                        dropped.set()

            reader = asyncio.create_task(read(dropped))
            try:
                while position < len(frames) and not reader.done():
                    frame = frames[position]
                    await client.socket.send(frame.data, text=frame.text)
                    position += 1
                    tally.sent += 1
                    tally.frames_without_ref += not readable_ref(frame)
                    if frame.violation:  # the connection is gone: wait to see it go
                        await asyncio.wait_for(asyncio.shield(reader), 10)
                        assert answered == position - first - 1, (
                            "a frame before the violation went unanswered"
                        )
                    waited = 0
                    while position - first - answered > WINDOW and not reader.done():
                        await asyncio.sleep(0.002)
                        waited += 1
                        assert waited < 5000, "the server stopped answering"
                    await asyncio.sleep(0)  # lets the reader run, as a browser's network stack would
            except ConnectionClosed:
                position += 1  # that frame met a closing socket: go on with the next one
            if position >= len(frames):
                reader.cancel()  # done: our own close is not counted
            await asyncio.wait_for(asyncio.gather(reader, return_exceptions=True), 10)
            if dropped.is_set() and not any(frame.violation for frame in frames[first:position]):
                tally.unexplained_drops += 1


async def pinger(url: str, stop: asyncio.Event) -> list[float]:
    rtts: list[float] = []
    async with WsClient(url) as client:
        await client.subscribe("stream.1")
        while not stop.is_set():
            start = time.monotonic()
            assert (await client.request({"type": "ping"}))["type"] == "pong"
            rtts.append(time.monotonic() - start)
            # 10 a second: a well-behaved client stays inside REQUEST_RATE (20/s); faster pings answered
            # in a millisecond would spend the burst and be refused as `rate_limited`, by design.
            await asyncio.sleep(0.1)
    return rtts


@pytest.fixture(scope="module")
def sessions(site, daphne_server):
    return {name: http_login(daphne_server, name) for name in ("alice", "mod")}


async def test_thousands_of_fuzzed_frames_never_crash_a_connection_or_slow_others(daphne_server, sessions):
    rng = random.Random(SEED)
    frames = generate(rng)
    daphne_server.log.write_text("")
    url = daphne_server.ws_url
    # Frames that make autobahn drop the connection all go to one fuzzer (each costs a connection);
    # the others live until their 4429, so each sees dozens of frames on one socket.
    dropping = [frame for frame in frames if frame.violation]
    rest = [frame for frame in frames if not frame.violation]
    plans = [
        ({}, rest[0::3]),
        (as_user(daphne_server, sessions["alice"]), rest[1::3]),
        (as_user(daphne_server, sessions["mod"]), rest[2::3]),
        ({}, dropping),
    ]
    tally = Tally()
    stop = asyncio.Event()
    started = time.monotonic()
    pings = asyncio.create_task(pinger(url, stop))
    await asyncio.sleep(0.2)
    async with asyncio.timeout(90):
        await asyncio.gather(*(fuzz_worker(url, options, part, tally) for options, part in plans))
    stop.set()
    rtts = sorted(await pings)
    elapsed = time.monotonic() - started
    p99 = rtts[int(len(rtts) * 0.99)]
    print(
        f"\n{tally.sent} frames over {tally.connections} connections in {elapsed:.1f} s; closes "
        f"{dict(tally.closes)}; errors {dict(tally.errors.most_common(8))} ({tally.errors_without_ref} without "
        f"a ref, for {tally.frames_without_ref} frames without one); replies {dict(tally.replies)}; "
        f"ping p50 {rtts[len(rtts) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms over {len(rtts)} pings"
    )

    assert tally.sent > FRAMES * 0.95
    assert tally.closes[1011] == 0
    assert set(tally.closes) <= EXPECTED_CLOSES, tally.closes
    assert tally.unexplained_drops == 0
    # Refusals that name no request answer only frames with no readable `ref` (issue 18, item 7).
    assert 0 < tally.errors_without_ref <= tally.frames_without_ref, tally
    assert tally.closes[None] > 0 and tally.closes[4429] > 0  # the fuzz reached both kinds of refusal
    assert p99 < P99_PING_BOUND
    log = daphne_server.output()
    for sign in (
        "Traceback",
        "Exception inside application",
        "Unexpected error",
        "took too long to shut down",
    ):
        assert sign not in log, log[log.find(sign) - 2000 :][:4000]
