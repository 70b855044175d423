// The presence scenario's load client (bench/presence.py): `viewers` signed-in sockets subscribe to a
// topic and settle, then `joiners` more (connected beforehand) subscribe evenly over `joinWindow` s.
// Reads only each frame's head for its type and `count` (no JSON.parse of rosters of thousands).
// Prints `PHASE joining` / `PHASE done` (the runner reads the server's CPU there) and `RESULT {...}`.
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000; // ms, monotonic
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HEAD = 40; // `{"type": "presence_diff"` fits in this

// Lag histogram: 1 ms buckets up to 60 s.
const hist = new Uint32Array(60001);
let lagSamples = 0;
function addLag(ms, n) {
  hist[Math.min(60000, Math.max(0, Math.round(ms)))] += n;
  lagSamples += n;
}
function pct(q) {
  if (!lagSamples) return null;
  let want = Math.ceil(q * lagSamples), acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i];
    if (acc >= want) return i;
  }
  return null;
}

// `count` is a presence frame's last key (realtime/presence/tracker.py): read it from the tail.
function countOf(data) {
  const tail = data.toString('utf8', Math.max(0, data.length - 80));
  const at = tail.lastIndexOf('"count":');
  if (at < 0) return null;
  const m = /^"count":\s*(\d+)/.exec(tail.slice(at));
  return m ? Number(m[1]) : null;
}

// The joiners' answer time (subscribe sent -> `subscribed`), in both rooms: the join path itself.
const answerHist = new Uint32Array(60001);
let answerSamples = 0;
function answerPct(q) {
  if (!answerSamples) return null;
  let want = Math.ceil(q * answerSamples), acc = 0;
  for (let i = 0; i < answerHist.length; i++) {
    acc += answerHist[i];
    if (acc >= want) return i;
  }
  return null;
}

const joinAt = []; // joinAt[k] = when the k-th joiner (1-based) subscribed, ms
let measuring = false;
let errors = [];

function open(ticket, role) {
  return new Promise((resolve) => {
    const ws = new WebSocket(cfg.url, ['realtime', `realtime.ticket.${ticket}`], { perMessageDeflate: false });
    const s = { ws, role, frames: 0, bytes: 0, count: null, subscribed: false, user: null };
    ws.on('message', (data) => {
      const head = data.toString('utf8', 0, Math.min(HEAD, data.length));
      if (head.includes('"presence_')) {
        const c = countOf(data);
        if (measuring && role === 'viewer') {
          s.frames += 1;
          s.bytes += data.length;
          if (c !== null && s.count !== null && c > s.count) {
            const t = now();
            for (let k = s.count - cfg.base + 1; k <= c - cfg.base; k++) {
              if (k >= 1 && joinAt[k] !== undefined) addLag(t - joinAt[k], 1);
            }
          }
        }
        if (c !== null && (s.count === null || c > s.count)) s.count = c;
      } else if (head.includes('"hello"')) {
        s.user = !head.includes('"user": null') && !head.includes('"user":null');
        resolve(s);
      } else if (head.includes('"subscribed"')) {
        s.subscribed = true;
        if (role === 'joiner' && s.sentAt !== undefined) {
          answerHist[Math.min(60000, Math.max(0, Math.round(now() - s.sentAt)))] += 1;
          answerSamples += 1;
        }
      } else if (head.includes('"error"') && errors.length < 5) {
        errors.push(data.toString('utf8', 0, 300));
      }
    });
    ws.on('error', (e) => { if (errors.length < 5) errors.push(String(e)); resolve(null); });
    ws.on('close', () => resolve(null));
  });
}

async function openAll(tickets, role) {
  const out = [];
  for (let i = 0; i < tickets.length; i += cfg.concurrency) {
    const batch = await Promise.all(tickets.slice(i, i + cfg.concurrency).map((t) => open(t, role)));
    out.push(...batch);
  }
  return out;
}

