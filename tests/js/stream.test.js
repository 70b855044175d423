// Unit tests for the stream page scripts: danmaku.js (lanes), stream-view.js (reactions, moderation,
// media time, text safety) and banner.js (broadcasts on any page).
// Run: node --test tests/js/   (Node >= 20; no npm packages: a tiny fake DOM below is enough)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const ROOT = path.join(__dirname, "../..");
const Danmaku = require(path.join(ROOT, "realtime/streams/static/realtime/streams/danmaku.js"));
const { StreamView } = require(path.join(ROOT, "realtime/streams/static/realtime/streams/stream-view.js"));
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
function streamMarkup(doc, { authenticated = true, stage = true, statusBox = true, startedAt = "2024-01-01T00:00:00Z" } = {}) {
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
    class: "rt-stream", "data-realtime-stream": "", "data-topic": "stream.1",
    "data-user-id": authenticated ? "7" : "", "data-username": authenticated ? "ann" : "", "data-started-at": startedAt,
  },
    h(doc, "div", { class: "rt-banner", "data-rt-banner": "", hidden: true },
      h(doc, "strong", { "data-rt-banner-title": "" }), h(doc, "span", { "data-rt-banner-message": "" }),
      h(doc, "button", { "data-rt-banner-close": "" })),
    media, layer, h(doc, "div", { "data-rt-floats": "" }),
    h(doc, "span", { "data-rt-viewers": "", text: "–" }), h(doc, "span", { "data-rt-live": "" }),
    reactions, h(doc, "p", { "data-rt-hint": "", hidden: true }), h(doc, "ol", { "data-rt-comments": "" }), form);
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
  const rt = { connect: () => client, randomId: () => "cid-1", Danmaku };
  const view = new StreamView(root, rt);
  const q = (sel) => root.querySelector(sel);
  return { doc, root, client, view, q };
}

const tick = () => new Promise((r) => setImmediate(r));

function refusal(code, retryAfter) {
  return realtime.RealtimeError(code, "server says " + code, retryAfter == null ? { code } : { code, retry_after: retryAfter });
}

// -- danmaku.js -----------------------------------------------------------------------------------------
function makeLayer(width = 800, height = 112) {
  const doc = fakeDocument();
  const layer = doc.body.appendChild(doc.createElement("div"));
  layer.clientWidth = width;
  layer.clientHeight = height; // 112 / (24 + 4) = 4 lanes
  return layer;
}

test("danmaku: text goes in as text, only #rrggbb colours reach a style, own comments are marked", () => {
  const layer = makeLayer();
  const overlay = new Danmaku(layer, { now: () => 0 });
  overlay.add({ id: 1, text: "<b>x</b>", color: "#ff5555", mode: "scroll", mine: true });
  overlay.add({ id: 2, text: "hi", color: "red; background: url(x)", mode: "scroll" });
  const [a, b] = layer.children;
  assert.equal(a.textContent, "<b>x</b>");
  assert.equal(a.children.length, 0, "no markup was parsed");
  assert.equal(a.style.color, "#ff5555");
  assert.ok(a.classList.contains("rt-danmaku--mine"));
  assert.equal(b.style.color, undefined, "a colour outside the allow-list is ignored");
  assert.equal(a.getAttribute("data-comment-id"), "1");
  assert.equal(a.style.visibility, "", "placed comments are visible");
  assert.equal(a.animations[0].options.duration, Danmaku.SCROLL_MS);
});

test("danmaku: simultaneous comments take separate lanes; with every lane busy they wait and retry", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const layer = makeLayer();
  let now = 0;
  const overlay = new Danmaku(layer, { now: () => now });
  for (let i = 1; i <= 5; i++) overlay.add({ id: i, text: "comment " + i, mode: "scroll" });
  assert.deepEqual(layer.children.map((n) => n.style.top), ["0px", "28px", "56px", "84px"], "four lanes, one each");
  assert.deepEqual(overlay.queue.map((c) => c.id), [5], "the fifth waits for a lane");
  // Once the first comment's tail is in (and the newcomer cannot catch it up), its lane is free.
  now = 3000;
  t.mock.timers.tick(300);
  assert.deepEqual(overlay.queue, []);
  const fifth = layer.children.find((n) => n.getAttribute("data-comment-id") === "5");
  assert.equal(fifth.style.top, "0px");
  // A finished flight leaves the DOM.
  fifth.animations[0].finish();
  assert.equal(layer.children.includes(fifth), false);
});

test("danmaku: pinned top/bottom comments use their own lanes; remove() clears screen and queue", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const layer = makeLayer(800, 28); // one lane
  const overlay = new Danmaku(layer, { now: () => 0 });
  overlay.add({ id: 1, text: "top", mode: "top" });
  overlay.add({ id: 2, text: "bottom", mode: "bottom" });
  overlay.add({ id: 3, text: "top again", mode: "top" });
  assert.equal(layer.children[0].style.top, "0px");
  assert.equal(layer.children[1].style.bottom, "0px");
  assert.equal(layer.children[0].animations[0].options.duration, Danmaku.PINNED_MS);
  assert.deepEqual(overlay.queue.map((c) => c.id), [3]);
  overlay.remove(3);
  overlay.remove(1);
  assert.deepEqual(overlay.queue, []);
  assert.deepEqual(layer.children.map((n) => n.getAttribute("data-comment-id")), ["2"]);
});

// -- stream-view.js ---------------------------------------------------------------------------------------
test("fix C: reactions are published with {queue: false}, moderation with {retry: false}", async (t) => {
  const { client, view, root } = makeView(t);
  root.querySelector('[data-rt-reaction="fire"]').click();
  assert.deepEqual(client.published.map((p) => [p.event, p.data, p.options]), [["reaction", { kind: "fire" }, { queue: false }]]);
  view.addComment({ id: 5, text: "spam", author: { id: 9, username: "bob" } }, { fly: false });
  root.querySelector('[data-rt-moderate="ban"]').click();
  const mod = client.published.at(-1);
  assert.equal(mod.event, "moderate");
  assert.deepEqual(mod.data, { action: "ban", user: 9 });
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
  assert.equal(q("input[name=text]").value, "hello", "the words are given back");
  assert.equal(q("[data-rt-reaction-status]").hidden, true);
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
  assert.deepEqual(client.subs.map((s) => s.topic), ["stream.1", "broadcast.all"]);
  client.subs[1].handlers.onEvent({ event: "broadcast", data: { title: "T", message: "M", level: "success" } }, { history: false });
  const box = root.querySelector("[data-rt-banner]");
  assert.equal(box.hidden, false);
  assert.equal(box.getAttribute("data-level"), "success");
});
