// Unit tests for announcements.js: adopting server-rendered banners, live show/end/dismiss, stacking
// order, receipts, anonymous dismissals in storage, and text safety.
// Run: node --test tests/js/   (Node >= 20; no npm packages: a tiny fake DOM below is enough)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const { Board } = require(path.join(__dirname, "../../realtime/announcements/static/realtime/announcements/announcements.js"));

// -- a fake DOM: just what the script touches -------------------------------------------------------
class Node {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.attrs = new Map();
    this.children = [];
    this.parentNode = null;
    this.ownText = "";
    this.hidden = false;
    this.listeners = {};
  }
  get className() { return this.getAttribute("class") || ""; }
  set className(v) { this.setAttribute("class", v); }
  setAttribute(k, v) { this.attrs.set(k, String(v)); }
  getAttribute(k) { return this.attrs.has(k) ? this.attrs.get(k) : null; }
  hasAttribute(k) { return this.attrs.has(k); }
  get textContent() { return this.ownText + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) { this.children = []; this.ownText = String(v); }
  set innerHTML(v) { throw new Error("innerHTML used: user text must go through textContent"); }
  appendChild(child) {
    if (child.parentNode) child.remove();
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  remove() {
    if (!this.parentNode) return;
    this.parentNode.children.splice(this.parentNode.children.indexOf(this), 1);
    this.parentNode = null;
  }
  *descendants() { for (const c of this.children) { yield c; yield* c.descendants(); } }
  matches(sel) {
    const m = /^\[([\w-]+)\]$/.exec(sel);
    if (!m) throw new Error("fake DOM cannot parse " + sel);
    return this.hasAttribute(m[1]);
  }
  querySelectorAll(sel) { return [...this.descendants()].filter((n) => n.matches(sel)); }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  closest(sel) {
    for (let n = this; n && n.tagName; n = n.parentNode) if (n.matches(sel)) return n;
    return null;
  }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  click() {
    for (let n = this; n; n = n.parentNode) (n.listeners.click || []).forEach((fn) => fn({ target: this }));
  }
}

function fakeDocument() {
  const doc = new Node(null, "#document");
  doc.tagName = undefined;
  doc.ownerDocument = doc;
  doc.visibilityState = "visible";
  doc.createElement = (tag) => new Node(doc, tag);
  doc.body = doc.appendChild(doc.createElement("body"));
  return doc;
}

function h(doc, tag, attrs = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  children.forEach((c) => node.appendChild(c));
  return node;
}

class FakeClient {
  constructor() { this.subs = []; this.published = []; }
  subscribe(topic, handlers, since) {
    const sub = { topic, handlers, since };
    this.subs.push(sub);
    return sub;
  }
  publish(topic, event, data, options) {
    this.published.push({ topic, event, data, options });
    return Promise.resolve({ type: "ack", recorded: true });
  }
  sub(topic) { return this.subs.find((s) => s.topic === topic); }
  event(topic, event, data) { this.sub(topic).handlers.onEvent({ type: "event", topic, event, data }, { history: false }); }
  subscribed(topic, live) { this.sub(topic).handlers.onSubscribed({ type: "subscribed", topic, state: { live } }); }
}

class MemoryStorage {
  constructor() { this.items = {}; }
  getItem(k) { return k in this.items ? this.items[k] : null; }
  setItem(k, v) { this.items[k] = String(v); }
}

function rendered(doc, data, topic) {
  return h(doc, "div", {
    "data-rt-announcement": data.id, "data-round": data.round, "data-level": data.level || "info",
    "data-topic": topic, "data-sent-at": data.sent_at || "2030-01-01T00:00:00+00:00",
    "data-dismissible": data.dismissible === false ? "false" : "true",
  }, h(doc, "strong", { "data-rt-announcement-title": "", text: data.title || "" }),
  h(doc, "button", { "data-rt-announcement-dismiss": "" }));
}

function board({ user = 7, items = [], streams = [], storage = new MemoryStorage() } = {}) {
  const doc = fakeDocument();
  const topics = user ? { "announcements.all": 3, "announcements.users": 0, [`announcements.user-${user}`]: 1 }
    : { "announcements.all": 3 };
  const el = h(doc, "div", { "data-rt-announcements": "", "data-config": JSON.stringify({ topics, user: user || null }) });
  items.forEach(([data, topic]) => el.appendChild(rendered(doc, data, topic)));
  doc.body.appendChild(el);
  streams.forEach((topic) => doc.body.appendChild(h(doc, "section", { "data-realtime-stream": "", "data-topic": topic })));
  const client = new FakeClient();
  const b = new Board(el, client, { storage });
  b.start();
  return { doc, el, client, board: b, storage };
}

const ids = (el) => el.querySelectorAll("[data-rt-announcement]").map((n) => Number(n.getAttribute("data-rt-announcement")));
const announcement = (id, extra = {}) => ({ id, round: 1, title: "T" + id, body: "", link: "", level: "info",
  dismissible: true, sent_at: `2030-01-01T00:00:${String(id).padStart(2, "0")}+00:00`, ...extra });

test("subscribes from the rendered ids, plus the stream on the page", () => {
  const { client } = board({ streams: ["stream.4", "stream.04", "comments"] });
  assert.deepEqual(client.subs.map((s) => [s.topic, s.since]), [
    ["announcements.all", 3], ["announcements.users", 0], ["announcements.user-7", 1], ["announcements.stream-4", undefined],
  ]);
});

