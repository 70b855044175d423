"""The example site's live dashboard in real Chromium against a daphne process: what staff see change
when a viewer joins a stream, a comment is posted, an announcement is sent, received and ended, without
reloading; and that a signed-in user who is not staff sees neither the page nor its live data."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import log_in, module_browser, no_hub_reset, opening  # noqa: E402, F401

expect = playwright_sync.expect


class Person:
    """One person: a browser context of their own (cookies), one tab, its JavaScript errors."""

    def __init__(self, browser, base_url: str, username: str | None = None) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(8000)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        if username:
            log_in(self.page, base_url, username)

    def live(self, path: str) -> Person:
        self.page.goto(f"{self.base_url}{path}")
        self.page.wait_for_function("() => window.realtime && window.realtime.connect().state === 'live'")
        return self

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def people(browser, daphne_server) -> Iterator:
    with opening(lambda username=None: Person(browser, daphne_server.url, username)) as open_person:
        yield open_person


def shell(site, script: str) -> str:
    """Python run in another process on the site's database (as an admin's or a task's code would); its
    output's last line (Django's shell may print how many objects it imported first)."""
    lines = site.manage("shell", "-c", script).strip().splitlines()
    return lines[-1] if lines else ""


def stream_row(page, title: str):
    return page.locator("[data-dashboard-stream]", has=page.locator("th", has_text=title))


def test_staff_see_viewers_and_comments_change_live(people):
    admin = people("admin").live("/dashboard/")
    page = admin.page
    demo = stream_row(page, "Demo live stream")
    expect(demo).to_have_count(1)
    viewers = demo.locator("[data-dashboard-field=viewers]")
    cpm = demo.locator("[data-dashboard-field=cpm]")
    expect(viewers).to_have_text("0", timeout=10000)
    expect(cpm).to_have_text("0")
    # Accessible: the tables have column headers, each stream row its row header, the chart words.
    headers = page.locator("table.dash-table thead th[scope=col]")
    assert headers.count() >= 9
    chart = page.locator("svg[data-dashboard-chart]")
    expect(chart).to_have_attribute("role", "img")
    desc = page.locator("[data-dashboard-chart-desc]")
    expect(desc).to_have_text(re.compile(r"^(\d\d:\d\d: \d+, ){14}\d\d:\d\d: \d+$"))

    # A viewer joins the stream: the dashboard's count follows (presence, then the 2-s stats value).
    bob = people("bob").live("/streams/demo/")
    expect(viewers).to_have_text("1", timeout=10000)

    # Bob comments: comments per minute and the chart's current minute move.
    bob.page.fill("input[name=text]", "hello dashboard")
    bob.page.press("input[name=text]", "Enter")
    expect(cpm).to_have_text("1", timeout=10000)
    expect(page.locator("[data-dashboard-total=cpm]")).to_have_text("1")
    expect(desc).to_have_text(re.compile(r"\d\d:\d\d: 1$"))
    expect(chart.locator("rect.bar[data-count='1']")).to_have_count(1)

    # A viewer leaves: the count goes back down.
    bob.page.goto(f"{bob.base_url}/")
    expect(viewers).to_have_text("0", timeout=10000)


def announcement_row(page, title: str):
    return page.locator("[data-dashboard-announcement]", has=page.locator("th", has_text=title))


def test_an_announcement_sent_later_appears_then_its_receipts_and_its_end_follow(people, site):
    """The announcements table is a live rows view: one sent from another process after the page
    loaded appears at the top; receipts (bulk writes: realtime.announcements' receipts_recorded) and
    its end (an UPDATE: announcements_changed) re-render its row."""
    admin = people("admin").live("/dashboard/")
    page = admin.page
    page.evaluate("() => { window.notReloaded = true; }")
    title = "Late <b>news</b>"
    pk = shell(
        site,
        f"from realtime.announcements import announce\nprint(announce({title!r}, 'Body', audience='everyone').pk)",
    )
    try:
        row = announcement_row(page, title)
        expect(row).to_have_count(1, timeout=10000)
        expect(page.locator("[data-dashboard-announcement]").first).to_have_attribute("data-live-key", pk)
        assert page.locator("th b").count() == 0, "the title became markup"
        state = row.locator("td").first
        expect(state).to_have_text("Live")
        # The admin's own page shows the banner (delivered, 1); Bob opens a page and sees it too (2).
        delivered = row.locator("[data-receipts=delivered]")
        expect(delivered).to_have_text("1", timeout=15000)
        bob = people("bob").live("/")
        expect(bob.page.get_by_text(title)).to_have_count(1)
        expect(delivered).to_have_text("2", timeout=15000)
        shell(
            site,
            f"from realtime.announcements import end\nfrom realtime.announcements.models import Announcement\nend(Announcement.objects.get(pk={pk}))",
        )
        expect(state).to_have_text("Ended", timeout=10000)
        expect(delivered).to_have_text("2")
        assert page.evaluate("() => window.notReloaded === true"), "the dashboard reloaded"
    finally:
        shell(
            site,
            "from realtime.announcements.models import Announcement\n"
            f"Announcement.objects.filter(pk={pk}).delete()",
        )


def test_a_user_who_is_not_staff_sees_no_dashboard_and_no_live_data(people, daphne_server):
    admin = people("admin").live("/dashboard/")
    topics = admin.page.eval_on_selector_all("[data-live-topic]", "els => els.map(e => e.dataset.liveTopic)")
    assert len(set(topics)) >= 2
    expect(admin.page.get_by_role("link", name="Open the live dashboard")).to_have_count(
        0
    )  # not on this page

    alice = people("alice")
    expect(alice.page.get_by_role("link", name="Open the live dashboard")).to_have_count(0)
    response = alice.page.goto(f"{alice.base_url}/dashboard/")
    assert response.status == 403
    # Her own socket asks for the dashboard's topics directly: each is refused.
    alice.live("/")
    codes = alice.page.evaluate(
        """async (topics) => {
          const client = window.realtime.connect();
          return Promise.all(topics.map((topic) => new Promise((resolve) => {
            client.subscribe(topic, {
              onSubscribed: () => resolve("subscribed"),
              onError: (err) => resolve((err && err.code) || "error"),
            });
            setTimeout(() => resolve("no answer"), 5000);
          })));
        }""",
        sorted(set(topics)),
    )
    assert codes and all(code not in ("subscribed", "no answer") for code in codes), codes

    home = people("admin")
    expect(home.page.get_by_role("link", name="Open the live dashboard")).to_have_count(1)


def test_in_chinese_a_live_row_update_keeps_the_page_language(people, site):
    """Live rows are rendered once for everyone; the page puts its own language's words on them, before
    and after an update (a stream renamed from another process)."""
    admin = people("admin")
    admin.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": admin.base_url}])
    admin.live("/dashboard/")
    page = admin.page
    expect(page.locator("h1")).to_have_text("仪表板")
    expect(page.locator("thead th").first).to_have_text("直播")
    row = page.locator("[data-dashboard-stream]").filter(has_text="Members-only stream")
    expect(row.locator("td").first).to_have_text("直播中")
    key = row.get_attribute("data-live-key")
    try:
        shell(
            site,
            "from realtime.streams.models import Stream\n"
            "s = Stream.objects.get(slug='members-only'); s.title = 'Members <only> renamed'; s.save()",
        )
        renamed = page.locator(f"[data-live-key='{key}']")
        expect(renamed.locator("th")).to_have_text("Members <only> renamed")
        expect(renamed.locator("td").first).to_have_text("直播中")
        expect(renamed.locator("[data-dashboard-field=viewers]")).to_have_text("0")  # filled again at once
        assert page.locator("th only").count() == 0, "the title became markup"
    finally:
        shell(
            site,
            "from realtime.streams.models import Stream\n"
            "s = Stream.objects.get(slug='members-only'); s.title = 'Members-only stream'; s.save()",
        )
