"""Presence in Chromium against daphne (issue 20): what each person sees.

- The "who is here" tag on the demo's home page ({% realtime_presence "page.home" %}): alice and bob
  each see both names in the roster list; an anonymous visitor is counted as a guest, never listed.
- The stream's moderators' viewer list: the moderator sees the signed-in viewers by name and the
  anonymous one only counted, and can time out a viewer from it through the existing dialog; a viewer
  sees no list.
- The typing indicator: alice typing shows "alice is typing…" to the moderator and to bob, a plain
  viewer (StreamPresence discloses the status `typing`, by name, to every subscriber), and goes away
  when she sends; bob's viewer list stays empty and hidden (he is given no roster).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import module_browser, no_hub_reset, opening  # noqa: E402, F401
from tests.test_browser import Viewer  # noqa: E402

expect = playwright_sync.expect

STREAM = "p-room"


@pytest.fixture(scope="module")
def server(site, daphne_server):
    """The demo's users (alice, bob, mod: password 'demo'); `mod` moderates the stream `admin` owns."""
    site.manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth import get_user_model\n"
            "from realtime.streams.models import Stream\n"
            "users = get_user_model().objects\n"
            f"stream, _ = Stream.objects.update_or_create(slug={STREAM!r}, defaults={{'title': 'room', 'owner': users.get(username='admin')}})\n"
            "stream.moderators.add(users.get(username='mod'))\n"
        ),
    )
    return daphne_server


@pytest.fixture
def people(browser, server) -> Iterator:
    with opening(lambda username=None: Viewer(browser, server.url, username)) as open_viewer:
        yield open_viewer


def roster_names(person: Viewer, selector: str = "[data-realtime-presence] [data-rt-presence-list]"):
    return person.page.locator(selector).locator(".rt-presence__name")


def test_who_is_here_lists_both_users_and_counts_the_guest(people):
    alice = people("alice")  # signed in: lands on the home page, which has the tag
    bob = people("bob")
    guest = people()
    guest.page.goto(f"{guest.base_url}/")
    for person in (alice, bob):
        names = roster_names(person)
        expect(names).to_have_text(["alice", "bob"])
        expect(person.page.locator("[data-rt-presence-count]")).to_have_text("2 people here and 1 guest")
        # A list a screen reader reads, named by its heading and described by the count.
        roster = person.page.get_by_role("list", name="Who is here")
        expect(roster.get_by_role("listitem")).to_have_count(2)
    # The guest is counted, never listed, and (not signed in) is not shown the roster.
    expect(roster_names(guest)).to_have_count(0)
    # bob leaves: alice's roster follows.
    bob.close()
    expect(roster_names(alice)).to_have_text(["alice"])
    expect(alice.page.locator("[data-rt-presence-count]")).to_have_text("1 person here and 1 guest")


def test_moderator_sees_the_viewers_and_who_is_typing_a_viewer_does_not(people):
    mod = people("mod").watch(STREAM)
    alice = people("alice").watch(STREAM)
    bob = people("bob").watch(STREAM)
    guest = people().watch(STREAM)
    for person in (mod, alice, bob, guest):
        person.expect_state("live")

    viewers = mod.page.locator("[data-rt-viewer-list] .rt-viewer__name")
    expect(viewers).to_have_text(["alice", "bob", "mod"])
    expect(mod.page.locator("[data-rt-viewer-count]")).to_have_text("Signed in: 3 · anonymous: 1")
    expect(alice.page.locator("[data-rt-viewer-list]")).to_be_hidden()
    expect(alice.page.locator("[data-rt-viewer-list] li")).to_have_count(0)  # no roster reached her

    # alice types: the moderator sees it, and so does bob, a plain viewer, who still gets no roster.
    alice.page.locator("input[name=text]").press_sequentially("hel")
    for person in (mod, bob):
        expect(person.page.locator("[data-rt-typing]")).to_have_text("alice is typing…")
        expect(person.page.locator("[data-rt-typing]")).to_be_visible()
    expect(alice.page.locator("[data-rt-typing]")).to_be_hidden()  # never herself
    expect(bob.page.locator("[data-rt-viewer-list]")).to_be_hidden()
    expect(bob.page.locator("[data-rt-viewer-list] li")).to_have_count(0)  # no roster reached him
    expect(bob.page.locator("[data-rt-viewer-count]")).to_have_text("")
    alice.page.locator("input[name=text]").press_sequentially("lo")
    alice.page.locator("form[data-rt-form] button[type=submit]").click()
    for person in (mod, bob):
        expect(person.page.locator("[data-rt-typing]")).to_be_hidden()

    # A name in the list opens Time out… / Ban…; Time out goes through the moderator's dialog.
    row = mod.page.locator("[data-rt-viewer-list] li", has_text="bob")
    row.locator(".rt-viewer__name").click()
    expect(row.locator(".rt-viewer__name")).to_have_attribute("aria-expanded", "true")
    row.locator('[data-rt-moderate="timeout"]').click()
    dialog = mod.page.locator("[data-rt-mod-dialog]")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=reason]").fill("calm down")
    dialog.locator("[data-rt-mod-confirm]").click()
    expect(bob.page.locator("[data-realtime-stream]")).to_have_attribute("data-standing", "timeout")
    # mod's own name is not actionable.
    expect(
        mod.page.locator("[data-rt-viewer-list] li", has_text="mod").locator(".rt-viewer__name")
    ).to_be_disabled()
