// tests/protocol_cases.json against realtime.js, on a fake socket and a mock clock. The same file
// drives the Python client (tests/test_client_protocol_table.py), so the two clients cannot drift.
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const realtime = require(path.join(__dirname, "../../realtime/static/realtime/realtime.js"));
const TABLE = JSON.parse(fs.readFileSync(path.join(__dirname, "../protocol_cases.json"), "utf8"));

class FakeSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols || [];
    this.readyState = 0;
    this.closedByClient = false;
    FakeSocket.all.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    FakeSocket.sent.push(JSON.parse(text));
  }
  close() {
    this.closedByClient = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    if (this.onopen) this.onopen({});
  }
  receive(frame) {
    if (this.onmessage) this.onmessage({ data: JSON.stringify(frame) });
  }
  serverClose(code) {
    this.readyState = 3;
    if (this.onclose) this.onclose({ code });
  }
}

/** Let promise callbacks run (the ticket fetch, publish outcomes); setImmediate is not mocked. */
async function settle() {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function summary(frame) {
  if (frame.type === "publish") return "publish:" + frame.data.text;
  if (frame.type === "subscribe") return "subscribe:" + frame.topic + ("since" in frame ? "@" + frame.since : "");
  if (frame.type === "unsubscribe") return "unsubscribe:" + frame.topic;
  if (frame.type === "ping") return "ping";
  return null;
}

class Runner {
  constructor(t, c) {
    t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
    FakeSocket.all = [];
    FakeSocket.sent = [];
    this.t = t;
    this.seen = 0; // FakeSocket.sent index of the last expect_sent
    this.delivered = {};
    this.outcomes = {};
    this.refused = {};
    this.handles = {};
    this.ids = 1000;
    this.tickets = 0;
    this.hasTicketUrl = !!c.tickets;
    const value = "random" in c ? c.random : 0.5;
    const options = { WebSocket: FakeSocket, document: null, location: { protocol: "http:", host: "example.test" }, random: () => value };
    if (c.tickets) {
      options.ticketUrl = "/realtime/ticket/";
      options.fetch = () => {
        this.tickets += 1;
        const ticket = "ticket-" + this.tickets;
        return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve({ ticket }) });
      };
    }
    this.client = new realtime.Client(options);
    t.after(() => this.client.close());
  }
  last() { return FakeSocket.all[FakeSocket.all.length - 1]; }
  latest(type, match, answering) {
    const frames = FakeSocket.sent.filter((f) => f.type === type && match(f));
    if (!frames.length) throw new Error("no " + type + " frame sent");
    return answering === "first" ? frames[0] : frames[frames.length - 1];
  }
  /** Time passes in 100 ms steps (Node's mock clock moves Date.now() to the end of a tick first). */
  async advance(ms) {
    for (let done = 0; done < ms; done += 100) {
      this.t.mock.timers.tick(Math.min(100, ms - done));
      await settle();
    }
  }
  publish(name, topic, withClientId, timeoutMs) {
    const data = { text: name };
    if (withClientId) data.client_id = name;
    const options = timeoutMs === undefined ? {} : { timeout: timeoutMs };
    this.outcomes[name] = "pending";
    this.client.publish(topic, "comment", data, options).then(
      () => { this.outcomes[name] = "acked"; },
      (err) => { this.outcomes[name] = "rejected:" + err.code; }
    );
  }
  async step(s) {
    await settle();
    const ws = this.last();
    if ("open" in s || ("hello" in s && ws.readyState === 0)) ws.open();
    if ("hello" in s) {
      this.last().receive(Object.assign({ type: "hello", user: null, heartbeat: 25, max_frame: 16384 }, s.hello));
    } else if ("receive" in s) {
      ws.receive(s.receive);
    } else if ("subscribe" in s) {
      const name = s.subscribe;
      this.handles[name] = this.client.subscribe(name, {
        onEvent: (frame) => { (this.delivered[name] = this.delivered[name] || []).push("id" in frame ? frame.id : null); },
        onError: (err) => { this.refused[name] = err.code; },
        onKicked: (frame) => { this.refused[name] = frame.code; },
      }, s.since);
    } else if ("unsubscribe" in s) {
      this.handles[s.unsubscribe].unsubscribe();
    } else if ("subscribed" in s) {
      const sub = this.latest("subscribe", (f) => f.topic === s.subscribed, s.answering);
      ws.receive({ type: "subscribed", ref: sub.ref, topic: sub.topic, last_id: null,
        history: s.history || 0, truncated: !!s.truncated, state: {} });
    } else if ("subscribe_error" in s) {
      const sub = this.latest("subscribe", (f) => f.topic === s.subscribe_error);
      const frame = { type: "error", ref: sub.ref, topic: sub.topic, code: s.code, message: "" };
      if ("retry_after" in s) frame.retry_after = s.retry_after;
      ws.receive(frame);
    } else if ("events" in s) {
      const frames = s.ids.map((id) => {
        const f = { type: "event", topic: s.events, event: "comment", data: {} };
        if (id !== null) f.id = id;
        return f;
      });
      if (s.batch) ws.receive({ type: "batch", messages: frames });
      else frames.forEach((f) => ws.receive(f));
    } else if ("publish" in s) {
      this.publish(s.publish, s.topic || "stream.9", s.client_id !== false, s.timeout_ms);
    } else if ("publish_many" in s) {
      for (let n = 0; n < s.publish_many; n++) this.publish("m" + n, s.topic, true);
    } else if ("ack" in s || "error" in s) {
      const name = s.ack || s.error;
      const pub = this.latest("publish", (f) => f.data.text === name);
      if ("ack" in s) {
        ws.receive({ type: "ack", ref: pub.ref, topic: pub.topic, id: this.ids++, data: {} });
      } else {
        const frame = { type: "error", ref: pub.ref, code: s.code, message: "" };
        if ("retry_after" in s) frame.retry_after = s.retry_after;
        ws.receive(frame);
      }
    } else if ("close" in s) {
      await this.close(ws, s);
    } else if ("advance_ms" in s) {
      await this.advance(s.advance_ms);
    } else if ("expect_sent" in s) {
      const got = FakeSocket.sent.slice(this.seen).map(summary).filter((x) => x);
      this.seen = FakeSocket.sent.length;
      assert.deepEqual(got, s.expect_sent);
    } else if ("expect_sent_count" in s) {
      const got = FakeSocket.sent.slice(this.seen).filter((f) => f.type === "publish");
      this.seen = FakeSocket.sent.length;
      assert.equal(got.length, s.expect_sent_count);
    } else if ("expect_delivered" in s) {
      assert.deepEqual(this.delivered, s.expect_delivered);
      this.delivered = {};
    } else if ("expect_outcome" in s) {
      const got = {};
      Object.keys(s.expect_outcome).forEach((k) => { got[k] = this.outcomes[k]; });
      assert.deepEqual(got, s.expect_outcome);
    } else if ("expect_refused" in s) {
      assert.deepEqual(this.refused, s.expect_refused);
    } else if ("expect_alive" in s) {
      const live = FakeSocket.all.find((w) => w.readyState === 1) || null;
      assert.equal(!!live && !live.closedByClient, s.expect_alive);
    } else if (!("open" in s)) {
      throw new Error("unknown step " + JSON.stringify(s));
    }
  }
  async close(ws, s) {
    const before = FakeSocket.all.length;
    const ticketsBefore = this.tickets;
    if ("expect_action" in s) {
      // The decision point the client itself calls on a close, named as in the table.
      assert.equal(realtime.policy.closePlan(s.close, this.hasTicketUrl).action, s.expect_action);
    }
    ws.serverClose(s.close);
    await settle();
    if ("expect_stop" in s) {
      await this.advance(10 * 60 * 1000);
      assert.equal(FakeSocket.all.length, before, "no new connection after a stop");
      assert.equal(this.client.state, "offline");
      assert.equal(this.client.reason, s.expect_stop);
      return;
    }
    const delay = s.expect_delay_ms;
    if (delay > 0) {
      this.t.mock.timers.tick(delay - 1);
      await settle();
      assert.equal(FakeSocket.all.length, before, "reconnected before " + delay + " ms");
    }
    this.t.mock.timers.tick(delay > 0 ? 1 : 0);
    await settle();
    assert.equal(FakeSocket.all.length, before + 1, "no new connection at " + delay + " ms");
    if (s.expect_action === "pause") assert.equal(this.client.state === "offline" || this.client.state === "reconnecting", true);
    if (s.expect_action === "refresh_ticket") {
      assert.equal(this.tickets, ticketsBefore + 1, "a fresh ticket for the new connection");
      assert.deepEqual(this.last().protocols, ["realtime", "realtime.ticket.ticket-" + this.tickets]);
    }
  }
}

for (const c of TABLE.cases) {
  test(c.name, async (t) => {
    const runner = new Runner(t, c);
    for (let i = 0; i < c.steps.length; i++) {
      try {
        await runner.step(c.steps[i]);
      } catch (err) {
        err.message = "step " + i + " " + JSON.stringify(c.steps[i]) + ": " + err.message;
        throw err;
      }
    }
  });
}

test("backoff delays for attempts 0..6 stay within their jitter bounds", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
  TABLE.backoff.randoms.forEach((value) => {
    const client = new realtime.Client({ WebSocket: FakeSocket, document: null, location: { protocol: "http:", host: "x" }, random: () => value });
    TABLE.backoff.ceilings_ms.forEach((ceiling, attempt) => {
      const delay = client.backoffDelay(attempt);
      assert.ok(delay >= 0 && delay < ceiling, "attempt " + attempt + ": " + delay);
      assert.ok(Math.abs(delay - value * ceiling) <= 1, "attempt " + attempt + " random " + value + ": " + delay);
    });
    client.close();
  });
});
