"""Installation checks, settings defaults, tickets, and the ticket endpoint."""

import os
import socket
import subprocess
import time

import pytest
from django.core import signing
from django.core.management import call_command
from django.test import override_settings

from realtime.checks import check_installation
from realtime.conf import realtime_settings
from realtime.layers import memory_layer, redis_layer
from realtime.tickets import TicketError, issue_ticket, redeem_ticket
from tests.conftest import ROOT


def ids(**overrides):
    with override_settings(**overrides):
        return [message.id for message in check_installation()]


def test_the_example_project_passes_every_check():
    assert ids(DEBUG=True) == []  # pytest-django forces DEBUG=False, which (rightly) warns W001


def test_missing_asgi_application_is_an_error():
    assert "realtime.E001" in ids(ASGI_APPLICATION=None)


def test_missing_channel_layer_is_an_error():
    assert "realtime.E002" in ids(CHANNEL_LAYERS={})


def test_in_memory_layer_without_debug_is_a_warning():
    assert "realtime.W001" in ids(DEBUG=False, CHANNEL_LAYERS={"default": memory_layer()})
    assert "realtime.W001" not in ids(DEBUG=True, CHANNEL_LAYERS={"default": memory_layer()})


def test_redis_host_without_socket_timeout_is_a_warning():
    bare = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://x:6379"]}}
    assert "realtime.W002" in ids(CHANNEL_LAYERS={"default": bare})
    assert "realtime.W002" not in ids(CHANNEL_LAYERS={"default": redis_layer("redis://x:6379")})


def test_comment_length_over_the_column_is_an_error():
    from realtime.streams.checks import check_comment_length

    def stream_ids(**overrides):
        with override_settings(**overrides):
            return [message.id for message in check_comment_length()]

    assert "realtime.E004" in stream_ids(REALTIME={"MAX_COMMENT_LENGTH": 1000})
    assert "realtime.E004" not in stream_ids(REALTIME={"MAX_COMMENT_LENGTH": 500})


def test_checks_run_through_manage_py(capsys):
    with override_settings(ASGI_APPLICATION=None):
        with pytest.raises(Exception, match="realtime.E001"):
            call_command("check")


def test_redis_layer_sets_what_redis_py_8_gets_wrong():
    host = redis_layer("redis://h:1/0")["CONFIG"]["hosts"][0]
    assert host["socket_timeout"] is None and host["max_connections"] >= 1000


def test_settings_have_defaults_follow_overrides_and_name_unknown_keys():
    assert realtime_settings.HISTORY_LIMIT == 100
    with override_settings(REALTIME={"HISTORY_LIMIT": 7}):
        assert realtime_settings.HISTORY_LIMIT == 7
    assert realtime_settings.HISTORY_LIMIT == 100
    with pytest.raises(AttributeError, match="Invalid realtime setting 'HISTROY_LIMIT'"):
        realtime_settings.HISTROY_LIMIT  # noqa: B018


@pytest.mark.django_db
def test_a_ticket_names_its_user_and_expires(alice):
    ticket = issue_ticket(alice)
    assert redeem_ticket(ticket) == alice
    with override_settings(REALTIME={"TICKET_MAX_AGE": 1}):
        time.sleep(1.1)
        with pytest.raises(TicketError, match="expired"):
            redeem_ticket(ticket)


@pytest.mark.django_db
def test_tickets_are_revoked_by_a_password_change_or_deactivation(alice, bob):
    ticket = issue_ticket(alice)
    alice.set_password("new")
    alice.save()
    with pytest.raises(TicketError, match="revoked"):
        redeem_ticket(ticket)
    ticket = issue_ticket(bob)
    bob.is_active = False
    bob.save()
    with pytest.raises(TicketError, match="revoked"):
        redeem_ticket(ticket)


@pytest.mark.django_db
def test_forged_tickets_are_refused(alice):
    forged = signing.TimestampSigner(salt="realtime.ticket", key="not-our-key").sign_object({"u": alice.pk})
    for bad in (forged, "garbage", ""):
        with pytest.raises(TicketError):
            redeem_ticket(bad)


@pytest.mark.django_db
def test_ticket_endpoint_needs_login_and_post(client, alice):
    assert client.post("/realtime/ticket/").status_code == 401
    client.force_login(alice)
    assert client.get("/realtime/ticket/").status_code == 405
    response = client.post("/realtime/ticket/")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    assert redeem_ticket(response.json()["ticket"]) == alice


