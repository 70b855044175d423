// The browser client from a bundler (issue 23): realtime/static/realtime is a package (package.json
// `exports`) whose ES module entry, realtime.mjs, a real bundler (esbuild) resolves and bundles; the
// bundle runs here on a fake WebSocket. Its TypeScript declarations pass `tsc --noEmit` on a program
// using every name. The same realtime.js still works as the template tag's classic script.
// Run: node --test tests/js/   (needs `npm ci`: esbuild and typescript are devDependencies)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const vm = require("node:vm");
const { execFileSync } = require("node:child_process");
const { pathToFileURL } = require("node:url");

const { FakeSocket, settle } = require("./fakes.js");

const ROOT = path.join(__dirname, "../..");
const PACKAGE_DIR = path.join(ROOT, "realtime/static/realtime");
const PACKAGE = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8"));

function devTool(name) {
  try {
    return require(name);
  } catch {
    assert.fail(`${name} is missing: run \`npm ci\` at the repository root (it is a devDependency in package.json).`);
  }
}

/** A throwaway project that has installed the client package (as `npm install <dir>` would: a link). */
function project(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "realtime-bundle-"));
  fs.mkdirSync(path.join(dir, "node_modules"));
  fs.symlinkSync(PACKAGE_DIR, path.join(dir, "node_modules", PACKAGE.name), "dir");
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test("esbuild bundles `import ... from '<package>'` through the ES module entry; the bundle connects, subscribes and publishes", async (t) => {
  const esbuild = devTool("esbuild");
  const dir = project({
    "app.mjs": [
      `import realtime, { connect, Client, RealtimeError, STATES, policy } from "${PACKAGE.name}";`,
      "globalThis.app = { realtime, connect, Client, RealtimeError, STATES, policy };",
      "",
    ].join("\n"),
  });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const result = await esbuild.build({
    entryPoints: [path.join(dir, "app.mjs")],
    absWorkingDir: dir,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2020",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => path.basename(p));
  assert.deepEqual(inputs.sort(), ["app.mjs", "realtime.js", "realtime.mjs"], "resolved through exports' import entry");

  // A browser-like global with a fake WebSocket, and nothing else of the page.
  FakeSocket.all = [];
  const page = vm.createContext({
    WebSocket: FakeSocket, location: { protocol: "https:", host: "site.test" }, console,
    setTimeout, clearTimeout, setInterval, clearInterval,
  });
  vm.runInContext(result.outputFiles[0].text, page);
  const app = page.app;
  assert.equal(app.connect, app.realtime.connect, "named and default exports are the same API");
  assert.deepEqual([...app.STATES], ["connecting", "live", "reconnecting", "offline"]);
  assert.equal(page.realtime, undefined, "a bundle adds no window.realtime global");

  const client = app.connect();
  t.after(() => client.close());
  assert.ok(client instanceof app.Client);
  const ws = FakeSocket.all[0];
  assert.equal(ws.url, "wss://site.test/ws/realtime/", "wss: from the page's https:");
  const events = [];
  client.subscribe("stream.1", { onEvent: (frame) => events.push(frame.id) });
  ws.open();
  ws.receive({ type: "hello", user: null, heartbeat: 25, max_frame: 16384, max_in_flight: 2 });
  assert.equal(client.state, "live");
  const sub = ws.sentOfType("subscribe")[0];
  ws.receive({ type: "subscribed", ref: sub.ref, topic: "stream.1", last_id: 1, history: 1, truncated: false, state: {} });
  ws.receive({ type: "event", topic: "stream.1", event: "comment", id: 1, data: {} });
  assert.deepEqual(events, [1]);
  const acked = client.publish("stream.1", "comment", { text: "hi", client_id: "b1" });
  const refused = client.publish("stream.1", "comment", { text: "hi", client_id: "b2" });
  const [p1, p2] = ws.sentOfType("publish");
  ws.receive({ type: "ack", ref: p1.ref, topic: "stream.1", id: 2, data: {} });
  ws.receive({ type: "error", ref: p2.ref, code: "forbidden", message: "no" });
  assert.equal((await acked).id, 2);
  await assert.rejects(refused, (err) => err.name === "RealtimeError" && err.code === "forbidden");
  assert.equal(app.policy.maxInFlight({ max_in_flight: 2 }), 2);
  await settle();
});

test("Node imports the ES module entry natively (no bundler): the same API as require()", async () => {
  const esm = await import(pathToFileURL(path.join(PACKAGE_DIR, "realtime.mjs")).href);
  const cjs = require(path.join(PACKAGE_DIR, "realtime.js"));
  assert.equal(esm.default, cjs, "one client, not a copy");
  for (const name of ["connect", "Client", "RealtimeError", "buildUrl", "randomId", "STATES", "policy", "config"]) {
    assert.equal(esm[name], cjs[name], name);
  }
});

test("the template tag's way still works: realtime.js as a classic script sets window.realtime from its data-*", () => {
  const page = vm.createContext({
    document: { currentScript: { dataset: { url: "/ws/custom/", heartbeat: "10" } } },
    console, setTimeout, clearTimeout, setInterval, clearInterval,
  });
  page.window = page;
  vm.runInContext(fs.readFileSync(path.join(PACKAGE_DIR, "realtime.js"), "utf8"), page, { filename: "realtime.js" });
  assert.equal(typeof page.realtime.connect, "function");
  assert.equal(page.realtime.config.url, "/ws/custom/");
});

test("realtime.d.ts passes tsc --noEmit on a program that uses the whole public API, and rejects misuse", (t) => {
  devTool("typescript/package.json");
  const dir = project({
    "tsconfig.json": JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: "es2020", module: "esnext", moduleResolution: "bundler",
        lib: ["es2020", "dom"], types: [], skipLibCheck: false,
      },
      files: ["app.ts"],
    }),
    "app.ts": `
import realtime, {
  connect, Client, RealtimeError, STATES, policy, buildUrl, randomId, config,
  type State, type AckFrame, type SubscribedFrame, type EventFrame, type ClosePlan, type PresenceRoster,
} from "${PACKAGE.name}";

const client: Client = connect({ url: "/ws/realtime/", heartbeat: 25 });
const other = new realtime.Client({ ticketUrl: "/realtime/ticket/", random: Math.random });
const state: State = client.state;
const sub = client.subscribe<{ text: string }, { viewers: number }>("stream.1", {
  onEvent(frame: EventFrame<{ text: string }>, info) { const t: string = frame.data.text; void t; void info.history; },
  onSubscribed(frame: SubscribedFrame<{ viewers: number }>) { const n: number = frame.state.viewers; void n; },
  onError(err) { const code: string = err.code; void code; },
}, 10);
const last: number | null = sub.lastId;
sub.unsubscribe();
const off = client.on("statechange", (e) => { const s: State = e.detail.state; void s; });
off();
client.addEventListener("hello", (e) => { const m: number | undefined = e.detail.max_in_flight; void m; });
const ack: Promise<AckFrame> = client.publish("stream.1", "comment", { text: "hi", client_id: randomId() }, { queue: true, timeout: 0 });
ack.catch((err: RealtimeError) => err.retryAfter);
const err: RealtimeError = RealtimeError("offline", "not connected");
const plan: ClosePlan = policy.closePlan(1001, false);
const delay: number = policy.backoffDelay(2, Math.random) + client.backoffDelay(1);
const url: string = buildUrl("/ws/", { protocol: "https:", host: "x" });
const states: State[] = STATES;
const fromTag: string | undefined = config.url;
const presence = client.presence("page.home");
presence.onJoin((key, before, joined) => { const n: string = joined.name; void [key, before, n]; });
presence.onLeave((key, after) => { const gone: boolean = after.metas.length === 0; void [key, gone]; });
const offSync = presence.onSync((p) => { const names: string[] = p.list((k, e) => e.name); void names; });
offSync();
presence.setStatus("typing");
presence.setStatus(null);
const roster: PresenceRoster = policy.syncDiff(presence.list(), { joins: {}, leaves: {} });
const everyone: number = presence.count + presence.anonymous;
presence.leave();
void [state, last, err, plan, delay, url, states, fromTag, other, roster, everyone];
client.close();

// @ts-expect-error: not a state
const wrong: State = "gone";
// @ts-expect-error: the topic is a string
client.publish(1, "comment");
// @ts-expect-error: no such event
client.on("nonsense", () => {});
// @ts-expect-error: a status is a string or null
presence.setStatus(3);
void wrong;
`,
  });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tsc = path.join(ROOT, "node_modules", ".bin", "tsc");
  try {
    execFileSync(tsc, ["--noEmit", "-p", path.join(dir, "tsconfig.json")], { cwd: dir, encoding: "utf8" });
  } catch (e) {
    assert.fail("tsc found errors in the declarations or their use:\n" + e.stdout + e.stderr);
  }
});
