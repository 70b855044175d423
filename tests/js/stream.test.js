// Unit tests for the stream page scripts: stream-view.js (reactions, moderation, media time, text safety,
// words from the page's catalogue, states, countdowns, announcements) and banner.js (broadcasts on any
// page). The overlay's own tests (danmaku.js, danmaku-controls.js, stream-sync.js): stream-danmaku.test.js.
// Run: node --test tests/js/   (Node >= 20; no npm packages: a tiny fake DOM below is enough)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const ROOT = path.join(__dirname, "../..");
const Danmaku = require(path.join(ROOT, "realtime/streams/static/realtime/streams/danmaku.js"));
const { ModeratorTools } = require(path.join(ROOT, "realtime/streams/static/realtime/streams/stream-moderation.js"));
const { StreamView, errorText, Texts } = require(path.join(ROOT, "realtime/streams/static/realtime/streams/stream-view.js"));
const realtime = require(path.join(ROOT, "realtime/static/realtime/realtime.js"));
const BANNER_JS = fs.readFileSync(path.join(ROOT, "realtime/static/realtime/banner.js"), "utf8");

// -- a fake DOM: just what the scripts touch ----------------------------------------------------------
/** Compound selectors only (tag, [attr], [attr=v], [attr="v"], .class, :checked), comma lists. */
function matches(node, selectorList) {
  return selectorList.split(",").some((sel) => {
    sel = sel.trim();
    const re = /^([a-z]+)|\[([\w-]+)(?:=(?:"([^"]*)"|([^\]]*)))?\]|\.([\w-]+)|:(checked)/gy;
    let m;
    let pos = 0;
    while (pos < sel.length && (m = re.exec(sel))) {
      pos = re.lastIndex;
      if (m[1] && node.tagName !== m[1].toUpperCase()) return false;
      if (m[2]) {
        if (!node.hasAttribute(m[2])) return false;
        const want = m[3] !== undefined ? m[3] : m[4];
        if (want !== undefined && node.getAttribute(m[2]) !== want) return false;
      }
      if (m[5] && !node.classList.contains(m[5])) return false;
      if (m[6] && !node.checked) return false;
    }
    if (pos !== sel.length) throw new Error("fake DOM cannot parse selector " + sel);
    return true;
  });
}

class FakeElement {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.attrs = new Map();
    this.children = [];
    this.parentNode = null;
    this.ownText = "";
    this.listeners = {};
    this.hidden = false;
    this.disabled = false;
    this.checked = false;
    this.value = "";
    this.animations = [];
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
    this.clientWidth = 0;
    const props = {};
    this.style = {
      setProperty(k, v) { props[k] = v; },
      getPropertyValue(k) { return props[k]; },
    };
    const self = this;
    this.classList = {
      contains: (c) => self.className.split(/\s+/).includes(c),
      add: (c) => { if (!self.classList.contains(c)) self.className = (self.className + " " + c).trim(); },
      remove: (c) => { self.className = self.className.split(/\s+/).filter((x) => x && x !== c).join(" "); },
    };
  }
  get className() { return this.getAttribute("class") || ""; }
  set className(v) { this.setAttribute("class", v); }
  get type() { return this.getAttribute("type") || ""; }
  set type(v) { this.setAttribute("type", v); }
  setAttribute(k, v) { this.attrs.set(k, String(v)); }
  getAttribute(k) { return this.attrs.has(k) ? this.attrs.get(k) : null; }
  hasAttribute(k) { return this.attrs.has(k); }
  removeAttribute(k) { this.attrs.delete(k); }
  get textContent() { return this.ownText + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) { this.children.forEach((c) => (c.parentNode = null)); this.children = []; this.ownText = String(v); }
  set innerHTML(v) { throw new Error("innerHTML used: user text must go through textContent"); }
  get innerHTML() { throw new Error("innerHTML read"); }
  get firstElementChild() { return this.children[0] || null; }
  // Text-width stand-in for layout: 10 px a character, 24 px a line.
  get offsetWidth() { return this.textContent.length * 10; }
  get offsetHeight() { return 24; }
  appendChild(child) {
    if (child.parentNode) child.remove();
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  remove() {
    const p = this.parentNode;
    if (!p) return;
    p.children.splice(p.children.indexOf(this), 1);
    this.parentNode = null;
  }
  *descendants() {
    for (const c of this.children) { yield c; yield* c.descendants(); }
  }
  querySelectorAll(sel) { return [...this.descendants()].filter((n) => matches(n, sel)); }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  closest(sel) {
    for (let n = this; n && n.tagName; n = n.parentNode) if (matches(n, sel)) return n;
    return null;
  }
  get elements() {
    const out = {};
    for (const n of this.descendants()) if (n.getAttribute("name") && !(n.getAttribute("name") in out)) out[n.getAttribute("name")] = n;
    return out;
  }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  dispatch(type) {
    const event = { type, target: this, defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
    for (let n = this; n; n = n.parentNode) (n.listeners[type] || []).slice().forEach((fn) => fn(event));
    return event;
  }
  click() { if (!this.disabled) this.dispatch("click"); }
  animate(keyframes, options) {
    const anim = { keyframes, options, onfinish: null, finish() { if (this.onfinish) this.onfinish(); } };
    this.animations.push(anim);
    return anim;
  }
}

function fakeDocument() {
  const doc = new FakeElement(null, "#document");
  doc.tagName = undefined; // not an element: closest() stops here
  doc.ownerDocument = doc;
  doc.readyState = "complete";
  doc.createElement = (tag) => new FakeElement(doc, tag);
  doc.body = doc.appendChild(doc.createElement("body"));
  return doc;
}

/** h(doc, "tag", {attr: value, hidden: true, ...}, ...children): builds a node; properties for the
 * few attributes the scripts read as properties. */
function h(doc, tag, attrs = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "hidden" || k === "disabled" || k === "checked") node[k] = v;
    else if (k === "value") { node.value = v; node.setAttribute(k, v); }
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  children.forEach((c) => node.appendChild(c));
  return node;
}

/** The markup of realtime/streams/stream.html, trimmed to the parts the view uses. */
// The words the template tag renders from Django's catalogue (realtime/streams/texts.py), in English.
const TEXTS = {
  "error.unknown": "Something went wrong. Please try again.",
  "error.muted": "You are muted in this stream.",
  "error.auth_required": "Log in to do that.",
  "error.text_empty": "Write something first.",
  "error.slow_mode": "Slow mode is on. Wait a moment before posting again.",
  "error.slow_mode.wait": "Slow mode is on: you can post again in %(seconds)s s.",
  "error.rate_limited": "You're posting too fast. Wait a moment.",
  "error.rate_limited.wait": "You're posting too fast. Try again in %(seconds)s s.",
  "error.connection_lost": "The connection dropped before the server confirmed that. Check whether it took effect before trying again.",
  "error.offline": "You're offline; this was not sent.",
  "reaction.rate_limited.wait": "Too many reactions: wait %(seconds)s s.",
  "reaction.offline": "Offline: not sent.",
  "connection.connecting": "Connecting to chat…",
  "connection.live": "Chat connected",
  "connection.reconnecting": "Reconnecting to chat…",
  "connection.offline": "Chat offline",
  "connection.offline.signed_out": "Signed out",
  "stream.live": "Live",
  "stream.ended": "Ended",
  "stream.replay": "Replay",
  "viewers.unknown": "Viewer count unknown while disconnected",
  "hint.ended": "This stream has ended.",
  "hint.replay": "This stream has ended. Comments appear at the moment of the video they were posted at.",
  "hint.slow_mode": "Slow mode: one comment every %(seconds)s s.",
  "form.send": "Send",
  "form.wait": "Wait %(seconds)s s",
  "moderate.delete": "Delete",
  "moderate.mute": "Mute",
  "moderate.ban": "Ban",
  "comment.sending": "sending…",
  "announce.new": "New comments: %(count)s",
  "announce.mention": "%(author)s mentioned you: %(text)s",
};

function streamMarkup(doc, { authenticated = true, stage = true, statusBox = true, startedAt = "2024-01-01T00:00:00Z", live = true, texts = TEXTS } = {}) {
  const reactions = h(doc, "span", { class: "rt-reactions" },
    ...["heart", "fire"].map((kind) => h(doc, "button", { class: "rt-reaction", "data-rt-reaction": kind, disabled: !authenticated, text: kind })));
  if (statusBox) reactions.appendChild(h(doc, "span", { class: "rt-reactions__status", "data-rt-reaction-status": "", hidden: true }));
  const media = stage
    ? h(doc, "canvas", { "data-rt-media": "", "data-rt-stage": "" })
    : h(doc, "video", { "data-rt-media": "" });
  const form = authenticated
    ? h(doc, "form", { "data-rt-form": "" },
        h(doc, "input", { name: "text", type: "text" }),
        h(doc, "button", { class: "rt-form__send", type: "submit", text: "Send" }),
        h(doc, "input", { type: "radio", name: "color", value: "#ff5555", checked: true }),
        h(doc, "select", { name: "mode", value: "scroll" }),
        h(doc, "p", { "data-rt-error": "", hidden: true }))
    : h(doc, "p", { "data-rt-error": "", hidden: true });
  const layer = h(doc, "div", { class: "rt-overlay", "data-rt-overlay": "" });
  layer.clientWidth = 800;
  layer.clientHeight = 280;
  const root = h(doc, "section", {
    class: "rt-stream", "data-realtime-stream": "", "data-topic": "stream.1", "data-live": live ? "true" : "false",
    "data-user-id": authenticated ? "7" : "", "data-username": authenticated ? "ann" : "", "data-started-at": startedAt,
  },
    h(doc, "script", { type: "application/json", "data-rt-texts": "", text: JSON.stringify(texts) }),
    h(doc, "div", { class: "rt-banner", "data-rt-banner": "", hidden: true },
      h(doc, "strong", { "data-rt-banner-title": "" }), h(doc, "span", { "data-rt-banner-message": "" }),
      h(doc, "button", { "data-rt-banner-close": "" })),
    media, layer, h(doc, "div", { "data-rt-floats": "" }),
    h(doc, "span", { "data-rt-viewers": "", text: "–" }), h(doc, "span", { "data-rt-live": "" }),
    h(doc, "span", { "data-rt-connection": "", "data-state": "connecting" }),
    reactions, h(doc, "p", { "data-rt-hint": "", hidden: true }), h(doc, "ol", { "data-rt-comments": "" }),
    h(doc, "p", { "data-rt-announcer": "" }), form);
  doc.body.appendChild(root);
  return root;
}

/** Stands in for the realtime.js client: records subscribe/publish; the test settles publishes. */
class FakeClient {
  constructor() {
    this.state = "live";
    this.user = undefined;
    this.subs = [];
    this.published = [];
    this.listeners = {};
    this.connects = 0;
  }
  subscribe(topic, handlers) {
    const sub = { topic, handlers, active: true, unsubscribe() { this.active = false; } };
    this.subs.push(sub);
    return sub;
  }
  on(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); return () => {}; }
  emit(type, detail) { (this.listeners[type] || []).forEach((fn) => fn({ type, detail })); }
  setState(state, reason) { this.state = state; this.reason = reason || null; this.emit("statechange", { state, reason: this.reason }); }
  publish(topic, event, data, options) {
    return new Promise((resolve, reject) => this.published.push({ topic, event, data, options, resolve, reject }));
  }
}

