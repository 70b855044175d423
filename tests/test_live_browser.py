"""realtime.live in Chromium against daphne (issue 21): what a signed-in viewer sees.

The page (tests/livepage) has the three forms the template tags render: a fragment of one gauge with a
form field in it, a table of the open gauges (highest value first, at most 5 rows, a field in each
row) and two fields of a summary value. Changes are made from `manage.py shell`, another process, as a
task queue would: they reach daphne through the event log.

- creates, updates, deletes and queryset moves (into the table, up the order, out of the filter, past
  the cap) show in the table, the fragment and the value fields;
- text the user typed, the focus and the caret survive an update of the fragment around them;
- a reconnect (daphne restarted while the page stays open, changes made meanwhile) jumps to the
  current state, the unchanged rows being the same nodes;
- htmx: a fragment swapped in subscribes and follows changes; swapped out, it unsubscribes;
- a gauge named `<img src=x onerror=...>` stays text everywhere (autoescaping in the templates,
  textContent for values), and no script runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import log_in, module_browser, no_hub_reset  # noqa: E402, F401
from tests.conftest import Site  # noqa: E402

HTMX = Path(__file__).resolve().parent / "live_static" / "htmx.min.js"  # test-only, never the product's
PASSWORD = "live-pw"
ROWS = "#table tbody"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The example site with tests/liveapp and tests/livepage, and a viewer allowed to see gauges."""
    site = Site()
    site.env["DJANGO_SETTINGS_MODULE"] = "tests.settings_livepage"
    try:
        site.manage("migrate", "--verbosity", "0")
        site.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "from django.contrib.auth.models import Permission\n"
            f"u = get_user_model().objects.create_user('watcher', password={PASSWORD!r})\n"
            "u.user_permissions.add(Permission.objects.get(codename='view_gauge'))\n",
        )
        yield site
    finally:
        site.close()


@pytest.fixture(scope="module")
def server(site):
    return site.server()


def gauges(site: Site, code: str) -> dict:
    """Run `code` in a shell of the site with Gauge imported; it may set `out` (returned, JSON)."""
    script = (
        f"import json\nfrom tests.liveapp.models import Gauge\nout = None\n{code}\nprint(json.dumps(out))\n"
    )
    return json.loads(site.manage("shell", "-c", script).strip().splitlines()[-1])


