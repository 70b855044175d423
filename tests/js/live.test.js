// Unit tests for live.js's page controller (issue 21) on the real realtime.js Client and a fake
// socket: one subscription per topic however many elements share it; a MutationObserver that
// subscribes what htmx (or any script) swaps in and unsubscribes a topic when its last element
// leaves; subscribed.state applied on every (re)subscribe by morphing (nodes kept: no flicker);
// events applied and announced with "realtime:live"; refusals marked; live.value().
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const live = require(path.join(__dirname, "../../realtime/static/realtime/live.js"));
const { makeClient, advance, hello, subscribed } = require("./fakes.js");
const { makeDocument, MutationObserver, CustomEvent, flush } = require("./livedom.js");

const ROWS = "livev.open-all";
const CARD = "livev.card-all-7";
const STATS = "livev.stats-all";

const PAGE =
  `<div id="card" data-live-topic="${CARD}" data-live-form="fragment"><p class="s">open</p><input id="note"></div>` +
  `<table><tbody id="rows" data-live-topic="${ROWS}" data-live-form="rows"><tr data-live-key="1"><td>one</td></tr></tbody></table>` +
  `<span id="open" data-live-topic="${STATS}" data-live-form="value" data-live-field="open">0</span>` +
  `<span id="open2" data-live-topic="${STATS}" data-live-form="value" data-live-field="open">0</span>`;

/** A page, a live controller on a connected client (hello said), and its socket. */
function setup(t, html = PAGE) {
  const doc = makeDocument(html);
  const { client, last } = makeClient(t);
  const controller = live.createLive(doc, { client, MutationObserver, CustomEvent });
  controller.start();
  t.after(() => controller.stop());
  const ws = last();
  hello(ws);
  return { doc, client, controller, ws, last };
}
const subscribes = (ws) => ws.sentOfType("subscribe").map((f) => f.topic);
const unsubscribes = (ws) => ws.sentOfType("unsubscribe").map((f) => f.topic);
const rowsState = (order, texts) => ({
  form: "rows",
  order,
  html: Object.fromEntries(order.map((k) => [k, `<tr><td>${texts[k]}</td></tr>`])),
});

test("every topic on the page is subscribed once, however many elements share it", (t) => {
  const { ws } = setup(t);
  assert.deepEqual(subscribes(ws).sort(), [CARD, ROWS, STATS].sort());
});

test("a page without live elements asks for no client (opens no socket)", async () => {
  const doc = makeDocument("<p>nothing live</p>");
  let asked = 0;
  const controller = live.createLive(doc, { connect: () => { asked += 1; return null; }, MutationObserver, CustomEvent });
  controller.start();
  doc.body.appendChild(doc.createElement("div"));
  await flush();
  assert.equal(asked, 0);
  controller.stop();
});

test("subscribed.state is applied to every element of the topic, and each gets a realtime:live event", (t) => {
  const { doc, ws } = setup(t);
  const seen = [];
  doc.addEventListener("realtime:live", (e) => seen.push([e.target.getAttribute("id"), e.detail.topic, e.detail.form, e.detail.initial]));
  subscribed(ws, STATS, { state: { form: "value", value: { open: 4 } } });
  subscribed(ws, ROWS, { state: rowsState(["2", "1"], { 1: "one", 2: "two" }) });
  subscribed(ws, CARD, { state: { form: "fragment", html: '<p class="s">paid</p><input id="note">' } });
  assert.equal(doc.querySelector("#open").textContent, "4");
  assert.equal(doc.querySelector("#open2").textContent, "4");
  assert.deepEqual(doc.querySelector("#rows").children.map((r) => r.textContent), ["two", "one"]);
  assert.equal(doc.querySelector(".s").textContent, "paid");
  assert.deepEqual(seen, [
    ["open", STATS, "value", true], ["open2", STATS, "value", true],
    ["rows", ROWS, "rows", true], ["card", CARD, "fragment", true],
  ]);
});

test("events update the page in place; typed input and focus survive a render", (t) => {
  const { doc, ws } = setup(t);
  subscribed(ws, CARD, { state: { form: "fragment", html: '<p class="s">open</p><input id="note">' } });
  subscribed(ws, ROWS, { state: rowsState(["1"], { 1: "one" }) });
  const note = doc.querySelector("#note");
  note.focus();
  note.value = "half a sentence";
  ws.receive({ type: "event", topic: CARD, event: "render", data: { html: '<p class="s">shipped</p><input id="note">', deleted: false } });
  ws.receive({ type: "event", topic: ROWS, event: "rows", data: { order: ["3", "1"], html: { 3: "<tr><td>three</td></tr>" } } });
  ws.receive({ type: "event", topic: STATS, event: "value", data: { value: { open: 9 } } });
  assert.equal(doc.querySelector(".s").textContent, "shipped");
  assert.equal(doc.querySelector("#note"), note);
  assert.equal(doc.activeElement, note);
  assert.equal(note.value, "half a sentence");
  assert.deepEqual(doc.querySelector("#rows").children.map((r) => r.textContent), ["three", "one"]);
  assert.equal(doc.querySelector("#open").textContent, "0", "no state yet for the stats topic: its events wait");
});