const clocked = new WeakSet(); // tests whose mock clock is on: a second view in a test shares it

function makeView(t, opts) {
  if (!clocked.has(t)) {
    t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: Date.parse("2024-01-01T00:01:30Z") });
    clocked.add(t);
  }
  const doc = fakeDocument();
  const root = streamMarkup(doc, opts);
  const client = new FakeClient();
  const rt = { connect: () => client, randomId: () => "cid-1", Danmaku, ModeratorTools };
  const view = new StreamView(root, rt);
  const q = (sel) => root.querySelector(sel);
  return { doc, root, client, view, q };
}

const tick = () => new Promise((r) => setImmediate(r));

function refusal(code, retryAfter) {
  return realtime.RealtimeError(code, "server says " + code, retryAfter == null ? { code } : { code, retry_after: retryAfter });
}

// -- stream-view.js ---------------------------------------------------------------------------------------
test("fix C: reactions are published with {queue: false}, moderation with {retry: false}", async (t) => {
  const { client, view, root } = makeView(t);
  root.querySelector('[data-rt-reaction="fire"]').click();
  assert.deepEqual(client.published.map((p) => [p.event, p.data, p.options]), [["reaction", { kind: "fire" }, { queue: false }]]);
  view.addComment({ id: 5, text: "spam", author: { id: 9, username: "bob" } }, { fly: false });
  root.querySelector('[data-rt-moderate="mute"]').click(); // ban and timeout ask first (test_moderation_browser)
  const mod = client.published.at(-1);
  assert.equal(mod.event, "moderate");
  assert.deepEqual(mod.data, { action: "mute", user: 9 });
  assert.equal(mod.options.retry, false);
  mod.reject(refusal("connection_lost"));
  await tick();
  assert.match(root.querySelector("[data-rt-error]").textContent, /dropped before the server confirmed/);
});

