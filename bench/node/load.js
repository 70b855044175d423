'use strict';
// The benchmark's load client: one Node process, viewers spread over worker threads, the poster on
// the main thread so its send schedule does not wait on viewer receive work.
//
// Usage: node load.js '<json config>'   (bench/__main__.py builds the config; see defaults below)
//
// It talks to the runner over stdio: it prints `PHASE <name> <json>` when it reaches a point where the
// runner should take a measurement, then waits for a `GO` line on stdin (unless config.auto), and it
// ends with one `RESULT <json>` line. Progress and diagnostics go to stderr.
//
// Latency: every comment carries `~B<run>~<seq>~<t>~` where t is the send time in microseconds on the
// machine's monotonic clock (process.hrtime, shared by every thread and process on the machine). A
// viewer finds the markers in each frame (an `event`, a coalesced `batch`, or the tutorial/relay
// echo) with indexOf, without parsing the JSON, and records receive time minus t in a histogram.

const { Worker, isMainThread, workerData } = require('worker_threads');
const { fork } = require('child_process');
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const nowUs = () => {
  const t = process.hrtime();
  return t[0] * 1e6 + Math.floor(t[1] / 1e3);
};

// Latency histogram: 0.1 ms buckets up to 1 s, then 10 ms buckets up to 121 s (the last bucket holds
// everything slower).
const HBUCKETS = 22001;
const newHist = () => new Uint32Array(HBUCKETS);
function hidx(us) {
  if (us < 0) us = 0;
  if (us < 1e6) return Math.floor(us / 100);
  const i = 10000 + Math.floor((us - 1e6) / 1e4);
  return i >= HBUCKETS ? HBUCKETS - 1 : i;
}
const hval = (i) => (i < 10000 ? (i + 0.5) * 100 : 1e6 + (i - 10000 + 0.5) * 1e4);
function hmerge(into, from) {
  for (let i = 0; i < HBUCKETS; i++) into[i] += from[i];
}
function hpct(h, p) {
  let total = 0;
  for (let i = 0; i < HBUCKETS; i++) total += h[i];
  if (!total) return null;
  const target = Math.max(1, Math.ceil(total * p));
  let cum = 0;
  for (let i = 0; i < HBUCKETS; i++) {
    cum += h[i];
    if (cum >= target) return Math.round(hval(i)) / 1000; // ms
  }
  return null;
}
const hsummary = (h) => ({ p50: hpct(h, 0.5), p90: hpct(h, 0.9), p99: hpct(h, 0.99), max: hpct(h, 1) });

const bump = (obj, key) => {
  obj[key] = (obj[key] || 0) + 1;
};

// No compression (daphne does not negotiate it either); skip UTF-8 validation of received text: the
// client only looks for ASCII markers, and validation is per-byte work the server under test never
// asked the client to do.
// `cfg.origin`: send the Origin header a browser on that page would send (the tutorial's
// AllowedHostsOriginValidator refuses handshakes without one).
const WS_OPTS = (cfg, url) => ({
  perMessageDeflate: false,
  skipUTF8Validation: true,
  handshakeTimeout: cfg.connectTimeout * 1000,
  ...(cfg.origin ? { origin: `http://${new URL(url).host}` } : {}),
});

// --------------------------------------------------------------------------------------------------
// Viewer worker
// --------------------------------------------------------------------------------------------------
// A viewer group runs in a worker thread, or (cfg.processes > 1) in a child process of its own: one
// process may hold at most `ulimit -n` sockets (20,000 on the bench machines), so 20,000 viewers and
// their poster need two.
const IN_CHILD = process.env.BENCH_LOAD_CHILD === '1';

