// The live scenario's load client (bench/live.py): `viewers` staff sockets subscribe to the dashboard's
// stream-table topic (a realtime.live rows view) and settle; the runner then starts a producer that
// updates one stream row `rate` times a second, each update's title carrying its time (`bench@<epoch
// ms>`), and says `GO`. For `duration` s each viewer counts its frames and, per frame, the age of the
// newest value it shows: arrival time minus the time written into that value; and how stale the value
// it replaces had become (arrival time minus that older value's time: the worst a viewer saw). No
// JSON.parse: the marker is read from the frame's text. Viewers are spread over `urls` (processes).
// Prints `PHASE ready` (waits for `GO` on stdin), `PHASE done` (the runner reads the CPU at both) and
// `RESULT {...}`.
'use strict';
const fs = require('fs');
const readline = require('readline');
const WebSocket = require('ws');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const clock = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms, as the producer's
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HEAD = 40;
const MARKER = /bench@(\d+(?:\.\d+)?)/g;

// Histograms: 1 ms buckets up to 60 s.
function histogram() {
  const h = { counts: new Uint32Array(60001), samples: 0 };
  h.add = (ms) => { h.counts[Math.min(60000, Math.max(0, Math.round(ms)))] += 1; h.samples += 1; };
  h.pct = (q) => {
    if (!h.samples) return null;
    const want = Math.ceil(q * h.samples);
    let acc = 0;
    for (let i = 0; i < h.counts.length; i++) {
      acc += h.counts[i];
      if (acc >= want) return i;
    }
    return null;
  };
  h.summary = () => ({ p50: h.pct(0.5), p99: h.pct(0.99), max: h.pct(1), samples: h.samples });
  return h;
}
const ages = histogram();
const stale = histogram();

let measuring = false;
const errors = [];

function newest(text) {
  let best = null;
  MARKER.lastIndex = 0;
  for (let m = MARKER.exec(text); m; m = MARKER.exec(text)) {
    const t = Number(m[1]);
    if (best === null || t > best) best = t;
  }
  return best;
}

function open(ticket, index) {
  const url = cfg.urls[index % cfg.urls.length];
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['realtime', `realtime.ticket.${ticket}`], { perMessageDeflate: false });
    const s = { ws, frames: 0, bytes: 0, valued: 0, subscribed: false, refused: null, shown: 0 };
    ws.on('message', (data) => {
      const head = data.toString('utf8', 0, Math.min(HEAD, data.length));
      if (head.includes('"event"') || head.includes('"batch"')) {
        if (!measuring) return;
        s.frames += 1;
        s.bytes += data.length;
        const t = newest(data.toString('utf8'));
        if (t !== null && t > s.shown) {
          const at = clock();
          if (s.shown > 0) stale.add(at - s.shown);
          s.shown = t;
          s.valued += 1;
          ages.add(at - t);
        }
      } else if (head.includes('"hello"')) {
        resolve(s);
      } else if (head.includes('"subscribed"')) {
        s.subscribed = true;
        const t = newest(data.toString('utf8'));
        if (t !== null) s.shown = t;
      } else if (head.includes('"error"') || head.includes('"kicked"')) {
        s.refused = data.toString('utf8', 0, 300);
        if (errors.length < 5) errors.push(s.refused);
      }
    });
    ws.on('error', (e) => { if (errors.length < 5) errors.push(String(e)); resolve(null); });
    ws.on('close', () => resolve(null));
  });
}

async function openAll(tickets) {
  const out = [];
  for (let i = 0; i < tickets.length; i += cfg.concurrency) {
    const batch = tickets.slice(i, i + cfg.concurrency);
    out.push(...(await Promise.all(batch.map((t, k) => open(t, i + k)))));
  }
  return out;
}

function waitForGo() {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (line) => { if (line.trim() === 'GO') { rl.close(); resolve(); } });
  });
}

async function main() {
  const all = await openAll(cfg.tickets.slice(0, cfg.viewers));
  const vs = all.filter(Boolean);
  vs.forEach((s, i) => s.ws.send(JSON.stringify({ type: 'subscribe', topic: cfg.topic, ref: `v${i}` })));
  const settleUntil = clock() + cfg.settleMax * 1000;
  while (clock() < settleUntil && vs.some((s) => !s.subscribed && !s.refused)) await sleep(100);
  const subscribed = vs.filter((s) => s.subscribed).length;
  process.stdout.write('PHASE ready {}\n');
  await waitForGo();
  measuring = true;
  const t0 = clock();
  await sleep(cfg.duration * 1000);
  measuring = false;
  const secs = (clock() - t0) / 1000;
  process.stdout.write('PHASE done {}\n');
  const frames = vs.reduce((a, s) => a + s.frames, 0);
  const bytes = vs.reduce((a, s) => a + s.bytes, 0);
  const valued = vs.reduce((a, s) => a + s.valued, 0);
  const result = {
    viewers: vs.length,
    failed: all.length - vs.length,
    subscribed,
    refused: vs.filter((s) => s.refused).length,
    window_s: Math.round(secs * 100) / 100,
    frames_per_viewer_s: vs.length ? Math.round((frames / vs.length / secs) * 100) / 100 : null,
    values_per_viewer_s: vs.length ? Math.round((valued / vs.length / secs) * 100) / 100 : null,
    bytes_per_viewer_s: vs.length ? Math.round(bytes / vs.length / secs) : null,
    age: ages.summary(),
    stale_before: stale.summary(),
    // The newest value each viewer was shown at the end, by how far it trails the newest anyone saw.
    behind_at_end_ms: (() => {
      const shown = vs.map((s) => s.shown).filter((t) => t > 0);
      if (!shown.length) return null;
      const top = Math.max(...shown);
      return Math.round(top - Math.min(...shown));
    })(),
    errors,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  for (const s of vs) s.ws.terminate();
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(`RESULT ${JSON.stringify({ error: String(e && e.stack) })}\n`);
  process.exit(1);
});
