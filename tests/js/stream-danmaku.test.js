// Unit tests for the overlay: danmaku.js (the lane rule, density, clock, settings, re-layout),
// danmaku-controls.js (settings remembered per browser) and stream-sync.js (comments at their media time).
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const ROOT = path.join(__dirname, "../..");
const STATIC = path.join(ROOT, "realtime/streams/static/realtime/streams");
const Danmaku = require(path.join(STATIC, "danmaku.js"));
const Controls = require(path.join(STATIC, "danmaku-controls.js"));
const { MediaSync, CommentTimeline } = require(path.join(STATIC, "stream-sync.js"));

// -- a layout stand-in: 10 px a character, 24 px a line (times the size setting) --------------------------
class Node {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parentNode = null;
    this.attrs = {};
    this.text = "";
    this.hidden = false;
    this.listeners = {};
    const vars = {};
    this.style = { setProperty: (k, v) => { vars[k] = v; }, getPropertyValue: (k) => vars[k] };
    this.className = "";
    this.classList = {
      add: (c) => { this.className = (this.className + " " + c).trim(); },
      contains: (c) => this.className.split(/\s+/).includes(c),
    };
  }
  get textContent() { return this.text; }
  set textContent(v) { this.text = String(v); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  appendChild(c) { if (c.parentNode) c.remove(); c.parentNode = this; this.children.push(c); return c; }
  remove() { if (this.parentNode) this.parentNode.children.splice(this.parentNode.children.indexOf(this), 1); this.parentNode = null; }
  scale() { const s = this.parentNode && this.parentNode.style.getPropertyValue("--rt-danmaku-scale"); return Number(s) || 1; }
  getBoundingClientRect() {
    let width = this.text.length * 10 * this.scale();
    if (this.classList.contains("rt-danmaku--pinned") && this.parentNode) width = Math.min(width, this.parentNode.clientWidth);
    return { width, height: 24 * this.scale() };
  }
}

function makeLayer(width, height) {
  const doc = { createElement: (tag) => new Node(doc, tag) };
  const layer = new Node(doc, "div");
  layer.clientWidth = width;
  layer.clientHeight = height;
  return layer;
}

/** A clock and animation frames the test drives: run(ms) plays that long in 16 ms frames. */
function makeClock() {
  let now = 0;
  let queued = [];
  return {
    raf: (fn) => { queued.push(fn); return queued.length; },
    now: () => now,
    frame(ms = 16) {
      now += ms;
      const run = queued;
      queued = [];
      run.forEach((fn) => fn(now));
    },
    run(ms, each) {
      for (let t = 0; t < ms; t += 16) { this.frame(16); if (each) each(); }
    },
  };
}

function engine(width = 800, height = 280, options = {}) {
  const layer = makeLayer(width, height);
  const clock = makeClock();
  const overlay = new Danmaku(layer, { raf: clock.raf, now: clock.now, reducedMotion: false, ...options });
  return { layer, clock, overlay };
}

/** The boxes on screen now, read back from the transforms the engine wrote. */
function boxes(layer) {
  return layer.children.filter((n) => n.style.visibility !== "hidden").map((n) => {
    const [, x, y] = /translate\((-?[\d.]+)px, (-?[\d.]+)px\)/.exec(n.style.transform);
    const r = n.getBoundingClientRect();
    return { id: n.getAttribute("data-comment-id"), x: Number(x), y: Number(y), w: r.width, h: r.height };
  });
}

function assertNoOverlap(layer, areaHeight) {
  const list = boxes(layer);
  for (const b of list) {
    assert.ok(b.y >= 0 && b.y + b.h <= areaHeight + 0.01, `comment ${b.id} leaves the area: ${JSON.stringify(b)}`);
  }
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i];
      const b = list[j];
      // Only what is inside the layer is seen (it clips): compare the visible parts.
      const ax0 = Math.max(a.x, 0), ax1 = Math.min(a.x + a.w, layer.clientWidth);
      const bx0 = Math.max(b.x, 0), bx1 = Math.min(b.x + b.w, layer.clientWidth);
      const overlapX = Math.min(ax1, bx1) - Math.max(ax0, bx0);
      const overlapY = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      assert.ok(!(overlapX > 0.5 && overlapY > 0.5), `comments ${a.id} and ${b.id} overlap: ${JSON.stringify([a, b])}`);
    }
  }
  return list.length;
}

