"""tests/protocol_cases.json against the Python client's protocol engine (realtime.client.session).

The same file drives realtime.js in tests/js/protocol-table.test.js, so the two clients cannot drift
apart: a rule changes in the table, and both runners must follow. The engine is what `Client` runs
(it only adds a socket and asyncio's clock), so these cases are the Python client's behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from realtime.client.backoff import backoff_delay
from realtime.client.session import Session

TABLE = json.loads((Path(__file__).parent / "protocol_cases.json").read_text())
STEP = 100  # ms between two polls while time passes, as timers would fire


def summary(frame: dict[str, Any]) -> str | None:
    kind = frame["type"]
    if kind == "publish":
        return f"publish:{frame['data']['text']}"
    if kind == "subscribe":
        return f"subscribe:{frame['topic']}" + (f"@{frame['since']}" if "since" in frame else "")
    if kind in ("ping", "unsubscribe"):
        return kind if kind == "ping" else f"unsubscribe:{frame['topic']}"
    return None


class Runner:
    def __init__(self, case: dict[str, Any]) -> None:
        value = case.get("random", 0.5)
        self.session = Session(random=lambda: value, has_tickets=bool(case.get("tickets")))
        self.ms = 0
        self.sent: list[dict[str, Any]] = []  # every frame, for refs
        self.unseen: list[dict[str, Any]] = []  # since the last expect_sent
        self.delivered: dict[str, list[int | None]] = {}
        self.outcomes: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.ids = iter(range(1000, 10**6))

    @property
    def now(self) -> float:
        return self.ms / 1000

    def drain(self) -> None:
        frames = self.session.take()
        self.sent += frames
        self.unseen += frames

    def advance(self, ms: int) -> None:
        target = self.ms + ms
        while self.ms < target:
            self.ms = min(self.ms + STEP, target)
            self.session.poll(self.now)
            self.drain()

    def receive(self, frame: dict[str, Any]) -> None:
        self.session.frame_received(frame, self.now)
        self.drain()

    def latest(self, kind: str, match: Any, answering: str | None = None) -> dict[str, Any]:
        frames = self.sent if answering == "first" else reversed(self.sent)
        return next(f for f in frames if f["type"] == kind and match(f))

    def publish(self, name: str, topic: str, client_id: bool = True, timeout_ms: int = 15000) -> None:
        data: dict[str, Any] = {"text": name}
        if client_id:
            data["client_id"] = name

        def settle(ack: dict[str, Any] | None, error: Any) -> None:
            self.outcomes[name] = "acked" if ack is not None else f"rejected:{error.code}"

        self.outcomes[name] = "pending"
        self.session.publish(
            topic, "comment", data, retry=client_id, timeout=timeout_ms / 1000, settle=settle, now=self.now
        )
        self.drain()

    def step(self, step: dict[str, Any]) -> None:
        s, session = step, self.session
        if "open" in s or ("hello" in s and not session.connected):
            session.connection_made(self.now)
            self.drain()
        if "hello" in s:
            self.receive({"type": "hello", "user": None, "heartbeat": 25, "max_frame": 16384, **s["hello"]})
        elif "receive" in s:
            self.receive(s["receive"])
        elif "subscribe" in s:
            name = s["subscribe"]
            session.subscribe(
                name,
                since=s.get("since"),
                deliver=lambda frame, info, name=name: self.delivered.setdefault(name, []).append(
                    frame.get("id")
                ),
                on_subscribed=lambda frame: None,
                on_refused=lambda error, name=name: self.refused.__setitem__(name, error.code),
            )
            self.drain()
        elif "unsubscribe" in s:
            session.unsubscribe(s["unsubscribe"])
            self.drain()
        elif "subscribed" in s:
            sub = self.latest("subscribe", lambda f: f["topic"] == s["subscribed"], s.get("answering"))
            self.receive(
                {
                    "type": "subscribed",
                    "ref": sub["ref"],
                    "topic": sub["topic"],
                    "last_id": None,
                    "history": s.get("history", 0),
                    "truncated": s.get("truncated", False),
                    "state": {},
                }
            )
        elif "subscribe_error" in s:
            sub = self.latest("subscribe", lambda f: f["topic"] == s["subscribe_error"])
            extra = {"retry_after": s["retry_after"]} if "retry_after" in s else {}
            self.receive(
                {"type": "error", "ref": sub["ref"], "topic": sub["topic"], "code": s["code"], **extra}
            )
        elif "events" in s:
            frames = [
                {"type": "event", "topic": s["events"], "event": "comment", "data": {}}
                | ({} if i is None else {"id": i})
                for i in s["ids"]
            ]
            for frame in [{"type": "batch", "messages": frames}] if s.get("batch") else frames:
                self.receive(frame)
        elif "publish" in s:
            self.publish(
                s["publish"], s.get("topic", "stream.9"), s.get("client_id", True), s.get("timeout_ms", 15000)
            )
        elif "publish_many" in s:
            for n in range(s["publish_many"]):
                self.publish(f"m{n}", s["topic"])
        elif "ack" in s or "error" in s:
            name = s.get("ack") or s["error"]
            pub = self.latest("publish", lambda f: f["data"]["text"] == name)
            if "ack" in s:
                self.receive(
                    {
                        "type": "ack",
                        "ref": pub["ref"],
                        "topic": pub["topic"],
                        "id": next(self.ids),
                        "data": {},
                    }
                )
            else:
                extra = {"retry_after": s["retry_after"]} if "retry_after" in s else {}
                self.receive({"type": "error", "ref": pub["ref"], "code": s["code"], "message": "", **extra})
        elif "close" in s:
            decision = session.connection_lost(s["close"], self.now)
            self.drain()
            if "expect_action" in s:
                assert decision.action == s["expect_action"]
            if "expect_stop" in s:
                assert decision.action == "stop"
                assert session.stopped == s["expect_stop"]
            else:
                assert decision.delay is not None
                assert decision.delay * 1000 == pytest.approx(s["expect_delay_ms"], abs=1)
                self.advance(s["expect_delay_ms"])
        elif "advance_ms" in s:
            self.advance(s["advance_ms"])
        elif "expect_sent" in s:
            got = [x for x in map(summary, self.unseen) if x]
            self.unseen = []
            assert got == s["expect_sent"]
        elif "expect_sent_count" in s:
            got = [f for f in self.unseen if f["type"] == "publish"]
            self.unseen = []
            assert len(got) == s["expect_sent_count"]
        elif "expect_delivered" in s:
            assert self.delivered == s["expect_delivered"]
            self.delivered = {}
        elif "expect_outcome" in s:
            assert {k: self.outcomes.get(k) for k in s["expect_outcome"]} == s["expect_outcome"]
        elif "expect_refused" in s:
            assert self.refused == s["expect_refused"]
        elif "expect_alive" in s:
            assert (session.connected and not session.dead) == s["expect_alive"]
        elif "open" not in s:
            raise AssertionError(f"unknown step {s}")


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_protocol_case(case):
    runner = Runner(case)
    for number, step in enumerate(case["steps"]):
        try:
            runner.step(step)
        except AssertionError as exc:
            raise AssertionError(f"step {number} {json.dumps(step)}: {exc}") from exc


@pytest.mark.parametrize("attempt", range(len(TABLE["backoff"]["ceilings_ms"])))
def test_backoff_delays_and_jitter_bounds(attempt):
    ceiling = TABLE["backoff"]["ceilings_ms"][attempt]
    for value in TABLE["backoff"]["randoms"]:
        delay_ms = backoff_delay(attempt, lambda value=value: value) * 1000
        assert 0 <= delay_ms < ceiling
        assert delay_ms == pytest.approx(value * ceiling, abs=1)


def test_every_step_kind_is_documented_and_used():
    """Both runners know every step kind the table uses; a new kind must be documented in the table."""
    used = {key for case in TABLE["cases"] for step in case["steps"] for key in step}
    modifiers = {"topic", "since", "history", "truncated", "answering", "code", "retry_after", "ids"}
    modifiers |= {"batch", "client_id", "timeout_ms", "expect_delay_ms", "expect_stop", "expect_action"}
    assert used - modifiers == set(TABLE["steps"])
