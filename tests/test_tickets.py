"""Tickets: single use (also under concurrent redemption, on several processes), revoked with the
session that asked for them and with a password change, expiring, and presented in the
Sec-WebSocket-Protocol header rather than the URL (where `?ticket=` still works, once)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from websockets.asyncio.client import connect

from realtime.models import Ticket
from realtime.tickets import TicketError, issue_ticket, redeem_ticket, ticket_subprotocol
from tests.wsclient import WsClient


def app():
    from project.asgi import application

    return application


async def open_socket(path="/ws/realtime/", subprotocols=None, headers=()):
    communicator = WebsocketCommunicator(app(), path, headers=list(headers), subprotocols=subprotocols)
    connected, subprotocol = await communicator.connect()
    assert connected
    return communicator, subprotocol, await communicator.receive_json_from()


async def assert_auth_failed(communicator, hello, match=""):
    assert hello["type"] == "error" and hello["code"] == "auth_failed" and match in hello["message"]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4001}
    await communicator.disconnect()


# -- single use ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_ticket_works_once(alice):
    ticket = issue_ticket(alice)
    assert redeem_ticket(ticket) == alice
    with pytest.raises(TicketError, match="already used"):
        redeem_ticket(ticket)


@pytest.mark.django_db
def test_only_a_hash_of_the_ticket_is_stored(alice):
    ticket = issue_ticket(alice)
    row = Ticket.objects.get()
    assert ticket not in {row.digest, row.fingerprint, row.session_key} and len(row.digest) == 64


@pytest.mark.django_db(transaction=True)
async def test_a_second_connection_with_the_same_ticket_gets_auth_failed_4001(alice):
    ticket = await sync_to_async(issue_ticket)(alice)
    first, _, hello = await open_socket(f"/ws/realtime/?ticket={ticket}")
    assert hello["user"]["id"] == alice.pk
    second, _, refused = await open_socket(f"/ws/realtime/?ticket={ticket}")
    await assert_auth_failed(second, refused, "already used")
    await first.disconnect()


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_on_threads_let_exactly_one_win(alice):
    ticket = issue_ticket(alice)
    start = threading.Barrier(8)
    results: list[object] = []

    def redeem_racing():
        start.wait()
        try:
            for _ in range(500):
                try:
                    results.append(redeem_ticket(ticket))
                    return
                except OperationalError:
                    # The in-memory test database shares one cache between threads, which reports a
                    # busy table instead of waiting for it; a file or PostgreSQL database waits.
                    time.sleep(0.01)
                    continue
            results.append("gave up")
        except TicketError as exc:
            results.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=redeem_racing) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [r for r in results if not isinstance(r, TicketError)]
    assert winners == [alice], results
    assert len(results) == 8 and all("already used" in str(r) for r in results if isinstance(r, TicketError))


# -- revocation -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_logging_out_revokes_the_sessions_unused_tickets(client, alice):
    client.force_login(alice)
    tickets = [client.post("/realtime/ticket/").json()["ticket"] for _ in range(2)]
    other = issue_ticket(alice)  # no session: not this logout's
    assert Ticket.objects.filter(session_key=client.session.session_key).count() == 2
    client.post("/accounts/logout/")
    for ticket in tickets:
        with pytest.raises(TicketError, match="not valid"):
            redeem_ticket(ticket)
    assert redeem_ticket(other) == alice


@pytest.mark.django_db
def test_a_ticket_whose_session_is_gone_is_refused(client, alice):
    """A session that ended without a logout signal (expired, flushed, deleted by an admin)."""
    from django.contrib.sessions.models import Session

    client.force_login(alice)
    ticket = client.post("/realtime/ticket/").json()["ticket"]
    Session.objects.all().delete()
    with pytest.raises(TicketError, match="revoked"):
        redeem_ticket(ticket)


@pytest.mark.django_db
def test_a_password_change_or_deactivation_revokes_tickets(client, alice, bob):
    client.force_login(alice)
    with_session = client.post("/realtime/ticket/").json()["ticket"]
    without_session = issue_ticket(alice)
    alice.set_password("new")
    alice.save()
    for ticket in (with_session, without_session):
        with pytest.raises(TicketError, match="revoked"):
            redeem_ticket(ticket)
    ticket = issue_ticket(bob)
    bob.is_active = False
    bob.save()
    with pytest.raises(TicketError, match="revoked"):
        redeem_ticket(ticket)


@pytest.mark.django_db
def test_a_ticket_revoked_by_deactivation_stays_revoked_after_reactivation(client, alice):
    """docs/security.md: deactivation revokes the user's tickets. Checking `is_active` at redemption
    alone let a ticket issued before a deactivation work again once the user was reactivated."""
    client.force_login(alice)
    with_session = client.post("/realtime/ticket/").json()["ticket"]
    without_session = issue_ticket(alice)
    kept = issue_ticket(alice)
    redeem_ticket(kept)  # used tickets are history, not revocable
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    alice.is_active = True
    alice.save()
    for ticket in (with_session, without_session):
        with pytest.raises(TicketError, match="revoked"):
            redeem_ticket(ticket)
    assert redeem_ticket(issue_ticket(alice)) == alice  # tickets issued after the reactivation work


@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_a_socket_opened_with_that_sessions_ticket(client, alice):
    await sync_to_async(client.force_login)(alice)
    ticket = (await sync_to_async(client.post)("/realtime/ticket/")).json()["ticket"]
    socket, _, hello = await open_socket(subprotocols=["realtime", ticket_subprotocol(ticket)])
    assert hello["user"]["id"] == alice.pk
    await sync_to_async(client.post)("/accounts/logout/")
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4003}
    await socket.disconnect()


# -- expiry -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_tickets_expire_and_expired_ones_are_cleaned_up_on_issue(alice):
    from realtime.testing import override_realtime

    stale = issue_ticket(alice)
    Ticket.objects.update(created=timezone.now() - timedelta(seconds=61))
    with pytest.raises(TicketError, match="expired"):
        redeem_ticket(stale)
    fresh = issue_ticket(alice)
    assert Ticket.objects.count() == 1  # the stale row went
    with override_realtime(TICKET_MAX_AGE=0):  # a lowered lifetime applies to tickets already out
        with pytest.raises(TicketError, match="expired"):
            redeem_ticket(fresh)


@pytest.mark.django_db
def test_garbage_and_old_signed_tickets_are_refused(alice):
    from django.core import signing

    signed = signing.TimestampSigner(salt="realtime.ticket").sign_object({"u": alice.pk})
    for bad in (signed, "garbage", "", "x" * 43, "a b" * 15, None, 42):
        with pytest.raises(TicketError, match="not valid"):
            redeem_ticket(bad)


# -- presentation -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_endpoint_ties_the_ticket_to_the_session_and_names_the_subprotocols(client, alice):
    client.force_login(alice)
    body = client.post("/realtime/ticket/").json()
    assert body["protocols"] == ["realtime", f"realtime.ticket.{body['ticket']}"]
    assert body["expires_in"] == 60
    assert Ticket.objects.get().session_key == client.session.session_key


@pytest.mark.django_db(transaction=True)
async def test_subprotocol_presentation_in_process(alice):
    ticket = await sync_to_async(issue_ticket)(alice)
    socket, selected, hello = await open_socket(subprotocols=["realtime", ticket_subprotocol(ticket)])
    assert selected == "realtime" and hello["user"]["id"] == alice.pk
    await socket.disconnect()
    # Offering only the ticket: authenticated, and no subprotocol selected (none other was offered).
    ticket = await sync_to_async(issue_ticket)(alice)
    socket, selected, hello = await open_socket(subprotocols=[ticket_subprotocol(ticket)])
    assert selected is None and hello["user"]["id"] == alice.pk
    await socket.disconnect()
    # Offering "realtime" alone: selected, anonymous.
    socket, selected, hello = await open_socket(subprotocols=["realtime"])
    assert selected == "realtime" and hello["user"] is None
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_two_tickets_at_once_are_refused(alice):
    one, two = [await sync_to_async(issue_ticket)(alice) for _ in range(2)]
    socket, _, hello = await open_socket(
        f"/ws/realtime/?ticket={one}", subprotocols=["realtime", ticket_subprotocol(two)]
    )
    await assert_auth_failed(socket, hello, "one ticket")


@pytest.mark.django_db(transaction=True)
async def test_the_ticket_does_not_reach_the_consumer_scope(alice, monkeypatch):
    from realtime.consumer import RealtimeConsumer

    seen = {}
    original = RealtimeConsumer.websocket_connect

    async def spy(self, message):
        seen.update(subprotocols=self.scope["subprotocols"], headers=dict(self.scope["headers"]))
        return await original(self, message)

    monkeypatch.setattr(RealtimeConsumer, "websocket_connect", spy)
    ticket = await sync_to_async(issue_ticket)(alice)
    socket, _, _ = await open_socket(
        subprotocols=["realtime", ticket_subprotocol(ticket)],
        headers=[(b"sec-websocket-protocol", f"realtime, realtime.ticket.{ticket}".encode())],
    )
    await socket.disconnect()
    assert seen["subprotocols"] == ["realtime"] and b"sec-websocket-protocol" not in seen["headers"]


# -- against real daphne processes ------------------------------------------------------------------
async def test_real_daphne_accepts_a_ticket_subprotocol_and_selects_realtime(site, daphne_server):
    ticket = await asyncio.to_thread(site.ticket, "alice")
    async with WsClient(
        daphne_server.ws_url, subprotocols=["realtime", ticket_subprotocol(ticket)]
    ) as client:
        assert client.socket.subprotocol == "realtime"
        assert client.socket.response.headers["Sec-WebSocket-Protocol"] == "realtime"  # never the ticket
        assert client.hello["user"]["username"] == "alice"
    async with WsClient(daphne_server.ws_url, subprotocols=["realtime", ticket_subprotocol(ticket)]) as again:
        assert again.hello["code"] == "auth_failed"
        await again.socket.wait_closed()
        assert again.socket.close_code == 4001


async def test_real_daphne_query_ticket_still_works_once(site, daphne_server):
    ticket = await asyncio.to_thread(site.ticket, "bob")
    async with WsClient(f"{daphne_server.ws_url}?ticket={ticket}") as client:
        assert client.hello["user"]["username"] == "bob"
    async with WsClient(f"{daphne_server.ws_url}?ticket={ticket}") as again:
        assert again.hello["code"] == "auth_failed" and "already used" in again.hello["message"]
        await again.socket.wait_closed()
        assert again.socket.close_code == 4001


@pytest.fixture(scope="module")
def second_daphne(site, daphne_server):
    return site.server()


async def hello_via(server, ticket):
    async with connect(
        server.ws_url, subprotocols=["realtime", ticket_subprotocol(ticket)], open_timeout=10
    ) as socket:
        return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def test_two_daphne_processes_racing_one_ticket_authenticate_once(site, daphne_server, second_daphne):
    for _ in range(3):
        ticket = await asyncio.to_thread(site.ticket, "alice")
        servers = (daphne_server, second_daphne, daphne_server, second_daphne)
        hellos = await asyncio.gather(*(hello_via(server, ticket) for server in servers))
        assert sorted(h["type"] for h in hellos) == ["error", "error", "error", "hello"], hellos
        assert [h["user"]["username"] for h in hellos if h["type"] == "hello"] == ["alice"]