test("an element swapped in later (htmx) is subscribed; the topic is dropped when its last element goes", async (t) => {
  const { doc, ws } = setup(t);
  const box = doc.createElement("section");
  box.innerHTML = '<div id="other" data-live-topic="livev.card-all-8" data-live-form="fragment">old</div>';
  doc.body.appendChild(box);
  await flush();
  assert.equal(subscribes(ws).filter((x) => x === "livev.card-all-8").length, 1);
  subscribed(ws, "livev.card-all-8", { state: { form: "fragment", html: "<b>new</b>" } });
  assert.equal(doc.querySelector("#other").innerHTML, "<b>new</b>");

  doc.querySelector("#open").remove(); // one of two elements of STATS
  await flush();
  assert.deepEqual(unsubscribes(ws), []);
  doc.querySelector("#open2").remove();
  box.remove();
  await flush();
  assert.deepEqual(unsubscribes(ws).sort(), [STATS, "livev.card-all-8"].sort());
});

test("an element moved within the page (removed and added in one tick) keeps its subscription", async (t) => {
  const { doc, ws } = setup(t);
  const card = doc.querySelector("#card");
  doc.body.appendChild(card);
  await flush();
  assert.deepEqual(unsubscribes(ws), []);
  assert.equal(subscribes(ws).filter((x) => x === CARD).length, 1);
});

test("htmx replacing an element with a fresh copy of the same topic keeps one subscription and no unsubscribe", async (t) => {
  const { doc, ws } = setup(t);
  const card = doc.querySelector("#card");
  const wrapper = doc.createElement("div");
  wrapper.innerHTML = `<div id="card" data-live-topic="${CARD}" data-live-form="fragment"><p class="s">from htmx</p></div>`;
  card.parentNode.replaceChild(wrapper.firstChild, card);
  await flush();
  assert.deepEqual(unsubscribes(ws), []);
  assert.equal(subscribes(ws).filter((x) => x === CARD).length, 1);
  ws.receive({ type: "event", topic: CARD, event: "render", data: { html: "<p>x</p>" } }); // before subscribed: ignored
  subscribed(ws, CARD, { state: { form: "fragment", html: '<p class="s">state</p>' } });
  assert.equal(doc.querySelector("#card").textContent, "state", "the new element is the one updated");
});

test("changing data-live-topic moves the element to the new topic", async (t) => {
  const { doc, ws } = setup(t);
  doc.querySelector("#card").setAttribute("data-live-topic", "livev.card-all-9");
  await flush();
  assert.deepEqual(unsubscribes(ws), [CARD]);
  assert.ok(subscribes(ws).includes("livev.card-all-9"));
});

test("after a reconnect the resubscribe's state is morphed in: nodes kept, page jumps to the current state", (t) => {
  const { doc, ws, last } = setup(t);
  subscribed(ws, ROWS, { state: rowsState(["1", "2", "3"], { 1: "one", 2: "two", 3: "three" }) });
  subscribed(ws, CARD, { state: { form: "fragment", html: '<p class="s">open</p><input id="note">' } });
  const rows = doc.querySelector("#rows").children.slice();
  const status = doc.querySelector(".s");
  const note = doc.querySelector("#note");
  note.focus();
  note.value = "typed while offline";
  ws.serverClose(1006);
  advance(t, 2000);
  const ws2 = last();
  assert.notEqual(ws2, ws);
  hello(ws2);
  const events = [];
  doc.addEventListener("realtime:live", (e) => events.push(e.detail.initial));
  // Meanwhile row 2 was deleted, row 4 created, row 3 changed, and the order flipped.
  subscribed(ws2, ROWS, { state: rowsState(["4", "3", "1"], { 1: "one", 3: "three!", 4: "four" }) });
  subscribed(ws2, CARD, { state: { form: "fragment", html: '<p class="s">cancelled</p><input id="note">' } });
  const after = doc.querySelector("#rows").children;
  assert.deepEqual(after.map((r) => r.textContent), ["four", "three!", "one"]);
  assert.equal(after[1], rows[2], "row 3 is the same node, morphed");
  assert.equal(after[2], rows[0]);
  assert.equal(rows[1].parentNode, null);
  assert.equal(doc.querySelector(".s"), status);
  assert.equal(status.textContent, "cancelled");
  assert.equal(note.value, "typed while offline");
  assert.equal(doc.activeElement, note);
  assert.deepEqual(events, [true, true]);
});