test("fix C: a rate-limited reaction is shown on the reaction bar and holds only the reaction buttons", async (t) => {
  const { client, root, q } = makeView(t);
  const send = q("button[type=submit]");
  const [heart, fire] = root.querySelectorAll("[data-rt-reaction]");
  heart.click();
  client.published[0].reject(refusal("rate_limited", 3));
  await tick();
  const status = q("[data-rt-reaction-status]");
  assert.equal(status.hidden, false);
  assert.equal(status.textContent, "Too many reactions: wait 3 s.");
  assert.equal(status.getAttribute("data-code"), "rate_limited");
  assert.ok(heart.disabled && fire.disabled, "reactions held until retry_after");
  fire.click();
  assert.equal(client.published.length, 1, "a held button sends nothing");
  // The comment form knows nothing about it.
  assert.equal(q("[data-rt-error]").hidden, true);
  assert.equal(q("[data-rt-error]").textContent, "");
  assert.equal(send.disabled, false, "the comment button is not held");
  assert.equal(send.textContent, "Send");
  t.mock.timers.tick(1000);
  assert.equal(status.textContent, "Too many reactions: wait 2 s.", "counts down");
  t.mock.timers.tick(2000);
  assert.equal(heart.disabled || fire.disabled, false, "released after retry_after");
  assert.equal(status.hidden, true);
  heart.click();
  assert.equal(client.published.length, 2);
});

