"""System checks for what a tutorial's reader gets wrong: each fires on the bad configuration and is
silent on the good one."""

import sys
import types
from pathlib import Path

import pytest
from django.test import override_settings

import realtime
from realtime.checks import check_import_name_clash, check_mounting
from realtime.settingchecks import check_layer_timeout, check_settings_keys


def ids(check, **overrides):
    with override_settings(**overrides):
        return [message.id for message in check()]


def test_the_example_project_mounts_everything():
    assert ids(check_mounting, DEBUG=True) == []


def test_the_websocket_route_not_mounted_is_an_error():
    assert "realtime.E006" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.no_websocket")
    assert "realtime.E006" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.plain_django")
    assert "realtime.E006" not in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.good")


def test_static_files_not_served_under_daphne_in_debug_is_a_warning():
    assert "realtime.W005" in ids(
        check_mounting, DEBUG=True, ASGI_APPLICATION="tests.asgi_variants.no_static"
    )
    assert "realtime.W005" not in ids(check_mounting, DEBUG=True, ASGI_APPLICATION="tests.asgi_variants.good")
    # In production static files are the web server's job: no warning.
    assert "realtime.W005" not in ids(
        check_mounting, DEBUG=False, ASGI_APPLICATION="tests.asgi_variants.no_static"
    )


def test_an_asgi_module_that_does_not_import_is_reported_not_raised():
    assert "realtime.W004" in ids(check_mounting, ASGI_APPLICATION="tests.asgi_variants.missing")


def test_ticket_urls_not_included_is_a_warning():
    assert "realtime.W006" in ids(check_mounting, ROOT_URLCONF="tests.urls_without_realtime")
    assert "realtime.W006" not in ids(check_mounting)


def test_allowed_hosts_star_is_a_warning_in_production():
    assert "realtime.W007" in ids(check_mounting, ALLOWED_HOSTS=["*"], DEBUG=False)
    assert "realtime.W007" not in ids(check_mounting, ALLOWED_HOSTS=["example.com"], DEBUG=False)


def test_an_unknown_realtime_key_is_an_error_that_suggests_the_right_one():
    with override_settings(REALTIME={"HISTORY_LIMT": 50}):
        [message] = check_settings_keys()
    assert message.id == "realtime.E007" and "'HISTORY_LIMIT'" in message.hint
    # Keys declared by installed features count as known.
    assert ids(check_settings_keys, REALTIME={"HISTORY_LIMIT": 50, "RATE_LIMIT_COUNT": 3}) == []


@pytest.mark.parametrize("value", [0, -1, 0.0, "2", True])
def test_a_layer_timeout_that_would_time_out_every_call_is_an_error(value):
    # 0 would make asyncio.timeout fire before Redis could answer: the layer would always be "down".
    assert ids(check_layer_timeout, REALTIME={"LAYER_TIMEOUT": value}) == ["realtime.E011"]


@pytest.mark.parametrize("value", [None, 0.5, 2, 10.0])
def test_a_positive_layer_timeout_or_none_passes(value):
    assert ids(check_layer_timeout, REALTIME={"LAYER_TIMEOUT": value}) == []


# -- the import name `realtime`, shared with an unrelated distribution on the package index -------------
def _fake_distribution(site: Path, name: str, top_level: str) -> None:
    """A distribution's metadata as pip leaves it in site-packages (only what importlib.metadata reads)."""
    info = site / f"{name.replace('-', '_')}-2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.0\n")
    (info / "top_level.txt").write_text(f"{top_level}\n")


def test_this_installation_has_no_import_name_clash():
    assert check_import_name_clash() == []


def test_another_distribution_providing_realtime_is_named(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "realtime", "realtime")  # the hosted service's client on the index
    _fake_distribution(tmp_path, "unrelated", "unrelated")
    monkeypatch.syspath_prepend(str(tmp_path))
    [message] = check_import_name_clash()
    assert message.id == "realtime.W010"
    assert "realtime also provide" in message.msg and "unrelated" not in message.msg
    assert "pip uninstall realtime" in message.hint


def test_a_realtime_package_that_is_not_this_one_is_an_error(tmp_path, monkeypatch):
    # Another distribution's __init__.py written over ours (same folder, none of our API) ...
    overwritten = types.ModuleType("realtime")
    overwritten.__file__ = realtime.__file__
    overwritten.__all__ = ["AsyncRealtimeClient"]
    monkeypatch.setitem(sys.modules, "realtime", overwritten)
    assert [m.id for m in check_import_name_clash()] == ["realtime.E010"]
    # ... or a `realtime` package found earlier on sys.path than this one.
    shadow = types.ModuleType("realtime")
    shadow.__file__ = str(tmp_path / "realtime" / "__init__.py")
    shadow.__all__ = realtime.__all__
    monkeypatch.setitem(sys.modules, "realtime", shadow)
    [message] = check_import_name_clash()
    assert message.id == "realtime.E010" and str(tmp_path) in message.msg


# -- the example project's asgi.py: DEBUG read per request, not at import (tests change it) -----------
async def _get(path: str) -> int:
    """The status project.asgi answers a GET with (a file's body is streamed: only the start is read)."""
    from asgiref.testing import ApplicationCommunicator

    from project.asgi import application

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "path": path, "query_string": b""}
    scope |= {"headers": [(b"host", b"testserver")], "server": ("testserver", 80), "scheme": "http"}
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"]


@pytest.mark.django_db
async def test_the_example_project_serves_static_files_only_while_debug_is_on():
    with override_settings(DEBUG=True):
        assert await _get("/static/realtime/realtime.js") == 200
    with override_settings(DEBUG=False):
        assert await _get("/static/realtime/realtime.js") == 404
    with override_settings(DEBUG=True):
        assert ids(check_mounting) == []
