"""What a person sees: real Chromium (Playwright) against a real daphne process serving the example site.

Each test drives the watch page the way viewers do (log in, type, click) and checks the page, not the
JavaScript's internals, so it fails if the feature is broken anywhere on the path: template tag,
realtime.js, the stream view and danmaku scripts, the consumer, the database.

Needs Debian's `chromium` (/usr/bin/chromium) and, for legible emoji in screenshots,
`fonts-noto-color-emoji`. Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PASSWORD = "demo"  # realtime_demo's users: admin (owner of the streams below), alice, bob, mod
SCREENSHOT = Path("/tmp/realtime-watch-page.png")

# Each test gets a stream of its own: viewer counts and per-stream rate limits must not leak between them.
STREAMS = {
    "t-overlay": {},
    "t-resume": {},
    "t-viewers": {},
    "t-moderation": {},
    "t-slow": {"slow_mode_seconds": 30},
    "t-banner": {},
}


@pytest.fixture(autouse=True)
def _fresh_realtime():
    """Replaces conftest's async hub reset: the server under test is a daphne subprocess, so this
    process's hub is never used, and Playwright's sync API keeps an event loop running in this thread
    that an async fixture cannot share."""
    yield


@pytest.fixture(scope="module")
def server(site, daphne_server):
    """The module's daphne process, with the streams the tests use."""
    specs = json.dumps(STREAMS)
    site.manage(
        "shell",
        "-c",
        (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from realtime.streams.models import Stream\n"
            "admin = get_user_model().objects.get(username='admin')\n"
            f"for slug, extra in json.loads({specs!r}).items():\n"
            "    Stream.objects.update_or_create(slug=slug, defaults={'title': 'Test ' + slug, 'owner': admin, **extra})\n"
        ),
    )
    return daphne_server


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (never `playwright install` here).")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Viewer:
    """One person: a browser context (own cookies), one tab on a watch page, JS errors collected."""

    def __init__(self, browser, base_url: str, username: str | None = None) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(5000)
        self.errors: list[str] = []
        self.frames_sent: list[dict] = []
        self.sockets_opened = 0  # WebSocket connection attempts, failed ones included
        self.base_url = base_url
        self._serve_static_if_missing()
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("websocket", self._watch_socket)
        if username:
            self.page.goto(f"{base_url}/accounts/login/")
            self.page.fill("#id_username", username)
            self.page.fill("#id_password", PASSWORD)
            self.page.click("form.login button[type=submit]")
            self.page.wait_for_url(f"{base_url}/")

    def _serve_static_if_missing(self) -> None:
        # `daphne project.asgi:application` serves no static files (only runserver does); when the server
        # under test lacks them, serve the app's own files from disk so the page is still the real one.
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"{self.base_url}/static/realtime/realtime.js", timeout=5).close()
            return
        except urllib.error.HTTPError:
            pass

        def fulfil(route):
            relative = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
            found = finders.find(relative)
            if found:
                route.fulfill(path=found)
            else:
                route.fulfill(status=404, body="not found")

        self.context.route(f"{self.base_url}/static/**", fulfil)

    def _watch_socket(self, ws) -> None:
        self.sockets_opened += 1

        def sent(payload):
            try:
                self.frames_sent.append(json.loads(payload))
            except (TypeError, ValueError):
                pass

        ws.on("framesent", sent)

    def watch(self, slug: str) -> Viewer:
        self.page.goto(f"{self.base_url}/streams/{slug}/")
        return self

    @property
    def badge(self):
        return self.page.locator("[data-realtime-badge]")

    def expect_state(self, state: str, timeout: float = 5000) -> None:
        expect(self.badge).to_have_attribute("data-realtime-state", state, timeout=timeout)

    def post(self, text: str, color: str | None = None, mode: str | None = None) -> None:
        if color:
            self.page.check(f'input[name=color][value="{color}"]')
        if mode:
            self.page.select_option("select[name=mode]", mode)
        self.page.fill("input[name=text]", text)
        self.page.press("input[name=text]", "Enter")

    def list_texts(self):
        return self.page.locator(".rt-comments .rt-comment__text")

    def stored(self, text: str):
        """A comment in the list that the server has acknowledged (no longer pending)."""
        return self.page.locator(
            ".rt-comments .rt-comment:not(.rt-comment--pending) .rt-comment__text", has_text=text
        )

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def people(browser, server) -> Iterator:
    opened: list[Viewer] = []

    def open_viewer(username: str | None = None) -> Viewer:
        viewer = Viewer(browser, server.url, username)
        opened.append(viewer)
        return viewer

    yield open_viewer
    for viewer in opened:
        viewer.close()