function workerMain() {
  const data = IN_CHILD ? JSON.parse(process.env.BENCH_LOAD_DATA) : workerData;
  const parentPort = IN_CHILD
    ? { on: (event, f) => process.on(event, f), postMessage: (m) => process.send(m) }
    : require('worker_threads').parentPort; // eslint-disable-line global-require
  if (IN_CHILD) process.on('disconnect', () => process.exit(0)); // the coordinator is gone
  const cfg = data.cfg;
  const indices = data.indices;
  const prefix = `~B${cfg.runId}~`;
  const viewers = [];
  const hist = newHist();
  const connectHist = newHist();
  const connectErrors = {};
  const closes = {}; // unexpected closes after ready, by code
  const serverErrors = {}; // `error` envelopes, by code
  let received = 0;
  let dups = 0;
  let reordered = 0;
  let frames = 0;
  let stray = 0; // markers from another run or beyond the announced total
  let total = 0; // comments the poster will send (set at `post`)
  let closing = false;
  let elu0 = null;
  let lastRecvUs = 0;

  const prefixBuf = Buffer.from(prefix);
  const plen = prefixBuf.length;
  // `buf` is the frame's raw bytes: Buffer.indexOf finds the markers natively, without decoding UTF-8.
  function onFrame(v, buf) {
    frames++;
    let i = buf.indexOf(prefixBuf);
    if (i < 0) {
      if (cfg.kind === 'product') onControl(v, buf.toString());
      return;
    }
    const t = nowUs();
    while (i >= 0) {
      let j = i + plen;
      let seq = 0;
      let c;
      while ((c = buf[j]) >= 48 && c <= 57) {
        seq = seq * 10 + (c - 48);
        j++;
      }
      j++; // '~'
      let ts = 0;
      while ((c = buf[j]) >= 48 && c <= 57) {
        ts = ts * 10 + (c - 48);
        j++;
      }
      if (!v.seen || seq >= total) {
        stray++;
      } else if (v.seen[seq]) {
        dups++;
      } else {
        v.seen[seq] = 1;
        received++;
        hist[hidx(t - ts)]++;
        if (seq < v.last) reordered++;
        v.last = seq;
      }
      i = buf.indexOf(prefixBuf, j);
    }
    lastRecvUs = t;
  }

  function onControl(v, s) {
    let m;
    try {
      m = JSON.parse(s);
    } catch (e) {
      bump(serverErrors, 'client_bad_json');
      return;
    }
    if (m.type === 'hello' && !v.subscribed) {
      v.ws.send(JSON.stringify({ type: 'subscribe', topic: cfg.topic, ref: 's' }));
    } else if (m.type === 'subscribed') {
      v.subscribed = true;
      v.markReady();
    } else if (m.type === 'error') {
      bump(serverErrors, m.code || 'unknown');
      if (!v.ready) v.fail(`error:${m.code}`);
    } else if (m.type === 'kicked') {
      bump(serverErrors, `kicked:${m.code}`);
    }
  }

  function connectOne(idx, done) {
    const url = cfg.viewerUrls[idx % cfg.viewerUrls.length];
    const started = nowUs();
    const v = { idx, ws: null, ready: false, finished: false, subscribed: false, seen: null, last: -1 };
    const finish = (ok, why) => {
      if (v.finished) return;
      v.finished = true;
      clearTimeout(v.timer);
      if (ok) {
        v.ready = true;
        connectHist[hidx(nowUs() - started)]++;
      } else {
        bump(connectErrors, why);
        try {
          v.ws.terminate();
        } catch (e) {}
      }
      done(ok, v);
    };
    v.markReady = () => finish(true);
    v.fail = (why) => finish(false, why);
    v.timer = setTimeout(() => v.fail('timeout'), cfg.connectTimeout * 1000);
    const ws = new WebSocket(url, WS_OPTS(cfg, url));
    v.ws = ws;
    ws.on('open', () => {
      if (cfg.kind !== 'product') v.markReady();
    });
    ws.on('message', (data) => onFrame(v, data)); // a Buffer (binaryType 'nodebuffer')
    ws.on('unexpected-response', (req, res) => v.fail(`http_${res.statusCode}`));
    ws.on('error', (err) => {
      if (!v.ready) v.fail(err.code || err.message.slice(0, 60));
    });
    ws.on('close', (code) => {
      if (!v.ready) v.fail(`close_${code}`);
      else if (!closing) bump(closes, String(code));
    });
  }

  function connectAll(concurrency) {
    return new Promise((resolve) => {
      const t0 = nowUs();
      let next = 0;
      let inflight = 0;
      let finished = 0;
      let ok = 0;
      const pump = () => {
        while (inflight < concurrency && next < indices.length) {
          inflight++;
          connectOne(indices[next++], (good, v) => {
            inflight--;
            finished++;
            if (good) {
              ok++;
              viewers.push(v);
            }
            if (finished === indices.length) resolve({ ok, failed: finished - ok, t0, t1: nowUs() });
            else pump();
          });
        }
      };
      if (!indices.length) resolve({ ok: 0, failed: 0, t0, t1: t0 });
      else pump();
    });
  }

  let progressTimer = null;
  parentPort.on('message', async (msg) => {
    if (msg.cmd === 'connect') {
      const r = await connectAll(msg.concurrency);
      parentPort.postMessage({ type: 'connected', ...r, errors: connectErrors, connectHist });
    } else if (msg.cmd === 'post') {
      total = msg.total;
      for (const v of viewers) v.seen = new Uint8Array(total);
      elu0 = performance.eventLoopUtilization();
      progressTimer = setInterval(() => parentPort.postMessage({ type: 'progress', received, lastRecvUs }), 100);
    } else if (msg.cmd === 'stats') {
      clearInterval(progressTimer);
      const elu = elu0 ? performance.eventLoopUtilization(elu0).utilization : performance.eventLoopUtilization().utilization;
      let open = 0;
      for (const v of viewers) if (v.ws.readyState === WebSocket.OPEN) open++;
      parentPort.postMessage({
        type: 'stats', received, dups, reordered, frames, stray, hist, closes, serverErrors, elu, open, lastRecvUs,
      });
    } else if (msg.cmd === 'close') {
      closing = true;
      for (const v of viewers) {
        try {
          v.ws.terminate();
        } catch (e) {}
      }
      parentPort.postMessage({ type: 'closed' });
    }
  });
}

