// The live section of realtime.d.ts (window.realtime.live, issue 21) passes `tsc --noEmit` on a
// program that uses it, and rejects misuse.
// Run: node --test tests/js/   (needs `npm ci`: typescript is a devDependency)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const ROOT = path.join(__dirname, "../..");
const DTS = path.join(ROOT, "realtime/static/realtime/realtime.d.ts");

test("realtime.d.ts types window.realtime.live", (t) => {
  const tsc = path.join(ROOT, "node_modules", ".bin", "tsc");
  if (!fs.existsSync(tsc)) assert.fail("TypeScript is missing: run `npm ci` at the repository root.");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "realtime-live-types-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.copyFileSync(DTS, path.join(dir, "realtime.d.ts"));
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: "es2020", module: "esnext", moduleResolution: "bundler", lib: ["es2020", "dom"], types: [] },
    files: ["app.ts"],
  }));
  fs.writeFileSync(path.join(dir, "app.ts"), `
import type { Live, LivePayload, LiveEventDetail, State } from "./realtime";
declare const live: Live;
const stop = live.value<{ open: number }>("livev.stats-all", (value, info) => { const n: number = value.open; void [n, info.initial, info.topic]; });
stop();
live.on("live.shop-order", (p: LivePayload) => { if (p.form === "change") { const op: string = p.op; void op; } if (p.form === "rows") { const k: string[] = p.order; void k; } })();
live.morph(document.body, "<p>x</p>");
live.scan();
const s = live.state();
const now: State | undefined = s?.state;
const topics: string[] = live.topics();
document.addEventListener("realtime:live", (e) => { const d = (e as CustomEvent<LiveEventDetail>).detail; const f: string = d.form; void f; });
void [now, topics, live.client()];
// @ts-expect-error: the topic is a string
live.value(3, () => {});
// @ts-expect-error: no such form
const bad: LivePayload = { form: "html", html: "" };
void bad;
`);
  try {
    execFileSync(tsc, ["--noEmit", "-p", path.join(dir, "tsconfig.json")], { cwd: dir, encoding: "utf8" });
  } catch (e) {
    assert.fail("tsc found errors in the live declarations or their use:\n" + e.stdout + e.stderr);
  }
});