def test_comment_flies_across_another_viewers_overlay_as_plain_text(people):
    """A logged-in viewer's comment reaches an anonymous viewer's overlay and list: right to left, in
    the chosen allow-listed colour, and `<b>x</b>` shows as those characters, never as markup."""
    poster = people("alice").watch("t-overlay")
    viewer = people().watch("t-overlay")
    poster.expect_state("live")
    viewer.expect_state("live")
    expect(viewer.badge).to_have_text("Live")
    # Anonymous viewers get a way to log in instead of a form, and cannot react.
    expect(viewer.page.locator("form[data-rt-form]")).to_have_count(0)
    expect(viewer.page.locator("[data-rt-reaction]").first).to_be_disabled()

    poster.post("<b>x</b>", color="#ff5555")

    flying = viewer.page.locator(".rt-overlay .rt-danmaku", has_text="<b>x</b>")
    expect(flying).to_have_count(1)
    assert flying.text_content() == "<b>x</b>"
    assert viewer.page.locator(".rt-overlay b, .rt-comments b").count() == 0, "user text became HTML"
    expect(flying).to_have_css("color", "rgb(255, 85, 85)")
    overlay = viewer.page.locator(".rt-overlay").bounding_box()
    first = flying.bounding_box()
    viewer.page.wait_for_timeout(400)
    second = flying.bounding_box()
    assert first["x"] > overlay["x"] + overlay["width"] * 0.5, "a new comment enters from the right"
    assert second["x"] < first["x"] - 10, "and moves left"

    expect(viewer.list_texts()).to_have_text(["<b>x</b>"])
    expect(viewer.page.locator(".rt-comments .rt-comment__author")).to_have_text(["alice"])
    # The poster sees their own comment fly too, exactly once.
    expect(poster.page.locator(".rt-overlay .rt-danmaku", has_text="<b>x</b>")).to_have_count(1)
    expect(poster.stored("<b>x</b>")).to_have_count(1)


def test_badge_tracks_server_restart_and_missed_comments_arrive_once(people, server):
    """Badge: live -> reconnecting (server stopped) -> live (restarted). A post made while offline is
    queued and sent once on reconnect. A viewer that stays away (hidden tab: no reconnect attempts)
    resumes with `since` and gets exactly what it missed, in order, without duplicates."""
    poster = people("alice").watch("t-resume")
    viewer = people().watch("t-resume")
    poster.expect_state("live")
    viewer.expect_state("live")
    poster.post("before")
    expect(viewer.list_texts()).to_have_text(["before"])

    # The viewer's tab goes to the background: it must not try to reconnect until it is visible.
    viewer.page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true})")
    sockets_before = viewer.sockets_opened

    server.stop()
    poster.expect_state("reconnecting")
    viewer.expect_state("reconnecting")
    expect(poster.badge).to_have_text("Reconnecting…")
    poster.post("sent while offline")
    expect(poster.page.locator(".rt-comment--pending .rt-comment__status")).to_have_text(
        "will send when reconnected"
    )

    server.start()
    # No nudging: the poster's backoff (1 s, 2 s, 4 s ceilings so far) brings it back by itself.
    poster.expect_state("live", timeout=12000)
    expect(poster.stored("sent while offline")).to_have_count(1)
    poster.post("missed one")
    poster.post("missed two")
    expect(poster.stored("missed two")).to_have_count(1)
    expect(poster.page.locator(".rt-comment--pending")).to_have_count(0)

    # Hidden all this time, so still not reconnected although the server is back, and not one attempt
    # was made (the first retry would have come within 1 s of the drop).
    assert viewer.badge.get_attribute("data-realtime-state") == "reconnecting"
    assert viewer.sockets_opened == sockets_before, "a hidden tab kept dialling"
    subscribes_before = len([f for f in viewer.frames_sent if f.get("type") == "subscribe"])
    viewer.page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    viewer.expect_state("live", timeout=3000)
    expect(viewer.list_texts()).to_have_text(["before", "sent while offline", "missed one", "missed two"])
    resumed = [f for f in viewer.frames_sent if f.get("type") == "subscribe"][subscribes_before:]
    stream_resume = [f for f in resumed if f["topic"].startswith("stream.")]
    assert stream_resume and stream_resume[0].get("since", 0) >= 1, f"resubscribe without since: {resumed}"
    # The viewer was away for the missed comments: they fly now that it is back.
    expect(viewer.page.locator(".rt-overlay .rt-danmaku", has_text="missed two")).to_have_count(1)
    # And nothing was posted twice: the poster's list matches too.
    expect(poster.list_texts()).to_have_text(["before", "sent while offline", "missed one", "missed two"])


