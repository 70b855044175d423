// Unit tests for realtime.js's publishing window and retries (issue 18), the resubscribe race and the
// planned-restart close (1001). The decision points are checked through the exported `policy` too.
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");

const { realtime, FakeSocket, makeClient, advance, hello, subscribed, settle } = require("./fakes.js");

/** Answer every publish the socket sent since `from` with an ack; returns how many were answered. */
function ackAll(ws, from = 0) {
  const pubs = ws.sentOfType("publish").slice(from);
  for (const p of pubs) ws.receive({ type: "ack", ref: p.ref, topic: p.topic, id: 1, data: { client_id: p.data.client_id } });
  return pubs.length;
}

test("at most hello.max_in_flight publishes are sent and unanswered; the rest wait, in order", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, { max_in_flight: 3 });
  const acks = [];
  for (let i = 0; i < 10; i++) client.publish("note.1", "x", { client_id: "c" + i }).then((a) => acks.push(a.data.client_id));
  assert.deepEqual(ws.sentOfType("publish").map((p) => p.data.client_id), ["c0", "c1", "c2"]);
  const [first] = ws.sentOfType("publish");
  ws.receive({ type: "ack", ref: first.ref, topic: "note.1", data: { client_id: "c0" } });
  assert.deepEqual(ws.sentOfType("publish").map((p) => p.data.client_id), ["c0", "c1", "c2", "c3"], "one answer, one more out");
  let answered = 1;
  while (answered < 10) answered += ackAll(ws, answered);
  await settle();
  assert.deepEqual(ws.sentOfType("publish").map((p) => p.data.client_id), [...Array(10).keys()].map((i) => "c" + i));
  assert.equal(acks.length, 10);
});

test("a server whose hello has no max_in_flight is assumed to allow 64", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  for (let i = 0; i < 100; i++) client.publish("note.1", "x", { client_id: "c" + i }).catch(() => {});
  assert.equal(ws.sentOfType("publish").length, 64);
  assert.equal(realtime.policy.maxInFlight({}), 64);
  assert.equal(realtime.policy.maxInFlight({ max_in_flight: 5 }), 5);
  assert.equal(realtime.policy.maxInFlight({ max_in_flight: 0 }), 64, "nonsense means the default");
});

test("a burst of 1,000 publishes queued while offline goes out after the reconnect, each exactly once, in order", async (t) => {
  const { client, last } = makeClient(t);
  client.subscribe("stream.1", {});
  let ws = last();
  hello(ws, { max_in_flight: 64 });
  subscribed(ws, "stream.1");
  ws.serverClose(1006);
  const results = [];
  for (let i = 0; i < 1000; i++) client.publish("stream.1", "comment", { text: "n" + i, client_id: "c" + i }).then(() => results.push(i), (e) => results.push(e));
  advance(t, 1000);
  ws = last();
  hello(ws, { max_in_flight: 64 });
  subscribed(ws, "stream.1");
  let answered = 0;
  let widest = 0;
  while (answered < ws.sentOfType("publish").length) {
    widest = Math.max(widest, ws.sentOfType("publish").length - answered);
    const next = ws.sentOfType("publish")[answered];
    ws.receive({ type: "ack", ref: next.ref, topic: "stream.1", id: answered + 1, data: {} });
    answered += 1;
  }
  await settle();
  const ids = ws.sentOfType("publish").map((p) => p.data.client_id);
  assert.equal(ids.length, 1000, "each sent once");
  assert.deepEqual(ids, [...Array(1000).keys()].map((i) => "c" + i), "in the order published");
  assert.equal(widest, 64, "never more than the window unanswered");
  assert.deepEqual(results, [...Array(1000).keys()], "every promise resolved, none rejected");
});

