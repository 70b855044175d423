// Unit tests for realtime.js: reconnect/backoff, heartbeat, resume, publish queue, close codes, publish
// options (queue/retry/timeout), shared subscriptions, subscribe retries. "fix N" tests: see the header
// comment of realtime.js.
// Run: node --test tests/js/   (Node >= 20; no npm packages needed)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const realtime = require(path.join(__dirname, "../../realtime/static/realtime/realtime.js"));

const { FakeSocket } = require("./fakes.js");

function fakeDocument(labels = {}) {
  const listeners = {};
  const badge = {
    attrs: { ...labels },
    textContent: "",
    getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
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
  const { labels, ...options } = extra;
  const doc = fakeDocument(labels);
  const client = new realtime.Client({
    WebSocket: FakeSocket,
    document: doc,
    location: HTTP,
    random: () => 0.999999,
    ...options,
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

test("the badge's words come from its data-label-* attributes (Django's, translated), English only by default", (t) => {
  const labels = {
    "data-label-connecting": "正在连接…", "data-label-live": "已连接", "data-label-reconnecting": "正在重新连接…",
    "data-label-offline": "离线", "data-label-signed-out": "已退出登录", "data-label-policy": "已暂停",
  };
  const { client, doc, last } = makeClient(t, { labels });
  client._reflectState();
  assert.equal(doc.badge.textContent, "正在连接…");
  hello(last());
  assert.equal(doc.badge.textContent, "已连接");
  last().serverClose(1006);
  assert.equal(client.state, "reconnecting");
  assert.equal(doc.badge.textContent, "正在重新连接…");
  advance(t, 2000);
  hello(last());
  last().serverClose(4003);
  assert.equal(client.reason, "signed_out");
  assert.equal(doc.badge.textContent, "已退出登录");
  // A reason without its own word falls back to the badge's word for the state, not to English.
  client._setState("offline", "too_many_connections");
  assert.equal(doc.badge.textContent, "Too many tabs open", "no data-label-too-many-connections: the default");
  client._setState("offline", "something_new");
  assert.equal(doc.badge.textContent, "离线");
});

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

test("4003 stops and shows signed out; 4001 without tickets stops", (t) => {
  for (const [code, reason] of [[4003, "signed_out"], [4001, "auth_failed"]]) {
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

test("fix 1: a server-initiated 1000 or 1001 (daphne timeout, restart) reconnects within a second and resumes", (t) => {
  for (const code of [1000, 1001]) {
    const { client, last } = makeClient(t);
    client.subscribe("stream.1", {});
    let ws = last();
    hello(ws);
    ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: 3, history: 0, state: {} });
    ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 3, data: {} });
    const count = FakeSocket.all.length;
    ws.serverClose(code);
    assert.equal(client.state, "reconnecting", `${code} from the server is not a stop`);
    t.mock.timers.tick(1000);
    assert.equal(FakeSocket.all.length, count + 1, `reconnected after ${code}`);
    ws = last();
    hello(ws);
    assert.equal(client.state, "live");
    assert.equal(ws.sentOfType("subscribe")[0].since, 3, "and resumed where it left off");
    client.close();
    t.mock.timers.reset();
  }
});

test("fix 1: only client.close() stops: no reconnect, offline/closed, pending publishes rejected", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const pub = client.publish("note.1", "x", { client_id: "c" });
  client.close();
  assert.ok(ws.closedByClient);
  const count = FakeSocket.all.length;
  t.mock.timers.tick(600000);
  assert.equal(FakeSocket.all.length, count);
  assert.equal(client.state, "offline");
  assert.equal(client.reason, "closed");
  await assert.rejects(pub, { code: "closed" });
});

test("fix 2: 4429 (and 1008 from older servers) waits a long pause (minutes, not seconds) before reconnecting", (t) => {
  for (const code of [4429, 1008]) {
    const { client, doc, last } = makeClient(t);
    hello(last());
    last().serverClose(code);
    const count = FakeSocket.all.length;
    t.mock.timers.tick(60000);
    assert.equal(FakeSocket.all.length, count, `no quick reconnect after ${code}`);
    assert.equal(client.state, "offline");
    assert.equal(client.reason, "policy");
    assert.equal(doc.badge.textContent, "Paused");
    doc.fire("visibilitychange"); // waking the tab does not cut the pause short
    assert.equal(FakeSocket.all.length, count);
    t.mock.timers.tick(300000);
    assert.equal(FakeSocket.all.length, count + 1, `one attempt after the pause (${code})`);
    client.close();
    t.mock.timers.reset();
  }
});

test("4029 (too many connections) goes offline for a minute, or until the tab is looked at again", (t) => {
  const { client, doc, last } = makeClient(t);
  last().open();
  // The server accepts, says why, and closes: no hello.
  last().receive({ type: "error", code: "too_many_connections", message: "At most 20 connections" });
  last().serverClose(4029);
  const count = FakeSocket.all.length;
  t.mock.timers.tick(30000);
  assert.equal(FakeSocket.all.length, count, "no reconnect at backoff speed");
  assert.equal(client.state, "offline");
  assert.equal(client.reason, "too_many_connections");
  assert.equal(doc.badge.textContent, "Too many tabs open");
  t.mock.timers.tick(30000);
  assert.equal(FakeSocket.all.length, count + 1, "one attempt after the pause");
  // Refused again; this time the user comes back to the tab (having closed others): try at once.
  last().open();
  last().serverClose(4029);
  assert.equal(FakeSocket.all.length, count + 1);
  doc.fire("visibilitychange");
  assert.equal(FakeSocket.all.length, count + 2, "a visible tab tries again without waiting");
  hello(last());
  assert.equal(client.state, "live");
});

test("fix 2: 4008 (too slow) reconnects with ordinary backoff and resumes", (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: 8, history: 0, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 8, data: {} });
  ws.serverClose(4008);
  assert.equal(client.state, "reconnecting");
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  assert.equal(ws.sentOfType("subscribe")[0].since, 8);
});