function subscribe(s, ref) {
  s.ws.send(JSON.stringify({ type: 'subscribe', topic: cfg.topic, ref }));
}

async function main() {
  const viewerTickets = cfg.tickets.slice(0, cfg.viewers);
  const joinerTickets = cfg.tickets.slice(cfg.viewers, cfg.viewers + cfg.joiners);
  const viewers = await openAll(viewerTickets, 'viewer');
  const joiners = await openAll(joinerTickets, 'joiner');
  const failed = viewers.filter((s) => !s).length + joiners.filter((s) => !s).length;
  const anon = viewers.filter((s) => s && !s.user).length;
  const vs = viewers.filter(Boolean), js = joiners.filter(Boolean);
  vs.forEach((s, i) => subscribe(s, `v${i}`));
  // Settle: every viewer subscribed and (with presence) every viewer's count at the room's size.
  const settleUntil = now() + cfg.settleMax * 1000;
  while (now() < settleUntil) {
    const subscribed = vs.filter((s) => s.subscribed).length;
    const settled = cfg.presence ? vs.filter((s) => s.count === vs.length).length : subscribed;
    if (subscribed === vs.length && settled === vs.length) break;
    await sleep(200);
  }
  await sleep(cfg.presence ? 1500 : 500); // the last diff's window passes
  cfg.base = vs.length;
  const settledCount = vs.filter((s) => s.count === vs.length).length;
  process.stdout.write('PHASE joining {}\n');
  measuring = true;
  const t0 = now();
  const step = (cfg.joinWindow * 1000) / Math.max(1, js.length);
  for (let k = 1; k <= js.length; k++) {
    const due = t0 + (k - 1) * step;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    joinAt[k] = now();
    js[k - 1].sentAt = joinAt[k];
    subscribe(js[k - 1], `j${k}`);
  }
  const sentBy = now();
  // Drain: every viewer's count reflects every join, or nothing new for drainIdle s, or drainMax s.
  const final = vs.length + js.length;
  let lastFrames = -1, quietSince = now();
  while (now() - sentBy < cfg.drainMax * 1000) {
    if (cfg.presence && vs.every((s) => s.count >= final)) break;
    // No presence: nothing to wait for once every join is answered (the same window as with it).
    if (!cfg.presence && js.every((s) => s.subscribed)) break;
    const frames = vs.reduce((a, s) => a + s.frames, 0);
    if (frames !== lastFrames) { lastFrames = frames; quietSince = now(); }
    else if (now() - quietSince > cfg.drainIdle * 1000) break;
    await sleep(100);
  }
  const t1 = now();
  measuring = false;
  process.stdout.write('PHASE done {}\n');
  const secs = (t1 - t0) / 1000;
  const frames = vs.reduce((a, s) => a + s.frames, 0);
  const bytes = vs.reduce((a, s) => a + s.bytes, 0);
  const result = {
    viewers: vs.length,
    joiners: js.length,
    failed,
    anonymous_viewers: anon,
    settled_before: settledCount,
    joined_subscribed: js.filter((s) => s.subscribed).length,
    window_s: Math.round(secs * 100) / 100,
    join_s: Math.round((sentBy - t0) / 10) / 100,
    frames_per_viewer_s: vs.length ? Math.round((frames / vs.length / secs) * 100) / 100 : null,
    bytes_per_viewer_s: vs.length ? Math.round(bytes / vs.length / secs) : null,
    saw_final: vs.filter((s) => s.count !== null && s.count >= final).length,
    lag: { p50: pct(0.5), p99: pct(0.99), max: pct(1), samples: lagSamples },
    answer: { p50: answerPct(0.5), p99: answerPct(0.99), max: answerPct(1), samples: answerSamples },
    errors,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  for (const s of [...vs, ...js]) s.ws.terminate();
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(`RESULT ${JSON.stringify({ error: String(e && e.stack) })}\n`);
  process.exit(1);
});
