"""The version fence (realtime/compat.py): realtime's shortcuts into daphne, Twisted and autobahn run only
on the releases they were tested on; on any other release the public paths are used, one warning is
logged and `manage.py check` says so (realtime.W009)."""

from __future__ import annotations

import asyncio
import logging
import pprint
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from autobahn.websocket import protocol as autobahn_protocol

from realtime import compat, serverpatch, shutdown, writers
from realtime.checks import check_server_versions
from tests.conftest import ROOT, DaphneServer
from tests.test_daphne_protocol import closed_with
from tests.wsclient import WsClient


@pytest.fixture
def fresh_verdict():
    compat.forget()
    yield
    compat.forget()


@pytest.fixture
def untested_twisted(monkeypatch, fresh_verdict):
    """The next Twisted release, one realtime was not tested on."""
    real = compat.installed_version
    monkeypatch.setattr(
        compat, "installed_version", lambda name: "27.1.0" if name == "twisted" else real(name)
    )


def test_the_installed_releases_are_tested_and_every_shortcut_is_on(fresh_verdict, caplog):
    assert compat.untested_versions() == {}
    assert all(compat.allows(name) for name in compat.SHORTCUTS)
    assert check_server_versions() == []
    assert not [r for r in caplog.records if r.name == "realtime.compat"]


def test_a_release_outside_the_range_switches_off_what_touches_it_with_one_warning(untested_twisted, caplog):
    caplog.set_level(logging.WARNING, logger="realtime.compat")
    assert not compat.allows("direct_writes")  # Twisted's buffers: off
    assert compat.allows("daphne_inbox") and compat.allows("going_away_close")  # not Twisted's
    for _ in range(3):
        compat.allows("direct_writes")
    [warning] = [r for r in caplog.records if r.name == "realtime.compat"]
    assert "twisted 27.1.0 (tested: >=24.7.0,<26.11)" in warning.getMessage()
    assert "direct_writes" in warning.getMessage()
    # The writer then treats even Twisted's own TCP transport as unknown: autobahn's sendMessage.
    from twisted.internet import tcp

    assert writers.buffered_tcp(object.__new__(tcp.Server)) is None


def test_the_system_check_names_the_release_and_how_to_fix_it(untested_twisted):
    [warning] = check_server_versions()
    assert warning.id == "realtime.W009" and "twisted 27.1.0" in warning.msg
    assert "'twisted>=24.7.0,<26.11'" in warning.hint


def test_the_server_patches_leave_an_untested_autobahn_and_daphne_alone(monkeypatch, fresh_verdict):
    monkeypatch.setattr(compat, "installed_version", lambda name: "99.0")
    monkeypatch.setattr(autobahn_protocol, "pformat", pprint.pformat)
    serverpatch.lighten_autobahn()
    assert autobahn_protocol.pformat is pprint.pformat
    from daphne.server import Server

    before = Server.create_application
    serverpatch.lighten_daphne()
    assert Server.create_application is before


def test_the_planned_shutdown_closes_with_1001_only_on_a_tested_autobahn(monkeypatch, fresh_verdict):
    class Protocol:
        STATE_OPEN = 1
        state = STATE_OPEN

        def __init__(self):
            self.sent = []

        def sendCloseFrame(self, code, reasonUtf8, isReply):
            self.sent.append(("frame", code))

        def sendClose(self, code):  # autobahn's public call: 1000 or 3000-4999 only
            self.sent.append(("public", code))

    tested = Protocol()
    shutdown.close_going_away(tested)
    assert tested.sent == [("frame", 1001)]
    closing = Protocol()
    closing.state = 2  # already closing (a 4008 on its way): left alone
    shutdown.close_going_away(closing)
    assert closing.sent == []
    monkeypatch.setattr(compat, "installed_version", lambda name: "99.0")
    compat.forget()
    untested = Protocol()
    shutdown.close_going_away(untested)
    assert untested.sent == [("public", 1000)]


@pytest.mark.parametrize(
    "version, tested",
    [("24.7.0", True), ("26.10.3", True), ("26.10.0.post1", True), ("24.3.0", False), ("26.11.0", False)]
    + [("26.10.0rc1", False), ("26.10.0.dev0", False), ("26.10.0+local", False)],
)
def test_pre_releases_and_local_builds_count_as_untested(version, tested):
    assert compat.in_tested_range("twisted", version) is tested


def test_the_ranges_match_the_oldest_run_and_the_dependencies():
    """bin/test-oldest installs the oldest end of each range; pyproject allows at least the range."""
    script = (ROOT / "bin" / "test-oldest").read_text()
    pins = dict(re.findall(r"(\w+)==([\d.]+)", re.search(r"OLDEST=\((.*)\)", script)[1]))
    assert pins == {name: low for name, (low, _) in compat.TESTED.items()}
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, (low, high) in compat.TESTED.items():
        [spec] = [d for d in dependencies if d.lower().startswith(name)]
        lower = re.search(r">=([\d.]+)", spec)[1]
        upper = re.search(r"<([\d.]+)", spec)[1]
        assert compat._release(lower) <= compat._release(low), spec
        assert compat._release(upper) >= compat._release(high), spec


def test_a_library_that_is_not_installed_is_not_reported(monkeypatch, fresh_verdict):
    assert compat.installed_version("no-such-distribution-here") is None
    monkeypatch.setattr(compat, "installed_version", lambda name: None)  # e.g. uvicorn instead of daphne
    assert compat.untested_versions() == {} and compat.allows("direct_writes")


def untested_releases(env: dict[str, str], directory: Path) -> dict[str, str]:
    """`env` with Twisted and autobahn 27.1.0 as far as package metadata can tell: dist-info
    directories ahead of site-packages on PYTHONPATH (the code imported is still the real one)."""
    for name in ("Twisted", "autobahn"):
        info = directory / f"{name.lower()}-27.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 27.1.0\n")
    return {**env, "PYTHONPATH": str(directory)}


@pytest.fixture
def untested_env(site, tmp_path):
    return untested_releases(site.env, tmp_path / "fake")


async def test_daphne_on_untested_releases_serves_through_the_public_paths(site, untested_env):
    """End to end on daphne with the fence closed: hello, a live event and the shutdown all go through
    autobahn's public calls (the shutdown close is then 1000), the warning is logged once, and
    `manage.py check` reports realtime.W009."""
    server = DaphneServer(untested_env)
    site.servers.append(server.start())
    try:
        async with WsClient(server.ws_url) as viewer, WsClient(server.ws_url) as other:
            assert viewer.hello["type"] == other.hello["type"] == "hello"
            assert (await viewer.subscribe("broadcast.all"))["type"] == "subscribed"
            await asyncio.to_thread(
                site.manage, "broadcast", "broadcast.all", "broadcast", "--data", '{"message": "public"}'
            )
            event = await viewer.receive_where(type="event", event="broadcast", data={"message": "public"})
            assert event["type"] == "event"
            server.process.send_signal(signal.SIGTERM)
            assert await closed_with(viewer, timeout=10) == 1000
        await asyncio.to_thread(server.process.wait, 10)
    finally:
        server.stop()
    log = server.output()
    assert log.count("realtime was not tested with autobahn 27.1.0") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=untested_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "realtime.W009" in check.stderr + check.stdout and "twisted 27.1.0" in check.stderr + check.stdout
