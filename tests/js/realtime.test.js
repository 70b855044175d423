// Unit tests for realtime.js: reconnect/backoff, heartbeat, resume, publish queue, close codes.
// Run: node --test tests/js/   (Node >= 20; no npm packages needed)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const realtime = require(path.join(__dirname, "../../realtime/static/realtime/realtime.js"));

/** A WebSocket double the test drives by hand: open(), receive(), serverClose(). */
class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedByClient = false;
    FakeSocket.all.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.closedByClient = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen && this.onopen({});
  }
  receive(frame) {
    this.onmessage && this.onmessage({ data: JSON.stringify(frame) });
  }
  serverClose(code) {
    this.readyState = 3;
    this.onclose && this.onclose({ code });
  }
  sentOfType(type) {
    return this.sent.filter((f) => f.type === type);
  }
}
FakeSocket.all = [];

function fakeDocument() {
  const listeners = {};
  const badge = {
    attrs: {},
    textContent: "",
    setAttribute(k, v) { this.attrs[k] = v; },
    removeAttribute(k) { delete this.attrs[k]; },
  };
  return {
    hidden: false,
    cookie: "csrftoken=tok123",
    badge,
    addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    removeEventListener() {},
    querySelectorAll(sel) { return sel === "[data-realtime-badge]" ? [badge] : []; },
    fire(type) { (listeners[type] || []).forEach((fn) => fn({ type })); },
  };
}

const HTTP = { protocol: "http:", host: "example.test:8000" };

function makeClient(t, extra = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
  FakeSocket.all = [];
  const doc = fakeDocument();
  const client = new realtime.Client({
    WebSocket: FakeSocket,
    document: doc,
    location: HTTP,
    random: () => 0.999999,
    ...extra,
  });
  t.after(() => client.close());
  return { client, doc, last: () => FakeSocket.all[FakeSocket.all.length - 1] };
}

/** Node 20's mock clock jumps Date.now() to the end of a tick before running timers: step finely. */
function advance(t, ms) {
  for (let i = 0; i < ms; i += 100) t.mock.timers.tick(100);
}

function hello(ws, heartbeat = 25, user = null) {
  ws.open();
  ws.receive({ type: "hello", user, heartbeat, max_frame: 16384 });
}

test("URL scheme follows the page: ws on http, wss on https, absolute URLs kept", () => {
  assert.equal(realtime.buildUrl("/ws/realtime/", HTTP), "ws://example.test:8000/ws/realtime/");
  assert.equal(realtime.buildUrl("/ws/x/", { protocol: "https:", host: "site.test" }), "wss://site.test/ws/x/");
  assert.equal(realtime.buildUrl("wss://other.test/ws/", HTTP), "wss://other.test/ws/");
});

test("state goes connecting -> live and is reflected on the badge", (t) => {
  const { client, doc, last } = makeClient(t);
  const seen = [];
  client.on("statechange", (e) => seen.push(e.detail.state));
  assert.equal(client.state, "connecting");
  hello(last(), 25, { id: 7, username: "ann" });
  assert.deepEqual(seen, ["live"]);
  assert.equal(doc.badge.attrs["data-realtime-state"], "live");
  assert.equal(doc.badge.textContent, "Live");
  assert.deepEqual(client.user, { id: 7, username: "ann" });
});

test("backoff doubles from 1 s to a 30 s cap with jitter, and resets after a good connection", (t) => {
  const { client, last } = makeClient(t);
  // random() ~ 1 gives the ceiling of each full-jitter window.
  const ceilings = [];
  for (let i = 0; i < 7; i++) {
    const count = FakeSocket.all.length;
    last().serverClose(1006);
    assert.equal(client.state, "reconnecting");
    let waited = 0;
    while (FakeSocket.all.length === count) {
      t.mock.timers.tick(100);
      waited += 100;
      assert.ok(waited <= 30000, "no reconnect within the cap");
    }
    ceilings.push(waited);
  }
  assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  hello(last());
  last().serverClose(1006);
  const count = FakeSocket.all.length;
  t.mock.timers.tick(1000);
  assert.equal(FakeSocket.all.length, count + 1, "backoff was reset by the successful connection");
  // And the jitter is real: random() = 0.25 waits a quarter of the window.
  const c2 = new realtime.Client({ WebSocket: FakeSocket, document: null, location: HTTP, random: () => 0.25 });
  assert.equal(c2.backoffDelay(3), 2000);
  assert.equal(c2.backoffDelay(10), 7500);
  c2.close();
});