test("too_many_in_flight is not a refusal: the same frame goes again after retry_after, nothing overtakes it", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, { max_in_flight: 2 });
  const a = client.publish("note.1", "x", { client_id: "a" });
  client.publish("note.1", "x", { client_id: "b" }).catch(() => {});
  client.publish("note.1", "x", { client_id: "c" }).catch(() => {});
  const [pa, pb] = ws.sentOfType("publish");
  ws.receive({ type: "error", ref: pa.ref, code: "too_many_in_flight", message: "full", retry_after: 0.5 });
  ws.receive({ type: "ack", ref: pb.ref, topic: "note.1", data: {} });
  assert.deepEqual(ws.sentOfType("publish").map((p) => p.data.client_id), ["a", "b"], "c waits behind a's pause");
  advance(t, 400);
  assert.equal(ws.sentOfType("publish").length, 2, "not before retry_after");
  advance(t, 200);
  const again = ws.sentOfType("publish").slice(2);
  assert.deepEqual(again.map((p) => [p.data.client_id, p.ref]), [["a", pa.ref], ["c", again[1].ref]], "a first, same frame");
  ws.receive({ type: "ack", ref: pa.ref, topic: "note.1", data: { client_id: "a" } });
  assert.equal((await a).data.client_id, "a");
});

test("unavailable and internal_error are retried (retry_after, else backoff); a refusal rejects at once", async (t) => {
  const { client, last } = makeClient(t, { random: () => 0.5 });
  const ws = last();
  hello(ws);
  const a = client.publish("note.1", "x", { client_id: "a" });
  let [p] = ws.sentOfType("publish");
  ws.receive({ type: "error", ref: p.ref, code: "unavailable", message: "db down", retry_after: 2 });
  advance(t, 2000);
  assert.equal(ws.sentOfType("publish").length, 2, "re-sent after retry_after");
  ws.receive({ type: "error", ref: p.ref, code: "internal_error", message: "bug" });
  // The publish's second retryable answer: backoff(1) = 0.5 * 2000 ms.
  advance(t, 900);
  assert.equal(ws.sentOfType("publish").length, 2);
  advance(t, 200);
  assert.equal(ws.sentOfType("publish").length, 3);
  p = ws.sentOfType("publish")[2];
  assert.equal(p.data.client_id, "a");
  ws.receive({ type: "ack", ref: p.ref, topic: "note.1", data: {} });
  await a;
  for (const code of ["rate_limited", "slow_mode", "forbidden", "banned", "bad_message", "text_too_long"]) {
    const refused = client.publish("note.1", "x", { client_id: code });
    const sent = ws.sentOfType("publish").at(-1);
    // slow_mode says how long to wait, but the page shows it: the user decides whether to post again.
    ws.receive({ type: "error", ref: sent.ref, code, message: "no", ...(code === "slow_mode" ? { retry_after: 3 } : {}) });
    await assert.rejects(refused, { code });
    assert.equal(realtime.policy.publishRetryable(code), false);
  }
  for (const code of ["too_many_in_flight", "unavailable", "internal_error"]) assert.equal(realtime.policy.publishRetryable(code), true);
  assert.equal(realtime.policy.publishRetryable("rate_limited", 3), true, "not now, rather than no");
  // rate_limited with retry_after: held, re-sent after the pause.
  const limited = client.publish("note.1", "x", { client_id: "limited" });
  const sent = ws.sentOfType("publish").at(-1);
  ws.receive({ type: "error", ref: sent.ref, code: "rate_limited", message: "slow down", retry_after: 3 });
  advance(t, 3000);
  assert.equal(ws.sentOfType("publish").at(-1).ref, sent.ref);
  ws.receive({ type: "ack", ref: sent.ref, topic: "note.1", data: {} });
  await limited;
});

test("a {queue: false} publish (a reaction) is not retried: late it is worthless", async (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const r = client.publish("stream.1", "reaction", { kind: "heart" }, { queue: false });
  const [p] = ws.sentOfType("publish");
  ws.receive({ type: "error", ref: p.ref, code: "unavailable", message: "db down", retry_after: 1 });
  await assert.rejects(r, { code: "unavailable" });
  advance(t, 2000);
  assert.equal(ws.sentOfType("publish").length, 1);
});

test("a publish waiting for its retry keeps waiting across a reconnect and goes out once, in order", async (t) => {
  const { client, last } = makeClient(t);
  let ws = last();
  hello(ws, { max_in_flight: 1 });
  const a = client.publish("note.1", "x", { client_id: "a" });
  const b = client.publish("note.1", "x", { client_id: "b" });
  const [p] = ws.sentOfType("publish");
  ws.receive({ type: "error", ref: p.ref, code: "unavailable", message: "db down", retry_after: 3 });
  ws.serverClose(1006);
  advance(t, 1000);
  ws = last();
  hello(ws, { max_in_flight: 1 });
  assert.equal(ws.sentOfType("publish").length, 0, "the server's pause still holds");
  advance(t, 2100);
  ackAll(ws);
  ackAll(ws, 1);
  assert.deepEqual(ws.sentOfType("publish").map((f) => f.data.client_id), ["a", "b"]);
  await a;
  await b;
});