// A fixed pseudo-random sequence: the same comments and timings on every run.
function rng(seed) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
}

test("lanes: a burst of every mode, replayed frame by frame, never overlaps and stays in the area", () => {
  const { layer, clock, overlay } = engine(800, 280);
  const random = rng(7);
  const modes = ["scroll", "scroll", "scroll", "top", "bottom"];
  const shown = { scroll: new Set(), top: new Set(), bottom: new Set() };
  let id = 0;
  let most = 0;
  let frames = 0;
  for (let burst = 0; burst < 12; burst++) {
    for (let k = 0; k < 8 + Math.floor(random() * 10); k++) {
      const text = "x".repeat(2 + Math.floor(random() * 40));
      overlay.add({ id: ++id, text, mode: modes[Math.floor(random() * modes.length)] });
    }
    if (burst === 6) overlay.configure({ area: "half" }); // the area shrinks mid-flight
    const area = overlay.settings.area === "half" ? 140 : 280;
    clock.run(700 + random() * 900, () => {
      most = Math.max(most, assertNoOverlap(layer, area));
      frames += 1;
      overlay.items.forEach((item) => shown[item.mode].add(item.id));
    });
  }
  assert.ok(frames > 500, "sampled many frames");
  assert.ok(most >= 10, `many comments on screen at once (${most})`);
  // Saturated: most pinned comments cannot find a clear row in time, but reservations get some through.
  assert.ok(shown.scroll.size > 25 && shown.top.size >= 3 && shown.bottom.size >= 3, "every mode gets its turn");
  assert.equal(overlay.stats.shown + overlay.stats.dropped + overlay.queue.length, id, "each comment accounted for");
  assert.ok(overlay.stats.dropped > 0, "the densest bursts dropped some rather than overlap");
});

test("lanes: a faster comment never catches the slower one ahead in its row", () => {
  const { layer, clock, overlay } = engine(800, 28); // one row
  overlay.add({ id: 1, text: "short", mode: "scroll" }); // 50 px: slow
  clock.run(900);
  overlay.add({ id: 2, text: "a much much longer comment indeed", mode: "scroll" }); // faster
  assert.equal(overlay.items.has("2"), false, "it would catch the first one up: it waits");
  clock.run(Danmaku.SCROLL_MS, () => assertNoOverlap(layer, 28));
  assert.equal(overlay.items.has("2"), true, "and goes once it can no longer catch up");
});

test("lanes: a pinned comment and scrolling ones share a row only when they cannot meet", () => {
  const { layer, clock, overlay } = engine(800, 28); // one row
  overlay.add({ id: 1, text: "pinned", mode: "top" }); // 60 px in the middle, 4 s
  overlay.add({ id: 2, text: "scroller", mode: "scroll" });
  assert.equal(overlay.items.has("2"), false, "now it would run into the pinned one before that fades");
  let entered = null;
  clock.run(1500, () => {
    assertNoOverlap(layer, 28);
    if (entered === null && overlay.items.has("2")) entered = overlay.time;
  });
  // It may leave once it reaches the pinned one's right edge (+GAP) only after that is gone.
  const speed = (800 + 81) / Danmaku.SCROLL_MS;
  const earliest = Danmaku.PINNED_MS - (800 - 430 - Danmaku.GAP) / speed;
  assert.ok(entered >= earliest && entered < earliest + 40, `entered at ${entered}, earliest ${earliest}`);
  clock.run(Danmaku.PINNED_MS, () => assertNoOverlap(layer, 28));

  // A wide pinned comment leaves a scroller no time to pass before MAX_WAIT_MS: dropped, never drawn over.
  overlay.clear();
  overlay.add({ id: 3, text: "p".repeat(60), mode: "bottom" });
  overlay.add({ id: 4, text: "scroller", mode: "scroll" });
  clock.run(Danmaku.MAX_WAIT_MS + 200, () => assertNoOverlap(layer, 28));
  assert.equal(overlay.items.has("4"), false);
  assert.equal(overlay.stats.dropped, 1);
  // And a pinned comment waits for scrolling ones to pass its place.
  overlay.clear();
  overlay.add({ id: 5, text: "scroller", mode: "scroll" });
  clock.run(3000);
  overlay.add({ id: 6, text: "pinned again", mode: "top" });
  assert.equal(overlay.items.has("6"), false);
  clock.run(3000, () => assertNoOverlap(layer, 28));
  assert.equal(overlay.items.has("6"), true, "placed once the scroller was past its left edge");
});

