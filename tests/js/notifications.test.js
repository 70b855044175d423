// Unit tests for notifications.js's pure parts: the plural sentence picked from the server's samples
// (English, Chinese, Russian's three categories), and which links it will make.
// Run: node --test tests/js/notifications.test.js
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const { sentence, safeUrl } = require(path.join(__dirname, "../../realtime/notifications/static/realtime/notifications/notifications.js"));

const SAMPLES = [0, 1, 2, 3, 5, 11, 21, 22, 100, 101, 102];

function texts(form) {
  const unread = {};
  SAMPLES.forEach((n) => { unread[String(n)] = form(n); });
  return { none: "none", unread };
}

test("English: one and other, for counts that are not samples too", () => {
  const en = texts((n) => (n === 1 ? "You have %(count)s new notification" : "You have %(count)s new notifications"));
  assert.equal(sentence(en, 0, "en"), "none");
  assert.equal(sentence(en, 1, "en"), "You have 1 new notification");
  assert.equal(sentence(en, 7, "en"), "You have 7 new notifications");
  assert.equal(sentence(en, 1234, "en"), "You have 1234 new notifications");
});

test("Chinese: one form for every count", () => {
  const zh = texts(() => "你有 %(count)s 条新通知");
  assert.equal(sentence(zh, 1, "zh-hans"), "你有 1 条新通知");
  assert.equal(sentence(zh, 48, "zh-hans"), "你有 48 条新通知");
});

test("Russian: the sample of the same CLDR category gives the form", () => {
  // gettext's Russian rule: one (1, 21, 31...), few (2-4, 22-24...), many (0, 5-20, 25-30...).
  const form = (n) => (n % 10 === 1 && n % 100 !== 11 ? "A %(count)s" : n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 10 || n % 100 >= 20) ? "B %(count)s" : "C %(count)s");
  const ru = texts(form);
  for (const n of [31, 34, 57, 111, 112, 1001]) assert.equal(sentence(ru, n, "ru"), form(n).replace("%(count)s", n), String(n));
});

test("links: http(s) and site paths only", () => {
  for (const ok of ["/orders/7/", "https://example.com/a", "http://example.com", "/?page=2"]) assert.ok(safeUrl(ok), ok);
  for (const bad of ["javascript:alert(1)", " javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "//evil.example",
    "/\\evil.example", "https:/nohost", "/a b", "/a\u0000b", "vbscript:x", "", null, 7]) {
    assert.ok(!safeUrl(bad), String(bad));
  }
});
