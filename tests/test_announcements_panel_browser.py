"""The admin's Delivery panel in real Chromium against daphne: its pill is the announcement's state,
green only for a live one. A scheduled announcement used to show a green "live" pill (the panel's
subscription being live), which read as "this announcement is live" (issue 19)."""

from __future__ import annotations

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import module_browser, no_hub_reset  # noqa: E402, F401  (fixtures)
from tests.test_announcements_browser import people  # noqa: E402, F401  (fixture)

expect = playwright_sync.expect
GREEN = "rgb(46, 125, 50)"  # admin.css: #2e7d32


def open_panel(person, pk: int):
    person.page.goto(f"{person.base_url}/admin/realtime_announcements/announcement/{pk}/change/")
    panel = person.page.locator("[data-rt-announcement-stats]")
    expect(panel.locator("[data-rt-stats-live]")).to_be_visible(timeout=8000)  # subscribed: figures live
    return panel


def test_the_panel_pill_is_the_state_green_only_when_live(people, site):  # noqa: F811
    staff = people()
    staff.page.goto(f"{staff.base_url}/admin/login/?next=/admin/")
    staff.page.fill("#id_username", "admin")
    staff.page.fill("#id_password", "demo")
    staff.page.click("input[type=submit]")
    staff.page.wait_for_url("**/admin/")
    scheduled = int(site.manage("announce", "Later", "--starts-in", "1h").split()[1])
    live = int(site.manage("announce", "Now").split()[1])

    panel = open_panel(staff, scheduled)
    pill = panel.locator("[data-rt-stats-state]")
    expect(pill).to_have_text("Scheduled")
    assert pill.evaluate("node => getComputedStyle(node).backgroundColor") != GREEN
    note = panel.locator("[data-rt-stats-live]")
    assert note.evaluate("node => getComputedStyle(node).backgroundColor") != GREEN
    assert panel.locator("h2").inner_text().count("Live") == 0

    panel = open_panel(staff, live)
    pill = panel.locator("[data-rt-stats-state]")
    expect(pill).to_have_text("Live")
    assert pill.evaluate("node => getComputedStyle(node).backgroundColor") == GREEN
