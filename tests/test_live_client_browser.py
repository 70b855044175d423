"""live.js in Chromium against a scripted server (issue 21): what a person sees and keeps.

The server here is Playwright's WebSocket route speaking the live wire format (docs: the live design's
"Wire format of view topics"), so each case controls exactly which frame arrives when; the same page
against the real server (daphne, templates, models) is tests/test_live_browser.py. What the browser
alone can show, and a fake DOM cannot:

- a render keeps the focused input focused, its typed text, and its caret and selection (typing after
  the update goes where the user left the caret);
- a rows update keeps the scroll position of a scrolled list; a row moved while an input in it has
  focus keeps the focus (Element.moveBefore);
- htmx: a fragment swapped in subscribes, one swapped out unsubscribes (the MutationObserver);
- a reconnect applies the new subscription's state by morphing: rows are the same nodes afterwards;
- markup in a value stays text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from tests.browserkit import module_browser, no_hub_reset  # noqa: E402, F401

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "realtime" / "static" / "realtime"
HTMX = Path(__file__).resolve().parent / "live_static" / "htmx.min.js"
SITE = "http://live.test"

CARD = "livev.card-all-1"
ROWS = "livev.rows-all"
STATS = "livev.stats-all"
LATE = "livev.card-all-2"


def row(key: int | str, text: str | None = None) -> str:
    return f'<tr><td class="t">{text or f"row {key}"}</td><td><input class="q" name="q{key}"></td></tr>'


def card(status: str, note: str = "server") -> str:
    return f'<h3>Order 1</h3><p class="status">{status}</p><input id="note" value="{note}">'


def page_html() -> str:
    rows = "".join(row(k).replace("<tr>", f'<tr data-live-key="{k}">', 1) for k in range(1, 31))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<script src="/static/realtime/realtime.js" data-url="/ws/realtime/"></script>
<script src="/static/realtime/live.js"></script>
<script src="/test-static/htmx.min.js"></script>
</head><body>
<div id="card" data-live-topic="{CARD}" data-live-form="fragment">{card("open")}</div>
<div id="scroller" style="height:120px;overflow:auto"><table><tbody id="rows" data-live-topic="{ROWS}"
 data-live-form="rows">{rows}</tbody></table></div>
<span id="count" data-live-topic="{STATS}" data-live-form="value" data-live-field="count">0</span>
<span id="last" data-live-topic="{STATS}" data-live-form="value" data-live-field="last">-</span>
<button id="load" hx-get="/frag/in" hx-target="#slot">load</button>
<button id="unload" hx-get="/frag/out" hx-target="#slot">unload</button>
<div id="slot"></div>
</body></html>"""


def rows_state(keys: list[int], texts: dict[int, str] | None = None) -> dict:
    texts = texts or {}
    return {
        "form": "rows",
        "order": [str(k) for k in keys],
        "html": {str(k): row(k, texts.get(k)) for k in keys},
    }


class ScriptedServer:
    """The realtime endpoint as a Playwright WebSocket route: hello, subscribed with `states`, pong."""

    def __init__(self, page, states: dict[str, dict]) -> None:
        self.page = page
        self.states = states
        self.frames: list[dict] = []
        self.sockets: list = []
        page.route_web_socket(f"{SITE.replace('http', 'ws')}/ws/realtime/**", self._connected)

    def _connected(self, ws) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda message: self._received(ws, message))
        ws.send(json.dumps({"type": "hello", "user": None, "heartbeat": 25, "max_frame": 65536}))

    def _received(self, ws, message) -> None:
        frame = json.loads(message)
        frame["socket"] = self.sockets.index(ws)
        self.frames.append(frame)
        if frame.get("type") == "subscribe":
            state = self.states.get(frame["topic"], {})
            ws.send(
                json.dumps(
                    {
                        "type": "subscribed",
                        "ref": frame.get("ref"),
                        "topic": frame["topic"],
                        "last_id": None,
                        "history": 0,
                        "truncated": False,
                        "state": state,
                    }
                )
            )
        elif frame.get("type") == "ping":
            ws.send(json.dumps({"type": "pong", "ref": frame.get("ref")}))

    def push(self, topic: str, event: str, data: dict) -> None:
        self.sockets[-1].send(json.dumps({"type": "event", "topic": topic, "event": event, "data": data}))

    def sent(self, kind: str, topic: str | None = None) -> list[dict]:
        return [
            f for f in self.frames if f.get("type") == kind and (topic is None or f.get("topic") == topic)
        ]

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Playwright runs route handlers only while a call of ours waits in it: wait in small steps."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; frames: {self.frames}"
            self.page.wait_for_timeout(50)


