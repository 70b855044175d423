// Unit tests for client.presence(topic) in realtime.js: presence_state / presence_diff applied with
// Phoenix's syncState / syncDiff semantics (policy.syncState, policy.syncDiff), several metas per user
// (tabs), a reconnect that keeps the roster and reports only real differences (no flicker), and
// setStatus frames (one a second at most, latest wins, re-sent after a reconnect, rate_limited obeyed).
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");

const { realtime, makeClient, advance, hello, subscribed } = require("./fakes.js");

const { syncState, syncDiff } = realtime.policy;
const TOPIC = "page.home";

const alice = (...metas) => ({ name: "alice", avatar: "/a.png", metas });
const bob = (...metas) => ({ name: "bob", avatar: "", metas });
const m = (conn, status = null) => ({ conn, status });

function recorder(presence) {
  const log = [];
  presence.onJoin((key, before, joined) => log.push(["join", key, before ? before.metas.length : 0, joined.metas.map((x) => x.conn + ":" + x.status)]));
  presence.onLeave((key, after, left) => log.push(["leave", key, after.metas.length, left.metas.map((x) => x.conn + ":" + x.status)]));
  presence.onSync(() => log.push(["sync"]));
  return log;
}

/** A live client with presence on TOPIC and its presence_state applied. */
function livePresence(t, entries = {}, counts = {}) {
  const { client, last } = makeClient(t);
  const presence = client.presence(TOPIC);
  const ws = last();
  hello(ws);
  subscribed(ws, TOPIC);
  ws.receive({ type: "presence_state", topic: TOPIC, entries, count: Object.keys(entries).length, anonymous: 0, ...counts });
  return { client, presence, ws, last };
}

test("syncState from empty reports every user as a join; syncDiff applies joins then leaves", () => {
  const joins = [];
  const state = syncState({}, { 1: alice(m("c1")) }, (key) => joins.push(key));
  assert.deepEqual(joins, ["1"]);
  assert.deepEqual(state, { 1: alice(m("c1")) });
  const next = syncDiff(state, { joins: { 2: bob(m("c2")) }, leaves: { 1: alice(m("c1")) } });
  assert.deepEqual(next, { 2: bob(m("c2")) });
  assert.deepEqual(state, { 1: alice(m("c1")) }, "the old roster is not changed");
});

test("a status change (leave of the old meta, join of the new one on the same conn) keeps one meta", () => {
  const state = { 1: alice(m("c1"), m("c2")) };
  const next = syncDiff(state, { joins: { 1: alice(m("c1", "typing")) }, leaves: { 1: alice(m("c1")) } });
  assert.deepEqual(next["1"].metas, [m("c2"), m("c1", "typing")]);
});

test("presence_state then diffs: list(), counts, join/leave/sync callbacks", (t) => {
  const { client, last } = makeClient(t);
  const presence = client.presence(TOPIC);
  const log = recorder(presence);
  const ws = last();
  hello(ws);
  subscribed(ws, TOPIC);
  ws.receive({ type: "presence_state", topic: TOPIC, entries: { 1: alice(m("c1")) }, count: 1, anonymous: 3 });
  assert.deepEqual(presence.list(), { 1: alice(m("c1")) });
  assert.equal(presence.count, 1);
  assert.equal(presence.anonymous, 3);
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: { 2: bob(m("c2")) }, leaves: {}, count: 2, anonymous: 2 });
  assert.deepEqual(Object.keys(presence.list()), ["1", "2"]);
  assert.deepEqual(presence.list((key, e) => e.name), ["alice", "bob"]);
  assert.equal(presence.anonymous, 2);
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: {}, leaves: { 1: alice(m("c1")) }, count: 1, anonymous: 2 });
  assert.deepEqual(presence.list(), { 2: bob(m("c2")) });
  assert.deepEqual(log, [
    ["join", "1", 0, ["c1:null"]], ["sync"],
    ["join", "2", 0, ["c2:null"]], ["sync"],
    ["leave", "1", 0, ["c1:null"]], ["sync"],
  ]);
  // Frames for other topics are not ours.
  ws.receive({ type: "presence_diff", topic: "page.other", joins: { 9: bob(m("c9")) }, leaves: {} });
  assert.deepEqual(Object.keys(presence.list()), ["2"]);
});

test("a user with two tabs stays until the last tab leaves", (t) => {
  const { presence, ws } = livePresence(t, { 1: alice(m("c1")) });
  const log = recorder(presence);
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: { 1: alice(m("c2")) }, leaves: {} });
  assert.deepEqual(presence.list()["1"].metas, [m("c1"), m("c2")]);
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: {}, leaves: { 1: alice(m("c1")) } });
  assert.deepEqual(presence.list()["1"].metas, [m("c2")], "one tab closed: still here");
  ws.receive({ type: "presence_diff", topic: TOPIC, joins: {}, leaves: { 1: alice(m("c2")) } });
  assert.deepEqual(presence.list(), {});
  assert.deepEqual(log.filter((e) => e[0] !== "sync"), [
    ["join", "1", 1, ["c2:null"]],
    ["leave", "1", 1, ["c1:null"]],
    ["leave", "1", 0, ["c2:null"]],
  ]);
});