test("density: in a busy room a waiting pinned comment reserves the row that frees first, and gets it", () => {
  const { layer, clock, overlay } = engine(800, 112); // four rows, kept full of scrolling comments
  let id = 0;
  const stream = () => overlay.add({ id: ++id, text: "busy busy " + id, mode: "scroll" });
  clock.run(2000, () => { if (clock.now() % 96 === 0) stream(); });
  overlay.add({ id: "pin", text: "pinned in a busy room", mode: "top" });
  const waited = overlay.queue.find((e) => e.id === "pin");
  assert.ok(waited && waited.reserved != null, "it waits, holding a row");
  let placedAt = null;
  const asked = overlay.time;
  clock.run(Danmaku.MAX_PINNED_WAIT_MS, () => {
    if (clock.now() % 96 === 0) stream();
    assertNoOverlap(layer, 112);
    if (placedAt === null && overlay.items.has("pin")) placedAt = overlay.time;
  });
  assert.ok(placedAt !== null && placedAt - asked <= Danmaku.MAX_PINNED_WAIT_MS, "shown, late rather than never");
  assert.ok(overlay.rows.every((row) => row.reserved == null), "the reservation ends with it");
  assert.ok(overlay.stats.shown > 20, "the scrolling ones kept flowing in the other rows");
});

test("density: the queue is bounded, own comments go first and are the last to be dropped", () => {
  const { overlay } = engine(800, 28);
  overlay.add({ id: 0, text: "blocker", mode: "top" });
  for (let i = 1; i <= Danmaku.QUEUE_LIMIT + 5; i++) overlay.add({ id: i, text: "c" + i, mode: "top" });
  overlay.add({ id: "mine", text: "me", mode: "top", mine: true });
  assert.equal(overlay.queue.length, Danmaku.QUEUE_LIMIT);
  assert.equal(overlay.queue[0].id, "mine");
  assert.equal(overlay.stats.dropped, 6, "the oldest others went");
  assert.deepEqual(overlay.queue.slice(1, 3).map((e) => e.id), ["7", "8"]);
});

test("clock: nothing moves while held (paused video, hidden tab); it resumes without a jump", () => {
  const { layer, clock, overlay } = engine();
  overlay.add({ id: 1, text: "hello", mode: "scroll" });
  clock.run(500);
  const x = boxes(layer)[0].x;
  overlay.pause("media");
  clock.run(2000);
  assert.equal(boxes(layer)[0].x, x);
  overlay.pause("hidden");
  overlay.resume("media");
  clock.run(500);
  assert.equal(boxes(layer)[0].x, x, "still held by the other reason");
  overlay.resume("hidden");
  clock.frame(5000); // a long gap (the tab was in the background): at most one step
  clock.frame(16);
  assert.ok(x - boxes(layer)[0].x < 20, "no jump after a pause");
  overlay.setRate(2);
  const before = boxes(layer)[0].x;
  clock.run(320);
  const speed = (800 + 51) / Danmaku.SCROLL_MS;
  assert.ok(Math.abs(before - boxes(layer)[0].x - speed * 320 * 2) < 5, "twice as fast at playback rate 2");
});