test("fix C: other reaction failures show briefly on the bar, never in the form; anonymous buttons stay disabled", async (t) => {
  const { client, root, q } = makeView(t);
  root.querySelector('[data-rt-reaction="heart"]').click();
  client.published[0].reject(refusal("offline"));
  await tick();
  const status = q("[data-rt-reaction-status]");
  assert.equal(status.textContent, "Offline: not sent.");
  assert.equal(q("[data-rt-error]").hidden, true);
  t.mock.timers.tick(4000);
  assert.equal(status.hidden, true);

  // An anonymous viewer's buttons are disabled by the template and must stay so after a hold ends.
  const anon = makeView(t, { authenticated: false });
  const buttons = anon.root.querySelectorAll("[data-rt-reaction]");
  anon.view.react("heart");
  anon.client.published[0].reject(refusal("auth_required"));
  await tick();
  assert.equal(anon.q("[data-rt-reaction-status]").textContent, "Log in to do that.");
  anon.view.react("heart");
  anon.client.published[1].reject(refusal("rate_limited", 1));
  await tick();
  t.mock.timers.tick(2000);
  assert.ok(buttons.every((b) => b.disabled));
});

test("fix C: an overridden template without the status element still gets one next to the buttons", async (t) => {
  const { client, root } = makeView(t, { statusBox: false });
  root.querySelector('[data-rt-reaction="heart"]').click();
  client.published[0].reject(refusal("rate_limited", 2));
  await tick();
  const status = root.querySelector("[data-rt-reaction-status]");
  assert.ok(status, "created");
  assert.equal(status.parentNode, root.querySelector(".rt-reactions"));
  assert.equal(status.textContent, "Too many reactions: wait 2 s.");
});

