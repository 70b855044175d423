// Unit tests for stream-presence.js: the typing indicator's words (others only, 1 / 2 / many), our
// own typing status (set while the box has text, cleared after idle and on send, one frame per change)
// and the moderators' viewer list (a name opens Time out… / Ban… through ModeratorTools.restrict).
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const { makeClient, advance, hello, subscribed } = require("./fakes.js");
const { StreamPresence, typingText, TYPING_IDLE_MS } = require(path.join(__dirname, "../../realtime/streams/static/realtime/streams/stream-presence.js"));

const TOPIC = "stream.1";
const LABELS = { one: "{name} is typing…", two: "{first} and {second} are typing…", many: "{count} people are typing…" };

function node(tag, attrs = {}) {
  const listeners = {};
  return {
    tagName: tag.toUpperCase(), attrs: { ...attrs }, children: [], hidden: false, _text: "", disabled: false, id: "",
    get firstChild() { return this.children[0] || null; },
    get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); },
    set textContent(v) { this._text = String(v); this.children = []; },
    setAttribute(k, v) { this.attrs[k] = String(v); },
    getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
    appendChild(c) { this.children.push(c); return c; },
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); return c; },
    querySelector() { return null; },
    addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    fire(type) { (listeners[type] || []).forEach((fn) => fn({ type })); },
    focus() {},
  };
}

function setup(t, { moderator = true } = {}) {
  const { client, last } = makeClient(t);
  const typing = node("p", { "data-label-one": LABELS.one, "data-label-two": LABELS.two, "data-label-many": LABELS.many });
  const count = node("p", { "data-label": "Signed in: {count} · anonymous: {anonymous}" });
  const list = node("ul");
  const input = node("input");
  input.value = "";
  const form = node("form");
  form.elements = { text: input };
  const restricted = [];
  const view = {
    topic: TOPIC, userId: 1, client, form,
    q: (sel) => ({ "[data-rt-typing]": typing, "[data-rt-viewer-count]": count, "[data-rt-viewer-list]": list }[sel] || null),
    el(tag, cls, text) { const n = node(tag); n.className = cls; if (text != null) n.textContent = text; return n; },
    t: (key) => key,
    modTools: moderator ? {
      button(action, label, onClick) { const b = node("button", { "data-rt-moderate": action }); b.textContent = label; b.addEventListener("click", () => onClick(b)); return b; },
      restrict(action, author) { restricted.push([action, author.id, author.username]); },
    } : null,
  };
  const sp = new StreamPresence(view);
  const ws = last();
  hello(ws);
  subscribed(ws, TOPIC);
  return { sp, ws, typing, count, list, input, form, restricted };
}

const entry = (name, ...statuses) => ({ name, avatar: null, metas: statuses.map((status, i) => ({ conn: name + i, status })) });

test("typingText: one, two, many", () => {
  assert.equal(typingText([], LABELS), "");
  assert.equal(typingText(["alice"], LABELS), "alice is typing…");
  assert.equal(typingText(["alice", "bob"], LABELS), "alice and bob are typing…");
  assert.equal(typingText(["a", "b", "c"], LABELS), "3 people are typing…");
});

test("the indicator shows others typing, never ourselves, and hides when nobody is", (t) => {
  const { ws, typing } = setup(t);
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 1: entry("me", "typing"), 2: entry("alice", null, "typing") }, count: 2, anonymous: 0 });
  assert.equal(typing.textContent, "alice is typing…");
  assert.equal(typing.hidden, false);
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: { 2: entry("alice", null) }, leaves: { 2: { name: "alice", metas: [{ conn: "alice1", status: "typing" }] } } });
  assert.equal(typing.hidden, true);
});

test("our status: typing while the box has text, one frame per change, cleared after idle and on send", (t) => {
  const { ws, input, form } = setup(t);
  const statuses = () => ws.sentOfType("presence").map((f) => f.status);
  input.value = "h"; input.fire("input");
  input.value = "he"; input.fire("input");
  assert.deepEqual(statuses(), ["typing"]);
  advance(t, TYPING_IDLE_MS + 1000);
  assert.deepEqual(statuses(), ["typing", null], "idle: cleared");
  input.value = "hey"; input.fire("input");
  advance(t, 1000);
  form.fire("submit");
  advance(t, 1000);
  assert.deepEqual(statuses(), ["typing", null, "typing", null], "sent: cleared");
});

test("the viewer list: names sorted, anonymous counted, ourselves not actionable, a name opens the actions", (t) => {
  const { ws, list, count, restricted } = setup(t);
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 3: entry("bob", null), 2: entry("alice", null), 1: entry("me", null) }, count: 3, anonymous: 4 });
  assert.equal(count.textContent, "Signed in: 3 · anonymous: 4");
  assert.deepEqual(list.children.map((li) => li.getAttribute("data-key")), ["2", "3", "1"]);
  const me = list.children[2].children[0];
  assert.equal(me.disabled, true);
  const alice = () => list.children[0];
  assert.equal(alice().children[1].hidden, true);
  alice().children[0].fire("click");
  assert.equal(alice().children[0].getAttribute("aria-expanded"), "true");
  assert.equal(alice().children[1].hidden, false);
  const ban = alice().children[1].children.find((b) => b.getAttribute("data-rt-moderate") === "ban");
  ban.fire("click");
  assert.deepEqual(restricted, [["ban", 2, "alice"]]);
});

test("without moderator tools no name is actionable", (t) => {
  const { ws, list } = setup(t, { moderator: false });
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 2: entry("alice", null) }, count: 1, anonymous: 0 });
  assert.equal(list.children[0].children[0].disabled, true);
});

test("restart() (after a ban ended the subscription) joins the roster again", (t) => {
  const { sp, ws, input } = setup(t);
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 2: entry("alice", null) }, count: 1, anonymous: 0 });
  const ref = ws.sentOfType("subscribe").at(-1).ref;
  ws.receive({ type: "error", ref, code: "banned", message: "banned" });
  assert.deepEqual(sp.presence.list(), {});
  sp.restart();
  subscribed(ws, TOPIC);
  input.value = "x"; input.fire("input");
  assert.deepEqual(ws.sentOfType("presence").map((f) => f.status), ["typing"]);
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 2: entry("alice", "typing") }, count: 1, anonymous: 0 });
  assert.equal(sp.typing.textContent, "alice is typing…");
});
