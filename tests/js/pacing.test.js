// Unit tests for realtime.js's pacing inside the server's request budget (hello.request_rate,
// request_burst; issue 18 item 4): the pure policy.RequestPacer, and the client spending from it for
// publishes, subscribes, unsubscribes and pings. tests/protocol_cases.json holds the shared cases.
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");

const { realtime, makeClient, advance, hello, subscribed } = require("./fakes.js");

const { RequestPacer, requestPacer } = realtime.policy;

test("RequestPacer runs a margin inside the server's bucket: 90% of its rate, a tenth of its burst kept", () => {
  const pacer = new RequestPacer(20, 100, 0, 0);
  let sent = 0;
  while (pacer.take(0)) sent += 1;
  assert.equal(sent, 90);
  // 18 a second from then on (never the server's 20).
  let later = 0;
  for (let ms = 0; ms <= 10000; ms += 10) while (pacer.take(ms)) later += 1;
  assert.equal(later, 180);
  assert.ok(pacer.readyAt() > 10000);
});

test("RequestPacer spends what was sent before hello, and a tiny burst keeps at least one", () => {
  const pacer = new RequestPacer(10, 100, 0, 30);
  let sent = 0;
  while (pacer.take(0)) sent += 1;
  assert.equal(sent, 60);
  const tiny = new RequestPacer(1, 1, 0, 0);
  assert.equal(tiny.take(0), true);
  assert.equal(tiny.take(0), false);
});

test("RequestPacer: a rate_limited answer empties it and pauses it for retry_after, at most a second", () => {
  const pacer = new RequestPacer(20, 100, 0, 0);
  pacer.refused(500, 0);
  assert.equal(pacer.take(499), false, "paused");
  assert.equal(pacer.take(500), true, "tokens came back meanwhile");
  const long = new RequestPacer(20, 100, 0, 0);
  long.refused(10000, 0); // a stream's comment limit: holds publishes, not every request for 10 s
  assert.equal(long.readyAt(), 1000);
});

test("requestPacer: none unless hello announces both request_rate and request_burst", () => {
  assert.equal(requestPacer({}, 0, 0), null);
  assert.equal(requestPacer({ request_rate: 20 }, 0, 0), null);
  assert.equal(requestPacer({ request_rate: "x", request_burst: 100 }, 0, 0), null);
  assert.ok(requestPacer({ request_rate: 20, request_burst: 100 }, 0, 0) instanceof RequestPacer);
});

test("pings wait their turn too, ahead of waiting publishes", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, { heartbeat: 1, request_rate: 10, request_burst: 3 }); // 2 at once, then 9 a second
  for (let i = 0; i < 10; i++) client.publish("note.1", "x", { client_id: "c" + i }).catch(() => {});
  assert.equal(ws.sentOfType("publish").length, 2);
  advance(t, 1000); // the heartbeat's ping falls due while publishes wait for tokens
  const kinds = ws.sent.map((f) => f.type);
  const ping = kinds.indexOf("ping");
  assert.ok(ping > 0, "the ping went out");
  assert.ok(kinds.slice(ping + 1).every((k) => k === "publish"), kinds.join(","));
  assert.ok(ws.sent.length <= 2 + 9 + 1, "never more than the budget: " + ws.sent.length);
});

test("a ping refused rate_limited (no ref) empties the budget too", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, { request_rate: 10, request_burst: 100 });
  ws.receive({ type: "error", code: "rate_limited", message: "", retry_after: 0.3 });
  client.publish("note.1", "x", { client_id: "c0" }).catch(() => {});
  assert.equal(ws.sentOfType("publish").length, 0);
  advance(t, 300);
  assert.equal(ws.sentOfType("publish").length, 1);
});

test("resubscribes on a reconnect are paced like anything else once the budget is known", (t) => {
  const { client, last } = makeClient(t);
  let ws = last();
  hello(ws, { request_rate: 10, request_burst: 4 }); // 3 at once
  for (let i = 0; i < 6; i++) client.subscribe("note." + i, {});
  assert.equal(ws.sentOfType("subscribe").length, 3);
  advance(t, 400); // 3.6 tokens more
  assert.equal(ws.sentOfType("subscribe").length, 6);
  for (let i = 0; i < 6; i++) subscribed(ws, "note." + i);
  ws.serverClose(1001);
  advance(t, 1000);
  ws = last();
  // On open, before hello, the budget is unknown: all six go at once, and count against it.
  hello(ws, { request_rate: 10, request_burst: 4 });
  assert.equal(ws.sentOfType("subscribe").length, 6);
  client.publish("note.0", "x", { client_id: "late" }).catch(() => {});
  subscribed(ws, "note.0");
  assert.equal(ws.sentOfType("publish").length, 0, "6 spent of 3: the publish waits");
  advance(t, 300);
  assert.equal(ws.sentOfType("publish").length, 0, "still in debt");
  advance(t, 200); // 4.5 tokens back since hello
  assert.equal(ws.sentOfType("publish").length, 1);
});

test("without a budget in hello nothing is paced (servers before budgets were announced)", (t) => {
  const { client, last } = makeClient(t);
  const ws = last();
  hello(ws, { max_in_flight: 500 });
  for (let i = 0; i < 300; i++) client.publish("note.1", "x", { client_id: "c" + i }).catch(() => {});
  assert.equal(ws.sentOfType("publish").length, 300);
});