/** FakeSocket that also records the subprotocols offered (the ticket travels there). */
class ProtocolSocket extends FakeSocket {
  constructor(url, protocols) {
    super(url);
    this.protocols = protocols;
  }
}

test("4001 with a ticket URL fetches a fresh ticket for the next connection", async (t) => {
  let n = 0;
  const calls = [];
  const fetch = async (url, init) => {
    calls.push([url, init.method, init.headers["X-CSRFToken"]]);
    n += 1;
    return { ok: true, status: 200, json: async () => ({ ticket: "t" + n, expires_in: 60 }) };
  };
  const { last } = makeClient(t, { fetch, ticketUrl: "/realtime/ticket/", WebSocket: ProtocolSocket });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(last().protocols, ["realtime", "realtime.ticket.t1"]);
  hello(last());
  last().receive({ type: "error", code: "auth_failed", message: "expired" });
  last().serverClose(4001);
  t.mock.timers.tick(1000);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(last().protocols, ["realtime", "realtime.ticket.t2"]);
  assert.deepEqual(calls[0], ["/realtime/ticket/", "POST", "tok123"]);
});

test("a ticket goes in the subprotocol, never in the URL", async (t) => {
  const fetch = async () => ({ ok: true, status: 200, json: async () => ({ ticket: "secret-1", expires_in: 60 }) });
  const { last } = makeClient(t, { fetch, ticketUrl: "/realtime/ticket/", WebSocket: ProtocolSocket });
  await new Promise((r) => setImmediate(r));
  assert.equal(last().url, "ws://example.test:8000/ws/realtime/");
  assert.equal(last().url.indexOf("secret-1"), -1);
});

