"""autobahn's per-connection configuration dump is formatted only when debug logging is on."""

import pprint

from autobahn.websocket import protocol

from realtime.hub import get_hub
from realtime.serverpatch import lighten_autobahn


async def test_the_hub_makes_autobahns_config_dump_lazy_and_the_line_is_unchanged(monkeypatch):
    monkeypatch.setattr(protocol, "pformat", pprint.pformat)
    await get_hub()
    assert protocol.pformat is not pprint.pformat  # the hub lightened it when it started
    calls = []
    monkeypatch.setattr(pprint, "pformat", lambda obj: calls.append(obj) or "formatted")
    dump = protocol.pformat([("openHandshakeTimeout", 5, "factory")])
    assert calls == []  # nothing formatted unless a log line is written
    assert f"\n{dump}" == "\nformatted" and len(calls) == 1  # as the logger formats it
    lighten_autobahn()  # idempotent
    assert protocol.pformat is type(dump)


def test_autobahns_timings_still_print_as_text_after_the_patch():
    lighten_autobahn()
    timings = protocol.Timings()
    timings.track("onOpen")
    assert isinstance(str(timings), str) and "onOpen" in str(timings)