def test_viewer_count_and_reactions_are_live(people):
    """Two viewers see "2 watching"; when one leaves the other sees 1. A reaction floats up for others."""
    first = people().watch("t-viewers")
    second = people("bob").watch("t-viewers")
    expect(first.page.locator("[data-rt-viewers]")).to_have_text("2")
    expect(second.page.locator("[data-rt-viewers]")).to_have_text("2")

    second.page.click('[data-rt-reaction="heart"]')
    expect(first.page.locator(".rt-floats .rt-float", has_text="❤️").first).to_be_attached()

    second.page.close()
    expect(first.page.locator("[data-rt-viewers]")).to_have_text("1")


def test_moderator_deletes_and_mutes_from_the_list(people):
    """The stream owner sees moderator tools, others do not. Delete removes a comment from everyone's
    overlay and list; Mute makes the author's next post fail with the `muted` message by the form."""
    owner = people("admin").watch("t-moderation")
    author = people("alice").watch("t-moderation")
    bystander = people().watch("t-moderation")
    for person in (owner, author, bystander):
        person.expect_state("live")
    expect(owner.page.locator("[data-realtime-stream]")).to_have_attribute("data-moderator", "true")
    expect(author.page.locator("[data-realtime-stream]")).to_have_attribute("data-moderator", "false")

    author.post("buy cheap stuff")
    spam = owner.page.locator(".rt-comments .rt-comment", has_text="buy cheap stuff")
    expect(spam).to_have_count(1)
    expect(
        author.page.locator(".rt-comment", has_text="buy cheap stuff").locator("[data-rt-moderate]").first
    ).to_be_hidden()
    expect(bystander.page.locator(".rt-overlay .rt-danmaku", has_text="buy cheap stuff")).to_have_count(1)

    spam.locator('[data-rt-moderate="delete"]').click()
    for person in (owner, author, bystander):
        expect(person.page.locator(".rt-comments", has_text="buy cheap stuff")).to_have_count(0)
        expect(person.page.locator(".rt-overlay .rt-danmaku", has_text="buy cheap stuff")).to_have_count(0)

    author.post("still here")
    owner.page.locator(".rt-comments .rt-comment", has_text="still here").locator(
        '[data-rt-moderate="mute"]'
    ).click()
    expect(owner.page.locator("[data-rt-error]")).to_have_text("Muted alice for 10 minutes.")
    author.post("am I muted?")
    error = author.page.locator("[data-rt-error]")
    expect(error).to_have_attribute("data-code", "muted")
    expect(error).to_have_text("You are muted in this stream.")
    expect(author.page.locator("input[name=text]")).to_have_value("am I muted?")  # words given back
    expect(bystander.page.locator(".rt-comments", has_text="am I muted?")).to_have_count(0)


def test_slow_mode_error_is_shown_by_the_form_with_a_countdown(people):
    """A second post inside the slow-mode window is refused; the form says why and holds the button."""
    alice = people("alice").watch("t-slow")
    alice.expect_state("live")
    expect(alice.page.locator("[data-rt-hint]")).to_have_text("Slow mode: one comment every 30 s.")
    alice.post("first")
    expect(alice.stored("first")).to_have_count(1)
    alice.post("second")
    error = alice.page.locator("[data-rt-error]")
    expect(error).to_have_attribute("data-code", "slow_mode")
    expect(error).to_contain_text("Slow mode is on")
    send = alice.page.locator("button.rt-form__send")
    expect(send).to_be_disabled()
    expect(send).to_contain_text("Wait")


def test_admin_broadcast_shows_a_banner_and_the_page_looks_right(people, site):
    """`manage.py broadcast` (another process) reaches open pages as a banner; then a screenshot of
    the watch page with comments flying is saved for a person to look at."""
    viewer = people("bob").watch("t-banner")
    viewer.expect_state("live")
    site.manage(
        "broadcast",
        "broadcast.all",
        "broadcast",
        "--data",
        json.dumps({"title": "Heads up", "message": "<i>Maintenance</i> at 22:00", "level": "warning"}),
    )
    banner = viewer.page.locator("[data-rt-banner]")
    # Another process on the in-memory layer: delivered by the hub's database sync (SYNC_INTERVAL, 5 s).
    expect(banner).to_be_visible(timeout=9000)
    expect(banner).to_have_attribute("data-level", "warning")
    expect(banner.locator("[data-rt-banner-message]")).to_have_text("<i>Maintenance</i> at 22:00")

    viewer.post("What a goal!", color="#ffd700")
    viewer.post("Hello from the stands", color="#55aaff")
    viewer.post("Pinned to the top", mode="top", color="#ff77ff")
    expect(viewer.stored("Pinned to the top")).to_have_count(1)
    viewer.page.click('[data-rt-reaction="fire"]')
    viewer.page.wait_for_timeout(600)
    viewer.page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