test("no reconnect attempts while the page is hidden; visibilitychange reconnects at once", (t) => {
  const { client, doc, last } = makeClient(t);
  hello(last());
  doc.hidden = true;
  last().serverClose(1006);
  const count = FakeSocket.all.length;
  t.mock.timers.tick(120000);
  assert.equal(FakeSocket.all.length, count, "a hidden tab must not dial");
  assert.equal(client.state, "reconnecting");
  doc.hidden = false;
  doc.fire("visibilitychange");
  assert.equal(FakeSocket.all.length, count + 1, "visible again: dial immediately, no backoff wait");
});

test("heartbeat pings every interval and drops a silent connection after two intervals", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, 2);
  advance(t, 2000);
  assert.equal(ws.sentOfType("ping").length, 1);
  ws.receive({ type: "pong" });
  advance(t, 2000);
  assert.equal(ws.sentOfType("ping").length, 2);
  assert.equal(client.state, "live", "a pong 2 s ago keeps it alive");
  // Now the server goes silent, though the socket still looks open.
  advance(t, 3100); // two intervals of silence plus one watchdog check
  assert.equal(client.state, "reconnecting");
  assert.ok(ws.closedByClient, "the dead socket was closed");
  const count = FakeSocket.all.length;
  advance(t, 1000);
  assert.equal(FakeSocket.all.length, count + 1, "and a new one dialled");
});

test("silence with no ping outstanding (throttled background timers) pings before giving up", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, 2);
  // As if the tab's timers had been frozen for a minute: long silence, but we never asked.
  client._lastFrameAt = Date.now() - 60000;
  client._pingSentAt = 0;
  const pings = ws.sentOfType("ping").length;
  advance(t, 1000);
  assert.equal(client.state, "live", "not dropped on silence alone");
  assert.equal(ws.sentOfType("ping").length, pings + 1, "asked instead");
  ws.receive({ type: "pong" });
  advance(t, 3000);
  assert.equal(client.state, "live", "the answer keeps it");
});

test("subscriptions are re-sent with since = last id; old ids and duplicates are ignored; batches unpacked", (t) => {
  const { client, last } = makeClient(t);
  const got = [];
  client.subscribe("stream.1", { onEvent: (m, info) => got.push([m.id ?? m.event, info.history, info.resumed]) });
  let ws = last();
  hello(ws);
  const sub1 = ws.sentOfType("subscribe");
  assert.equal(sub1.length, 1);
  assert.equal(sub1[0].topic, "stream.1");
  assert.equal("since" in sub1[0], false, "first subscribe has no resume point");
  ws.receive({ type: "subscribed", ref: sub1[0].ref, topic: "stream.1", last_id: 2, history: 2, truncated: false, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 1, data: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 2, data: {} });
  ws.receive({
    type: "batch",
    messages: [
      { type: "event", topic: "stream.1", event: "comment", id: 3, data: {} },
      { type: "event", topic: "stream.1", event: "viewers", data: { count: 2 } },
      { type: "event", topic: "stream.1", event: "comment", id: 3, data: {} },
      { type: "event", topic: "stream.1", event: "comment", id: 4, data: {} },
    ],
  });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 2, data: {} });
  assert.deepEqual(got, [[1, true, false], [2, true, false], [3, false, false], ["viewers", false, false], [4, false, false]]);

  ws.serverClose(1001);
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  const sub2 = ws.sentOfType("subscribe");
  assert.equal(sub2.length, 1);
  assert.equal(sub2[0].since, 4, "resumes after the highest id seen");
  ws.receive({ type: "subscribed", ref: sub2[0].ref, topic: "stream.1", last_id: 5, history: 1, truncated: false, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 5, data: {} });
  assert.deepEqual(got.at(-1), [5, false, true], "a missed event replayed on resume is marked resumed");
});

test("publish resolves on ack and rejects on error, matched by ref", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  const ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: null, history: 0, state: {} });
  const ok = client.publish("stream.1", "comment", { text: "hi", client_id: "c1" });
  const bad = client.publish("stream.1", "comment", { text: "x".repeat(999), client_id: "c2" });
  const [p1, p2] = ws.sentOfType("publish");
  assert.deepEqual(p1.data, { text: "hi", client_id: "c1" });
  assert.notEqual(p1.ref, p2.ref);
  ws.receive({ type: "error", ref: p2.ref, code: "slow_mode", message: "wait", retry_after: 4 });
  ws.receive({ type: "ack", ref: p1.ref, topic: "stream.1", id: 9, data: { id: 3 } });
  assert.equal((await ok).id, 9);
  await assert.rejects(bad, (err) => err.code === "slow_mode" && err.retryAfter === 4);
});

