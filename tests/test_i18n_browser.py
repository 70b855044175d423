"""The pages in Simplified Chinese, in real Chromium (Debian's, through Playwright) against a real daphne:
the connection badge in every state a browser can bring about, the stream page with a broadcast and an
announcement showing, and the login page, whose words are Chinese and whose button meets WCAG AA
contrast (computed from the browser's own computed styles). English is looked for with the catalogues'
msgids (tests/test_viewer_i18n.english_left). Screenshots go to var/artifacts/; the tests assert on the
elements' text and boxes, not on the files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.test_viewer_i18n import english_left

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import log_in, module_browser, no_hub_reset  # noqa: E402, F401

expect = playwright_sync.expect
ARTIFACTS = ROOT / "var" / "artifacts"
CJK = re.compile(r"[\u4e00-\u9fff]")
LANGUAGE_MENU = {"English", "简体中文"}  # each language named in itself

# What a page shows a person, as assistive technology and eyes meet it: text nodes, the names and
# hints of elements, and the words scripts will show (data-label-*). `skip` leaves user content out.
VISIBLE_STRINGS = """(skip) => {
  const out = [], ignored = (el) => el && el.closest(skip);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (n.textContent.trim() && !el.closest('script, style') && !ignored(el)) out.push(n.textContent.trim());
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (ignored(el)) continue;
    for (const a of el.attributes) {
      const named = ['aria-label', 'title', 'placeholder', 'alt', 'data-empty', 'data-placeholder'].includes(a.name);
      const submit = a.name === 'value' && ['submit', 'button'].includes(el.type);
      if ((named || submit || a.name.startsWith('data-label-')) && a.value.trim()) out.push(a.value.trim());
    }
  }
  return out;
}"""
USER_CONTENT = ".lang-menu option, .rt-comment__author, .rt-comment__text, h1, .rt-danmaku, .muted strong"


@pytest.fixture(scope="module")
def server(site, daphne_server):
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from realtime.streams.models import Stream\n"
        "admin = get_user_model().objects.get(username='admin')\n"
        "Stream.objects.update_or_create(slug='t-i18n', defaults={'title': '发布会', 'owner': admin})\n",
    )
    return daphne_server


@pytest.fixture
def chinese(browser, server) -> Iterator:
    """A browser context whose person reads Chinese (Accept-Language zh-CN), and its JS errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.set_default_timeout(10000)
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    yield context
    context.close()
    assert errors == []


def chinese_everywhere(page, skip: str = USER_CONTENT) -> list[str]:
    strings = [s for s in page.evaluate(VISIBLE_STRINGS, skip) if s not in LANGUAGE_MENU]
    leftover = english_left(strings)
    assert leftover == [], leftover
    return strings


# -- the connection badge -------------------------------------------------------------------------------
FOLLOW_THE_BADGE = """() => {
  const badge = document.querySelector('[data-realtime-badge]');
  window.badgeSaid = [badge.textContent];
  new MutationObserver(() => {
    const last = window.badgeSaid[window.badgeSaid.length - 1];
    if (badge.textContent !== last) window.badgeSaid.push(badge.textContent);
  }).observe(badge, { childList: true, characterData: true, subtree: true });
}"""


def test_the_connection_badge_speaks_chinese_in_every_state(chinese, server):
    page = chinese.new_page()
    log_in(page, server.url, "alice")
    badge = page.locator("[data-realtime-badge]")
    expect(badge).to_have_attribute("data-realtime-state", "live")
    expect(badge).to_have_text("已连接")
    page.evaluate(FOLLOW_THE_BADGE)
    # The connection drops: the client reconnects on its own.
    page.evaluate("() => window.realtime.connect()._ws.close()")
    page.wait_for_function("() => window.badgeSaid.length >= 3")  # reconnecting, then live again
    page.wait_for_function(
        "() => { const c = window.realtime.connect(); return c.state === 'live' && c._ws; }"
    )
    # A client the server takes for abusive (malformed frames) is closed with 4429 and pauses.
    page.evaluate(
        "() => { const ws = window.realtime.connect()._ws; for (let i = 0; i < 30; i++) ws.send('x'); }"
    )
    expect(badge).to_have_attribute("data-realtime-reason", "policy")
    expect(badge).to_have_text("已暂停")
    said_before_logout = page.evaluate("() => window.badgeSaid")
    assert said_before_logout[:3] == ["已连接", "正在重新连接…", "已连接"], said_before_logout
    assert said_before_logout[-1] == "已暂停"

    # Logging out in another tab closes this session's sockets (4003): a live tab shows it signed out.
    third = chinese.new_page()
    third.goto(f"{server.url}/")
    expect(third.locator("[data-realtime-badge]")).to_have_text("已连接")
    third.evaluate(FOLLOW_THE_BADGE)
    other = chinese.new_page()
    other.goto(f"{server.url}/")
    other.click(".site-header form[action='/accounts/logout/'] button")
    expect(third.locator("[data-realtime-badge]")).to_have_attribute("data-realtime-reason", "signed_out")
    expect(third.locator("[data-realtime-badge]")).to_have_text("已退出登录")
    said = said_before_logout + third.evaluate("() => window.badgeSaid")
    assert {"已连接", "正在重新连接…", "已暂停", "已退出登录"} <= set(said)
    assert english_left(said) == [] and all(CJK.search(s) for s in said), said
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    third.screenshot(path=str(ARTIFACTS / "badge-signed-out-zh-hans.png"))
    box = third.locator("[data-realtime-badge]").bounding_box()
    assert box and box["width"] > 20 and box["height"] > 10  # on screen, in the header