test("a refused subscription marks its elements with the code and fires realtime:live-error", (t) => {
  const { doc, ws } = setup(t);
  const codes = [];
  doc.addEventListener("realtime:live-error", (e) => codes.push(e.detail.code));
  const sub = ws.sentOfType("subscribe").find((f) => f.topic === CARD);
  ws.receive({ type: "error", ref: sub.ref, code: "forbidden", message: "no" });
  assert.equal(doc.querySelector("#card").getAttribute("data-live-error"), "forbidden");
  assert.deepEqual(codes, ["forbidden"]);
});

test("live.value(topic, fn) gets the current value at once and every change; stop() drops a topic no element holds", (t) => {
  const { controller, ws } = setup(t, "<p>no elements</p>");
  const values = [];
  const stop = controller.value(STATS, (v, info) => values.push([v.open, info.initial]));
  subscribed(ws, STATS, { state: { form: "value", value: { open: 1 } } });
  ws.receive({ type: "event", topic: STATS, event: "value", data: { value: { open: 2 } } });
  const late = [];
  controller.value(STATS, (v, info) => late.push([v.open, info.initial]));
  assert.deepEqual(values, [[1, true], [2, false]]);
  assert.deepEqual(late, [[2, true]]);
  stop();
  assert.deepEqual(unsubscribes(ws), [], "the second listener still holds it");
});

test("live.on() on a model topic receives its change events", (t) => {
  const { controller, ws } = setup(t, "");
  const got = [];
  const stop = controller.on("live.shop-order", (p) => got.push(p));
  subscribed(ws, "live.shop-order", { state: {} });
  ws.receive({ type: "event", topic: "live.shop-order", event: "change", id: 5, data: { op: "update", pk: 3, fields: { status: "paid" } } });
  assert.deepEqual(got, [{ form: "change", op: "update", pk: 3, fields: { status: "paid" } }]);
  stop();
  assert.deepEqual(unsubscribes(ws), ["live.shop-order"]);
});

test("live.state() is the page connection's state: null before any topic, then the client's", (t) => {
  const doc = makeDocument("");
  const { client, last } = makeClient(t);
  const controller = live.createLive(doc, { connect: () => client, MutationObserver, CustomEvent });
  controller.start();
  t.after(() => controller.stop());
  assert.equal(controller.state(), null);
  controller.value(STATS, () => {});
  assert.deepEqual(controller.state(), { state: "connecting", reason: null });
  hello(last());
  assert.deepEqual(controller.state(), { state: "live", reason: null });
  assert.equal(controller.client(), client);
});

test("a stale copy of a live element put back (htmx restoring its history) gets the latest state at once", async (t) => {
  const { doc, ws } = setup(t);
  subscribed(ws, ROWS, { state: rowsState(["1", "2"], { 1: "one", 2: "two" }) });
  subscribed(ws, STATS, { state: { form: "value", value: { open: 2 } } });
  ws.receive({ type: "event", topic: ROWS, event: "rows", data: { order: ["3", "1", "2"], html: { 3: "<tr><td>three</td></tr>" } } });
  ws.receive({ type: "event", topic: STATS, event: "value", data: { value: { open: 3 } } });
  // The snapshot htmx took before those events, swapped back in place of the current body content.
  const snapshot = doc.createElement("div");
  snapshot.innerHTML = PAGE;
  const holder = doc.createElement("main");
  Array.from(snapshot.childNodes).forEach((n) => holder.appendChild(n));
  const old = doc.createElement("main");
  Array.from(doc.body.childNodes).forEach((n) => old.appendChild(n));
  doc.body.appendChild(old);
  await flush();
  doc.body.replaceChild(holder, old);
  await flush();
  assert.deepEqual(doc.querySelector("#rows").children.map((r) => r.textContent), ["three", "one", "two"]);
  assert.equal(doc.querySelector("#open").textContent, "3");
  assert.deepEqual(unsubscribes(ws), [], "handed over, not dropped and asked for again");
  assert.equal(subscribes(ws).length, 3);
});

test("a page callback that throws does not keep the elements or the other callbacks from their update", (t) => {
  const { doc, controller, ws } = setup(t);
  const errors = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => errors.push(e.message);
  t.after(() => { globalThis.reportError = saved; });
  controller.value(STATS, () => { throw new Error("broken chart"); });
  const got = [];
  controller.value(STATS, (v) => got.push(v.open));
  subscribed(ws, STATS, { state: { form: "value", value: { open: 5 } } });
  assert.equal(doc.querySelector("#open").textContent, "5");
  assert.deepEqual(got, [5]);
  assert.deepEqual(errors, ["broken chart"]);
});
