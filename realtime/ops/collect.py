"""Collecting every process's status over the channel layer, from outside the processes (a command).

One control message asks every hub; each answers on this caller's own channel. Answers are gathered
until `timeout`, or sooner: once every process that any answer names as a peer has answered, every
answering process has listened for its peers' announcements for `SETTLED` seconds (the first request
after a start is what makes them announce: until then none knows the others, so it waits the whole
timeout), and no new answer came for `QUIET` seconds. A peer named but silent is reported as not
answering.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer

from ..layerlink import LayerUnavailable, link_for
from ..layers import is_in_memory
from ..topics.names import CONTROL_GROUP
from .exchange import ANSWER_TYPE, request

QUIET = 0.3  # seconds without a new answer after which a complete set is final
SETTLED = 1.0  # seconds a process must have listened for peers before its list is trusted


class StatusUnavailable(Exception):
    """The status cannot be asked for at all (no layer that crosses processes, or the layer is down)."""


@dataclass
class Collected:
    answers: list[dict[str, Any]] = field(default_factory=list)
    #: Processes some answer names as a peer that did not answer in time: {id: name}.
    silent: dict[str, str] = field(default_factory=dict)
    waited: float = 0.0

    def as_json(self) -> dict[str, Any]:
        processes = [{**answer, "answering": True} for answer in sorted(self.answers, key=_order)]
        processes += [
            {"id": pid, "name": name, "answering": False} for pid, name in sorted(self.silent.items())
        ]
        return {"processes": processes, "waited": round(self.waited, 2)}


def _order(answer: dict[str, Any]) -> tuple[str, str]:
    return (str(answer.get("name")), str(answer.get("id")))


async def collect(timeout: float) -> Collected:
    layer = get_channel_layer()
    if layer is None or is_in_memory(layer):
        raise StatusUnavailable(
            "The status is collected over the channel layer, and the in-memory layer does not reach "
            "daphne's processes: configure a layer that crosses processes (channels-redis, "
            "docs/scaling.md), or look at the admin's Realtime status page."
        )
    link = link_for(layer)
    started = time.monotonic()
    try:
        channel = await link.new_channel("realtime.status.")
    except LayerUnavailable as exc:
        raise StatusUnavailable(f"The channel layer is not answering ({exc}).") from exc
    if not await link.group_send(CONTROL_GROUP, request(reply_to=channel), during="asking for the status"):
        raise StatusUnavailable("The channel layer refused the status request (is Redis up? see the log).")
    found = Collected()
    answered: dict[str, dict[str, Any]] = {}
    named: dict[str, str] = {}
    last_new = started
    while True:
        now = time.monotonic()
        complete = (
            bool(answered)
            and set(named) <= set(answered)
            and all(float(a.get("peers_for") or 0) >= SETTLED for a in answered.values())
        )
        if now - started >= timeout or (complete and now - last_new >= QUIET):
            break
        wait = timeout - (now - started)
        if complete:
            wait = min(wait, QUIET - (now - last_new))
        try:
            message = await asyncio.wait_for(link.receive(channel), max(wait, 0.01))
        except TimeoutError:
            continue
        snapshot = message.get("snapshot") if message.get("type") == ANSWER_TYPE else None
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("id"), str):
            continue
        answered[snapshot["id"]] = snapshot
        named[snapshot["id"]] = str(snapshot.get("name"))
        for peer in snapshot.get("peers") or []:
            named.setdefault(str(peer.get("id")), str(peer.get("name")))
        last_new = time.monotonic()
    found.answers = list(answered.values())
    found.silent = {pid: name for pid, name in named.items() if pid not in answered}
    found.waited = time.monotonic() - started
    return found