class Watcher:
    """The signed-in viewer's tab on the live page of gauge `pk`; frames it sends are recorded."""

    def __init__(self, browser, server, pk: int) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 800})
        self.context.set_default_timeout(10000)
        self.context.route(
            "**/test-static/htmx.min.js", lambda r: r.fulfill(path=str(HTMX), content_type="text/javascript")
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.sent: list[dict] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("websocket", lambda ws: ws.on("framesent", self._sent))
        log_in(self.page, server.url, "watcher", PASSWORD)
        self.page.goto(f"{server.url}/livepage/{pk}/")
        # Live: every topic of the page answered `subscribed` (its state applied).
        self.page.wait_for_function(
            "() => window.realtime.live.state() && window.realtime.live.state().state === 'live'"
        )

    def _sent(self, payload) -> None:
        try:
            frame = json.loads(payload)
        except (TypeError, ValueError):
            return
        self.sent.append(frame)

    def frames(self, kind: str) -> list[str]:
        return [f.get("topic", "") for f in self.sent if f.get("type") == kind]

    def rows(self) -> list[str]:
        return self.page.eval_on_selector_all(
            f"{ROWS} > tr",
            "rs => rs.map(r => r.querySelector('.name').textContent + '=' + r.querySelector('.value').textContent)",
        )

    def wait_rows(self, expected: list[str], timeout: float = 10000) -> None:
        self.page.wait_for_function(
            """(want) => JSON.stringify([...document.querySelectorAll('#table tbody > tr')]
                .map(r => r.querySelector('.name').textContent + '=' + r.querySelector('.value').textContent)) === JSON.stringify(want)""",
            arg=expected,
            timeout=timeout,
        )

    def wait_text(self, selector: str, text: str) -> None:
        self.page.wait_for_function(
            "([s, t]) => { const e = document.querySelector(s); return !!e && e.textContent === t; }",
            arg=[selector, text],
        )

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def start(site, server, browser):
    """A fresh set of gauges (each test starts from the same table) and the watcher's page on the first."""
    opened: list[Watcher] = []

    def begin(*values: int) -> tuple[Watcher, list[int]]:
        pks = gauges(
            site,
            "Gauge.objects.all().delete()\n"
            f"out = [Gauge.objects.create(name='g%d' % i, value=v).pk for i, v in enumerate({list(values)!r})]",
        )
        watcher = Watcher(browser, server, pks[0])
        opened.append(watcher)
        return watcher, pks

    yield begin
    for watcher in opened:
        watcher.close()


def test_creates_updates_deletes_and_queryset_moves_show_on_the_page(site, start):
    watcher, pks = start(10, 20, 30)
    assert watcher.rows() == ["g2=30", "g1=20", "g0=10"]
    assert watcher.page.text_content("#open") == "3"
    assert watcher.page.text_content("#card .name") == "g0"

    gauges(site, "Gauge.objects.create(name='new', value=25)")  # create: into the table, at its place
    watcher.wait_rows(["g2=30", "new=25", "g1=20", "g0=10"])
    watcher.wait_text("#open", "4")

    gauges(site, f"g = Gauge.objects.get(pk={pks[0]}); g.value = 40; g.save()")  # update: moves up
    watcher.wait_rows(["g0=40", "g2=30", "new=25", "g1=20"])
    watcher.wait_text("#card .value", "40")
    watcher.wait_text("#top", "g0")

    gauges(site, f"g = Gauge.objects.get(pk={pks[2]}); g.open = False; g.save()")  # leaves the filter
    watcher.wait_rows(["g0=40", "new=25", "g1=20"])
    watcher.wait_text("#open", "3")

    gauges(site, "for i in range(3): Gauge.objects.create(name='x%d' % i, value=50 + i)")  # past the cap
    watcher.wait_rows(["x2=52", "x1=51", "x0=50", "g0=40", "new=25"])

    gauges(site, f"Gauge.objects.get(pk={pks[0]}).delete()")  # delete: the row goes, the card empties
    watcher.wait_rows(["x2=52", "x1=51", "x0=50", "new=25", "g1=20"])
    watcher.page.wait_for_function(
        "document.querySelector('#card [data-live-topic]').hasAttribute('data-live-deleted')"
    )
    assert watcher.page.eval_on_selector("#card [data-live-topic]", "e => e.children.length") == 0


def test_typed_text_focus_and_caret_survive_an_update_of_the_fragment(site, start):
    watcher, pks = start(10)
    page = watcher.page
    page.click("#card .note")
    page.fill("#card .note", "my own note")
    page.evaluate(
        "() => { const n = document.querySelector('#card .note'); n.setSelectionRange(3, 6); window.__note = n; }"
    )
    gauges(site, f"g = Gauge.objects.get(pk={pks[0]}); g.name = 'renamed'; g.value = 11; g.save()")
    watcher.wait_text("#card .name", "renamed")
    kept = page.evaluate(
        """() => { const n = document.querySelector('#card .note');
        return {same: n === window.__note, focused: document.activeElement === n, value: n.value,
                start: n.selectionStart, end: n.selectionEnd, value_attr: n.getAttribute('value')}; }"""
    )
    assert kept == {
        "same": True,
        "focused": True,
        "value": "my own note",
        "start": 3,
        "end": 6,
        "value_attr": "g0",
    }, kept
    assert page.text_content("#card .value") == "11"
    page.keyboard.type("X")  # where the user left the caret: "own" -> "X"
    assert page.input_value("#card .note") == "my X note"


def test_a_reconnect_jumps_to_the_current_state(site, server, start):
    watcher, pks = start(10, 20, 30)
    page = watcher.page
    page.evaluate(
        "() => document.querySelectorAll('#table tbody > tr').forEach(r => { r.__mark = r.dataset.liveKey; })"
    )
    server.stop()
    page.wait_for_function("() => window.realtime.live.state().state !== 'live'")
    gauges(
        site,
        f"Gauge.objects.filter(pk={pks[1]}).delete()\n"
        f"g = Gauge.objects.get(pk={pks[0]}); g.value = 15; g.name = 'g0 changed'; g.save()\n"
        "Gauge.objects.create(name='while away', value=99)",
    )
    server.start()
    # The client's backoff grew while daphne was down (1, 2, 4, 8 s ceilings): allow for it.
    watcher.wait_rows(["while away=99", "g2=30", "g0 changed=15"], timeout=30000)
    watcher.wait_text("#card .name", "g0 changed")
    watcher.wait_text("#open", "3")
    marks = page.eval_on_selector_all(f"{ROWS} > tr", "rs => rs.map(r => r.__mark || null)")
    assert marks == [None, str(pks[2]), str(pks[0])], "kept rows are the same nodes (morphed, not replaced)"


def test_htmx_swaps_subscribe_and_unsubscribe(site, start):
    watcher, pks = start(10)
    page = watcher.page
    card_topic = page.get_attribute("#card [data-live-topic]", "data-live-topic")
    page.click("#load")
    page.wait_for_selector("#slot [data-live-topic]")
    assert page.get_attribute("#slot [data-live-topic]", "data-live-topic") == card_topic
    gauges(site, f"g = Gauge.objects.get(pk={pks[0]}); g.value = 12; g.save()")
    watcher.wait_text("#slot .value", "12")
    watcher.wait_text("#card .value", "12")
    assert watcher.frames("subscribe").count(card_topic) == 1, "one subscription for both elements"
    page.click("#unload")
    page.wait_for_selector("#nothing")
    page.wait_for_timeout(300)
    assert card_topic not in watcher.frames("unsubscribe"), "the page's own card still holds the topic"
    page.evaluate("() => document.querySelector('#card').remove()")
    page.wait_for_function("(t) => !window.realtime.live.topics().includes(t)", arg=card_topic)
    page.wait_for_timeout(300)
    assert watcher.frames("unsubscribe") == [card_topic]


def test_markup_in_a_name_stays_text(site, start):
    watcher, pks = start(10)
    page = watcher.page
    evil = '<img src=x onerror="window.__xss = 1">'
    gauges(site, f"g = Gauge.objects.get(pk={pks[0]}); g.name = {evil!r}; g.value = 70; g.save()")
    watcher.wait_text("#card .name", evil)
    watcher.wait_rows([f"{evil}=70"])
    watcher.wait_text("#top", evil)
    assert page.evaluate("() => document.querySelectorAll('#card img, #table img, #top img').length") == 0
    assert page.input_value("#card .note") == evil
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__xss") is None