@pytest.fixture
def opened(browser):
    """A page on the scripted site; every state the server hands out is what the page shows at load."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.set_default_timeout(10000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def static(route):
        name = route.request.url.rsplit("/", 1)[1]
        route.fulfill(path=str(STATIC / name), content_type="text/javascript")

    page.route(f"{SITE}/static/realtime/*", static)
    page.route(
        f"{SITE}/test-static/htmx.min.js", lambda r: r.fulfill(path=str(HTMX), content_type="text/javascript")
    )
    page.route(f"{SITE}/", lambda r: r.fulfill(body=page_html(), content_type="text/html"))
    page.route(
        f"{SITE}/frag/in",
        lambda r: r.fulfill(
            body=f'<div id="late" data-live-topic="{LATE}" data-live-form="fragment">late, as htmx got it</div>'
        ),
    )
    page.route(f"{SITE}/frag/out", lambda r: r.fulfill(body="<p id='gone'>nothing live here</p>"))
    server = ScriptedServer(
        page,
        {
            CARD: {"form": "fragment", "html": card("open")},
            ROWS: rows_state(list(range(1, 31))),
            STATS: {"form": "value", "value": {"count": 30, "last": "row 30"}},
            LATE: {"form": "fragment", "html": "<b>late, live</b>"},
        },
    )
    page.goto(f"{SITE}/")
    server.wait(lambda: len(server.sent("subscribe")) == 3)
    page.wait_for_function("document.querySelector('#count').textContent === '30'")
    yield page, server
    context.close()
    assert errors == [], errors


def test_a_render_keeps_focus_typed_text_caret_and_selection(opened):
    page, server = opened
    page.click("#note")
    page.fill("#note", "hello world")
    page.evaluate(
        "() => { const n = document.querySelector('#note'); n.setSelectionRange(2, 5); window.__note = n; }"
    )
    server.push(CARD, "render", {"html": card("paid", note="from the server"), "deleted": False})
    page.wait_for_function("document.querySelector('#card .status').textContent === 'paid'")
    kept = page.evaluate(
        """() => { const n = document.querySelector('#note');
        return {same: n === window.__note, focused: document.activeElement === n, value: n.value,
                start: n.selectionStart, end: n.selectionEnd}; }"""
    )
    assert kept == {"same": True, "focused": True, "value": "hello world", "start": 2, "end": 5}
    page.keyboard.type("!")  # replaces the selection the user left: "llo" -> "!"
    assert page.input_value("#note") == "he! world"


def test_rows_keep_the_scroll_position_of_a_scrolled_list(opened):
    page, server = opened
    page.evaluate(
        "() => { const s = document.querySelector('#scroller'); s.scrollTop = 300; window.__rows = [...s.querySelectorAll('tr')]; }"
    )
    # Row 12 (in view) changes, 29 and 28 (below) swap, 31 is added at the end.
    order = [*range(1, 28), 29, 28, 30, 31]
    server.push(
        ROWS, "rows", {"order": [str(k) for k in order], "html": {"31": row(31), "12": row(12, "twelve!")}}
    )
    page.wait_for_function("document.querySelector('#rows').children.length === 31")
    got = page.evaluate(
        """() => { const rows = [...document.querySelectorAll('#rows > tr')];
        return {keys: rows.map(r => r.dataset.liveKey), scroll: document.querySelector('#scroller').scrollTop,
                same: window.__rows.every(r => r.isConnected),
                twelve: document.querySelector("tr[data-live-key='12'] .t").textContent}; }"""
    )
    assert got["keys"] == [str(k) for k in order]
    assert got["scroll"] == 300
    assert got["same"], "every row is still the node it was"
    assert got["twelve"] == "twelve!"


def test_a_row_moved_while_its_input_has_focus_keeps_the_focus_and_the_text(opened):
    page, server = opened
    page.click("tr[data-live-key='7'] input.q")
    page.fill("tr[data-live-key='7'] input.q", "typing in seven")
    page.evaluate("() => { window.__seven = document.querySelector(\"tr[data-live-key='7']\"); }")
    order = [7, *[k for k in range(1, 31) if k != 7]]
    server.push(ROWS, "rows", {"order": [str(k) for k in order], "html": {}})
    page.wait_for_function("document.querySelector('#rows').firstElementChild.dataset.liveKey === '7'")
    got = page.evaluate(
        """() => { const first = document.querySelector('#rows > tr');
        return {same: first === window.__seven, focused: first.contains(document.activeElement),
                value: first.querySelector('input').value}; }"""
    )
    assert got == {"same": True, "focused": True, "value": "typing in seven"}
    page.keyboard.type("!")
    assert page.input_value("tr[data-live-key='7'] input.q") == "typing in seven!"


def test_htmx_swapping_a_fragment_in_subscribes_and_swapping_it_out_unsubscribes(opened):
    page, server = opened
    page.click("#load")
    page.wait_for_function(
        "document.querySelector('#late') && document.querySelector('#late').textContent === 'late, live'"
    )
    assert len(server.sent("subscribe", LATE)) == 1
    server.push(LATE, "render", {"html": "<b>late, updated</b>", "deleted": False})
    page.wait_for_function("document.querySelector('#late').textContent === 'late, updated'")
    page.click("#unload")
    page.wait_for_selector("#gone")
    server.wait(lambda: len(server.sent("unsubscribe", LATE)) == 1)
    assert [f["topic"] for f in server.sent("unsubscribe")] == [LATE], "the page's other topics stay"


def test_a_reconnect_jumps_to_the_current_state_by_morphing(opened):
    page, server = opened
    page.evaluate(
        "() => { document.querySelectorAll('#rows > tr').forEach(r => { r.__mark = r.dataset.liveKey; }); }"
    )
    # While the page is away: rows 1-10 deleted, 31 created, 20 changed; the card and the count change.
    server.states[ROWS] = rows_state([31, *range(11, 31)], {20: "twenty, changed"})
    server.states[CARD] = {"form": "fragment", "html": card("cancelled")}
    server.states[STATS] = {"form": "value", "value": {"count": 21, "last": "row 31"}}
    events_before = len(server.frames)
    server.sockets[-1].close(code=4008, reason="too slow")
    page.wait_for_function("document.querySelector('#count').textContent === '21'", timeout=15000)
    page.wait_for_function("document.querySelector('#card .status').textContent === 'cancelled'")
    got = page.evaluate(
        """() => { const rows = [...document.querySelectorAll('#rows > tr')];
        return {keys: rows.map(r => r.dataset.liveKey), marks: rows.map(r => r.__mark || null),
                twenty: document.querySelector("tr[data-live-key='20'] .t").textContent}; }"""
    )
    assert got["keys"] == ["31", *[str(k) for k in range(11, 31)]]
    assert got["marks"] == [None, *[str(k) for k in range(11, 31)]], "kept rows are the same nodes"
    assert got["twenty"] == "twenty, changed"
    resubscribed = [f["topic"] for f in server.frames[events_before:] if f.get("type") == "subscribe"]
    assert sorted(resubscribed) == sorted([CARD, ROWS, STATS])


def test_markup_in_a_value_stays_text(opened):
    page, server = opened
    evil = '<img src=x onerror="window.__xss = 1">'
    server.push(STATS, "value", {"value": {"count": 31, "last": evil}})
    page.wait_for_function("document.querySelector('#count').textContent === '31'")
    assert page.text_content("#last") == evil
    assert page.evaluate("() => document.querySelectorAll('#last *').length") == 0
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__xss") is None
