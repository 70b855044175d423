// Unit tests for presence-roster.js's renderRoster (the {% realtime_presence %} tag's list, reused by
// the stream's viewer list): sorted names as text, avatars only from http(s) URLs, statuses, counts
// with guests, "and N more" past the limit, plural forms by language.
// Run: node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const roster = require(path.join(__dirname, "../../realtime/static/realtime/presence-roster.js"));

/** Just enough DOM for renderRoster: elements with attributes, children and textContent. */
function fakeDoc() {
  function el(tag) {
    return {
      tagName: tag.toUpperCase(),
      attrs: {},
      children: [],
      className: "",
      _text: "",
      get firstChild() { return this.children[0] || null; },
      get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); },
      set textContent(v) { this._text = String(v); this.children = []; },
      setAttribute(k, v) { this.attrs[k] = String(v); },
      getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
      appendChild(c) { this.children.push(c); return c; },
      removeChild(c) { this.children.splice(this.children.indexOf(c), 1); return c; },
    };
  }
  return { createElement: el };
}

const TEXTS = {
  here: { one: "%(count)s person here", other: "%(count)s people here" },
  guests: { one: "%(count)s guest", other: "%(count)s guests" },
  and_guests: { one: "and %(count)s guest", other: "and %(count)s guests" },
  more: { one: "and %(count)s more", other: "and %(count)s more" },
  status_typing: "typing",
  status_away: "away",
};
const BASE = "https://site.test/page/";

function render(entries, counts, options = {}) {
  const doc = fakeDoc();
  const list = doc.createElement("ul");
  const count = doc.createElement("p");
  const shown = roster.renderRoster(doc, list, count, entries, counts, { texts: TEXTS, lang: "en", base: BASE, ...options });
  return { list, count, shown };
}

test("one item per user, sorted by name, names as text, the count with guests", () => {
  const { list, count } = render(
    {
      7: { name: "bob", avatar: "/media/bob.png", metas: [{ conn: "a", status: null }] },
      3: { name: "alice", avatar: null, metas: [{ conn: "b", status: null }, { conn: "c", status: "typing" }] },
    },
    { count: 2, anonymous: 3 }
  );
  assert.deepEqual(list.children.map((li) => li.getAttribute("data-key")), ["3", "7"]);
  const [alice, bob] = list.children;
  assert.equal(alice.children[0].tagName, "SPAN", "no avatar: an initial");
  assert.equal(alice.children[0].textContent, "A");
  assert.equal(alice.children[0].getAttribute("aria-hidden"), "true");
  assert.equal(alice.children[1].textContent, "alice");
  assert.equal(alice.children[2].textContent, "typing", "typing on any tab shows");
  assert.equal(bob.children[0].tagName, "IMG");
  assert.equal(bob.children[0].getAttribute("src"), "https://site.test/media/bob.png");
  assert.equal(bob.children[0].getAttribute("alt"), "", "decorative: the name follows");
  assert.equal(count.textContent, "2 people here and 3 guests");
});

test("markup in a name stays text; avatars that are not http(s) are dropped", () => {
  const { list } = render({ 1: { name: "<img src=x onerror=alert(1)>", avatar: "javascript:alert(1)", metas: [] } }, { count: 1, anonymous: 0 });
  const li = list.children[0];
  assert.equal(li.children[0].tagName, "SPAN");
  assert.equal(li.children[1].textContent, "<img src=x onerror=alert(1)>");
  assert.equal(roster.safeAvatar("data:image/png;base64,AAAA", BASE), null);
  assert.equal(roster.safeAvatar("http://cdn.test/a.png", BASE), "http://cdn.test/a.png");
});

test("past the limit: 'and N more'; only guests: the guests alone; singular forms", () => {
  const many = {};
  for (let i = 0; i < 5; i++) many[i] = { name: "user" + i, metas: [] };
  const { list, shown } = render(many, { count: 5, anonymous: 0 }, { max: 3 });
  assert.equal(shown.length, 3);
  assert.equal(list.children.length, 4);
  assert.equal(list.children[3].textContent, "and 2 more");
  assert.equal(render({}, { count: 0, anonymous: 1 }).count.textContent, "1 guest");
  assert.equal(render({ 1: { name: "a", metas: [] } }, { count: 1, anonymous: 0 }).count.textContent, "1 person here");
  assert.equal(roster.plural({ other: "%(count)s 人在这里" }, 1, "zh-Hans"), "1 人在这里");
});

test("a room past the server's PRESENCE_LIMIT: 'and N more' counts everyone not drawn", () => {
  // The server listed 3 of 10,000 users (its cap); the count is exact.
  const few = { 1: { name: "a", metas: [] }, 2: { name: "b", metas: [] }, 3: { name: "c", metas: [] } };
  const { list, count } = render(few, { count: 10000, anonymous: 0 }, { max: 2 });
  assert.equal(list.children.length, 3);
  assert.equal(list.children[2].textContent, "and 9998 more");
  assert.equal(count.textContent, "10000 people here");
  assert.equal(render(few, { count: 10000, anonymous: 0 }, { max: 24 }).list.children[3].textContent, "and 9997 more");
});

test("the item hook may add to each row (the moderators' buttons)", () => {
  const { list } = render({ 1: { name: "a", metas: [] } }, null, {
    item(li, key) { li.setAttribute("data-hooked", key); },
  });
  assert.equal(list.children[0].getAttribute("data-hooked"), "1");
});
