"""realtime.client's pacing inside the server's request budget (realtime/client/pacing.py): the bucket
itself, and the protocol engine spending from it for pings and resubscribes. The cases both clients
share are in tests/protocol_cases.json."""

from __future__ import annotations

from typing import Any

import pytest

from realtime.client.pacing import RequestPacer
from realtime.client.session import Session

HELLO = {"type": "hello", "user": None, "heartbeat": 1, "max_frame": 16384, "max_in_flight": 64}


def test_the_pacer_runs_a_margin_inside_the_servers_bucket():
    pacer = RequestPacer(20, 100, 0.0)
    assert sum(1 for _ in range(200) if pacer.take(0.0)) == 90  # a tenth of the burst kept
    later = 0
    for step in range(1, 1001):  # ten seconds in 10 ms steps
        while pacer.take(step / 100):
            later += 1
    assert later == 180  # 90% of the server's 20 a second
    assert pacer.ready_at() > 10.0


def test_a_refusal_empties_the_pacer_and_pauses_it_at_most_a_second():
    pacer = RequestPacer(20, 100, 0.0)
    pacer.refused(0.5, 0.0)
    assert not pacer.take(0.49) and pacer.take(0.5)
    long = RequestPacer(20, 100, 0.0)
    long.refused(10.0, 0.0)  # a stream's comment limit: it holds publishes, not every request
    assert long.ready_at() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "fields",
    [{}, {"request_rate": 20}, {"request_burst": 100}, {"request_rate": True, "request_burst": 100}],
)
def test_no_pacer_unless_hello_announces_a_budget(fields):
    assert RequestPacer.from_hello(fields, 0.0) is None


def greeted(**budget: Any) -> Session:
    session = Session(random=lambda: 0.5)
    session.connection_made(0.0)
    session.frame_received({**HELLO, **budget}, 0.0)
    return session


def test_pings_wait_for_the_budget_ahead_of_waiting_publishes():
    session = greeted(request_rate=10, request_burst=3)  # 2 at once, then 9 a second
    for n in range(20):  # more than a second's worth
        session.publish(
            "note.1", "x", {"client_id": str(n)}, retry=True, timeout=0, settle=lambda a, e: None, now=0.0
        )
    assert [f["type"] for f in session.take()] == ["publish", "publish"]
    sent: list[str] = []
    now = 0.0
    while now < 1.0:
        now = round(now + 0.05, 2)
        session.poll(now)
        sent += [f["type"] for f in session.take()]
    assert "ping" in sent and set(sent[sent.index("ping") + 1 :]) <= {"publish"}
    assert len(sent) <= 9
    wake = session.next_wakeup()
    assert wake is not None and wake <= session.pacer.ready_at() + 1e-9


def test_a_ping_refused_rate_limited_empties_the_budget():
    session = greeted(request_rate=10, request_burst=100)
    session.frame_received({"type": "error", "code": "rate_limited", "message": "", "retry_after": 0.3}, 0.0)
    session.publish(
        "note.1", "x", {"client_id": "c"}, retry=True, timeout=0, settle=lambda a, e: None, now=0.0
    )
    assert session.take() == []
    session.poll(0.3)
    assert [f["type"] for f in session.take()] == ["publish"]