# -- the stream page with a broadcast and an announcement ---------------------------------------------
def test_the_stream_page_with_its_banners_has_no_english_left(chinese, site, server):
    site.manage(
        "announce",
        "停机维护",
        "--body",
        "今晚十点开始。",
        "--link",
        "https://example.com/m",
        "--level",
        "warning",
    )
    site.manage(
        "broadcast", "broadcast.all", "broadcast", "--data", json.dumps({"title": "通知", "message": "欢迎"})
    )
    page = chinese.new_page()
    log_in(page, server.url, "bob")
    page.goto(f"{server.url}/streams/t-i18n/")
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    expect(page.locator("[data-rt-connection]")).to_have_text("聊天已连接")
    announcement = page.locator("[data-rt-announcement]").first
    expect(announcement).to_contain_text("停机维护")
    expect(announcement.locator("[data-rt-announcement-link]")).to_have_text("了解详情")
    expect(announcement.locator("[data-rt-announcement-dismiss]")).to_have_attribute("aria-label", "关闭")
    banner = page.locator("[data-rt-banner]").first
    expect(banner).to_be_visible(timeout=15000)
    expect(banner).to_contain_text("通知")
    expect(banner.locator("[data-rt-banner-close]")).to_have_attribute("aria-label", "关闭")
    page.click("[data-rt-dm-open]")  # the comment settings panel, open: its words too
    strings = chinese_everywhere(page)
    assert {"了解详情", "关闭", "聊天已连接"} <= set(strings)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "watch-page-banners-zh-hans.png"))
    for element in (announcement, banner):
        box = element.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 10


# -- the demo's login ------------------------------------------------------------------------------------
CONTRAST = """(selector) => {
  const el = document.querySelector(selector), style = getComputedStyle(el);
  const rgb = (css) => css.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const card = getComputedStyle(el.closest('form')).backgroundColor;
  return { text: ratio(style.color, style.backgroundColor), againstCard: ratio(style.backgroundColor, card),
           border: ratio(style.borderTopColor, card), size: parseFloat(style.fontSize), weight: style.fontWeight };
}"""


def test_the_login_page_is_chinese_and_its_button_meets_wcag_aa(chinese, server):
    page = chinese.new_page()
    page.goto(f"{server.url}/accounts/login/")
    expect(page.locator("form.login h1")).to_have_text("登录")
    expect(page.locator("form.login button[type=submit]")).to_have_text("登录")
    expect(page.locator("label[for=id_username]")).to_have_text("用户名")
    expect(page.locator("label[for=id_password]")).to_have_text("密码")
    assert page.title().startswith("登录")
    chinese_everywhere(page)
    button = page.evaluate(CONTRAST, "form.login button[type=submit]")
    # Normal-size text (15px, weight 600 is not "large"): 4.5:1; the button against its card: 3:1.
    assert button["size"] < 18.66 and button["text"] >= 4.5, button
    assert button["againstCard"] >= 3, button
    field = page.evaluate(CONTRAST, "#id_username")
    assert field["border"] >= 3, field  # the text field's edge is visible (WCAG 1.4.11)
    # A wrong password: Django's own error, in Chinese too.
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("form.login button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("用户名")
    chinese_everywhere(page)