test("a reconnect keeps the roster until the new presence_state, then reports only real differences", (t) => {
  const { presence, ws, last } = livePresence(t, { 1: alice(m("c1")), 2: bob(m("c2")), 3: bob(m("c3")) });
  const log = recorder(presence);
  ws.serverClose(1006);
  assert.equal(Object.keys(presence.list()).length, 3, "kept while reconnecting");
  advance(t, 1000);
  const ws2 = last();
  assert.notEqual(ws2, ws);
  hello(ws2);
  subscribed(ws2, TOPIC);
  // A diff before this connection's state waits for it (it is relative to the new state).
  ws2.receive({ type: "presence_diff", topic: TOPIC, joins: { 4: bob(m("c4")) }, leaves: {} });
  assert.equal(Object.keys(presence.list()).length, 3, "still the old roster, nothing emitted");
  assert.deepEqual(log, []);
  // Our own tab is a new connection (c1 -> c9); bob 2 is still there; bob 3 left while we were away.
  ws2.receive({ type: "presence_state", topic: TOPIC, entries: { 1: alice(m("c9")), 2: bob(m("c2")) }, count: 2, anonymous: 0 });
  assert.deepEqual(Object.keys(presence.list()), ["1", "2", "4"]);
  const changes = log.filter((e) => e[0] !== "sync");
  assert.deepEqual(changes, [
    ["join", "1", 1, ["c9:null"]], // alice was never gone: before had her old meta
    ["leave", "1", 1, ["c1:null"]], // her old meta only; one meta left, so she stays listed
    ["leave", "3", 0, ["c3:null"]],
    ["join", "4", 0, ["c4:null"]],
  ]);
  assert.ok(!changes.some((e) => e[1] === "2"), "an unchanged user is not reported at all");
});

test("a refused subscription empties the roster", (t) => {
  const { client, last } = makeClient(t);
  const presence = client.presence(TOPIC);
  const errors = [];
  presence.onError((err) => errors.push(err.code));
  const ws = last();
  hello(ws);
  const ref = ws.sentOfType("subscribe").at(-1).ref;
  ws.receive({ type: "error", ref, code: "forbidden", message: "no" });
  assert.deepEqual(errors, ["forbidden"]);
  assert.deepEqual(presence.list(), {});
});

test("a second presence on a live topic starts from the roster the first one holds", (t) => {
  const { client, ws } = livePresence(t, { 1: alice(m("c1")) }, { anonymous: 4 });
  const second = client.presence(TOPIC);
  assert.deepEqual(second.list(), { 1: alice(m("c1")) });
  assert.equal(second.anonymous, 4);
  assert.equal(ws.sentOfType("subscribe").length, 1, "one server subscription");
  second.leave();
  assert.equal(ws.sentOfType("unsubscribe").length, 0, "the first still holds the topic");
});

test("setStatus sends a presence frame, at most one a second with the latest status", (t) => {
  const { presence, ws } = livePresence(t);
  presence.setStatus("typing");
  let frames = ws.sentOfType("presence");
  assert.equal(frames.length, 1);
  assert.deepEqual({ ...frames[0], ref: undefined }, { type: "presence", topic: TOPIC, status: "typing", ref: undefined });
  ws.receive({ type: "ack", ref: frames[0].ref });
  presence.setStatus("typing");
  assert.equal(ws.sentOfType("presence").length, 1, "unchanged status: nothing sent");
  presence.setStatus(null);
  presence.setStatus("away");
  presence.setStatus(null);
  assert.equal(ws.sentOfType("presence").length, 1, "held: less than a second since the last");
  advance(t, 1000);
  frames = ws.sentOfType("presence");
  assert.equal(frames.length, 2);
  assert.equal(frames[1].status, null, "the latest wins");
});

test("setStatus waits for the subscription and is re-sent after a reconnect", (t) => {
  const { client, last } = makeClient(t);
  const presence = client.presence(TOPIC);
  presence.setStatus("typing");
  const ws = last();
  hello(ws);
  assert.equal(ws.sentOfType("presence").length, 0, "not before subscribed");
  subscribed(ws, TOPIC);
  assert.equal(ws.sentOfType("presence").length, 1);
  ws.serverClose(1006);
  advance(t, 1000);
  const ws2 = last();
  hello(ws2);
  subscribed(ws2, TOPIC);
  assert.deepEqual(ws2.sentOfType("presence").map((f) => f.status), ["typing"], "the new connection's meta gets it");
});

test("setStatus obeys rate_limited and reports a bad_status", (t) => {
  const { presence, ws } = livePresence(t);
  const errors = [];
  presence.onError((err) => errors.push(err.code));
  presence.setStatus("typing");
  const first = ws.sentOfType("presence")[0];
  ws.receive({ type: "error", ref: first.ref, code: "rate_limited", retry_after: 3, message: "slow down" });
  advance(t, 2000);
  assert.equal(ws.sentOfType("presence").length, 1, "waits retry_after");
  advance(t, 1100);
  const again = ws.sentOfType("presence");
  assert.equal(again.length, 2);
  assert.equal(again[1].status, "typing");
  assert.deepEqual(errors, [], "rate_limited is not an error for the page");
  advance(t, 1000);
  presence.setStatus("<b>dancing</b>");
  const bad = ws.sentOfType("presence").at(-1);
  ws.receive({ type: "error", ref: bad.ref, code: "bad_status", message: "not allowed" });
  assert.deepEqual(errors, ["bad_status"]);
});

test("leave() unsubscribes and stops a pending status", (t) => {
  const { presence, ws } = livePresence(t);
  presence.setStatus("typing");
  presence.setStatus(null);
  presence.leave();
  advance(t, 2000);
  assert.equal(ws.sentOfType("presence").length, 1);
  assert.equal(ws.sentOfType("unsubscribe").length, 1);
  assert.deepEqual(presence.list(), {});
});
