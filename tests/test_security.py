"""Cross-site WebSocket hijacking: the Origin must be one of the site's origins (scheme, host and
port), and a password change closes the user's sockets.

The parser and matcher are tested as units; the refusals that matter are also tested against a real
daphne process with a real session cookie, where the old host-only check let them through.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import re
import urllib.parse
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from websockets.exceptions import InvalidStatus

from realtime.api import abroadcast
from realtime.origins import Origin, check_origins, handshake_origin, origin_allowed, parse_origin
from realtime.testing import RealtimeClient, override_realtime
from tests.wsclient import WsClient


# -- the parser -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        ("http://localhost:8000", Origin("http", "localhost", 8000)),
        ("HTTP://LocalHost:8000", Origin("http", "localhost", 8000)),  # uppercase is normalised
        ("http://example.com:80", Origin("http", "example.com")),  # the default port is no port
        ("https://example.com:443", Origin("https", "example.com")),
        ("https://example.com:80", Origin("https", "example.com", 80)),
        ("http://a.b-c.example.com", Origin("http", "a.b-c.example.com")),
        ("http://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", Origin("http", "[::1]", 8000)),
        ("http://[0:0:0:0:0:0:0:1]", Origin("http", "[::1]")),  # IPv6 in its one compressed form
        ("http://xn--bcher-kva.example", Origin("http", "xn--bcher-kva.example")),
    ],
)
def test_well_formed_origins_parse_to_their_normal_form(value, expected):
    assert parse_origin(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "null",
        "",
        "localhost",
        "localhost:8000",
        "//localhost",
        "http:/localhost",
        "http//localhost",
        "http://alice@localhost",
        "http://alice:pw@localhost:8000",  # userinfo
        "http://localhost/",
        "http://localhost:8000/path",
        "http://localhost?x=1",
        "http://localhost#x",
        " http://localhost",
        "http://localhost ",
        "http://local host",
        "http://localhost\t",
        "http://localhost\n",
        "http://localhost.",
        "http://.localhost",
        "http://a..b",
        "http://-a.example",
        "http://a-.example",
        "http://localhost:",
        "http://localhost:0",
        "http://localhost:65536",
        "http://localhost:123456",
        "http://localhost:+80",
        "http://[::1",
        "http://[zz::1]",
        "http://lo%63alhost",
        "http://hôst.example",
        "http://*.example.com",
        "http://.example.com",  # wildcards are for settings, not for browsers
        "http://a_b.example.com",
        "http://" + "a" * 64 + ".example",
    ],
)
def test_anything_that_is_not_exactly_a_serialised_origin_is_refused(value):
    assert parse_origin(value) is None


def test_patterns_take_djangos_wildcards_on_their_own_scheme_and_port_only():
    pattern = parse_origin("https://*.example.com", pattern=True)
    assert pattern == parse_origin("https://.example.com", pattern=True)
    assert str(pattern) == "https://*.example.com"
    accepted = [
        "https://example.com",
        "https://a.example.com",
        "https://a.b.example.com",
        "HTTPS://A.EXAMPLE.COM:443",
    ]
    refused = [
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://badexample.com",
        "https://example.com.evil.test",
        "https://example.org",
    ]
    assert [pattern.matches(parse_origin(o)) for o in accepted] == [True] * len(accepted)
    assert [pattern.matches(parse_origin(o)) for o in refused] == [False] * len(refused)
    exact = parse_origin("http://example.com:8000", pattern=True)
    assert exact.matches(parse_origin("http://example.com:8000"))
    assert not exact.matches(parse_origin("http://a.example.com:8000"))


# -- what the site's origins are ---------------------------------------------------------------------
def scope(host: str | None = "localhost:8000", *, scheme: str | None = None, headers=()):
    headers = list(headers) + ([(b"host", host.encode())] if host else [])
    return {"type": "websocket", "headers": headers, **({"scheme": scheme} if scheme else {})}


def allowed(origin: str, the_scope) -> bool:
    return origin_allowed(parse_origin(origin), the_scope)


@override_settings(ALLOWED_HOSTS=["localhost", ".example.com"], CSRF_TRUSTED_ORIGINS=[])
def test_by_default_only_the_origin_the_handshake_was_made_to_is_trusted():
    assert allowed("http://localhost:8000", scope())
    for other in (
        "http://localhost:8001",
        "http://localhost",
        "https://localhost:8000",
        "http://127.0.0.1:8000",
        "http://a.example.com:8000",
    ):
        assert not allowed(other, scope()), other
    # A secure socket's pages are https pages; the default port is the same origin with or without it.
    assert allowed("https://localhost", scope("localhost:443", scheme="wss"))
    assert not allowed("http://localhost:443", scope("localhost:443", scheme="wss"))
    # ALLOWED_HOSTS wildcards validate the host the socket was reached at, as Django's do.
    assert allowed("https://a.example.com", scope("a.example.com", scheme="wss"))
    assert not allowed("https://b.example.com", scope("a.example.com", scheme="wss"))


@override_settings(ALLOWED_HOSTS=["localhost"])
def test_a_host_not_in_allowed_hosts_has_no_origin_of_its_own():
    """DNS rebinding: evil.test resolving to us makes its pages same-origin with the socket."""
    assert handshake_origin(scope("evil.test:8000")) is None
    assert not allowed("http://evil.test:8000", scope("evil.test:8000"))
    assert not allowed("http://localhost:8000", scope(None))  # no Host, no server address: nothing


@override_settings(ALLOWED_HOSTS=["*"])
def test_allowed_hosts_star_still_means_same_origin_only():
    assert allowed("https://anything.test", scope("anything.test", scheme="wss"))
    assert not allowed("https://evil.test", scope("anything.test", scheme="wss"))


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
def test_debug_with_no_allowed_hosts_works_for_localhost():
    assert allowed("http://localhost:8000", scope())
    assert allowed("http://app.localhost:8000", scope("app.localhost:8000"))
    assert allowed("http://127.0.0.1:8000", scope("127.0.0.1:8000"))
    assert allowed("http://[::1]:8000", scope("[::1]:8000"))
    assert not allowed("http://example.com:8000", scope("example.com:8000"))


@override_settings(
    ALLOWED_HOSTS=["example.com"], CSRF_TRUSTED_ORIGINS=["https://example.com", "https://*.example.org"]
)
def test_csrf_trusted_origins_are_trusted_too():
    """Behind a TLS-terminating proxy the socket is plain ws: the trusted https origin is what works."""
    assert allowed("https://example.com", scope("example.com"))
    assert allowed("https://www.example.org", scope("example.com"))
    assert not allowed("http://www.example.org", scope("example.com"))
    assert not allowed("https://example.com:8443", scope("example.com"))


@override_settings(ALLOWED_HOSTS=["example.com"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_secure_proxy_ssl_header_makes_the_socket_https_as_it_does_requests():
    behind_proxy = scope("example.com", headers=[(b"x-forwarded-proto", b"https")])
    assert handshake_origin(behind_proxy) == Origin("https", "example.com")
    assert allowed("https://example.com", behind_proxy)
    assert not allowed("http://example.com", behind_proxy)
    assert allowed("http://example.com", scope("example.com", headers=[(b"x-forwarded-proto", b"http")]))


@override_settings(ALLOWED_HOSTS=["example.com"], USE_X_FORWARDED_HOST=True)
def test_x_forwarded_host_is_used_when_django_is_told_to():
    proxied = scope("127.0.0.1:9000", headers=[(b"x-forwarded-host", b"example.com")])
    assert allowed("http://example.com", proxied)
    assert not allowed("http://127.0.0.1:9000", proxied)


@override_settings(ALLOWED_HOSTS=["localhost"], CSRF_TRUSTED_ORIGINS=["https://trusted.test"])
def test_allowed_origins_replaces_the_derived_ones(caplog):
    with override_realtime(ALLOWED_ORIGINS=["https://app.example.com", "https://*.cdn.example.com:8443"]):
        assert allowed("https://app.example.com", scope())
        assert allowed("https://x.cdn.example.com:8443", scope())
        assert not allowed("http://localhost:8000", scope())  # the socket's own origin: not listed
        assert not allowed("https://trusted.test", scope())
    with (
        override_realtime(ALLOWED_ORIGINS=["app.example.com", "https://ok.example.com", "*"]),
        caplog.at_level(logging.ERROR, logger="realtime.security"),
    ):
        assert check_origins() == ["app.example.com", "*"]
        assert allowed("https://ok.example.com", scope())
        assert not allowed("https://app.example.com", scope())  # a bad entry matches nothing
    assert "'app.example.com' is not an origin" in caplog.text


# -- the full ASGI stack, in process ----------------------------------------------------------------
async def handshake(origin: bytes, host: bytes = b"localhost:8000", cookie: bytes | None = None):
    from project.asgi import application

    headers = [(b"origin", origin), (b"host", host)] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, "/ws/realtime/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


@pytest.mark.django_db(transaction=True)
async def test_full_stack_accepts_the_same_origin_with_the_session_user_and_refuses_the_rest(client, alice):
    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected = await handshake(b"http://localhost:8000", cookie=cookie)
    assert connected and (await communicator.receive_json_from())["user"]["id"] == alice.pk
    await communicator.disconnect()
    two = await handshake(b"http://localhost:8000", cookie=cookie)
    await two[0].disconnect()
    duplicate = WebsocketCommunicator(
        _app(),
        "/ws/realtime/",
        headers=[
            (b"origin", b"http://localhost:8000"),
            (b"origin", b"http://localhost:8000"),
            (b"host", b"localhost:8000"),
        ],
    )
    assert (await duplicate.connect())[0] is False  # two Origin headers: which one did the browser mean?
    for origin in (
        b"http://localhost:8001",
        b"https://localhost:8000",
        b"http://alice@localhost:8000",
        b"null",
        b"http://localhost:8000/",
        b"http://localhost.:8000",
        b"\xff",
    ):
        communicator, connected = await handshake(origin, cookie=cookie)
        assert not connected, origin
        await communicator.disconnect()


def _app():
    from project.asgi import application

    return application


# -- a real daphne, a real browser-like handshake ----------------------------------------------------
def http_login(server, username: str, password: str = "demo") -> str:
    """Log in through the site's login form; the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{server.url}/accounts/login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
    opener.open(f"{server.url}/accounts/login/", data=form.encode(), timeout=10).read()
    return {cookie.name: cookie.value for cookie in jar}["sessionid"]