// --------------------------------------------------------------------------------------------------
// Main thread: coordinator and poster
// --------------------------------------------------------------------------------------------------
async function main() {
  const cfg = Object.assign(
    {
      kind: 'node', // node | tutorial | product
      mode: 'room', // room | connect
      viewerUrls: ['ws://127.0.0.1:8800/'],
      posterUrl: null,
      posters: 1,
      topic: null,
      viewers: 100,
      rate: 20,
      duration: 5,
      concurrency: 200,
      threads: 1,
      connectTimeout: 20,
      drainIdle: 3,
      drainMax: 30,
      runId: String(Date.now() % 100000),
      auto: false,
    },
    JSON.parse(process.argv[2] || '{}'),
  );

  let stdinBuf = '';
  const goWaiters = [];
  process.stdin.on('data', (d) => {
    stdinBuf += d.toString();
    let k;
    while ((k = stdinBuf.indexOf('\n')) >= 0) {
      const line = stdinBuf.slice(0, k).trim();
      stdinBuf = stdinBuf.slice(k + 1);
      if (line === 'GO' && goWaiters.length) goWaiters.shift()();
    }
  });
  process.stdin.on('end', () => {
    // The runner went away: do not linger.
    if (!cfg.auto) process.exit(3);
  });
  const phase = (name, data) =>
    new Promise((resolve) => {
      process.stdout.write(`PHASE ${name} ${JSON.stringify(data || {})}\n`);
      if (cfg.auto) resolve();
      else goWaiters.push(resolve);
    });
  const log = (...a) => process.stderr.write(`[load] ${a.join(' ')}\n`);

  // Viewers, split across worker threads, or across child processes (cfg.processes > 1).
  const nProcesses = Math.max(1, cfg.processes || 1);
  const nThreads = Math.max(1, Math.min(nProcesses > 1 ? nProcesses : cfg.threads, cfg.viewers || 1));
  const workers = [];
  for (let w = 0; w < nThreads; w++) {
    const indices = [];
    for (let i = w; i < cfg.viewers; i += nThreads) indices.push(i);
    const worker = nProcesses > 1 ? childGroup({ cfg, indices }) : new Worker(__filename, { workerData: { cfg, indices } });
    worker.on('error', (e) => {
      log('worker error', e.stack || e);
      process.exit(4);
    });
    workers.push(worker);
  }
  const ask = (cmd, extra, replyType) =>
    Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            const on = (m) => {
              if (m.type === replyType) {
                w.off('message', on);
                resolve(m);
              }
            };
            w.on('message', on);
            w.postMessage({ cmd, ...extra });
          }),
      ),
    );

  const cpu0 = process.cpuUsage();
  await phase('start', { pid: process.pid });

  // Connect every viewer (concurrency shared between the threads).
  const perThread = Math.max(1, Math.ceil(cfg.concurrency / nThreads));
  const connected = await ask('connect', { concurrency: perThread }, 'connected');
  const connectHist = newHist();
  const connectErrors = {};
  let ok = 0;
  let failed = 0;
  let t0 = Infinity;
  let t1 = 0;
  for (const c of connected) {
    ok += c.ok;
    failed += c.failed;
    t0 = Math.min(t0, c.t0);
    t1 = Math.max(t1, c.t1);
    hmerge(connectHist, c.connectHist);
    for (const [k, n] of Object.entries(c.errors)) connectErrors[k] = (connectErrors[k] || 0) + n;
  }
  const connectSecs = (t1 - t0) / 1e6;
  const connect = {
    ok, failed, secs: connectSecs, perSec: connectSecs > 0 ? ok / connectSecs : null,
    errors: connectErrors, latency: hsummary(connectHist),
  };
  log(`connected ${ok}/${cfg.viewers} in ${connectSecs.toFixed(2)}s, failed ${failed}`, JSON.stringify(connectErrors));

  const result = { kind: cfg.kind, mode: cfg.mode, viewers: cfg.viewers, connect };

  if (cfg.mode === 'connect') {
    await phase('connected', connect);
    await ask('close', {}, 'closed');
    const cpu = process.cpuUsage(cpu0);
    result.clientCpu = (cpu.user + cpu.system) / 1e6;
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  }

  // Room: the poster connects (and, for the product, authenticates and subscribes).
  const total = Math.max(1, Math.round(cfg.rate * cfg.duration));
  const post = { sent: 0, acks: 0, errors: {}, ackHist: newHist(), sentAt: new Float64Array(total) };
  // The product's posterUrl carries one single-use ticket per poster (`?ticket=a&ticket=b...`): a
  // ticket authenticates one connection only, so each poster takes its own and presents it as a
  // subprotocol, the way the browser client does.
  const tickets = cfg.posterUrl ? new URL(cfg.posterUrl).searchParams.getAll('ticket') : [];
  let posterBase = cfg.posterUrl;
  if (tickets.length) {
    const u = new URL(cfg.posterUrl);
    u.searchParams.delete('ticket');
    posterBase = u.toString();
  }
  const nPosters = Math.max(1, cfg.posters || 1);
  if (tickets.length && tickets.length < nPosters) {
    const error = `${nPosters} posters need as many tickets; the runner issued ${tickets.length} (bench/servers.py POSTER_TICKETS)`;
    log('poster failed:', error);
    process.stdout.write(`RESULT ${JSON.stringify({ ...result, error: `poster: ${error}` })}\n`);
    process.exit(2);
  }
  const connectPoster = (i) => new Promise((resolve, reject) => {
    const ws = tickets.length
      ? new WebSocket(posterBase, ['realtime', `realtime.ticket.${tickets[i]}`], WS_OPTS(cfg, posterBase))
      : new WebSocket(cfg.posterUrl, WS_OPTS(cfg, cfg.posterUrl));
    const timer = setTimeout(() => reject(new Error('poster connect timeout')), cfg.connectTimeout * 1000);
    ws.on('error', (e) => reject(e));
    ws.on('unexpected-response', (req, res) => reject(new Error(`poster handshake HTTP ${res.statusCode}`)));
    ws.on('close', (code) => {
      if (post.done) return;
      log(`poster closed with ${code}`);
      bump(post.errors, `poster_close_${code}`);
    });
    ws.on('open', () => {
      if (cfg.kind !== 'product') {
        clearTimeout(timer);
        resolve(ws);
      }
    });
    ws.on('message', (data) => {
      if (cfg.kind !== 'product') return;
      const s = data.toString();
      if (s.indexOf('"type":"event"') >= 0 || s.indexOf('"type":"batch"') >= 0) {
        if (s.indexOf('"type":"ack"') < 0 && s.indexOf('"type":"error"') < 0) return;
      }
      let m;
      try {
        m = JSON.parse(s);
      } catch (e) {
        return;
      }
      if (m.type === 'hello') {
        if (!m.user) {
          reject(new Error('poster is anonymous: the ticket was not accepted'));
          return;
        }
        post.user = m.user;
        ws.send(JSON.stringify({ type: 'subscribe', topic: cfg.topic, ref: 'poster' }));
      } else if (m.type === 'subscribed') {
        clearTimeout(timer);
        resolve(ws);
      } else if (m.type === 'ack') {
        const seq = Number(m.ref);
        if (seq >= 0 && seq < total) {
          post.acks++;
          post.ackHist[hidx(nowUs() - post.sentAt[seq])]++;
        }
      } else if (m.type === 'error') {
        bump(post.errors, m.code || 'unknown');
        if (!post.firstError) post.firstError = m;
        if (m.code === 'auth_failed') reject(new Error(`poster auth failed: ${m.message}`));
      }
    });
  });
  // Several posters (cfg.posters) share the schedule round-robin: with the product, a connection's
  // requests are handled one after another, so one poster measures the per-connection publish path
  // and several measure what the server does with many people commenting at once.
  const posters = [];
  try {
    for (let i = 0; i < nPosters; i++) posters.push(await connectPoster(i));
  } catch (e) {
    log('poster failed:', e.message);
    process.stdout.write(`RESULT ${JSON.stringify({ ...result, error: `poster: ${e.message}` })}\n`);
    process.exit(2);
  }

  await room(cfg, workers, posters, post, total, phase, log, result, cpu0);
}

