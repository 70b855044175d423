"""Announcements in real Chromium (Playwright, Debian's /usr/bin/chromium) against a daphne process
serving the example site: staff compose and send in the admin (with the preview), a visitor on a page
that is not a stream page sees the banner arrive live and go when it is ended, and the screenshot is
read back to check what it shows. Dismissals survive a reload and a second browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.pngkit import Image

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import Person, module_browser, no_hub_reset, opening  # noqa: E402, F401

expect = playwright_sync.expect

SCREENSHOT = Path("/tmp/realtime-announcement.png")
PAGE_BACKGROUND = (11, 14, 26)  # templates/base.html: #0b0e1a
WARNING_BACKGROUND = (90, 68, 16)  # announcements.css: #5a4410


@pytest.fixture
def people(browser, daphne_server) -> Iterator:
    with opening(
        lambda username=None: Person(browser, daphne_server.url, username, timeout=5000)
    ) as open_person:
        yield open_person


def near(colour: tuple[int, int, int], wanted: tuple[int, int, int], tolerance: int = 10) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=True))


def test_a_banner_appears_live_on_a_non_stream_page_and_goes_when_ended(people):
    visitor = people("bob").live()
    banners = visitor.page.locator("[data-rt-announcements] [data-rt-announcement]")
    expect(banners).to_have_count(0)
    # A visitor whose computer thinks it is 2001: the server's time decides, not this clock.
    skewed = people()
    skewed.page.clock.set_fixed_time(datetime(2001, 1, 1, tzinfo=UTC))
    skewed.live()
    skewed_banners = skewed.page.locator("[data-rt-announcements] [data-rt-announcement]")

    staff = people()
    staff.page.goto(f"{staff.base_url}/admin/login/?next=/admin/realtime_announcements/announcement/add/")
    staff.page.fill("#id_username", "admin")
    staff.page.fill("#id_password", "demo")
    staff.page.click("input[type=submit]")
    staff.page.wait_for_url("**/announcement/add/")
    # Compose: the preview follows the form, as text.
    staff.page.fill("#id_title", "Maintenance <tonight>")
    staff.page.fill("#id_body", "We will be back at 22:00.")
    staff.page.select_option("#id_level", "warning")
    preview = staff.page.locator("[data-rt-announcement-preview] [data-rt-announcement]")
    expect(preview.locator("[data-rt-announcement-title]")).to_have_text("Maintenance <tonight>")
    expect(preview).to_have_attribute("data-level", "warning")
    staff.page.click("input[name=_send_now]")
    expect(staff.page.locator(".messagelist")).to_contain_text("it is live now")

    # The visitor's open page gets it over its socket, as text, at the top of the page.
    expect(banners).to_have_count(1, timeout=5000)
    banner = banners.first
    expect(banner.locator("[data-rt-announcement-title]")).to_have_text("Maintenance <tonight>")
    expect(banner.locator("[data-rt-announcement-body]")).to_have_text("We will be back at 22:00.")
    expect(banner).to_have_attribute("data-level", "warning")
    expect(skewed_banners).to_have_count(1)
    assert skewed.page.evaluate("new Date().getFullYear()") == 2001
    assert visitor.page.locator("[data-rt-announcements] tonight").count() == 0, "user text became HTML"
    box = banner.bounding_box()
    header = visitor.page.locator(".site-header").bounding_box()
    main = visitor.page.locator("main").bounding_box()
    viewport = visitor.page.viewport_size
    assert box["x"] == 0 and abs(box["width"] - viewport["width"]) <= 1, box  # the page's full width
    assert abs(box["y"] - (header["y"] + header["height"])) <= 1, (box, header)  # right under the header
    assert main["y"] >= box["y"] + box["height"] - 1, "the banner pushes the page down, never covers it"

    visitor.page.wait_for_timeout(300)
    image = Image(visitor.page.screenshot(path=str(SCREENSHOT)))
    x0, y0 = int(box["x"]), int(box["y"])
    x1, y1 = int(box["x"] + box["width"]), int(box["y"] + box["height"])
    inside = image.colours(x0 + 2, y0 + 2, x1 - 2, y1 - 3)
    dominant = max(inside, key=inside.get)
    assert near(dominant, WARNING_BACKGROUND), f"banner background {dominant}"
    bright = sum(n for colour, n in inside.items() if sum(colour) > 600)
    assert bright > 50, "no light text drawn in the banner"
    assert near(image.pixel(20, y1 + 6), PAGE_BACKGROUND), "the page continues right below the banner"
    assert near(image.pixel(20, y0 - 3), PAGE_BACKGROUND) or y0 > 0

    # The sender's page shows the receipts arrive: the visitor's and the sender's own page, seen.
    panel = staff.page.locator("[data-rt-announcement-stats]")
    expect(panel.locator("[data-stat=delivered]")).to_have_text("2", timeout=8000)
    expect(panel.locator("[data-stat=seen]")).to_have_text("2", timeout=8000)

    # Ended in the admin: gone from the visitor's page within seconds, without a reload.
    staff.page.click("button[data-rt-action=end]")
    expect(staff.page.locator(".messagelist")).to_contain_text("Ended")
    expect(banners).to_have_count(0, timeout=5000)
    expect(skewed_banners).to_have_count(0, timeout=5000)
    after = Image(visitor.page.screenshot())
    assert near(after.pixel(20, y0 + 5), PAGE_BACKGROUND), "the banner's place is empty again"


def test_dismissals_survive_reload_and_a_second_browser(people, site):
    output = site.manage("announce", "Please read this", "--audience", "everyone")
    pk = int(output.split()[1])
    try:
        check_dismissals(people, pk)
    finally:  # ended, so the site's next test starts with no banner (the file runs in any order)
        site.manage(
            "shell",
            "-c",
            "from realtime.announcements import end; from realtime.announcements.models import Announcement; "
            f"end(Announcement.objects.get(pk={pk}))",
        )


def check_dismissals(people, pk: int) -> None:
    banner = f'[data-rt-announcements] [data-rt-announcement="{pk}"]'

    laptop, phone = people("alice").live(), people("alice").live()
    for device in (laptop, phone):
        expect(device.page.locator(banner)).to_have_count(1)
    laptop.page.click(f"{banner} [data-rt-announcement-dismiss]")
    expect(laptop.page.locator(banner)).to_have_count(0)
    expect(phone.page.locator(banner)).to_have_count(0, timeout=5000)  # closed on the other device, live
    laptop.page.reload()
    expect(laptop.page.locator("[data-rt-announcements]")).to_be_attached()
    expect(laptop.page.locator(banner)).to_have_count(0)
    expect(people("alice").live().page.locator(banner)).to_have_count(0)  # a browser it was never closed in

    # Anonymous visitors: kept in this browser's storage.
    stranger = people().live()
    expect(stranger.page.locator(banner)).to_have_count(1)
    stranger.page.click(f"{banner} [data-rt-announcement-dismiss]")
    stranger.page.reload()
    stranger.page.wait_for_function("() => window.realtime && window.realtime.connect().state === 'live'")
    stranger.page.wait_for_timeout(500)
    expect(stranger.page.locator(banner)).to_have_count(0)
    assert re.search(
        rf'"{pk}"\s*:\s*1', stranger.page.evaluate("localStorage.getItem('realtime.announcements.dismissed')")
    )
    expect(people().live().page.locator(banner)).to_have_count(1)  # a new visitor has not closed it
