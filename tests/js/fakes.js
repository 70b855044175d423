// Test doubles for realtime.js shared by its unit tests: a WebSocket driven by hand, a document with a
// badge, and a client on Node's mock clock. Not a test file itself (node --test runs *.test.js only).
"use strict";

const path = require("node:path");

const realtime = require(path.join(__dirname, "../../realtime/static/realtime/realtime.js"));

/** A WebSocket double the test drives by hand: open(), receive(), serverClose(). */
class FakeSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
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
  return {
    hidden: false,
    cookie: "",
    addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    removeEventListener() {},
    querySelectorAll() { return []; },
    fire(type) { (listeners[type] || []).forEach((fn) => fn({ type })); },
  };
}

const HTTP = { protocol: "http:", host: "example.test:8000" };

/** A Client on FakeSocket and the mock clock; `last()` is the newest socket it dialled. */
function makeClient(t, options = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 });
  FakeSocket.all = [];
  const client = new realtime.Client({
    WebSocket: FakeSocket,
    document: fakeDocument(),
    location: HTTP,
    random: () => 0.999999,
    ...options,
  });
  t.after(() => client.close());
  return { client, last: () => FakeSocket.all[FakeSocket.all.length - 1] };
}

/** Node 20's mock clock jumps Date.now() to the end of a tick before running timers: step finely. */
function advance(t, ms) {
  for (let i = 0; i < ms; i += 100) t.mock.timers.tick(100);
}

/** The socket opens and the server greets it; `extra` adds hello fields (max_in_flight, ...). */
function hello(ws, extra = {}) {
  ws.open();
  ws.receive({ type: "hello", user: { id: 7, username: "ann" }, heartbeat: 25, max_frame: 16384, ...extra });
}

/** The server confirms the socket's latest subscribe to `topic`. */
function subscribed(ws, topic, extra = {}) {
  const sub = ws.sentOfType("subscribe").filter((f) => f.topic === topic).at(-1);
  ws.receive({ type: "subscribed", ref: sub.ref, topic, last_id: null, history: 0, truncated: false, state: {}, ...extra });
}

/** Let promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

module.exports = { realtime, FakeSocket, makeClient, advance, hello, subscribed, settle, HTTP };