test("without a ticket URL the socket offers no subprotocol", (t) => {
  const { last } = makeClient(t, { WebSocket: ProtocolSocket });
  assert.equal(last().protocols, undefined);
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

/** Connect, say hello, and make `topic` live; returns the socket. */
function liveOn(t, client, last, topic = "stream.1", lastId = 0) {
  const ws = last();
  hello(ws);
  const sub = ws.sentOfType("subscribe").find((f) => f.topic === topic);
  ws.receive({ type: "subscribed", ref: sub.ref, topic, last_id: lastId, history: 0, state: {} });
  return ws;
}

/** Reconnect after a network drop: returns the new socket, greeted but not yet resubscribed. */
function redial(t, ws, last) {
  ws.serverClose(1006);
  t.mock.timers.tick(1000);
  const next = last();
  assert.notEqual(next, ws, "a new socket was dialled");
  hello(next);
  return next;
}

/** Settle microtasks so a promise's fate can be read without awaiting it. */
function flushMicrotasks() {
  return new Promise((r) => setImmediate(r));
}

/** "pending", the rejection's code, or {ok: value}: fails fast where awaiting would hang. */
async function outcome(promise) {
  let result = "pending";
  promise.then((v) => (result = { ok: v }), (e) => (result = e.code));
  await flushMicrotasks();
  return result;
}

test("fix 3: a {queue: false} publish (reaction) whose connection drops before the ack is rejected, never re-sent", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = liveOn(t, client, last);
  const reaction = client.publish("stream.1", "reaction", { kind: "heart" }, { queue: false });
  assert.equal(ws.sentOfType("publish").length, 1, "sent at once while live");
  ws = redial(t, ws, last);
  assert.equal(await outcome(reaction), "offline");
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  assert.deepEqual(ws.sentOfType("publish"), [], "the reaction is not sent again on the new connection");
});

test("fix 4: a queued publish goes out exactly once when the same connection confirms its subscription twice", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = liveOn(t, client, last);
  ws.serverClose(1006);
  const post = client.publish("stream.1", "comment", { text: "a", client_id: "ca" });
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  assert.deepEqual(ws.sentOfType("publish"), [], "waits for the subscription");
  const ref = ws.sentOfType("subscribe")[0].ref;
  ws.receive({ type: "subscribed", ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  ws.receive({ type: "subscribed", ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  const pubs = ws.sentOfType("publish");
  assert.equal(pubs.length, 1, "sent once on this connection");
  ws.receive({ type: "ack", ref: pubs[0].ref, topic: "stream.1", id: 1, data: { client_id: "ca" } });
  assert.equal((await post).id, 1);
});

test("fix 4: a publish sent before subscribing to its topic is not sent again when the subscription arrives", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const post = client.publish("stream.1", "comment", { text: "a", client_id: "ca" });
  assert.equal(ws.sentOfType("publish").length, 1, "no subscription held: sent at once");
  client.subscribe("stream.1", {});
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  assert.equal(ws.sentOfType("publish").length, 1, "not a second time");
  ws.receive({ type: "ack", ref: ws.sentOfType("publish")[0].ref, topic: "stream.1", id: 1, data: {} });
  await post;
});

test("fix 4: publishes queued before the first connection go out once, after hello, in order", async (t) => {
  const { client, last } = makeClient(t);
  const a = client.publish("note.1", "x", { client_id: "1" });
  const b = client.publish("note.1", "x", { client_id: "2" });
  const ws = last();
  ws.open();
  assert.deepEqual(ws.sentOfType("publish"), [], "not before the server has said hello");
  ws.receive({ type: "hello", user: null, heartbeat: 25, max_frame: 16384 });
  ws.receive({ type: "subscribed", ref: "nobody", topic: "note.1", last_id: null, history: 0, state: {} });
  const pubs = ws.sentOfType("publish");
  assert.deepEqual(pubs.map((p) => p.data.client_id), ["1", "2"]);
  for (const p of pubs) ws.receive({ type: "ack", ref: p.ref, topic: "note.1", data: {} });
  await Promise.all([a, b]);
});

test("fix 5: a moderate publish (no client_id) is never re-sent after a reconnect; it fails with connection_lost", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = liveOn(t, client, last);
  const mod = client.publish("stream.1", "moderate", { action: "ban", user: 3 });
  const explicit = client.publish("stream.1", "comment", { text: "x", client_id: "cx" }, { retry: false });
  const comment = client.publish("stream.1", "comment", { text: "y", client_id: "cy" });
  assert.equal(ws.sentOfType("publish").length, 3);
  ws = redial(t, ws, last);
  assert.deepEqual(await Promise.all([outcome(mod), outcome(explicit)]), ["connection_lost", "connection_lost"]);
  await assert.rejects(mod, (err) => /may or may not/.test(err.message));
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  const pubs = ws.sentOfType("publish");
  assert.deepEqual(pubs.map((p) => p.data.client_id), ["cy"], "only the idempotent comment is retried");
  ws.receive({ type: "ack", ref: pubs[0].ref, topic: "stream.1", id: 1, data: {} });
  await comment;
});

test("fix 5: a moderate publish made while offline (never sent) is sent once after reconnecting", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = liveOn(t, client, last);
  ws.serverClose(1006);
  const mod = client.publish("stream.1", "moderate", { action: "delete", comment: 4 }, { retry: false });
  t.mock.timers.tick(1000);
  ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  const pubs = ws.sentOfType("publish");
  assert.equal(pubs.length, 1);
  ws.receive({ type: "ack", ref: pubs[0].ref, topic: "stream.1", data: {} });
  await mod;
});

test("fix 6: a publish times out 15 s after it was sent (not while queued); a late ack is ignored", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = liveOn(t, client, last);
  ws.serverClose(1006);
  const post = client.publish("stream.1", "comment", { text: "a", client_id: "ca" });
  let settled = null;
  post.then(() => (settled = "ok"), (e) => (settled = e.code));
  // Offline for a minute: the server cannot be slow to answer what it never got.
  t.mock.timers.tick(60000);
  await flushMicrotasks();
  assert.equal(settled, null, "no timeout while waiting in the queue");
  ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  const [pub] = ws.sentOfType("publish");
  t.mock.timers.tick(14900);
  await flushMicrotasks();
  assert.equal(settled, null, "still waiting just before 15 s");
  t.mock.timers.tick(100);
  await flushMicrotasks();
  assert.equal(settled, "timeout");
  const acks = [];
  client.on("ack", (e) => acks.push(e.detail.ref));
  ws.receive({ type: "ack", ref: pub.ref, topic: "stream.1", id: 1, data: {} });
  await flushMicrotasks();
  assert.equal(settled, "timeout", "the late ack changes nothing");
  assert.equal(client._pending.size, 0);
});