test("a refused comment still goes to the form, with the Send cooldown", async (t) => {
  const { client, q } = makeView(t);
  q("input[name=text]").value = "hello";
  q("[data-rt-form]").dispatch("submit");
  const post = client.published[0];
  assert.equal(post.event, "comment");
  assert.deepEqual(post.options, undefined);
  assert.equal(post.data.client_id, "cid-1");
  post.reject(refusal("slow_mode", 5));
  await tick();
  assert.equal(q("[data-rt-error]").getAttribute("data-code"), "slow_mode");
  assert.equal(q("button[type=submit]").disabled, true);
  assert.equal(q("button[type=submit]").textContent, "Wait 5 s");
  assert.equal(q("[data-rt-error]").textContent, "Slow mode is on: you can post again in 5 s.");
  assert.equal(q("input[name=text]").value, "hello", "the words are given back");
  assert.equal(q("[data-rt-reaction-status]").hidden, true);
});

test("fix: the slow-mode countdown counts down in the message and ends with the button, clearing it", async (t) => {
  const { client, view, q } = makeView(t);
  q("input[name=text]").value = "hello";
  q("[data-rt-form]").dispatch("submit");
  client.published[0].reject(refusal("rate_limited", 2.2));
  await tick();
  const send = q("button[type=submit]");
  const error = q("[data-rt-error]");
  assert.equal(error.textContent, "You're posting too fast. Try again in 3 s.");
  t.mock.timers.tick(1000);
  assert.equal(error.textContent, "You're posting too fast. Try again in 2 s.", "it counts down");
  assert.equal(send.textContent, "Wait 2 s");
  // A stream update reopening the form meanwhile does not free the button early.
  view.applyStreamState({ comments_open: true });
  assert.equal(send.disabled, true);
  t.mock.timers.tick(1000);
  assert.equal(error.textContent, "You're posting too fast. Try again in 1 s.");
  assert.equal(send.disabled, true);
  t.mock.timers.tick(250);
  assert.equal(send.disabled, false, "the button comes back at zero");
  assert.equal(send.textContent, "Send");
  assert.equal(error.hidden, true, "and the message goes with it");
  assert.equal(error.textContent, "");
});

test("fix: a newer error during a countdown stays; the countdown only clears its own message", async (t) => {
  const { client, view, q } = makeView(t);
  q("input[name=text]").value = "hello";
  q("[data-rt-form]").dispatch("submit");
  client.published[0].reject(refusal("slow_mode", 1));
  await tick();
  view.showError({ code: "muted" });
  t.mock.timers.tick(1500);
  assert.equal(q("button[type=submit]").disabled, false);
  assert.equal(q("[data-rt-error]").textContent, "You are muted in this stream.");
});

test("fix: errors are shown by code in the page's words, never with the server's message", () => {
  const texts = new Texts(TEXTS);
  assert.equal(errorText(texts, refusal("muted")), "You are muted in this stream.");
  assert.equal(errorText(texts, refusal("rate_limited", 1.2)), "You're posting too fast. Try again in 2 s.");
  assert.equal(errorText(texts, refusal("rate_limited")), "You're posting too fast. Wait a moment.");
  assert.equal(errorText(texts, refusal("rate_limited", 3), "reaction."), "Too many reactions: wait 3 s.");
  assert.equal(errorText(texts, refusal("auth_required"), "reaction."), "Log in to do that.", "falls back to error.*");
  const odd = realtime.RealtimeError("brand_new_code", "Some English from the server");
  assert.equal(errorText(texts, odd), "Something went wrong. Please try again.");
  assert.equal(new Texts({}).t("error.muted"), "error.muted", "a missing word shows its key, not English");
});