test("reduced motion: scroll comments stay where they appear and fade", () => {
  const { layer, clock, overlay } = engine(800, 280, { reducedMotion: true });
  overlay.add({ id: 1, text: "scrolling text", mode: "scroll" });
  const start = boxes(layer)[0];
  clock.run(1000);
  assert.deepEqual(boxes(layer)[0], start);
  assert.equal(layer.children[0].style.opacity, "1");
  clock.run(Danmaku.PINNED_MS - 1300);
  assert.ok(Number(layer.children[0].style.opacity) < 1, "fading out");
  clock.run(400);
  assert.equal(layer.children.length, 0);
});

test("settings: modes, colours, blocked words and off take comments off the screen and keep them off", () => {
  const { layer, overlay } = engine();
  overlay.add({ id: 1, text: "plain", mode: "scroll" });
  overlay.add({ id: 2, text: "red", color: "#ff5555", mode: "scroll" });
  overlay.add({ id: 3, text: "top one", mode: "top" });
  overlay.add({ id: 4, text: "Spoiler ahead", mode: "bottom" });
  overlay.configure({ show: { top: false, colored: false }, blocked: ["SPOILER"] });
  assert.deepEqual(boxes(layer).map((b) => b.id), ["1"]);
  assert.equal(overlay.add({ id: 5, text: "top two", mode: "top" }), false);
  overlay.configure({ opacity: 0.4, size: "large" });
  assert.equal(layer.style.opacity, "0.4");
  assert.equal(layer.style.getPropertyValue("--rt-danmaku-scale"), "1.25");
  assert.equal(overlay.rowHeight, 34, "rows follow the text size");
  overlay.configure({ enabled: false });
  assert.equal(layer.hidden, true);
  assert.equal(layer.children.length, 0);
  assert.equal(overlay.add({ id: 6, text: "later", mode: "scroll" }), false);
});

test("re-layout: a narrower player keeps what still fits apart and drops the rest", () => {
  const { layer, clock, overlay } = engine(1200, 280);
  for (let i = 0; i < 30; i++) overlay.add({ id: i, text: "comment number " + i, mode: ["scroll", "top", "bottom"][i % 3] });
  clock.run(1500);
  layer.clientWidth = 500;
  layer.clientHeight = 100;
  overlay.relayout();
  assertNoOverlap(layer, 100);
  clock.run(3000, () => assertNoOverlap(layer, 100));
});

test("text is text: markup stays characters, only #rrggbb colours reach a style", () => {
  const { layer, overlay } = engine();
  overlay.add({ id: 1, text: "<b>x</b>", color: "#ff5555", mode: "scroll", mine: true });
  overlay.add({ id: 2, text: "hi", color: "red; background: url(x)", mode: "scroll" });
  const [a, b] = layer.children;
  assert.equal(a.textContent, "<b>x</b>");
  assert.equal(a.children.length, 0);
  assert.equal(a.style.color, "#ff5555");
  assert.ok(a.classList.contains("rt-danmaku--mine"));
  assert.equal(b.style.color, undefined);
  overlay.remove(1);
  assert.deepEqual(layer.children.map((n) => n.getAttribute("data-comment-id")), ["2"]);
});

// -- danmaku-controls.js ----------------------------------------------------------------------------------
class MemoryStorage {
  constructor(init = {}) { this.data = { ...init }; }
  getItem(k) { return k in this.data ? this.data[k] : null; }
  setItem(k, v) { this.data[k] = String(v); }
}