test("fix 6: the timeout option overrides the default; 0 waits for ever", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const quick = client.publish("note.1", "x", {}, { timeout: 2000 });
  const forever = client.publish("note.1", "x", {}, { timeout: 0 });
  t.mock.timers.tick(2000);
  assert.equal(await outcome(quick), "timeout");
  t.mock.timers.tick(600000);
  ws.receive({ type: "ack", ref: ws.sentOfType("publish")[1].ref, topic: "note.1", data: { ok: 1 } });
  assert.deepEqual((await forever).data, { ok: 1 });
});

test("fix 7: two subscribers to one topic share one server subscription; unsubscribe only when the last leaves", (t) => {
  const { client, last } = makeClient(t);
  const a = [];
  const b = [];
  const subA = client.subscribe("stream.1", { onEvent: (m) => a.push(m.id), onSubscribed: (m) => a.push("sub:" + m.last_id) });
  const ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sentOfType("subscribe")[0].ref, topic: "stream.1", last_id: 5, history: 0, state: { viewers: 2 } });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 6, data: {} });
  // A late joiner: no second subscribe; told at once that the subscription is live.
  const subB = client.subscribe("stream.1", { onEvent: (m) => b.push(m.id), onSubscribed: (m) => b.push("sub:" + m.last_id) });
  assert.equal(ws.sentOfType("subscribe").length, 1, "one server subscription");
  assert.deepEqual(b, ["sub:5"], "the joiner got the last subscribed frame");
  assert.equal(subB.ready, true);
  assert.deepEqual(subB.state, { viewers: 2 });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 7, data: {} });
  assert.deepEqual(a, ["sub:5", 6, 7]);
  assert.deepEqual(b, ["sub:5", 7]);
  subA.unsubscribe();
  assert.deepEqual(ws.sentOfType("unsubscribe"), [], "another handle still holds the topic");
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 8, data: {} });
  assert.deepEqual(a, ["sub:5", 6, 7], "an unsubscribed handle hears nothing more");
  assert.deepEqual(b, ["sub:5", 7, 8]);
  subA.unsubscribe(); // twice is harmless
  assert.deepEqual(ws.sentOfType("unsubscribe"), []);
  subB.unsubscribe();
  assert.deepEqual(ws.sentOfType("unsubscribe").map((f) => f.topic), ["stream.1"]);
  // And the topic is gone: a reconnect does not bring it back.
  const next = redial(t, ws, last);
  assert.deepEqual(next.sentOfType("subscribe"), []);
});