@pytest.fixture(scope="module")
def alice_session(daphne_server) -> str:
    return http_login(daphne_server, "alice")


async def test_real_daphne_accepts_a_same_origin_page_with_its_user(daphne_server, alice_session):
    cookie = {"Cookie": f"sessionid={alice_session}"}
    for origin in (f"http://127.0.0.1:{daphne_server.port}", f"HTTP://127.0.0.1:{daphne_server.port}"):
        async with WsClient(daphne_server.ws_url, origin=origin, additional_headers=cookie) as client:
            assert client.hello["user"]["username"] == "alice"


@pytest.mark.parametrize(
    "make_origin",
    [
        lambda port: f"http://127.0.0.1:{port + 1}",  # another port of the same host: another site
        lambda port: f"https://127.0.0.1:{port}",  # another scheme
        lambda port: f"http://localhost:{port}",  # another host name, though one of ALLOWED_HOSTS
        lambda port: f"http://alice@127.0.0.1:{port}",  # userinfo
        lambda port: f"http://127.0.0.1:{port}/page",  # a path
        lambda port: f"http://127.0.0.1.:{port}",  # a trailing dot
        lambda port: "null",  # sandboxed iframes, file: pages
    ],
    ids=["other-port", "other-scheme", "other-host", "userinfo", "path", "trailing-dot", "null"],
)
async def test_real_daphne_refuses_other_origins_with_403_despite_the_cookie(
    daphne_server, alice_session, make_origin
):
    with pytest.raises(InvalidStatus) as info:
        async with WsClient(
            daphne_server.ws_url,
            origin=make_origin(daphne_server.port),
            additional_headers={"Cookie": f"sessionid={alice_session}"},
        ):
            pass
    assert info.value.response.status_code == 403