test("posts made while offline are queued and re-sent after resubscribing, with the same client_id", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  // Sent, but the connection dies before the ack.
  const first = client.publish("stream.1", "comment", { text: "a", client_id: "ca" });
  ws.serverClose(1006);
  const second = client.publish("stream.1", "comment", { text: "b", client_id: "cb" });
  await assert.rejects(client.publish("stream.1", "reaction", { kind: "heart" }, { queue: false }), { code: "offline" });
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  assert.deepEqual(ws.sent.map((f) => f.type), ["subscribe"], "publishes wait for the subscription");
  ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: 1, history: 0, state: {} });
  const pubs = ws.sentOfType("publish");
  assert.deepEqual(pubs.map((p) => p.data.client_id), ["ca", "cb"]);
  for (const p of pubs) ws.receive({ type: "ack", ref: p.ref, topic: "stream.1", id: 1, data: { client_id: p.data.client_id } });
  assert.equal((await first).data.client_id, "ca");
  assert.equal((await second).data.client_id, "cb");
});

test("4003 stops and shows signed out; 1000 stops; 4001 without tickets stops", (t) => {
  for (const [code, reason] of [[4003, "signed_out"], [1000, "closed"], [4001, "auth_failed"]]) {
    const { client, doc, last } = makeClient(t);
    hello(last());
    const count = FakeSocket.all.length;
    last().serverClose(code);
    t.mock.timers.tick(600000);
    assert.equal(FakeSocket.all.length, count, `no reconnect after ${code}`);
    assert.equal(client.state, "offline");
    assert.equal(client.reason, reason);
    if (code === 4003) assert.equal(doc.badge.textContent, "Signed out");
    client.close();
    t.mock.timers.reset();
  }
});

test("1008 waits a long pause (minutes, not seconds) before reconnecting", (t) => {
  const { client, last } = makeClient(t);
  hello(last());
  last().serverClose(1008);
  const count = FakeSocket.all.length;
  t.mock.timers.tick(60000);
  assert.equal(FakeSocket.all.length, count);
  assert.equal(client.state, "offline");
  t.mock.timers.tick(300000);
  assert.equal(FakeSocket.all.length, count + 1);
});

test("4001 with a ticket URL fetches a fresh ticket for the next connection", async (t) => {
  let n = 0;
  const calls = [];
  const fetch = async (url, init) => {
    calls.push([url, init.method, init.headers["X-CSRFToken"]]);
    n += 1;
    return { ok: true, status: 200, json: async () => ({ ticket: "t" + n, expires_in: 60 }) };
  };
  const { last } = makeClient(t, { fetch, ticketUrl: "/realtime/ticket/" });
  await new Promise((r) => setImmediate(r));
  assert.equal(last().url, "ws://example.test:8000/ws/realtime/?ticket=t1");
  hello(last());
  last().receive({ type: "error", code: "auth_failed", message: "expired" });
  last().serverClose(4001);
  t.mock.timers.tick(1000);
  await new Promise((r) => setImmediate(r));
  assert.equal(last().url, "ws://example.test:8000/ws/realtime/?ticket=t2");
  assert.deepEqual(calls[0], ["/realtime/ticket/", "POST", "tok123"]);
});

test("a kicked or refused subscription is not re-sent on reconnect", (t) => {
  const { client, last } = makeClient(t);
  const kicked = [];
  const errors = [];
  client.subscribe("stream.1", { onKicked: (m) => kicked.push(m.code) });
  client.subscribe("stream.999", { onError: (e) => errors.push(e.code) });
  let ws = last();
  hello(ws);
  const [s1, s2] = ws.sentOfType("subscribe");
  ws.receive({ type: "subscribed", ref: s1.ref, topic: "stream.1", last_id: null, history: 0, state: {} });
  ws.receive({ type: "error", ref: s2.ref, code: "not_found", topic: "stream.999", message: "no" });
  ws.receive({ type: "kicked", topic: "stream.1", code: "banned", message: "bye" });
  assert.deepEqual(kicked, ["banned"]);
  assert.deepEqual(errors, ["not_found"]);
  ws.serverClose(1006);
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  assert.deepEqual(ws.sentOfType("subscribe"), []);
});
