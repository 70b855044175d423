// The example dashboard's chart (project/static/project/dashboard.js): bar geometry and its words.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { bars, describe } = require("../../project/static/project/dashboard.js");

const series = [
  { minute: "12:16", count: 0 },
  { minute: "12:17", count: 4 },
  { minute: "12:18", count: 2 },
];

test("bars scale to the busiest minute and sit on the baseline, one per minute in order", () => {
  const { max, bars: drawn } = bars(series, 360, 150);
  assert.equal(max, 4);
  assert.deepEqual(drawn.map((b) => b.minute), ["12:16", "12:17", "12:18"]);
  assert.equal(drawn[0].height, 0);
  assert.equal(drawn[1].height, 2 * drawn[2].height);
  for (const b of drawn) assert.equal(b.y + b.height, 150 - 18);
  assert.ok(drawn[0].x < drawn[1].x && drawn[1].x < drawn[2].x);
  assert.ok(drawn[2].x + drawn[2].width <= 360);
});

test("an empty chart keeps a scale of 1 (no division by zero)", () => {
  const { max, bars: drawn } = bars([{ minute: "00:00", count: 0 }], 360, 150);
  assert.equal(max, 1);
  assert.equal(drawn[0].height, 0);
});

test("the text alternative says every minute's figure, or that there is none", () => {
  assert.equal(describe(series, "none"), "12:16: 0, 12:17: 4, 12:18: 2");
  assert.equal(describe([], "No data yet."), "No data yet.");
});
