// Unit tests for live.js's morph and its three forms (issue 21), on tests/js/livedom.js: an update
// keeps the focused element focused and what the user typed, syncs attributes, keeps nodes (matched
// by data-live-key or id, then position); rows insert, move only what is out of place, remove and
// follow a cap; value elements get text only.
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const live = require(path.join(__dirname, "../../realtime/static/realtime/live.js"));
const { makeDocument } = require("./livedom.js");

function fragment(html) {
  const doc = makeDocument(`<div id="box" data-live-topic="livev.card-all-1" data-live-form="fragment">${html}</div>`);
  const box = doc.querySelector("#box");
  return { doc, box, update: (next) => live.applyFragment(box, { form: "fragment", html: next }, doc) };
}

const CARD = (status, extra = "") =>
  `<h3 class="title">Order 1</h3><p class="status s-${status}" data-state="${status}">${status}</p>` +
  `<form><input id="note" name="note" value="server note"><textarea id="memo">server memo</textarea>${extra}</form>`;

test("an update keeps the focused input focused, its typed value and the node itself", () => {
  const { doc, box, update } = fragment(CARD("open"));
  const note = doc.querySelector("#note");
  note.focus();
  note.value = "typed by the user";
  update(CARD("paid"));
  assert.equal(doc.querySelector("#note"), note, "the same input element, not a copy");
  assert.equal(doc.activeElement, note, "focus kept");
  assert.equal(note.value, "typed by the user");
  assert.equal(box.querySelector(".status").textContent, "paid");
  assert.equal(box.querySelector(".status").getAttribute("class"), "status s-paid");
});

test("a focused input the user has not typed in keeps its value too; an untouched one follows the server", () => {
  const { doc, update } = fragment(CARD("open"));
  const note = doc.querySelector("#note");
  note.focus();
  update(CARD("open").replace('value="server note"', 'value="new note"'));
  assert.equal(note.value, "server note", "focused: not overwritten under the caret");
  note.blur();
  update(CARD("open").replace('value="server note"', 'value="newer note"'));
  assert.equal(note.value, "newer note", "untouched and not focused: the server's value");
  assert.equal(note.getAttribute("value"), "newer note");
});

test("an edited input and textarea keep what the user typed after they lost focus", () => {
  const { doc, update } = fragment(CARD("open"));
  const note = doc.querySelector("#note");
  const memo = doc.querySelector("#memo");
  note.value = "mine";
  memo.value = "my memo";
  update(CARD("paid").replace("server note", "other").replace("server memo", "other memo"));
  assert.equal(note.value, "mine");
  assert.equal(memo.value, "my memo");
  assert.equal(doc.querySelector("#note"), note);
  assert.equal(doc.querySelector("#memo"), memo);
});

test("a focused textarea's text is left alone", () => {
  const { doc, update } = fragment(CARD("open"));
  const memo = doc.querySelector("#memo");
  memo.focus();
  update(CARD("open").replace("server memo", "changed memo"));
  assert.equal(memo.value, "server memo");
  assert.equal(doc.activeElement, memo);
});

test("attributes are added, changed and removed in place; a different tag is replaced", () => {
  const { box, update } = fragment('<p id="a" class="x" title="old" hidden>one</p><span>two</span>');
  const p = box.querySelector("#a");
  update('<p id="a" class="y" data-new="1">uno</p><em>dos</em>');
  assert.equal(box.querySelector("#a"), p);
  assert.deepEqual(p.attributes.map((a) => [a.name, a.value]), [["id", "a"], ["class", "y"], ["data-new", "1"]]);
  assert.equal(p.textContent, "uno");
  assert.equal(box.children[1].nodeName, "EM");
  assert.equal(box.innerHTML, '<p id="a" class="y" data-new="1">uno</p><em>dos</em>');
});

test("children keyed by data-live-key or id keep their nodes when reordered, added before, or a sibling goes", () => {
  const { doc, box, update } = fragment('<ul><li data-live-key="1">a</li><li data-live-key="2"><input id="i2"></li><li id="three">c</li></ul>');
  const [one, two, three] = box.querySelectorAll("li");
  const input = doc.querySelector("#i2");
  input.focus();
  update('<ul><li data-live-key="0">z</li><li data-live-key="2"><input id="i2"></li><li id="three">C</li></ul>');
  const lis = box.querySelectorAll("li");
  assert.deepEqual(lis.map((li) => li.textContent), ["z", "", "C"]);
  assert.equal(lis[1], two);
  assert.equal(lis[2], three);
  assert.equal(one.parentNode, null, "key 1 is gone");
  assert.equal(doc.activeElement, input, "nothing moved the focused row");
});