test("fix: connection state is worded apart from the stream's; the viewer count goes unknown while away", (t) => {
  const { client, view, q } = makeView(t);
  const conn = q("[data-rt-connection]");
  assert.equal(conn.textContent, "Chat connected");
  assert.equal(conn.getAttribute("data-state"), "live");
  view.onSubscribed({ state: { viewers: 4, live: true } });
  assert.equal(q("[data-rt-viewers]").textContent, "4");
  assert.equal(q("[data-rt-live]").textContent, "Live");
  client.setState("reconnecting");
  assert.equal(conn.textContent, "Reconnecting to chat…");
  assert.equal(q("[data-rt-viewers]").textContent, "–", "not a stale 4");
  assert.equal(q("[data-rt-viewers]").getAttribute("title"), "Viewer count unknown while disconnected");
  client.setState("offline", "signed_out");
  assert.equal(conn.textContent, "Signed out");
  assert.equal(conn.getAttribute("data-reason"), "signed_out");
  client.setState("live");
  view.onSubscribed({ state: { viewers: 5, live: false } });
  assert.equal(q("[data-rt-viewers]").textContent, "5");
  assert.equal(q("[data-rt-live]").textContent, "Ended");
  assert.equal(q("[data-rt-hint]").textContent, "This stream has ended.");
});

test("fix: the list does not announce every comment: one summary per interval, mentions at once", (t) => {
  const { view, q } = makeView(t);
  const announcer = q("[data-rt-announcer]");
  for (let i = 1; i <= 30; i++) view.onEvent({ event: "comment", data: { id: i, text: "c" + i, author: { id: 9, username: "bob" } } }, { history: false });
  assert.equal(announcer.textContent, "");
  t.mock.timers.tick(5000);
  assert.equal(announcer.textContent, "New comments: 30");
  view.onEvent({ event: "comment", data: { id: 31, text: "hey @Ann look", author: { id: 9, username: "bob" } } }, { history: false });
  assert.equal(announcer.textContent, "bob mentioned you: hey @Ann look");
  view.onEvent({ event: "comment", data: { id: 32, text: "old", author: { id: 9, username: "bob" } } }, { history: true });
  t.mock.timers.tick(5000);
  assert.equal(announcer.textContent, "bob mentioned you: hey @Ann look", "history is not news");
});

test("replay: over a video the view feeds comments to the sync, which shows them at their media time", (t) => {
  const incoming = [];
  class FakeSync {
    constructor(options) { this.options = options; this.live = options.live; }
    incoming(c, info) { incoming.push([c.id, info.history]); }
    remove(id) { incoming.push(["removed", id]); }
  }
  const doc = fakeDocument();
  const root = streamMarkup(doc, { stage: false, live: false });
  root.setAttribute("data-replay-url", "/realtime/streams/1/comments/");
  const client = new FakeClient();
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const view = new StreamView(root, { connect: () => client, randomId: () => "x", Danmaku, MediaSync: FakeSync });
  assert.equal(view.sync.options.replayUrl, "/realtime/streams/1/comments/");
  assert.equal(view.sync.options.live, false);
  assert.equal(root.querySelector("[data-rt-live]").textContent, "", "set once subscribed");
  view.onSubscribed({ state: { live: false } });
  assert.equal(root.querySelector("[data-rt-live]").textContent, "Replay");
  assert.equal(root.querySelector("[data-rt-hint]").textContent, TEXTS["hint.replay"]);
  view.onEvent({ event: "comment", data: { id: 1, text: "a", media_time: 3 } }, { history: true });
  view.onEvent({ event: "comment", data: { id: 2, text: "b", media_time: 4 } }, { history: false });
  view.onEvent({ event: "comment.deleted", data: { comment: 1 } }, { history: false });
  assert.deepEqual(incoming, [[1, true], [2, false], ["removed", 1]]);
  assert.equal(root.querySelector("[data-rt-overlay]").children.length, 0, "nothing flies on arrival");
});