@pytest.mark.django_db
def test_ticket_endpoint_is_csrf_protected(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/realtime/ticket/").status_code == 403


# -- access changes reach open sockets --------------------------------------------------------------
async def logged_in_socket(client, user):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from project.asgi import application

    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(
        application,
        "/ws/realtime/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
    )
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["user"]["id"] == user.pk
    return socket


@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_that_sessions_sockets(client, alice):
    from asgiref.sync import sync_to_async

    socket = await logged_in_socket(client, alice)
    await sync_to_async(client.post)("/accounts/logout/")
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4003}
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_closes_their_sockets(client, alice):
    from asgiref.sync import sync_to_async

    socket = await logged_in_socket(client, alice)

    def deactivate():
        alice.is_active = False
        alice.save()

    await sync_to_async(deactivate)()
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4003}
    await socket.disconnect()


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """A model change without its migration would install a schema the code does not match."""
    call_command("makemigrations", "realtime", "--check", "--dry-run", verbosity=0)


# -- the WebSocket route follows REALTIME["WEBSOCKET_PATH"] -----------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_the_websocket_route_follows_the_setting():
    from channels.testing import WebsocketCommunicator

    from realtime.asgi import websocket_application
    from realtime.testing import RealtimeClient, override_realtime

    with override_realtime(WEBSOCKET_PATH="/live/socket/"):
        application = websocket_application()
    async with RealtimeClient(application=application, path="/live/socket/") as client:
        assert client.hello["type"] == "hello"
    for elsewhere in ("/ws/realtime/", "/live/socket/x", "/live/"):
        old = WebsocketCommunicator(application, elsewhere)
        assert (await old.connect())[0] is False, elsewhere  # refused, not a ValueError in the server


def test_routing_reads_the_setting_when_asked_not_at_import():
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import realtime.routing
    from realtime.testing import override_realtime

    with override_realtime(WEBSOCKET_PATH="not a path"):
        importlib.reload(realtime.routing)  # importing reads nothing
        with pytest.raises(ImproperlyConfigured, match="WEBSOCKET_PATH"):
            realtime.routing.get_websocket_urlpatterns()
    with override_realtime(WEBSOCKET_PATH="/live/"):
        from realtime.routing import websocket_urlpatterns  # the old import still works

        assert [p.pattern.match("live/") is not None for p in websocket_urlpatterns] == [True]
        assert realtime.routing.websocket_urlpatterns[0].pattern.match("ws/realtime/") is None


# -- bin/demo and bin/serve-multi (their shared bin/_venv.sh) ---------------------------------------------
def _bash(script: str, cwd, **env: str) -> subprocess.CompletedProcess:
    source = ROOT / "bin" / "_venv.sh"
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {source}; {script}"],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_demo_installs_the_checkout_only_when_pyproject_changed(tmp_path):
    """`pip install -e .` took 10 of the demo's 13 s on every start; it runs on a new .venv or a changed
    pyproject.toml only. (A stand-in .venv/bin/python logs what it is asked to run.)"""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "calls"}\n')
    (bin_dir / "daphne").write_text("#!/bin/sh\n")
    for program in bin_dir.iterdir():
        program.chmod(0o755)

    def pip_runs() -> int:
        result = _bash("ensure_venv", tmp_path)
        assert result.returncode == 0, result.stderr
        calls = (tmp_path / "calls").read_text().splitlines()
        (tmp_path / "calls").unlink()
        return sum("-m pip install" in call for call in calls)

    assert pip_runs() == 1  # no stamp yet
    assert pip_runs() == 0  # up to date: only the quick "is it installed" look
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['y']\n")
    assert pip_runs() == 1


def test_the_demo_refuses_a_port_in_use_before_saying_open():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _bash(f"require_free_port {port}", ROOT)
    assert busy.returncode == 1 and f"Port {port} is already in use" in busy.stderr
    assert f"PORT={port + 1} bash" in busy.stderr  # the fix, in the message
    assert _bash(f"require_free_port {port}", ROOT).returncode == 0  # free again
    demo = (ROOT / "bin" / "demo").read_text()
    assert demo.index('require_free_port "$port"') < demo.index("manage.py migrate")  # fail before set-up
    assert demo.rindex('require_free_port "$port"') < demo.index('echo "Open')