// The posting phase of a room scenario: send `total` comments at `cfg.rate`/s, then drain.
async function room(cfg, workers, posters, post, total, phase, log, result, cpu0) {
  const prefix = `~B${cfg.runId}~`;
  const pad = 'x'.repeat(Math.max(0, (cfg.padding || 24)));
  const makeText = (seq, ts) => `bench ${pad} ${prefix}${seq}~${ts}~`;
  let received = 0;
  let lastRecvUs = 0;
  const progress = new Map();
  for (const w of workers) {
    w.on('message', (m) => {
      if (m.type === 'progress') {
        progress.set(w, m);
        received = 0;
        lastRecvUs = 0;
        for (const p of progress.values()) {
          received += p.received;
          lastRecvUs = Math.max(lastRecvUs, p.lastRecvUs);
        }
      }
    });
  }
  for (const w of workers) w.postMessage({ cmd: 'post', total });
  await new Promise((r) => setTimeout(r, 50));

  await phase('ready', { viewers: result.connect.ok });
  const cpuPost0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const start = nowUs();
  const intervalUs = 1e6 / cfg.rate;
  await new Promise((resolve) => {
    const tick = () => {
      const now = nowUs();
      const due = Math.min(total, Math.floor((now - start) / intervalUs) + 1);
      while (post.sent < due) {
        const seq = post.sent++;
        const ts = nowUs();
        post.sentAt[seq] = ts;
        const text = makeText(seq, ts);
        const poster = posters[seq % posters.length];
        if (cfg.kind === 'product') {
          poster.send(
            JSON.stringify({
              type: 'publish', ref: String(seq), topic: cfg.topic, event: 'comment',
              data: { text, client_id: `${cfg.runId}-${seq}` },
            }),
          );
        } else {
          poster.send(JSON.stringify({ message: text }));
        }
      }
      if (post.sent >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(5, (start + post.sent * intervalUs - nowUs()) / 1000)));
    };
    tick();
  });
  const sendEnd = nowUs();
  const sendSecs = (sendEnd - start) / 1e6;
  log(`sent ${post.sent} in ${sendSecs.toFixed(2)}s`);

  // Drain: until everything expected has arrived, nothing arrived for drainIdle s, or drainMax s.
  const expected = post.sent * result.connect.ok;
  await new Promise((resolve) => {
    const check = () => {
      const now = nowUs();
      const lastActivity = Math.max(lastRecvUs, sendEnd);
      if (received >= expected) return resolve('complete');
      if ((now - lastActivity) / 1e6 > cfg.drainIdle) return resolve('idle');
      if ((now - sendEnd) / 1e6 > cfg.drainMax) return resolve('max');
      setTimeout(check, 50);
    };
    check();
  }).then((why) => {
    result.drain = why;
  });
  const eluMain = performance.eventLoopUtilization(elu0).utilization;
  const cpuPost = process.cpuUsage(cpuPost0);
  // Acks may still be in flight for the product; give them a moment when all deliveries arrived.
  if (cfg.kind === 'product') {
    const t = nowUs();
    while (post.acks + Object.values(post.errors).reduce((a, b) => a + b, 0) < post.sent && nowUs() - t < 2e6) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  post.done = true;
  const stats = await new Promise((resolve) => {
    const all = [];
    for (const w of workers) {
      const on = (m) => {
        if (m.type === 'stats') {
          w.off('message', on);
          all.push(m);
          if (all.length === workers.length) resolve(all);
        }
      };
      w.on('message', on);
      w.postMessage({ cmd: 'stats' });
    }
  });
  await phase('drained', { drain: result.drain });

  const hist = newHist();
  const agg = { received: 0, dups: 0, reordered: 0, frames: 0, stray: 0, closes: {}, serverErrors: {}, open: 0, lastRecvUs: 0 };
  const elus = [];
  for (const s of stats) {
    hmerge(hist, s.hist);
    for (const k of ['received', 'dups', 'reordered', 'frames', 'stray', 'open']) agg[k] += s[k];
    agg.lastRecvUs = Math.max(agg.lastRecvUs, s.lastRecvUs);
    for (const [k, n] of Object.entries(s.closes)) agg.closes[k] = (agg.closes[k] || 0) + n;
    for (const [k, n] of Object.entries(s.serverErrors)) agg.serverErrors[k] = (agg.serverErrors[k] || 0) + n;
    elus.push(Math.round(s.elu * 1000) / 1000);
  }
  const spanSecs = Math.max(sendSecs, ((agg.lastRecvUs || sendEnd) - start) / 1e6);
  Object.assign(result, {
    posters: posters.length,
    sent: post.sent,
    sendSecs,
    rate: cfg.rate,
    expected,
    received: agg.received,
    lost: expected - agg.received,
    dups: agg.dups,
    reordered: agg.reordered,
    stray: agg.stray,
    frames: agg.frames,
    spanSecs,
    deliveriesPerSec: agg.received / spanSecs,
    latency: hsummary(hist),
    viewerCloses: agg.closes,
    viewerErrors: agg.serverErrors,
    viewersOpenAtEnd: agg.open,
    acks: post.acks,
    ackLatency: cfg.kind === 'product' ? hsummary(post.ackHist) : null,
    postErrors: post.errors,
    firstPostError: post.firstError || null,
    clientCpuMeasured: (cpuPost.user + cpuPost.system) / 1e6,
    clientElu: { main: Math.round(eluMain * 1000) / 1000, viewers: elus },
  });
  for (const w of workers) w.postMessage({ cmd: 'close' });
  for (const poster of posters) {
    try {
      poster.terminate();
    } catch (e) {}
  }
  const cpu = process.cpuUsage(cpu0);
  result.clientCpu = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  setTimeout(() => process.exit(0), 100);
}

// A child process's viewer group, with a worker's interface (on, off, postMessage).
function childGroup(data) {
  const child = fork(__filename, [], {
    env: { ...process.env, BENCH_LOAD_CHILD: '1', BENCH_LOAD_DATA: JSON.stringify(data) },
    serialization: 'advanced', // typed arrays (the histograms) as they are, like postMessage
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return {
    on: (event, f) => child.on(event, f),
    off: (event, f) => child.off(event, f),
    postMessage: (m) => child.send(m),
  };
}

if (isMainThread && !IN_CHILD) {
  main().catch((e) => {
    process.stderr.write(`[load] fatal: ${e.stack || e}\n`);
    process.stdout.write(`RESULT ${JSON.stringify({ error: String(e.message || e) })}\n`);
    process.exit(1);
  });
} else {
  workerMain();
}