test("controls: settings are validated field by field and remembered under one key", () => {
  const stored = { enabled: false, opacity: 5, size: "huge", speed: "fast", area: "quarter",
    show: { top: false, scroll: "no" }, blocked: ["spoiler", "Spoiler", 3, " x "] };
  const storage = new MemoryStorage({ [Controls.STORAGE_KEY]: JSON.stringify(stored) });
  assert.equal(Controls.STORAGE_KEY, "realtime.danmaku.v1");
  const s = Controls.load(storage);
  assert.deepEqual(s, { enabled: false, opacity: 1, size: "medium", speed: "fast", area: "quarter",
    show: { scroll: true, top: false, bottom: true, colored: true }, blocked: ["spoiler", "x"] });
  assert.deepEqual(Controls.load(new MemoryStorage({ [Controls.STORAGE_KEY]: "{not json" })), Controls.defaults());
  assert.deepEqual(Controls.parseBlocked("a, b\n\nA，c"), ["a", "b", "c"]);
  const broken = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("full"); } };
  assert.deepEqual(Controls.load(broken), Controls.defaults());
  assert.equal(Controls.save(broken, Controls.defaults()), false);
});

test("controls: a panel change reaches the overlay at once and is saved", () => {
  const { layer, overlay } = engine();
  const doc = layer.ownerDocument;
  const field = (name, props) => Object.assign(new Node(doc, "input"), { name, ...props });
  const fields = {
    opacity: field("opacity", { value: "100" }), size: field("size", { value: "medium" }),
    speed: field("speed", { value: "normal" }), area: field("area", { value: "full" }),
    show_scroll: field("show_scroll", { checked: true }), show_top: field("show_top", { checked: true }),
    show_bottom: field("show_bottom", { checked: true }), show_colored: field("show_colored", { checked: true }),
    blocked: field("blocked", { value: "" }),
  };
  const panel = new Node(doc, "div");
  panel.hidden = true;
  panel.addEventListener = (type, fn) => { panel.listeners[type] = fn; };
  panel.querySelector = (sel) => {
    const m = /name="(\w+)"/.exec(sel);
    return m ? fields[m[1]] : null;
  };
  const toggle = new Node(doc, "button");
  toggle.addEventListener = (type, fn) => { toggle.listeners[type] = fn; };
  const root = new Node(doc, "section");
  root.querySelector = (sel) => ({ "[data-rt-dm-panel]": panel, "[data-rt-dm-toggle]": toggle })[sel] || null;
  const storage = new MemoryStorage();
  const controls = new Controls(root, overlay, { storage });
  fields.opacity.value = "50";
  fields.area.value = "half";
  fields.show_top.checked = false;
  fields.blocked.value = "spoiler\nleak";
  panel.listeners.input();
  assert.equal(layer.style.opacity, "0.5");
  assert.equal(overlay.settings.area, "half");
  assert.equal(overlay.settings.show.top, false);
  assert.deepEqual(overlay.settings.blocked, ["spoiler", "leak"]);
  assert.equal(JSON.parse(storage.getItem(Controls.STORAGE_KEY)).area, "half");
  assert.equal(controls.blocks("A LEAK!"), true);
  toggle.listeners.click();
  assert.equal(toggle.getAttribute("aria-pressed"), "false");
  assert.equal(layer.hidden, true);
  assert.equal(JSON.parse(storage.getItem(Controls.STORAGE_KEY)).enabled, false);
  // A new page in the same browser starts from what was saved.
  const again = new Controls(root, engine().overlay, { storage });
  assert.equal(again.settings.enabled, false);
  assert.equal(fields.opacity.value, "50");
});

// -- stream-sync.js ---------------------------------------------------------------------------------------
test("timeline: comments come due at their media time, once per seek, never long after it", () => {
  const tl = new CommentTimeline();
  [[3, 2.0], [1, 1.0], [2, 1.0], [4, 10], [5, null]].forEach(([id, t]) => tl.add({ id, media_time: t }));
  assert.equal(tl.add({ id: 5, media_time: null }), false, "no media time: nothing to sync to");
  assert.deepEqual(tl.items.map((c) => c.id), [1, 2, 3, 4], "ordered by time, then id");
  tl.seek(0);
  assert.deepEqual(tl.due(1.5).map((c) => c.id), [1, 2]);
  assert.deepEqual(tl.due(2.5).map((c) => c.id), [3]);
  assert.deepEqual(tl.due(2.6), [], "each once");
  tl.seek(0.5); // backwards: the same comments again
  assert.deepEqual(tl.due(2.1).map((c) => c.id), [1, 2, 3]);
  tl.seek(1.5); // forwards past 1.0: not replayed
  assert.deepEqual(tl.due(2.1).map((c) => c.id), [3]);
  tl.seek(0);
  assert.deepEqual(tl.due(9.9), [], "a moment more than LATE_S ago is skipped, not dumped");
  tl.remove(4);
  assert.deepEqual(tl.due(10.5), []);
});

