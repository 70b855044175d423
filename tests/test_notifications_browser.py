"""Notifications in real Chromium (Playwright, Debian's /usr/bin/chromium) against a daphne process
serving the example site: one user with two tabs on the list page; notifications sent from another
process appear in both (badge count, sentence, panel list); a read in one tab updates the other; a
title full of markup stays text; the page speaks Chinese with the live sentence too."""

from __future__ import annotations

import pytest

from tests.announcekit import people
from tests.test_notifications_daphne import notify_elsewhere

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import log_in, module_browser, no_hub_reset  # noqa: E402, F401

expect = playwright_sync.expect

XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
# Sent live (built by notifications.js, not rendered by the server): markup, and a handler that runs
# the moment it is parsed as HTML.
LIVE_TITLE = 'Second <b>bold</b><img src=x onerror="window.pwned=3">'
LIST = "/realtime/notifications/"


def signed_in(browser, base_url: str, username: str, language: str = "en"):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(8000)
    context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    log_in(context.new_page(), base_url, username)
    return context


def open_tab(context, base_url: str, errors: list[str]):
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}{LIST}")
    page.wait_for_function("() => window.realtime && window.realtime.connect().state === 'live'")
    # Subscribed: the badge's topic is live on this connection.
    page.wait_for_function(
        "() => { const el = document.querySelector('[data-rt-notifications]');"
        " return el && el.realtimeNotifications && el.realtimeNotifications.sub.ready; }"
    )
    return page


def count(page):
    return page.locator("[data-rt-notify-count]")


def test_two_tabs_see_notifications_live_and_a_read_in_one_updates_the_other(browser, site, daphne_server):
    people(site, {"nina": {}})
    first_pk = notify_elsewhere(site, "nina", XSS, body=XSS)
    context = signed_in(browser, daphne_server.url, "nina")
    errors: list[str] = []
    try:
        one, two = open_tab(context, daphne_server.url, errors), open_tab(context, daphne_server.url, errors)
        for tab in (one, two):
            expect(count(tab)).to_have_text("1")
            # The title is shown as the text it is, in the list page and in the panel.
            expect(
                tab.locator(
                    f'[data-rt-notify-page-list] [data-rt-notification="{first_pk}"] [data-rt-notify-title]'
                )
            ).to_have_text(XSS)
        second_pk = notify_elsewhere(
            site, "nina", LIVE_TITLE, body="body <i>x</i>", url="/realtime/notifications/?page=1"
        )
        for tab in (one, two):
            expect(count(tab)).to_have_text("2")
            expect(tab.locator("[data-rt-notify-status]")).to_have_text("You have 2 new notifications")
            item = tab.locator(f'[data-rt-notify-list] [data-rt-notification="{second_pk}"]')
            expect(item.locator("[data-rt-notify-title]")).to_have_text(LIVE_TITLE)
            expect(item.locator("[data-rt-notify-body]")).to_have_text("body <i>x</i>")
            assert (
                item.locator("[data-rt-notify-title]").get_attribute("href")
                == "/realtime/notifications/?page=1"
            )
            assert (
                tab.locator(
                    "[data-rt-notify-list] b, [data-rt-notify-list] img, [data-rt-notify-list] script"
                ).count()
                == 0
            )
            # Page 1 of the list shows it too, newest first.
            assert tab.locator("[data-rt-notify-page-list] > li").first.get_attribute(
                "data-rt-notification"
            ) == str(second_pk)

        # Tab one: open the panel, mark the newest read.
        one.click("[data-rt-notify-toggle]")
        expect(one.locator("[data-rt-notify-panel]")).to_be_visible()
        assert one.locator("[data-rt-notify-toggle]").get_attribute("aria-expanded") == "true"
        one.locator(
            f'[data-rt-notify-list] [data-rt-notification="{second_pk}"] [data-rt-notify-mark]'
        ).click()
        one.keyboard.press("Escape")  # the panel closes and the focus goes back to its button
        expect(one.locator("[data-rt-notify-panel]")).to_be_hidden()
        assert one.evaluate("() => document.activeElement.hasAttribute('data-rt-notify-toggle')")
        expect(count(two)).to_have_text("1")
        expect(two.locator("[data-rt-notify-status]")).to_have_text("You have 1 new notification")
        expect(
            two.locator(f'[data-rt-notify-page-list] [data-rt-notification="{second_pk}"]')
        ).to_have_attribute("data-read", "true")
        expect(
            two.locator(f'[data-rt-notify-page-list] [data-rt-notification="{first_pk}"]')
        ).to_have_attribute("data-read", "false")

        # Tab two: "Mark all as read" on the list page (its form goes over the socket).
        two.locator("main [data-rt-notify-read-all]").click()
        for tab in (one, two):
            expect(count(tab)).to_be_hidden()
            expect(tab.locator("[data-rt-notify-summary]")).to_have_text("No new notifications")
            expect(
                tab.locator(f'[data-rt-notify-page-list] [data-rt-notification="{first_pk}"]')
            ).to_have_attribute("data-read", "true")
        assert one.url.endswith(LIST) and two.url.endswith(LIST)  # no page load: the socket did it
        for tab in (one, two):
            assert tab.evaluate("() => window.pwned") is None
    finally:
        context.close()
    assert errors == []