test("a nested live element keeps its own content when the outer fragment is morphed", () => {
  const { box, update } = fragment('<p>outer</p><span data-live-topic="livev.stats-all" data-live-field="open">9</span>');
  update('<p>outer 2</p><span data-live-topic="livev.stats-all" data-live-field="open">3</span>');
  assert.equal(box.querySelector("span").textContent, "9");
  assert.equal(box.querySelector("p").textContent, "outer 2");
});

test("a deleted fragment empties and is marked; a later render brings it back", () => {
  const { doc, box } = fragment("<p>here</p>");
  live.applyFragment(box, { form: "fragment", html: "", deleted: true }, doc);
  assert.equal(box.childNodes.length, 0);
  assert.equal(box.hasAttribute("data-live-deleted"), true);
  live.applyFragment(box, { form: "fragment", html: "<p>back</p>", deleted: false }, doc);
  assert.equal(box.textContent, "back");
  assert.equal(box.hasAttribute("data-live-deleted"), false);
});

// -- rows ------------------------------------------------------------------------------------------

const ROW = (k, text) => `<tr class="row"><td>${text}</td><td><input name="q${k}"></td></tr>`;

function table(keys) {
  const doc = makeDocument('<table><tbody id="rows" data-live-topic="livev.open-all" data-live-form="rows"></tbody><tfoot></tfoot></table>');
  const body = doc.querySelector("#rows");
  const known = {};
  const html = Object.fromEntries(keys.map((k) => [k, ROW(k, "row " + k)]));
  live.applyRows(body, { form: "rows", order: keys, html }, known, doc);
  // Count the moves and inserts rows cost (what the browser would re-layout, and what blurs).
  const ops = [];
  const insert = body.insertBefore.bind(body);
  body.insertBefore = (node, before) => { ops.push(node.getAttribute && node.getAttribute("data-live-key")); return insert(node, before); };
  return { doc, body, ops, apply: (order, rows = {}) => live.applyRows(body, { form: "rows", order, html: rows }, known, doc) };
}
const keysOf = (body) => body.children.map((r) => r.getAttribute("data-live-key"));

test("rows: the state builds every row in order, each root carrying its data-live-key", () => {
  const { body } = table(["17", "12", "3"]);
  assert.deepEqual(keysOf(body), ["17", "12", "3"]);
  assert.equal(body.children[0].textContent, "row 17");
});

test("rows: a new row is inserted at its place and nothing else is touched", () => {
  const { body, ops, apply } = table(["1", "2", "3"]);
  const before = body.children.slice();
  apply(["1", "9", "2", "3"], { 9: ROW(9, "row 9") });
  assert.deepEqual(keysOf(body), ["1", "9", "2", "3"]);
  assert.deepEqual(ops, ["9"], "one insert, no moves");
  assert.equal(body.children[0], before[0]);
  assert.equal(body.children[2], before[1]);
});

test("rows: a move moves only the row that changed place (the rest stay put)", () => {
  const { body, ops, apply } = table(["1", "2", "3", "4", "5", "6"]);
  const nodes = body.children.slice();
  apply(["1", "2", "5", "3", "4", "6"]);
  assert.deepEqual(keysOf(body), ["1", "2", "5", "3", "4", "6"]);
  assert.deepEqual(ops, ["5"]);
  assert.deepEqual(body.children, [nodes[0], nodes[1], nodes[4], nodes[2], nodes[3], nodes[5]]);
});

test("rows: keys not in order are removed; a cap drops the tail; a changed row is morphed in place", () => {
  const { doc, body, apply } = table(["1", "2", "3", "4"]);
  const two = body.children[1];
  const input = two.querySelector("input");
  input.focus();
  input.value = "typing";
  apply(["5", "2", "1"], { 5: ROW(5, "row 5"), 2: ROW(2, "row 2 changed").replace("row", 'row live-hot') });
  assert.deepEqual(keysOf(body), ["5", "2", "1"]);
  assert.equal(body.children[1], two, "same node");
  assert.equal(two.textContent, "row 2 changed");
  assert.equal(two.getAttribute("class"), "row live-hot");
  assert.equal(input.value, "typing");
  assert.equal(doc.activeElement, input, "the focused row never moved");
});

