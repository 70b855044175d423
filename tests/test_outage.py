"""An outage is two warnings, however many attempts fail; a relapse right after it ends says so."""

from __future__ import annotations

import logging

import pytest

from realtime import outage as outage_module
from realtime.outage import Outage


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.DEBUG, logger="realtime.hub")
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_one_outage_is_two_warnings(warnings):
    outage = Outage("Channel layer", "live delivery is paused")
    assert outage.failed(OSError("refused"), "receive")
    for _ in range(50):
        assert not outage.failed(OSError("refused"), "publish")
    assert outage.answered("re-joined 2 group(s)") is not None
    said = warnings()
    assert len(said) == 2, said
    assert said[0].startswith("Channel layer unavailable (receive: refused); live delivery is paused.")
    assert said[1].startswith("Channel layer back after ") and "(51 failed attempts); re-joined" in said[1]


def test_a_failure_just_after_coming_back_is_a_relapse(warnings, monkeypatch):
    outage = Outage("Channel layer", "live delivery is paused")
    outage.failed(OSError("refused"), "receive")
    outage.answered()
    assert outage.failed(TimeoutError(), "receive")  # an outage again: listeners are told
    assert outage.down
    said = warnings()
    assert said[2].startswith(
        "Channel layer unavailable again 0.0 s after it came back (receive: TimeoutError)"
    )
    outage.answered()
    # Long after it came back, a failure is a new outage, told in full.
    monkeypatch.setattr(outage_module, "RELAPSE_WINDOW", 0.0)
    outage.failed(OSError("refused"), "publish")
    assert warnings()[4].startswith("Channel layer unavailable (publish: refused)")
