"""The moderator's page and the restricted viewer's page (issue 19), in Chromium against daphne.

What each role sees: the moderator (`mod`, a named moderator of the stream, not staff) hides and
restores, times out with a duration and a reason, mutes and unmutes, bans through a confirmation
dialog and unbans; another moderator's panel follows live; the banned viewer sees one state (the
notice, the comment box and reactions disabled, the comments so far, an honest connection badge) live
and after a reload, and is back in the chat when unbanned; the timed-out viewer can post again when
the timeout ends, without reloading.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import module_browser, no_hub_reset, opening  # noqa: E402, F401
from tests.conftest import ROOT  # noqa: E402
from tests.test_browser import Viewer, screenshot  # noqa: E402

expect = playwright_sync.expect

STREAMS = ["m-tools", "m-ban", "m-timeout"]
ARTIFACTS = ROOT / "var" / "artifacts"  # git-ignored: what each role saw, for a person to look at


@pytest.fixture(scope="module")
def server(site, daphne_server):
    """The demo's users (admin, alice, bob, mod: password 'demo'); `mod` and `admin` are named
    moderators of each stream, which `admin` owns. `mod` is not staff."""
    site.manage(
        "shell",
        "-c",
        (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from realtime.streams.models import Stream\n"
            "users = get_user_model().objects\n"
            "admin = users.get(username='admin')\n"
            "assert not users.get(username='mod').is_staff\n"
            f"for slug in json.loads({json.dumps(STREAMS)!r}):\n"
            "    stream, _ = Stream.objects.update_or_create(slug=slug, defaults={'title': slug, 'owner': admin})\n"
            "    stream.moderators.add(users.get(username='mod'))\n"
        ),
    )
    return daphne_server


@pytest.fixture
def people(browser, server) -> Iterator:
    with opening(lambda username=None: Viewer(browser, server.url, username)) as open_viewer:
        yield open_viewer


def comment_item(person: Viewer, text: str):
    return person.page.locator(".rt-comments .rt-comment", has_text=text)


def restriction_row(person: Viewer, kind: str, username: str):
    return person.page.locator(f"[data-rt-restrictions] .rt-restriction--{kind}", has_text=username)


def expect_restricted(person: Viewer, kind: str) -> None:
    """The one restricted state: the notice says what, the comment box and reactions are disabled."""
    page = person.page
    expect(page.locator("[data-realtime-stream]")).to_have_attribute("data-standing", kind)
    expect(page.locator("[data-rt-standing-notice]")).to_be_visible()
    expect(page.locator("input[name=text]")).to_be_disabled()
    expect(page.locator("form[data-rt-form] button[type=submit]")).to_be_disabled()
    for button in page.locator("[data-rt-reaction]").all():
        expect(button).to_be_disabled()
    expect(page.locator("[data-rt-error]")).to_be_hidden()  # no second, contradicting message


def expect_free(person: Viewer) -> None:
    page = person.page
    expect(page.locator("[data-realtime-stream]")).to_have_attribute("data-standing", "")
    expect(page.locator("[data-rt-standing-notice]")).to_be_hidden()
    expect(page.locator("input[name=text]")).to_be_enabled()
    expect(page.locator("[data-rt-reaction]").first).to_be_enabled()


def test_moderator_hides_restores_mutes_and_another_moderator_sees_it_live(people):
    mod = people("mod").watch("m-tools")
    other = people("admin").watch("m-tools")
    alice = people("alice").watch("m-tools")
    for person in (mod, other, alice):
        person.expect_state("live")
    expect(mod.page.locator("[data-rt-mod-panel]")).to_be_visible()
    expect(alice.page.locator("[data-rt-mod-panel]")).to_be_hidden()  # viewers get no panel

    alice.post("rude words")
    expect(comment_item(mod, "rude words")).to_have_count(1)
    comment_item(mod, "rude words").locator('[data-rt-moderate="hide"]').click()
    for person in (mod, other, alice):
        expect(comment_item(person, "rude words")).to_have_count(0)
    # Both moderators can restore it from their panel; the other one does.
    for person in (mod, other):
        expect(
            person.page.locator("[data-rt-hidden] .rt-hidden-comment", has_text="rude words")
        ).to_have_count(1)
    other.page.locator("[data-rt-hidden] .rt-hidden-comment", has_text="rude words").locator(
        '[data-rt-moderate="restore"]'
    ).click()
    for person in (mod, other, alice):
        expect(comment_item(person, "rude words")).to_have_count(1)
    expect(mod.page.locator("[data-rt-hidden] .rt-hidden-comment")).to_have_count(0)

    comment_item(mod, "rude words").locator('[data-rt-moderate="mute"]').click()
    expect(mod.page.locator("[data-rt-error]")).to_have_text("Muted alice until a moderator unmutes them.")
    expect_restricted(alice, "mute")
    expect(alice.page.locator("[data-rt-standing-notice]")).to_contain_text("You are muted in this stream.")
    row = restriction_row(other, "mute", "alice")
    expect(row).to_contain_text("Muted")
    expect(row).to_contain_text("by mod at")
    # The other moderator lifts what `mod` set; everyone follows.
    row.locator('[data-rt-moderate="unmute"]').click()
    expect(restriction_row(mod, "mute", "alice")).to_have_count(0)
    expect_free(alice)
    expect(alice.page.locator("[data-rt-error]")).to_have_text("You can comment again.")
    alice.post("sorry")
    expect(alice.stored("sorry")).to_have_count(1)


def test_ban_asks_first_and_the_banned_viewer_sees_one_state_live_after_reload_and_until_unbanned(people):
    mod = people("mod").watch("m-ban")
    bob = people("bob").watch("m-ban")
    for person in (mod, bob):
        person.expect_state("live")
    mod.post("welcome")
    bob.post("spam spam")
    expect(comment_item(mod, "spam spam")).to_have_count(1)

    ban = comment_item(mod, "spam spam").locator('[data-rt-moderate="ban"]')
    dialog = mod.page.locator("[data-rt-mod-dialog]")
    ban.click()  # the dialog asks; cancelling bans nobody
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Ban bob from this stream?")
    mod.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ban).to_be_focused()  # focus back where it was
    expect(restriction_row(mod, "ban", "bob")).to_have_count(0)
    ban.click()
    dialog.get_by_label("Reason").fill("advertising")
    mod.page.screenshot(path=str(ARTIFACTS / "moderation-ban-dialog.png"))
    dialog.get_by_role("button", name="Ban", exact=True).click()
    expect(mod.page.locator("[data-rt-error]")).to_have_text("Banned bob.")
    row = restriction_row(mod, "ban", "bob")
    expect(row).to_contain_text("Reason: advertising")
    expect(row).to_contain_text("by mod at")

    def banned_state() -> None:
        expect_restricted(bob, "ban")
        notice = bob.page.locator("[data-rt-standing-notice]")
        expect(notice).to_contain_text("You are banned from this stream.")
        expect(notice).to_contain_text("Reason: advertising")
        expect(bob.badge).to_have_attribute("data-state", "offline")
        expect(bob.badge).to_have_text("Chat closed to you (banned)")
        # History still shown.
        expect(comment_item(bob, "welcome")).to_have_count(1)
        expect(comment_item(bob, "spam spam")).to_have_count(1)

    banned_state()
    mod.post("after the ban")
    bob.page.reload()
    banned_state()
    screenshot(bob.page, "moderation-banned-viewer.png")
    screenshot(mod.page, "moderation-panel.png")
    expect(comment_item(bob, "after the ban")).to_have_count(0)  # nothing after the ban reaches him

    row.locator('[data-rt-moderate="unban"]').click()
    expect(row).to_have_count(0)
    expect_free(bob)
    bob.expect_state("live")
    expect(comment_item(bob, "after the ban")).to_have_count(1)  # back in the chat, the replay fills in
    bob.post("thanks")
    expect(mod.page.locator(".rt-comments .rt-comment__text", has_text="thanks")).to_have_count(1)


def test_a_timeout_shows_until_when_and_ends_by_itself(people):
    mod = people("mod").watch("m-timeout")
    alice = people("alice").watch("m-timeout")
    other = people("admin").watch("m-timeout")
    for person in (mod, alice, other):
        person.expect_state("live")
    alice.post("LOUD")
    comment_item(mod, "LOUD").locator('[data-rt-moderate="timeout"]').click()
    dialog = mod.page.locator("[data-rt-mod-dialog]")
    expect(dialog.get_by_role("heading")).to_have_text("Time out alice")
    dialog.get_by_label("Duration").select_option("60")
    dialog.get_by_label("Reason").fill("caps")
    dialog.get_by_role("button", name="Time out", exact=True).click()
    expect(mod.page.locator("[data-rt-error]")).to_contain_text("Timed out alice until")
    expect(restriction_row(other, "timeout", "alice")).to_contain_text("Timed out until")

    expect_restricted(alice, "timeout")
    notice = alice.page.locator("[data-rt-standing-notice]")
    expect(notice).to_contain_text("You are timed out until")
    expect(notice).to_contain_text("Reason: caps")
    alice.expect_state("live")  # a timed-out viewer still receives the chat: "connected" is true
    alice.page.reload()
    expect_restricted(alice, "timeout")
    expect(comment_item(alice, "LOUD")).to_have_count(1)

    # A moderator replaces it with a four-second timeout (the protocol takes any 1 s to 14 days; the
    # dialog offers presets): nobody lifts it, and the page lets alice post again when it ends.
    alice_id = alice.page.locator("[data-realtime-stream]").get_attribute("data-user-id")
    mod.page.evaluate(
        """(user) => { const v = document.querySelector('[data-realtime-stream]').realtimeView;
           return v.client.publish(v.topic, 'moderate', {action: 'timeout', user: Number(user), seconds: 4}); }""",
        alice_id,
    )
    expect(notice).not_to_contain_text("Reason: caps")  # the new timeout, live
    expect_restricted(alice, "timeout")
    expect_free(alice)  # within expect's 10 s; the timeout was 4 s
    expect(restriction_row(other, "timeout", "alice")).to_have_count(0)  # gone from the panels too
    alice.post("quiet now")
    expect(alice.stored("quiet now")).to_have_count(1)  # the server agrees it ended