function fakeVideo() {
  const listeners = {};
  return {
    ownerDocument: { hidden: false },
    currentTime: 0, paused: true, seeking: false, playbackRate: 1,
    addEventListener: (type, fn) => { (listeners[type] = listeners[type] || []).push(fn); },
    fire(type) { (listeners[type] || []).forEach((fn) => fn()); },
  };
}

test("sync: pages of the replay read are loaded ahead; the overlay follows play, pause, seek and rate", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval", "Date"] });
  const video = fakeVideo();
  const calls = [];
  const pages = {
    "/r/?from=0&to=60&limit=200": { comments: [{ id: 1, media_time: 1 }, { id: 2, media_time: 5 }], next: "/r/?page=2" },
    "/r/?page=2": { comments: [{ id: 3, media_time: 12 }], next: null },
  };
  const fetch = (url) => {
    calls.push(url);
    return Promise.resolve({ ok: true, json: () => Promise.resolve(pages[url] || { comments: [], next: null }) });
  };
  const held = new Set();
  const overlay = { pause: (r) => held.add(r), resume: (r) => held.delete(r), clear() { this.cleared += 1; }, cleared: 0,
    setRate(r) { this.rate = r; }, remove() {} };
  const shown = [];
  const sync = new MediaSync({ media: video, overlay, show: (c) => shown.push(c.id), replayUrl: "/r/", fetch, live: false });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, ["/r/?from=0&to=60&limit=200", "/r/?page=2"]);
  assert.ok(held.has("media"), "a paused video holds the overlay");
  video.paused = false;
  video.fire("playing");
  assert.ok(!held.has("media"));
  video.currentTime = 5.05;
  t.mock.timers.tick(100);
  assert.deepEqual(shown, [2], "jumped to 5 s without a seek event: 1 s was more than LATE_S ago");
  shown.length = 0;
  video.currentTime = 0;
  video.fire("seeking");
  video.fire("seeked");
  for (const time of [1.05, 3.05, 5.05]) {
    video.currentTime = time;
    t.mock.timers.tick(100);
  }
  assert.deepEqual(shown, [1, 2]);
  assert.equal(overlay.cleared, 2, "a seek clears the overlay");
  video.playbackRate = 1.5;
  video.fire("ratechange");
  assert.equal(overlay.rate, 1.5);
  video.currentTime = 50;
  t.mock.timers.tick(100);
  assert.ok(calls.includes("/r/?from=60&to=120&limit=200"), "the next window is fetched ahead of the playhead");
  sync.destroy();
});

test("sync: live comments fly at once unless the viewer is well behind their author", () => {
  const video = fakeVideo();
  video.currentTime = 100;
  const overlay = { pause() {}, resume() {}, clear() {}, setRate() {}, remove() {} };
  const shown = [];
  const sync = new MediaSync({ media: video, overlay, show: (c) => shown.push(c.id), live: true });
  sync.incoming({ id: 1, media_time: 99 }, { history: false });
  sync.incoming({ id: 2, media_time: null }, { history: false });
  sync.incoming({ id: 3, media_time: 300 }, { history: false });
  sync.incoming({ id: 4, media_time: 100 }, { history: true });
  assert.deepEqual(shown, [1, 2], "3 waits for 300 s; history only replays at its moment");
  sync.live = false;
  sync.incoming({ id: 5, media_time: 100 }, { history: false });
  assert.deepEqual(shown, [1, 2], "an ended stream: everything at its moment");
  sync.destroy();
});