test("fix 7: handles that join before the subscription is live all get onSubscribed, kicks and refusals", (t) => {
  const { client, last } = makeClient(t);
  const seen = [];
  client.subscribe("stream.1", { onSubscribed: () => seen.push("a:sub"), onKicked: (m) => seen.push("a:" + m.code) });
  client.subscribe("stream.1", { onSubscribed: () => seen.push("b:sub"), onKicked: (m) => seen.push("b:" + m.code) });
  client.subscribe("stream.2", { onError: (e) => seen.push("c:" + e.code) });
  client.subscribe("stream.2", { onError: (e) => seen.push("d:" + e.code) });
  const ws = last();
  hello(ws);
  const [s1, s2] = ws.sentOfType("subscribe");
  assert.equal(ws.sentOfType("subscribe").length, 2);
  ws.receive({ type: "subscribed", ref: s1.ref, topic: "stream.1", last_id: null, history: 0, state: {} });
  ws.receive({ type: "error", ref: s2.ref, topic: "stream.2", code: "forbidden", message: "no" });
  ws.receive({ type: "kicked", topic: "stream.1", code: "banned", message: "bye" });
  assert.deepEqual(seen, ["a:sub", "b:sub", "c:forbidden", "d:forbidden", "a:banned", "b:banned"]);
});

test("fix 8: a subscribe refused as unavailable is retried after retry_after; publishes waiting for it still go out", async (t) => {
  const { client, last } = makeClient(t);
  const errors = [];
  const subscribed = [];
  client.subscribe("stream.1", { onError: (e) => errors.push(e.code), onSubscribed: (m) => subscribed.push(m.topic) });
  const ws = last();
  hello(ws);
  const post = client.publish("stream.1", "comment", { text: "a", client_id: "ca" });
  const first = ws.sentOfType("subscribe")[0];
  ws.receive({ type: "error", ref: first.ref, topic: "stream.1", code: "unavailable", message: "db down", retry_after: 3 });
  assert.deepEqual(errors, [], "a server failure is not a refusal");
  t.mock.timers.tick(2900);
  assert.equal(ws.sentOfType("subscribe").length, 1, "waits retry_after");
  t.mock.timers.tick(100);
  const again = ws.sentOfType("subscribe");
  assert.equal(again.length, 2, "asked again");
  assert.notEqual(again[1].ref, first.ref);
  assert.deepEqual(ws.sentOfType("publish"), []);
  ws.receive({ type: "subscribed", ref: again[1].ref, topic: "stream.1", last_id: 0, history: 0, state: {} });
  assert.deepEqual(subscribed, ["stream.1"]);
  const pubs = ws.sentOfType("publish");
  assert.equal(pubs.length, 1);
  ws.receive({ type: "ack", ref: pubs[0].ref, topic: "stream.1", id: 1, data: {} });
  await post;
});