test("rows: a row absent from this element is built from the rows known so far; non-row children stay after", () => {
  const doc = makeDocument('<table><tbody id="rows"><tr data-live-key="2"><td>2</td></tr><tr class="empty"><td>none</td></tr></tbody></table>');
  const body = doc.querySelector("#rows");
  live.applyRows(body, { order: ["1", "2"], html: {} }, { 1: "<tr><td>1 from cache</td></tr>" }, doc);
  assert.deepEqual(body.children.map((r) => r.textContent), ["1 from cache", "2", "none"]);
  live.applyRows(body, { order: ["2", "1", "7"], html: { 7: "<tr><td>7</td></tr>" } }, {}, doc);
  assert.deepEqual(body.children.map((r) => r.textContent), ["2", "1 from cache", "7", "none"]);
});

test("rows: random sequences of orders always end in the order given, moving at most what changed place", () => {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const { body, ops, apply } = table([]);
  let current = [];
  for (let round = 0; round < 300; round++) {
    const pool = Array.from({ length: 12 }, (_, i) => String(i));
    const order = pool.filter(() => rand() < 0.6).sort(() => rand() - 0.5).slice(0, 8); // cap 8
    const added = order.filter((k) => !current.includes(k));
    ops.length = 0;
    apply(order, Object.fromEntries(added.map((k) => [k, ROW(k, "r" + k)])));
    assert.deepEqual(keysOf(body), order);
    const kept = order.filter((k) => current.includes(k)).map((k) => current.indexOf(k));
    const stay = live.longestIncreasing(kept).length;
    assert.equal(ops.length, order.length - stay, "inserts + moves = rows not in the longest kept run");
    current = order;
  }
});

test("longestIncreasing finds a longest increasing run", () => {
  assert.deepEqual(live.longestIncreasing([]), []);
  assert.deepEqual(live.longestIncreasing([0, 1, 2]), [0, 1, 2]);
  assert.equal(live.longestIncreasing([3, 0, 1, 4, 2]).length, 3);
  assert.deepEqual(live.longestIncreasing([2, 1, 0]).length, 1);
});

// -- value -----------------------------------------------------------------------------------------

test("value: the JSON script element holds the JSON, a field span the field as text (markup stays text)", () => {
  const doc = makeDocument(
    '<script type="application/json" id="j" data-live-form="value">{}</script>' +
    '<span id="open" data-live-field="open">0</span><span id="name" data-live-field="last.name">?</span>' +
    '<span id="gone" data-live-field="missing">x</span>'
  );
  const value = { open: 3, last: { name: "<img src=x onerror=alert(1)>" } };
  ["#j", "#open", "#name", "#gone"].forEach((s) => live.applyValue(doc.querySelector(s), value));
  assert.deepEqual(JSON.parse(doc.querySelector("#j").textContent), value);
  assert.equal(doc.querySelector("#open").textContent, "3");
  const name = doc.querySelector("#name");
  assert.equal(name.textContent, "<img src=x onerror=alert(1)>");
  assert.equal(name.children.length, 0, "no element was created from the text");
  assert.equal(doc.querySelector("#gone").textContent, "");
});

test("payloadOf maps the wire events onto the state shapes", () => {
  assert.deepEqual(live.payloadOf({ event: "render", data: { html: "<p>", deleted: false } }), { form: "fragment", html: "<p>", deleted: false });
  assert.deepEqual(live.payloadOf({ event: "rows", data: { order: ["1"], html: {} } }), { form: "rows", order: ["1"], html: {} });
  assert.deepEqual(live.payloadOf({ event: "value", data: { value: { a: 1 } } }), { form: "value", value: { a: 1 } });
  assert.equal(live.payloadOf({ event: "comment", data: {} }), null);
  assert.equal(live.payloadOf({ event: "render", data: "junk" }), null);
});

test("text being edited in a focused contenteditable is left alone; its attributes still follow", () => {
  const { doc, box, update } = fragment('<div id="ed" contenteditable="true" class="a"><p>draft</p></div><p id="s">x</p>');
  const ed = doc.querySelector("#ed");
  ed.focus();
  ed.querySelector("p").textContent = "draft, edited by the user";
  update('<div id="ed" contenteditable="true" class="b"><p>server text</p></div><p id="s">y</p>');
  assert.equal(ed.textContent, "draft, edited by the user");
  assert.equal(ed.getAttribute("class"), "b");
  assert.equal(box.querySelector("#s").textContent, "y");
  ed.blur();
  update('<div id="ed" contenteditable="true" class="b"><p>server text</p></div><p id="s">y</p>');
  assert.equal(ed.textContent, "server text", "not focused: the server's");
});