test("resubscribing quickly: a stray event of the old subscription does not eat the new one's replay", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const first = client.subscribe("stream.1", {});
  subscribed(ws, "stream.1", { last_id: 5, history: 0 });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 5, data: {} });
  first.unsubscribe();
  const got = [];
  const second = client.subscribe("stream.1", { onEvent: (m, info) => got.push([m.id, info.history]) });
  // In flight before the server saw the unsubscribe: a live event of the old subscription, then the
  // unsubscribe's answer, then the new subscription with its replay.
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 6, data: {} });
  ws.receive({ type: "unsubscribed", ref: ws.sentOfType("unsubscribe")[0].ref, topic: "stream.1" });
  subscribed(ws, "stream.1", { last_id: 6, history: 3 });
  for (const id of [4, 5, 6]) ws.receive({ type: "event", topic: "stream.1", event: "comment", id, data: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 7, data: {} });
  assert.deepEqual(got, [[4, true], [5, true], [6, true], [7, false]]);
  assert.equal(second.lastId, 7);
});

test("resubscribing before the first subscribe was answered: its late answer and events are not the new one's", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws);
  const first = client.subscribe("stream.1", {});
  const [oldSub] = ws.sentOfType("subscribe");
  first.unsubscribe();
  const got = [];
  client.subscribe("stream.1", { onEvent: (m) => got.push(m.id) });
  ws.receive({ type: "subscribed", ref: oldSub.ref, topic: "stream.1", last_id: 9, history: 0, truncated: false, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 9, data: {} });
  ws.receive({ type: "unsubscribed", ref: ws.sentOfType("unsubscribe")[0].ref, topic: "stream.1" });
  subscribed(ws, "stream.1", { last_id: 9, history: 2 });
  for (const id of [8, 9]) ws.receive({ type: "event", topic: "stream.1", event: "comment", id, data: {} });
  assert.deepEqual(got, [8, 9]);
});

test("1001 (a planned restart) reconnects within a second and costs no backoff", (t) => {
  const { client, last } = makeClient(t, { random: () => 0.5 });
  hello(last());
  // Three failed attempts: the next ordinary backoff would be up to 8 s.
  for (let i = 0; i < 3; i++) {
    last().serverClose(1006);
    advance(t, 8000);
  }
  assert.equal(client.attempt, 3);
  const count = FakeSocket.all.length;
  last().open();
  last().serverClose(1001);
  assert.equal(client.state, "reconnecting");
  advance(t, 500);
  assert.equal(FakeSocket.all.length, count + 1, "0.5 of the 1 s jitter window");
  assert.equal(client.attempt, 3, "the attempt counter did not grow");
  const plan = realtime.policy.closePlan;
  assert.deepEqual(plan(1001, false), { action: "reconnect_soon", penalty: false });
  assert.deepEqual(plan(1000, false), { action: "reconnect", penalty: true });
  assert.deepEqual(plan(1006, false), { action: "reconnect", penalty: true });
  assert.deepEqual(plan(4003, true), { action: "stop", reason: "signed_out" });
  assert.deepEqual(plan(4001, false), { action: "stop", reason: "auth_failed" });
  assert.deepEqual(plan(4001, true), { action: "refresh_ticket", penalty: true });
  assert.deepEqual(plan(4429, false), { action: "pause", delay: 300000, reason: "policy", penalty: true });
  assert.equal(plan(1008, false).action, "pause");
  assert.deepEqual(plan(4029, false), { action: "pause", delay: 60000, reason: "too_many_connections", penalty: true });
  assert.equal(plan(4013, false).action, "retry_after");
  assert.equal(realtime.policy.backoffDelay(3, () => 0.5), 4000);
  assert.equal(realtime.policy.backoffDelay(20, () => 1), 30000);
});