test("fix 8: internal_error without retry_after is retried with the client's backoff; forbidden stays final", (t) => {
  const { client, last } = makeClient(t);
  const errors = [];
  client.subscribe("stream.1", { onError: (e) => errors.push(e.code) });
  client.subscribe("stream.2", { onError: (e) => errors.push(e.code) });
  const ws = last();
  hello(ws);
  const count = (topic) => ws.sentOfType("subscribe").filter((f) => f.topic === topic).length;
  let [s1, s2] = ws.sentOfType("subscribe");
  ws.receive({ type: "error", ref: s1.ref, topic: "stream.1", code: "internal_error", message: "bug" });
  ws.receive({ type: "error", ref: s2.ref, topic: "stream.2", code: "forbidden", message: "no" });
  assert.deepEqual(errors, ["forbidden"]);
  t.mock.timers.tick(1000); // backoff ceiling of the first attempt (random() ~ 1)
  assert.equal(count("stream.1"), 2);
  s1 = ws.sentOfType("subscribe").at(-1);
  ws.receive({ type: "error", ref: s1.ref, topic: "stream.1", code: "internal_error", message: "bug" });
  t.mock.timers.tick(1000);
  assert.equal(count("stream.1"), 2, "the second wait is longer");
  t.mock.timers.tick(1000);
  assert.equal(count("stream.1"), 3);
  assert.equal(count("stream.2"), 1, "the refusal is never asked again");
  assert.deepEqual(errors, ["forbidden"]);
  // A reconnect resubscribes at once and cancels the pending retry (no double subscribe).
  s1 = ws.sentOfType("subscribe").at(-1);
  ws.receive({ type: "error", ref: s1.ref, topic: "stream.1", code: "unavailable", message: "x", retry_after: 10 });
  const next = redial(t, ws, last);
  assert.deepEqual(next.sentOfType("subscribe").map((f) => f.topic), ["stream.1"]);
  t.mock.timers.tick(20000);
  assert.equal(next.sentOfType("subscribe").length, 1);
});

test("fix 9: 4013 (the server could not authenticate us now) reconnects after retry_after plus jitter and resumes", (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = last();
  hello(ws);
  ws.receive({ type: "subscribed", ref: ws.sent[0].ref, topic: "stream.1", last_id: 5, history: 0, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 5, data: {} });
  ws.serverClose(1006);
  t.mock.timers.tick(1000); // the reconnect's handshake finds the database down
  ws = last();
  ws.open();
  ws.receive({ type: "error", code: "unavailable", message: "try again", retry_after: 3 });
  ws.serverClose(4013);
  assert.equal(client.state, "reconnecting");
  assert.equal(client.reason, "unavailable");
  const count = FakeSocket.all.length;
  advance(t, 3500); // 3 s from the server, then up to 2 s of backoff jitter (second attempt)
  assert.equal(FakeSocket.all.length, count, "no reconnect before retry_after has passed");
  advance(t, 1600);
  assert.equal(FakeSocket.all.length, count + 1, "one reconnect after the pause");
  ws = last();
  hello(ws);
  assert.equal(ws.sentOfType("subscribe")[0].since, 5);
  assert.equal(client.state, "live");
});

test("fix 9: 4013 without a retry_after still backs off (and an old retry_after is not reused)", (t) => {
  const { client, last } = makeClient(t);
  let ws = last();
  ws.open();
  ws.receive({ type: "error", code: "unavailable", message: "try again", retry_after: 60 });
  ws.serverClose(4013);
  advance(t, 61000);
  ws = last();
  ws.open();
  ws.serverClose(4013); // no error frame this time: ordinary backoff (attempt 2: up to 4 s)
  assert.equal(client.reason, "unavailable");
  const count = FakeSocket.all.length;
  advance(t, 4100);
  assert.equal(FakeSocket.all.length, count + 1);
});
