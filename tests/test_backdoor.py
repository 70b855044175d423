"""The suite catches broken delivery: no test of it may pass through the back door.

Every hub reads the database every `SYNC_INTERVAL` for stored events it never received. That is the
safety net of production, and in tests it would make layer delivery, gap filling and replay
de-duplication look fine while broken. tests/settings.py turns it off (3600 s); only tests about the
sync turn it on. Each test here breaks one mechanism and runs a delivery test of the suite: it passes
only because that test notices.
"""

from __future__ import annotations

import asyncio

import pytest

from realtime import api, publishing
from realtime.hub import Hub
from realtime.hub import room as room_module
from realtime.hub.room import CATCHING, Room
from realtime.hub.sequencer import Sequencer
from realtime.testing import RealtimeClient, override_realtime
from tests import test_broadcast, test_hub, test_room, test_streams

pytestmark = pytest.mark.django_db(transaction=True)

# What a test waiting for a message that never comes ends with: its assertion, its timeout, or (when
# the timeout hit inside WebsocketCommunicator, which cancels the application) a CancelledError as
# RealtimeClient disconnects.
NOT_DELIVERED = (AssertionError, TimeoutError, asyncio.CancelledError)


@pytest.fixture(autouse=True)
def impatient(monkeypatch):
    """Clients that give up after a second: the bodies below fail by waiting for what never comes."""
    original = RealtimeClient.__init__

    def init(self, *args, timeout=1.0, **kwargs):
        original(self, *args, timeout=timeout, **kwargs)

    monkeypatch.setattr(RealtimeClient, "__init__", init)
    monkeypatch.setattr(room_module, "GAP_GRACE", 0.01)


# -- the breakages ----------------------------------------------------------------------------------
def break_layer_delivery(monkeypatch) -> None:
    """Every publish reports success and sends nothing (the worst way to lose them: silently)."""

    async def sent(*args, **kwargs):
        return True

    for module in (publishing, api):
        monkeypatch.setattr(module, "apublish", sent)
    monkeypatch.setattr(Hub, "publish", sent)
    monkeypatch.setattr(Hub, "publish_many", sent)


def break_gap_filling(monkeypatch, how: str) -> None:
    if how == "catch_up":

        async def catch_up(self, upto):
            return None

        monkeypatch.setattr(Room, "catch_up", catch_up)
    else:
        monkeypatch.setattr(Sequencer, "fill", lambda self, events, upto: ([], []))


def break_deduplication(monkeypatch, how: str) -> None:
    if how == "promote_at_once":

        def settle(self):
            for sub in [s for s in self.others.values() if s.state == CATCHING]:
                self._promote(sub)

        monkeypatch.setattr(Room, "_settle", settle)
    else:  # the cursor filter lets everything through
        original = Room.start

        def start(self, sub, replay, reply):
            original(self, sub, replay, reply)
            sub.cursor = 0

        monkeypatch.setattr(Room, "start", start)


# -- layer delivery ---------------------------------------------------------------------------------
async def test_broken_layer_delivery_fails_the_broadcast_test(monkeypatch):
    break_layer_delivery(monkeypatch)
    with pytest.raises(NOT_DELIVERED):
        await test_broadcast.test_abroadcast_stores_and_delivers_with_increasing_ids()


async def test_broken_layer_delivery_fails_the_comment_fan_out_test(
    monkeypatch, stream, alice, bob, make_user
):
    break_layer_delivery(monkeypatch)
    with pytest.raises(NOT_DELIVERED):
        await test_streams.test_comment_fans_out_to_every_subscriber_exactly_once(
            stream, alice, bob, make_user
        )


async def test_with_the_sync_on_the_same_breakage_goes_unnoticed(monkeypatch):
    """Why the sync is off in tests: it delivers what the layer lost, as it should in production."""
    break_layer_delivery(monkeypatch)
    with override_realtime(SYNC_INTERVAL=0.1):  # before the hub starts: its upkeep reads it once
        await test_broadcast.test_abroadcast_stores_and_delivers_with_increasing_ids()


# -- gap filling ------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["catch_up", "fill"])
async def test_broken_gap_filling_fails_the_out_of_order_test(monkeypatch, how):
    break_gap_filling(monkeypatch, how)
    with pytest.raises(NOT_DELIVERED):
        await test_hub.test_out_of_order_publishes_are_reordered_and_gaps_filled_from_the_database()


@pytest.mark.parametrize("how", ["catch_up", "fill"])
async def test_broken_gap_filling_fails_the_resume_on_another_hub_test(monkeypatch, how):
    break_gap_filling(monkeypatch, how)
    with pytest.raises(NOT_DELIVERED):
        await test_room.test_resuming_on_another_hub_ahead_of_its_room_replays_nothing_twice(
            monkeypatch, "lost"
        )


# -- replay de-duplication --------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["promote_at_once", "no_cursor_filter"])
async def test_broken_deduplication_fails_the_history_ahead_test(monkeypatch, how):
    break_deduplication(monkeypatch, how)
    with pytest.raises(AssertionError, match="==") as failure:
        await test_room.test_a_subscriber_whose_history_is_ahead_of_the_room_gets_each_event_once(
            monkeypatch, "late"
        )
    assert "[2, 3, 2, 3, 4]" in str(failure.value) or "[2, 3, 1, 2, 3, 4]" in str(failure.value)


@pytest.mark.parametrize("how", ["promote_at_once", "no_cursor_filter"])
async def test_broken_deduplication_fails_the_resume_on_another_hub_test(monkeypatch, how):
    break_deduplication(monkeypatch, how)
    with pytest.raises(AssertionError, match="==") as failure:
        await test_room.test_resuming_on_another_hub_ahead_of_its_room_replays_nothing_twice(
            monkeypatch, "late"
        )
    assert "[1, 2, 3, 4] == [4]" in str(failure.value)