def test_the_badge_speaks_chinese_with_live_plural_sentences(browser, site, daphne_server):
    people(site, {"ming": {}})
    notify_elsewhere(site, "ming", "第一条")
    context = signed_in(browser, daphne_server.url, "ming", language="zh-hans")
    errors: list[str] = []
    try:
        tab = open_tab(context, daphne_server.url, errors)
        expect(tab.locator("[data-rt-notify-status]")).to_have_text("你有 1 条新通知")
        expect(tab.locator("main [data-rt-notify-read-all]")).to_have_text("全部标为已读")
        notify_elsewhere(site, "ming", "第二条")
        expect(tab.locator("[data-rt-notify-status]")).to_have_text("你有 2 条新通知")
        expect(tab.locator("[data-rt-notify-page-summary]")).to_have_text("你有 2 条新通知")
        tab.click("[data-rt-notify-toggle]")
        expect(tab.locator("[data-rt-notify-list] [data-rt-notify-mark]").first).to_contain_text("标为已读")
        tab.locator("[data-rt-notify-panel] [data-rt-notify-read-all]").click()
        expect(tab.locator("[data-rt-notify-status]")).to_have_text("没有新通知")
        tab.locator("h1").click()  # a click elsewhere closes the panel
        expect(tab.locator("[data-rt-notify-panel]")).to_be_hidden()
    finally:
        context.close()
    assert errors == []


MARK_READ_SCRIPT = (
    "from django.contrib.auth import get_user_model; from realtime.notifications import mark_read; "
    "mark_read(get_user_model().objects.get(username='omar'), [{pk}])"
)


def test_a_tab_that_was_offline_catches_up_when_it_reconnects(browser, site, daphne_server):
    people(site, {"omar": {}})
    first = notify_elsewhere(site, "omar", "before the outage")
    context = signed_in(browser, daphne_server.url, "omar")
    errors: list[str] = []
    try:
        tab = open_tab(context, daphne_server.url, errors)
        expect(count(tab)).to_have_text("1")
        daphne_server.stop()
        tab.wait_for_function("() => window.realtime.connect().state !== 'live'")
        # While the tab is away: one read, two new (stored only; no server is up to publish them).
        site.manage("shell", "-c", MARK_READ_SCRIPT.format(pk=first))
        later = [notify_elsewhere(site, "omar", f"during the outage {n}") for n in range(2)]
        daphne_server.start()
        expect(count(tab)).to_have_text("2", timeout=20000)
        expect(tab.locator("[data-rt-notify-status]")).to_have_text("You have 2 new notifications")
        for pk in later:
            expect(tab.locator(f'[data-rt-notify-list] [data-rt-notification="{pk}"]')).to_have_attribute(
                "data-read", "false"
            )
        expect(tab.locator(f'[data-rt-notify-page-list] [data-rt-notification="{first}"]')).to_have_attribute(
            "data-read", "true"
        )
    finally:
        if daphne_server.process is None or daphne_server.process.poll() is not None:
            daphne_server.start()
        context.close()
    assert errors == []