test("user text is rendered with textContent in the list and the overlay", (t) => {
  const { view, q } = makeView(t);
  view.onEvent({ event: "comment", data: { id: 1, text: "<img src=x onerror=alert(1)>", color: "#ff5555", author: { id: 3, username: "<i>eve</i>" } } }, { history: false });
  const item = q("[data-rt-comments]").children[0];
  assert.equal(item.querySelector(".rt-comment__text").textContent, "<img src=x onerror=alert(1)>");
  assert.equal(item.querySelector(".rt-comment__author").textContent, "<i>eve</i>");
  assert.equal(q("[data-rt-overlay]").children[0].textContent, "<img src=x onerror=alert(1)>");
});

test("media time: wall clock since data-started-at on a bare stage canvas; a stage script's currentTime wins", (t) => {
  const { view, q } = makeView(t); // now = started + 90 s
  assert.equal(view.mediaTime(), 90);
  t.mock.timers.tick(2500);
  assert.equal(view.mediaTime(), 92.5);
  Object.defineProperty(q("[data-rt-media]"), "currentTime", { configurable: true, get: () => 12.34 });
  assert.equal(view.mediaTime(), 12.3);
  const video = makeView(t, { stage: false });
  assert.equal(video.view.mediaTime(), null, "a video without currentTime yet gives none");
  video.q("[data-rt-media]").currentTime = 7;
  assert.equal(video.view.mediaTime(), 7);
});

// -- banner.js ------------------------------------------------------------------------------------------
function loadBanner(doc, client) {
  const window = { realtime: { connect: () => { client.connects += 1; return client; } } };
  vm.runInNewContext(BANNER_JS, { window, document: doc, console, Date });
  return window;
}

function bannerBox(doc) {
  return doc.body.appendChild(h(doc, "div", { "data-rt-banner": "", hidden: true },
    h(doc, "strong", { "data-rt-banner-title": "" }), h(doc, "span", { "data-rt-banner-message": "" }),
    h(doc, "button", { "data-rt-banner-close": "" })));
}

test("banner: works on any page with a [data-rt-banner]; broadcasts shown as text; close hides it", () => {
  const doc = fakeDocument();
  const box = bannerBox(doc); // no stream on this page
  const client = new FakeClient();
  loadBanner(doc, client);
  assert.deepEqual(client.subs.map((s) => s.topic), ["broadcast.all"]);
  client.subs[0].handlers.onEvent({ event: "broadcast", data: { title: "Heads up", message: "<i>Maintenance</i>", level: "warning" } }, { history: false });
  assert.equal(box.hidden, false);
  assert.equal(box.getAttribute("data-level"), "warning");
  assert.equal(box.querySelector("[data-rt-banner-message]").textContent, "<i>Maintenance</i>");
  assert.equal(box.querySelector("[data-rt-banner-message]").children.length, 0);
  client.subs[0].handlers.onEvent({ event: "broadcast", data: { title: "x", level: "<script>" } }, { history: false });
  assert.equal(box.getAttribute("data-level"), "info", "unknown levels fall back to info");
  box.querySelector("[data-rt-banner-close]").click();
  assert.equal(box.hidden, true);
});