# -- a password change closes the user's sockets -----------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_password_change_closes_the_users_sockets_before_private_events_reach_them(alice):
    async with RealtimeClient(user=alice) as socket:
        assert (await socket.subscribe(f"user.{alice.pk}"))["type"] == "subscribed"

        def change_password():
            alice.set_password("a new one")
            alice.save()

        await sync_to_async(change_password)()
        closed = await socket.receive_type("closed", timeout=3)
        assert closed["code"] == 4003
        await abroadcast(f"user.{alice.pk}", "private", {"secret": "after the change"})
        assert await socket.nothing_more(timeout=0.5)


@pytest.mark.django_db(transaction=True)
async def test_the_session_that_changed_the_password_is_closed_too(client, alice):
    """update_session_auth_hash keeps that session logged in; its socket still closes (and reconnects)."""
    from django.contrib.auth import update_session_auth_hash
    from django.contrib.sessions.backends.db import SessionStore

    await sync_to_async(client.force_login)(alice)
    session_key = client.cookies["sessionid"].value
    communicator, connected = await handshake(
        b"http://localhost:8000", cookie=f"sessionid={session_key}".encode()
    )
    assert connected and (await communicator.receive_json_from())["user"]["id"] == alice.pk

    def change_password_keeping_the_session():
        alice.set_password("a new one")
        alice.save()
        request = type("Request", (), {"session": SessionStore(session_key), "user": alice})()
        update_session_auth_hash(request, alice)
        request.session.save()  # what SessionMiddleware does with the response
        return request.session.session_key  # cycled: the page gets the new cookie with the response

    refreshed = await sync_to_async(change_password_keeping_the_session)()
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": 4003}
    await communicator.disconnect()
    again, connected = await handshake(b"http://localhost:8000", cookie=f"sessionid={refreshed}".encode())
    assert connected and (await again.receive_json_from())["user"]["id"] == alice.pk
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_saves_that_keep_the_password_leave_sockets_open(alice, django_assert_num_queries):
    from django.utils import timezone

    async with RealtimeClient(user=alice) as socket:

        def save_without_changing_the_password():
            alice.first_name = "Alice"
            alice.save()
            alice.last_login = timezone.now()
            with django_assert_num_queries(1):  # a login's save: no lookup of the stored password
                alice.save(update_fields=["last_login"])

        await sync_to_async(save_without_changing_the_password)()
        await asyncio.sleep(0.2)
        assert await socket.nothing_more(timeout=0.3)
        assert (await socket.request({"type": "ping"}))["type"] == "pong"
