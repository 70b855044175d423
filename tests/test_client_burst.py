"""realtime.client against a real daphne at the product's default request budget (issue 18, item 4).

1,000 publishes queued at once on one connection: the client keeps inside the in-flight window
(`hello.max_in_flight`) and paces itself inside the request budget (`hello.request_rate`,
`request_burst`), so every comment is stored exactly once, none is refused for good and the
connection is never closed for abuse (4429). Without the pacing, 64 were stored and the socket was
closed 4429 (then a 5-minute pause) after the first hundred requests.

The daphne runs tests/settings_posters.py: only the stream's own comment limit (5 per 10 s per user)
is lifted; the request budget, the in-flight window and the abuse limit are the defaults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from realtime.client import Client
from realtime.conf import DEFAULTS
from tests.conftest import Site

BURST = 1000


@pytest.fixture(scope="module")
def posters() -> Iterator[SimpleNamespace]:
    site = Site()
    site.env["DJANGO_SETTINGS_MODULE"] = "tests.settings_posters"
    try:
        out = site.manage(
            "shell", "-c", "from realtime.streams.models import Stream\nprint(Stream.objects.first().pk)"
        )
        yield SimpleNamespace(site=site, server=site.server(), stream=int(out.split()[-1]))
    finally:
        site.close()


def stored(site: Site, stream_id: int, prefix: str) -> tuple[int, int]:
    """(rows, distinct client_ids) of the comments on the stream whose client_id starts with prefix."""
    out = site.manage(
        "shell",
        "-c",
        (
            "from realtime.streams.models import Comment\n"
            f"rows = Comment.objects.filter(stream_id={stream_id}, client_id__startswith={prefix!r})\n"
            "print(rows.count(), rows.values('client_id').distinct().count())\n"
        ),
    )
    rows, distinct = out.split()[-2:]
    return int(rows), int(distinct)


async def test_1000_publishes_queued_at_once_are_stored_once_each_at_the_default_budget(posters):
    ticket = await asyncio.to_thread(posters.site.ticket, "alice")
    topic = f"stream.{posters.stream}"
    states: list[tuple[str, str | None]] = []
    closed_for_abuse = asyncio.Event()

    def on_state(state: str, reason: str | None) -> None:
        states.append((state, reason))
        if reason == "policy":  # 4429: the client now pauses 5 minutes; no need to wait for that
            closed_for_abuse.set()

    start = time.monotonic()
    async with Client(posters.server.ws_url, tickets=ticket, on_state=on_state) as client:
        client.subscribe(topic)  # as a page does: its publishes wait for the subscription
        posts = [
            client.publish(
                topic, "comment", {"text": f"py burst {n}", "client_id": f"pyburst-{n}"}, timeout=0
            )
            for n in range(BURST)
        ]
        answered = asyncio.ensure_future(asyncio.gather(*posts, return_exceptions=True))
        abuse = asyncio.ensure_future(closed_for_abuse.wait())
        # The budget allows REQUEST_RATE a second after the burst: ~50 s at the defaults.
        await asyncio.wait([answered, abuse], timeout=150, return_when=asyncio.FIRST_COMPLETED)
        abuse.cancel()
        if not answered.done():
            answered.cancel()
            pytest.fail(f"not all answered; states {states}, connections {client.connections}")
        outcomes = answered.result()
        hello = client._session.hello or {}
        connections = client.connections
    took = time.monotonic() - start
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    rows, distinct = await asyncio.to_thread(stored, posters.site, posters.stream, "pyburst-")
    print(f"python client burst: {BURST} in {took:.1f} s, states {states}")
    assert (hello.get("request_rate"), hello.get("request_burst")) == (
        DEFAULTS["REQUEST_RATE"],
        DEFAULTS["REQUEST_BURST"],
    ), "the server announces its default budget"
    assert refused == [], f"{len(refused)} publishes refused: {refused[:3]}"
    assert (rows, distinct) == (BURST, BURST), "each comment stored exactly once"
    assert ("offline", "policy") not in states and connections == 1, (states, connections)