test("banner: replayed broadcasts only when fresh; user.<id> follows hello; no banner, no socket; twice loaded, once subscribed", () => {
  const doc = fakeDocument();
  const box = bannerBox(doc);
  const client = new FakeClient();
  loadBanner(doc, client);
  loadBanner(doc, client); // the script on the page twice
  assert.equal(client.subs.length, 1, "one subscription, not two");
  const onEvent = client.subs[0].handlers.onEvent;
  onEvent({ event: "broadcast", at: new Date(Date.now() - 3600e3).toISOString(), data: { title: "old" } }, { history: true });
  assert.equal(box.hidden, true, "an hour-old broadcast replayed on load is history");
  onEvent({ event: "broadcast", at: new Date(Date.now() - 60e3).toISOString(), data: { title: "recent" } }, { history: true });
  assert.equal(box.querySelector("[data-rt-banner-title]").textContent, "recent");
  client.emit("hello", { user: { id: 7, username: "ann" } });
  assert.deepEqual(client.subs.map((s) => s.topic), ["broadcast.all", "user.7"]);
  client.emit("hello", { user: { id: 7, username: "ann" } });
  assert.equal(client.subs.length, 2, "the same user after a reconnect: nothing new");
  client.emit("hello", { user: null });
  assert.equal(client.subs[1].active, false, "signed out elsewhere: the personal topic is dropped");

  const bare = fakeDocument();
  const other = new FakeClient();
  loadBanner(bare, other);
  assert.equal(other.connects, 0, "a page without a banner opens no socket for it");
});

test("stream page: the banner in stream.html is driven by banner.js alongside the view, sharing one client", async (t) => {
  const { doc, client, root } = makeView(t);
  loadBanner(doc, client);
  // user.7: the viewer's own topic, where a moderator's restriction reaches them (stream.standing).
  assert.deepEqual(client.subs.map((s) => s.topic), ["stream.1", "user.7", "broadcast.all"]);
  client.subs[2].handlers.onEvent({ event: "broadcast", data: { title: "T", message: "M", level: "success" } }, { history: false });
  const box = root.querySelector("[data-rt-banner]");
  assert.equal(box.hidden, false);
  assert.equal(box.getAttribute("data-level"), "success");
});

test("truncated resume: comments deleted while away leave the screen; the replay rebuilds the list without flying", (t) => {
  const { client, q } = makeView(t);
  const [sub] = client.subs;
  const list = () => q("[data-rt-comments]").children.map((li) => li.getAttribute("data-comment-id") || "pending");
  sub.handlers.onSubscribed({ truncated: false, state: { live: true } });
  for (const id of [1, 2, 3]) sub.handlers.onEvent({ event: "comment", data: { id, text: "c" + id, author: { id: 3 } } }, { history: false });
  assert.equal(q("[data-rt-overlay]").children.length, 3);
  // A post of ours waiting for its ack survives the reset.
  q("[data-rt-form]").elements.text.value = "mine";
  q("[data-rt-form]").dispatch("submit");
  assert.deepEqual(list(), ["1", "2", "3", "pending"]);
  // Away long enough that the server replays only the newest events: 2 was deleted meanwhile, 1 fell
  // out of the replay, and the deletion of 2 is older than the replay too.
  sub.handlers.onSubscribed({ truncated: true, state: { live: true } });
  assert.deepEqual(list(), ["pending"], "everything stored is dropped, the unacknowledged post kept");
  assert.equal(q("[data-rt-overlay]").children.length, 0, "the overlay is cleared too");
  assert.equal(q("[data-rt-hint]").hidden, false, "and the reader is told some messages were skipped");
  for (const id of [3, 4]) sub.handlers.onEvent({ event: "comment", data: { id, text: "c" + id, author: { id: 3 } } }, { history: false, resumed: true });
  assert.deepEqual(list(), ["pending", "3", "4"]);
  assert.equal(q("[data-rt-overlay]").children.length, 0, "a truncated replay is old news: it does not fly");
  sub.handlers.onEvent({ event: "comment", data: { id: 5, text: "c5", author: { id: 3 } } }, { history: false });
  assert.equal(q("[data-rt-overlay]").children.length, 1, "live comments fly again");
  // A resume that missed little (not truncated) keeps the list and flies what was missed.
  sub.handlers.onSubscribed({ truncated: false, state: { live: true } });
  sub.handlers.onEvent({ event: "comment", data: { id: 6, text: "c6", author: { id: 3 } } }, { history: false, resumed: true });
  assert.deepEqual(list(), ["pending", "3", "4", "5", "6"]);
});