test("server-rendered banners are adopted and reported delivered and seen, once", () => {
  const { el, client } = board({ items: [[announcement(5), "announcements.all"]] });
  assert.deepEqual(ids(el), [5]);
  client.event("announcements.all", "announcement", announcement(5)); // the same round again: nothing new
  client.subscribed("announcements.all", [announcement(5)]);
  assert.deepEqual(ids(el), [5]);
  assert.deepEqual(client.published.map((p) => [p.topic, p.data.kind, p.data.announcement, p.data.round]),
    [["announcements.all", "delivered", 5, 1], ["announcements.all", "seen", 5, 1]]);
});

test("live banners are built from text only, with http(s) links only", () => {
  const { el, client } = board();
  client.event("announcements.users", "announcement", announcement(1, { title: "<img src=x onerror=alert(1)>", link: "javascript:alert(1)" }));
  client.event("announcements.users", "announcement", announcement(2, { link: "https://example.com/a" }));
  const [second, first] = el.querySelectorAll("[data-rt-announcement]");
  assert.equal(first.querySelector("[data-rt-announcement-title]").textContent, "<img src=x onerror=alert(1)>");
  assert.equal(first.querySelector("[data-rt-announcement-link]"), null);
  assert.equal(second.querySelector("[data-rt-announcement-link]").getAttribute("href"), "https://example.com/a");
});

test("critical banners stack first, then the newest", () => {
  const { el, client } = board();
  client.event("announcements.all", "announcement", announcement(1));
  client.event("announcements.all", "announcement", announcement(2, { level: "critical" }));
  client.event("announcements.all", "announcement", announcement(3));
  client.event("announcements.all", "announcement", announcement(4, { level: "critical", sent_at: "2029-01-01T00:00:00+00:00" }));
  assert.deepEqual(ids(el), [2, 4, 3, 1]);
});

test("ended banners go; an end of an older round leaves the newer one", () => {
  const { el, client } = board();
  client.event("announcements.all", "announcement", announcement(1));
  client.event("announcements.all", "announcement", announcement(1, { round: 2 }));
  client.event("announcements.all", "announcement.ended", { id: 1, round: 1, reason: "ended" });
  assert.deepEqual(ids(el), [1]);
  client.event("announcements.all", "announcement.ended", { id: 1, round: 2, reason: "cancelled" });
  assert.deepEqual(ids(el), []);
});

test("a (re)subscription's live list is the truth for its topic; tests and other topics stay", () => {
  const { el, client } = board({ items: [[announcement(1), "announcements.all"], [announcement(2), "announcements.users"]] });
  client.event("announcements.user-7", "announcement", announcement(9, { test: true, round: 0 }));
  client.subscribed("announcements.all", [announcement(3)]);
  assert.deepEqual(ids(el).sort(), [2, 3, 9]);
});

test("signed-in dismissals are reported; another device's dismissal closes the banner here", () => {
  const { el, client } = board();
  client.event("announcements.all", "announcement", announcement(1));
  client.event("announcements.all", "announcement", announcement(2));
  el.querySelector("[data-rt-announcement-dismiss]").click(); // the top one: newest, 2
  assert.deepEqual(ids(el), [1]);
  assert.deepEqual(client.published.filter((p) => p.data.kind === "dismissed").map((p) => p.data.announcement), [2]);
  client.event("announcements.user-7", "announcement.dismissed", { id: 1, round: 1 });
  assert.deepEqual(ids(el), []);
});

test("anonymous dismissals stay in this browser, and a new round shows again", () => {
  const storage = new MemoryStorage();
  let { el, client } = board({ user: null, storage });
  client.event("announcements.all", "announcement", announcement(1));
  el.querySelector("[data-rt-announcement-dismiss]").click();
  assert.deepEqual(client.published, [], "anonymous visitors send no receipts");
  // Reload: the server still renders it; this browser closes it at once.
  ({ el, client } = board({ user: null, storage, items: [[announcement(1), "announcements.all"]] }));
  assert.deepEqual(ids(el), []);
  client.event("announcements.all", "announcement", announcement(1));
  assert.deepEqual(ids(el), []);
  client.event("announcements.all", "announcement", announcement(1, { round: 2 }));
  assert.deepEqual(ids(el), [1]);
});

test("a banner that is not dismissible cannot be dismissed", () => {
  const { el, client, board: b } = board();
  client.event("announcements.all", "announcement", announcement(1, { level: "critical", dismissible: false }));
  assert.equal(el.querySelector("[data-rt-announcement-dismiss]").hidden, true);
  b.dismiss("1");
  assert.deepEqual(ids(el), [1]);
});

test("seen is only reported while the tab is visible", () => {
  const { doc, client } = board();
  doc.visibilityState = "hidden";
  client.event("announcements.all", "announcement", announcement(1));
  assert.deepEqual(client.published.map((p) => p.data.kind), ["delivered"]);
  doc.visibilityState = "visible";
  doc.listeners.visibilitychange.forEach((fn) => fn({}));
  assert.deepEqual(client.published.map((p) => p.data.kind), ["delivered", "seen"]);
});
