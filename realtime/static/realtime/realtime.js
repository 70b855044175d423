/*
 * realtime.js: the browser client for django realtime (protocol: docs/protocol.md).
 *
 * One WebSocket per tab multiplexes every topic the page uses. The only global is `window.realtime`.
 * Configuration rides on this script's own tag, as django-htmx does:
 *
 *   <script src=".../realtime.js" defer data-url="/ws/realtime/" data-heartbeat="25"></script>
 *
 *   const client = realtime.connect();              // the page's shared client (one socket per tab)
 *   const sub = client.subscribe("stream.1", {
 *     onEvent(msg, info) {},                        // msg: {topic, event, data, id?, at?}; info.history
 *     onSubscribed(msg) {}, onKicked(msg) {}, onError(err) {},
 *   });
 *   sub.unsubscribe();
 *   client.publish("stream.1", "comment", {text: "hi", client_id: "..."}).then(ack => ..., err => err.code);
 *   client.addEventListener("statechange", e => e.detail.state);  // connecting|live|reconnecting|offline
 *   client.close();                                 // the only way to stop for good
 *
 * Subscriptions. Several parts of a page may subscribe to the same topic (a stream view and a banner,
 * say): they share one server subscription. Each gets its own handle; every handle's handlers see
 * every event from the moment it joined. A handle that joins a subscription that is already live gets
 * onSubscribed at once (before subscribe() returns) with the latest `subscribed` frame. The server is
 * told `unsubscribe` only when the last handle leaves. Subscriptions are re-sent after every reconnect
 * with `since` = the last event id seen, so nothing is missed and nothing doubled. A refusal
 * (forbidden, not_found, auth_required, banned, ...) is final and goes to onError; `unavailable` and
 * `internal_error` are failures, not refusals: the subscribe is re-sent after `retry_after` (or the
 * client's backoff) and onError is not called.
 *
 * Close codes (a close the page asked for with client.close() never reconnects; any other does unless
 * listed here):
 *   1000        the server ended the socket (daphne's websocket_timeout): reconnect with backoff and
 *               resume. Only client.close() stops.
 *   1001        a planned restart (daphne got SIGTERM): reconnect after a short jittered pause (0-1 s)
 *               and resume; no backoff penalty (the attempt counter does not grow).
 *   4001        bad ticket: with a ticketUrl fetch a new ticket and reconnect; with cookies, stop.
 *   4003        access revoked (logged out, deactivated): stop, reason "signed_out".
 *   4008        too slow for the server: reconnect with backoff and resume with `since`.
 *   4013        the server could not authenticate us right now (its database is down): reconnect
 *               after the `retry_after` of the `unavailable` error before it, plus the backoff's jitter;
 *               state "reconnecting", reason "unavailable".
 *   4029        too many connections for this user (or address) on the server: state "offline",
 *               reason "too_many_connections", one attempt after CROWDED_PAUSE (1 minute), or at once
 *               when the tab becomes visible again (the user may have closed other tabs meanwhile).
 *   4429, 1008  repeated protocol abuse (1008 from servers before 4429): state "offline", reason
 *               "policy", one attempt after POLICY_PAUSE (5 minutes).
 *   anything else (1006 network drop, 4000 our heartbeat gave up): reconnect with backoff.
 *
 * Publishing: publish(topic, event, data, options) -> Promise<ack frame>, rejected with a
 * RealtimeError whose `code` is the server's error code or one of these local ones:
 *   "offline"          {queue: false} and the publish could not go out at once, or its connection
 *                      dropped before the answer. Such publishes are never sent twice.
 *   "connection_lost"  it was sent, the connection dropped before the answer, and it may not be re-sent
 *                      (retry false): it may or may not have been carried out.
 *   "timeout"          no answer within `timeout` ms of being sent; a late answer is ignored.
 *   "unsubscribed"     the last handle on its topic unsubscribed before it could be sent.
 *   "closed", "signed_out", or the refusal of the topic's subscription.
 * Options:
 *   queue    (default true) wait while not connected, or while the topic's subscription is not live
 *            on this connection, and go out as soon as it is. false: worthless late (reactions).
 *   retry    (default: true when data has a non-empty string `client_id`, else false) whether a
 *            publish that was sent but not answered before the connection dropped is sent again on
 *            the next connection. Only idempotent publishes may be: the server answers a comment
 *            retried with the same client_id with the stored post. Moderation actions carry no
 *            client_id, so they are not retried (the page passes {retry: false} as well).
 *   timeout  (default 15000) ms to wait for ack/error once SENT (time spent queued does not count;
 *            a re-send starts it again). 0 waits for ever.
 * A pending publish is sent at most once per connection, in the order publish() was called; one
 * place (_flush) decides when it goes out. At most hello.max_in_flight (64 when the server does not
 * say) are sent and unanswered at once; the rest wait their turn, so a burst queued while offline
 * goes out as the answers come back instead of being refused past the server's window.
 * A publish answered with too_many_in_flight, unavailable or internal_error (not carried out), or
 * rate_limited with a retry_after ("not now"), is not rejected: the same frame (same client_id) goes
 * again after the error's retry_after (else the backoff delay), and no publish behind it goes out
 * before it. Only refusals reject ({queue: false} publishes excepted: those are rejected with the
 * error, as late they are worthless).
 * Every request (publish, subscribe, unsubscribe, ping) also spends from the server's request budget
 * (hello.request_rate a second, hello.request_burst at once), mirrored a margin inside it by
 * policy.RequestPacer: what finds it empty waits, in order, so a burst never earns rate_limited
 * refusals and the 4429 they lead to. A server without those fields: no pacing.
 * Presence (docs/presence.md): client.presence(topic, handlers?) subscribes to the topic and keeps its
 * roster from the server's presence_state / presence_diff frames (Phoenix's syncState / syncDiff, pure
 * in `policy`; a meta is {conn, status}, one per connection):
 *   const here = client.presence("page.home");
 *   here.onSync(() => render(here.list()));            // {key: {name, avatar, metas}}; here.count, .anonymous
 *   here.onJoin((key, before, joined) => {}); here.onLeave((key, after, left) => {});  // after.metas [] = gone
 *   here.setStatus("typing"); here.setStatus(null);      // at most one frame a second, the latest wins
 *   here.leave();
 * Across a reconnect the roster is kept as it was (no one disappears and comes back): diffs wait for
 * the new connection's presence_state, which is then merged so only real changes reach onJoin/onLeave.
 * The status is re-sent on the new connection. A refused or kicked subscription empties the roster.
 * Decision points (backoff, which codes retry, close codes, pacing, roster merging) are pure functions
 * in `policy`.
 *
 * Works in Node too (module.exports) so the reconnect, heartbeat and resume logic has unit tests, and
 * from bundlers through realtime.mjs (docs/client-bundlers.md), which re-exports this file.
 *
 * Why this module is long: it is the one file the {% realtime_client %} tag loads as a classic script,
 * with no build step, and the one file realtime.mjs hands to bundlers: splitting it would mean either
 * several script tags in the right order on every page or a build. Its sections are independent
 * (decision points, events, connection, heartbeat, inbound, subscriptions, publishing).
 */
(function (root, factory) {
  "use strict";
  var config = {};
  // currentScript is only set while a classic script first runs, so it is read here and nowhere else.
  if (root.document && root.document.currentScript) config = Object.assign({}, root.document.currentScript.dataset);
  var api = factory(root, config);
  if (typeof module === "object" && module.exports) module.exports = api;
  else {
    // Companion scripts (danmaku.js) may run before this one and hang their part on window.realtime:
    // keep what they put there.
    var before = root.realtime;
    if (before && typeof before === "object") {
      Object.keys(before).forEach(function (k) { if (!(k in api)) api[k] = before[k]; });
    }
    root.realtime = api;
  }
})(typeof window !== "undefined" ? window : globalThis, function (root, scriptConfig) {
  "use strict";

  var STATES = ["connecting", "live", "reconnecting", "offline"];
  var BACKOFF_BASE = 1000;
  var BACKOFF_CAP = 30000;
  // After a policy close (4429, formerly 1008) the server thinks we misbehaved: hammering it again
  // would only repeat it.
  var POLICY_PAUSE = 5 * 60 * 1000;
  var POLICY_CODES = { 4429: true, 1008: true };
  // 4029: this user already has the most sockets the server allows. Not misbehaviour, but retrying
  // at backoff speed would only be refused again until another tab closes.
  var CROWDED_PAUSE = 60 * 1000;
  // Pauses shown as "offline" (with their reason) rather than "reconnecting".
  var OFFLINE_PAUSES = { policy: true, too_many_connections: true };
  var PUBLISH_TIMEOUT = 15000;
  // Errors that report a server-side failure rather than a decision about us ("the request was not
  // carried out"): ask again later. A publish also waits and retries on too_many_in_flight, which
  // only says the connection's window was full.
  var SUBSCRIBE_RETRY_CODES = { unavailable: true, internal_error: true };
  var PUBLISH_RETRY_CODES = { too_many_in_flight: true, unavailable: true, internal_error: true };
  // Servers that do not announce hello.max_in_flight allow this many (MAX_PUBLISHES_IN_FLIGHT's default).
  var DEFAULT_MAX_IN_FLIGHT = 64;
  // 1001 is a planned restart: the server will be back in a moment. Spread the page's return over
  // this window so a restarted server is not met by every tab in the same millisecond.
  var RESTART_JITTER = 1000;
  // Pacing runs this far inside the server's request budget (hello.request_rate, request_burst): the
  // two clocks drift, and the network delivers frames in bunches. A rate_limited pause holds requests
  // other than publishes at most PACE_MAX_PAUSE: a stream's comment limit says rate_limited too, with
  // pauses of seconds meant for comments (those hold publishes, _holdPublishes).
  var PACE_RATE_MARGIN = 0.9;
  var PACE_BURST_RESERVE = 0.1;
  var PACE_MAX_PAUSE = 1000;
  var PACE_MIN_WAIT = 5; // ms: a timer for a sliver of a token would only spin

  // -- decision points -----------------------------------------------------------------------------
  // Pure functions, exported as `policy`, so a table of protocol cases shared with the Python client
  // (tests/protocol_cases.json) can check both clients decide the same way.

  /** Full jitter: uniform in [0, min(cap, base * 2^attempt)], so a restarted server is not stampeded. */
  function backoffDelay(attempt, random) {
    var ceiling = Math.min(BACKOFF_CAP, BACKOFF_BASE * Math.pow(2, attempt));
    return Math.floor(random() * ceiling);
  }

  /**
   * Whether a publish refused with `code` is sent again (same frame, same client_id) after a pause.
   * rate_limited with a retry_after is "not now", not "no" (the connection's request budget, a
   * stream's comment limit); without one it is final. slow_mode is the page's to show.
   */
  function publishRetryable(code, retryAfter) {
    if (code === "rate_limited") return typeof retryAfter === "number";
    return PUBLISH_RETRY_CODES[code] === true;
  }

  /**
   * Whether a subscribe refused with `code` is sent again after a pause (else the refusal is final);
   * rate_limited with a retry_after is the request budget's "not now", as for publishes.
   */
  function subscribeRetryable(code, retryAfter) {
    if (code === "rate_limited") return typeof retryAfter === "number";
    return SUBSCRIBE_RETRY_CODES[code] === true;
  }

  /**
   * RequestPacer(rate, burst, now, spent): the server's request budget (realtime/limits.py: every
   * publish, subscribe, unsubscribe and ping costs a token; over it, rate_limited, and enough of those
   * end in 4429) mirrored as a token bucket a margin inside it, times in ms. `spent`: requests already
   * sent on the connection before its hello (the resubscribes on open). realtime.client's pacing.py
   * is the same.
   */
  function RequestPacer(rate, burst, now, spent) {
    this.rate = (rate * PACE_RATE_MARGIN) / 1000; // tokens a ms
    this.burst = Math.max(1, burst - Math.max(1, Math.ceil(burst * PACE_BURST_RESERVE)));
    this.tokens = this.burst - (spent || 0);
    this.stamp = now;
    this.pausedUntil = 0; // the server asked us to wait (retry_after)
  }
  RequestPacer.prototype._refill = function (now) {
    if (now > this.stamp) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.stamp) * this.rate);
      this.stamp = now;
    }
  };
  /** Spend a token for one request to send now; false: it must wait until readyAt(). */
  RequestPacer.prototype.take = function (now) {
    this._refill(now);
    // 1e-9: ten refills of a tenth of a token must make one, whatever floating point says.
    if (now < this.pausedUntil || this.tokens < 1 - 1e-9) return false;
    this.tokens -= 1;
    return true;
  };
  /** When take() can next succeed. */
  RequestPacer.prototype.readyAt = function () {
    return Math.max(this.stamp + Math.max(1 - this.tokens, 0) / this.rate, this.pausedUntil);
  };
  /** The server answered rate_limited with this retry_after (ms): its bucket is empty. */
  RequestPacer.prototype.refused = function (retryAfterMs, now) {
    this._refill(now);
    this.tokens = Math.min(this.tokens, 0);
    this.pausedUntil = Math.max(this.pausedUntil, now + Math.min(retryAfterMs, PACE_MAX_PAUSE));
  };

  /** The pacer for a connection whose hello was `frame`; null when it announces no budget (no pacing). */
  function requestPacer(frame, now, spent) {
    var rate = Number(frame && frame.request_rate);
    var burst = Number(frame && frame.request_burst);
    if (!(rate > 0) || !(burst > 0)) return null;
    return new RequestPacer(rate, Math.floor(burst), now, spent);
  }

  /** How many publishes may be sent and unanswered on a connection whose hello was `frame`. */
  function maxInFlight(frame) {
    var n = Number(frame && frame.max_in_flight);
    return n >= 1 ? Math.floor(n) : DEFAULT_MAX_IN_FLIGHT;
  }

  /**
   * What to do when the server (or the network) ended the socket with `code` (the `expect_action`
   * names of tests/protocol_cases.json):
   *   stop            never reconnect on our own (`reason` says why)
   *   reconnect       after the attempt's backoff delay
   *   refresh_ticket  the same, with a fresh ticket
   *   reconnect_soon  a planned restart: after 0-1 s
   *   retry_after     after the retry_after of the `unavailable` before the close, plus backoff jitter
   *   pause           after `delay` ms (a long pause: the server thinks we should stay away)
   * `penalty`: whether the attempt counter (so the next backoff) grows; `reason`: the state's reason.
   */
  function closePlan(code, hasTicketUrl) {
    if (code === 4003) return { action: "stop", reason: "signed_out" };
    // With tickets we fetch a fresh one and retry; with the session cookie there is nothing to renew.
    if (code === 4001) {
      return hasTicketUrl ? { action: "refresh_ticket", penalty: true } : { action: "stop", reason: "auth_failed" };
    }
    if (POLICY_CODES[code]) return { action: "pause", delay: POLICY_PAUSE, reason: "policy", penalty: true };
    if (code === 4029) return { action: "pause", delay: CROWDED_PAUSE, reason: "too_many_connections", penalty: true };
    if (code === 4013) return { action: "retry_after", reason: "unavailable", penalty: true };
    if (code === 1001) return { action: "reconnect_soon", penalty: false };
    // 1000 included: daphne closes every socket with 1000 after its websocket_timeout. It does not
    // mean "this client should stop"; only client.close() does.
    return { action: "reconnect", penalty: true };
  }

  /** An error the server sent (`type: "error"`), or a local refusal; switch on `code`, not `message`. */
  function RealtimeError(code, message, frame) {
    var err = new Error(message || code);
    err.name = "RealtimeError";
    err.code = code;
    err.frame = frame || null;
    err.retryAfter = frame && typeof frame.retry_after === "number" ? frame.retry_after : null;
    return err;
  }

  function randomId() {
    var c = root.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  /** ws: or wss: from the page's own scheme, so the same page works behind TLS and on localhost. */
  function buildUrl(path, location) {
    path = path || "/ws/realtime/";
    if (/^wss?:\/\//.test(path)) return path;
    if (!location) throw new Error("realtime: no page location; pass an absolute ws:// or wss:// url.");
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + (path.charAt(0) === "/" ? "" : "/") + path;
  }

  function readCookie(doc, name) {
    var parts = (doc && doc.cookie ? doc.cookie : "").split(";");
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].trim();
      if (kv.indexOf(name + "=") === 0) return decodeURIComponent(kv.slice(name.length + 1));
    }
    return null;
  }

  /**
   * Client(options): one connection and everything that must survive its reconnects.
   *   url        ws path or absolute ws(s) URL (default data-url or /ws/realtime/)
   *   heartbeat  seconds between pings until the server's `hello` says otherwise (default 25)
   *   ticketUrl  when set, POST here for a fresh single-use ticket before every connect (non-cookie
   *              auth); it is presented as the subprotocol "realtime.ticket.<ticket>"
   *   WebSocket, document, location, random: injectable for tests
   */
  function Client(options) {
    options = options || {};
    this._WebSocket = options.WebSocket || root.WebSocket;
    this._doc = "document" in options ? options.document : root.document;
    this._location = options.location || root.location;
    this._random = options.random || Math.random;
    this._fetch = options.fetch || (root.fetch && root.fetch.bind(root));
    this.url = buildUrl(options.url, this._location);
    this.ticketUrl = options.ticketUrl || null;
    this.heartbeat = Number(options.heartbeat) > 0 ? Number(options.heartbeat) : 25;
    this.state = "connecting";
    this.reason = null; // why not live: "closed", "signed_out", "auth_failed", "network", "policy", "unavailable"
    this.user = undefined; // from `hello`: null for anonymous
    this.attempt = 0;
    this._ws = null;
    this._greeted = false; // the current socket has said `hello`: publishes may go out
    this._stopped = false;
    this._retryTimer = null;
    this._retryAfter = null; // seconds from an `unavailable` error sent before a 4013 close
    this._pingTimer = null;
    this._watchTimer = null;
    this._lastFrameAt = 0;
    this._pingSentAt = 0; // when the oldest ping still waiting for any frame back was sent
    this._refSeq = 0;
    this._refPrefix = randomId().slice(0, 8);
    this._subs = new Map(); // topic -> Topic (the server subscription, remembered across reconnects)
    this._pending = new Map(); // ref -> Pending publish awaiting ack/error (insertion order = send order)
    this._presences = []; // Presence objects (client.presence), each on a subscription handle
    this._statusRefs = new Map(); // ref -> Presence whose setStatus frame awaits ack/error
    this._maxInFlight = DEFAULT_MAX_IN_FLIGHT; // from the current connection's hello
    this._holdTimer = null; // while set, no publish goes out: the server asked us to wait (retry_after)
    this._holdUntil = 0;
    this._pacer = null; // the current connection's request budget (null: before hello, or none announced)
    this._paced = []; // requests other than publishes waiting for the pacer, in order
    this._paceTimer = null;
    this._spent = 0; // requests sent on the current socket before its pacer existed
    this._listeners = {};
    this._onWake = this._wake.bind(this);
    if (this._doc && this._doc.addEventListener) this._doc.addEventListener("visibilitychange", this._onWake);
    if (root.addEventListener) root.addEventListener("online", this._onWake);
    this._reflectState();
    this._open();
  }

  // -- events --------------------------------------------------------------------------------------
  // A plain listener list rather than EventTarget: handlers get the same {type, detail} in browsers and
  // in Node tests, and one throwing handler cannot starve the others.
  Client.prototype.addEventListener = function (type, fn) {
    (this._listeners[type] = this._listeners[type] || []).push(fn);
  };
  Client.prototype.removeEventListener = function (type, fn) {
    var list = this._listeners[type] || [];
    var i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
  /** on(type, fn) -> off(): the short form. */
  Client.prototype.on = function (type, fn) {
    var self = this;
    this.addEventListener(type, fn);
    return function () { self.removeEventListener(type, fn); };
  };
  Client.prototype._emit = function (type, detail) {
    var list = (this._listeners[type] || []).slice();
    var event = { type: type, detail: detail, target: this };
    for (var i = 0; i < list.length; i++) {
      try { list[i](event); } catch (e) { reportError(e); }
    }
  };

  function reportError(e) {
    // A broken page handler must not break the socket loop, but it must not vanish silently either.
    if (typeof root.reportError === "function") root.reportError(e);
    else if (root.console) root.console.error(e);
  }

  Client.prototype._setState = function (state, reason) {
    if (STATES.indexOf(state) < 0) throw new Error("realtime: unknown state " + state);
    reason = reason || null;
    if (state === this.state && reason === this.reason) return;
    this.state = state;
    this.reason = reason;
    this._emit("statechange", { state: state, reason: this.reason });
    this._reflectState();
    // Page code that never held the client can still follow the state: document "realtime:state".
    if (this._doc && this._doc.dispatchEvent && typeof root.CustomEvent === "function") {
      this._doc.dispatchEvent(new root.CustomEvent("realtime:state", { detail: { state: state, reason: this.reason } }));
    }
  };

  // The badge's words come from Django, in the page's language: each badge carries them as
  // data-label-<state> / data-label-<reason> attributes (the template realtime/badge.html renders them
  // translated), or the {% realtime_client %} script tag does for every badge. These English words are
  // only the defaults for a badge written by hand without them.
  var LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
  var REASON_LABELS = { signed_out: "Signed out", auth_failed: "Not signed in", policy: "Paused",
    too_many_connections: "Too many tabs open" };

  /** A badge's word for `key` (a state or an offline reason): the badge's own, the page's, the default. */
  function badgeLabel(node, key, defaults) {
    var attr = "data-label-" + key.replace(/_/g, "-");
    var camel = "label" + key.split("_").map(function (w) {
      return w.charAt(0).toUpperCase() + w.slice(1);
    }).join("");
    return (node.getAttribute && node.getAttribute(attr)) || scriptConfig[camel] || defaults[key];
  }

  /** Every [data-realtime-badge] on the page shows the state as attribute (for CSS) and as text. */
  Client.prototype._reflectState = function () {
    if (!this._doc || !this._doc.querySelectorAll) return;
    var nodes = this._doc.querySelectorAll("[data-realtime-badge]");
    var reason = this.state === "offline" && REASON_LABELS[this.reason] ? this.reason : null;
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("data-realtime-state", this.state);
      if (this.reason) nodes[i].setAttribute("data-realtime-reason", this.reason);
      else nodes[i].removeAttribute("data-realtime-reason");
      nodes[i].textContent = reason
        ? badgeLabel(nodes[i], reason, REASON_LABELS)
        : badgeLabel(nodes[i], this.state, LABELS);
    }
  };

  // -- connection ----------------------------------------------------------------------------------
  Client.prototype._open = function () {
    var self = this;
    if (this._stopped || this._ws) return;
    this._setState(this.attempt === 0 && this.user === undefined ? "connecting" : "reconnecting");
    if (!this.ticketUrl) return this._dial(this.url);
    // A ticket lives ~60 s and works once, so each attempt fetches a fresh one.
    this._ws = "pending";
    var csrf = readCookie(this._doc, "csrftoken");
    this._fetch(this.ticketUrl, {
      method: "POST", credentials: "same-origin",
      headers: csrf ? { "X-CSRFToken": csrf } : {},
    }).then(function (resp) {
      if (resp.status === 401 || resp.status === 403) throw RealtimeError("auth_failed", "ticket refused");
      if (!resp.ok) throw RealtimeError("ticket_unavailable", "ticket HTTP " + resp.status);
      return resp.json();
    }).then(function (body) {
      self._ws = null;
      if (self._stopped) return;
      // As a subprotocol, not in the URL: URLs end up in proxy logs and browser history. The server
      // selects "realtime" and never echoes the ticket.
      self._dial(self.url, ["realtime", "realtime.ticket." + body.ticket]);
    }, function (err) {
      self._ws = null;
      if (err && err.code === "auth_failed") return self._stop("auth_failed");
      self._scheduleRetry();
    });
  };

  Client.prototype._dial = function (url, protocols) {
    var self = this;
    var ws;
    try {
      ws = protocols ? new this._WebSocket(url, protocols) : new this._WebSocket(url);
    } catch (e) {
      reportError(e);
      return this._scheduleRetry();
    }
    this._ws = ws;
    this._greeted = false;
    this._newBudget();
    ws.onopen = function () {
      if (self._ws !== ws) return;
      self._lastFrameAt = Date.now();
      self._pingSentAt = 0;
      self._startHeartbeat();
      // Resubscribe at once; publishes wait for `hello` (and for their topic's `subscribed`): _flush.
      self._subs.forEach(function (topic) { topic._send(); });
    };
    ws.onmessage = function (msg) {
      if (self._ws !== ws) return;
      self._lastFrameAt = Date.now();
      self._pingSentAt = 0; // the oldest unanswered ping is answered by any frame
      var frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame && typeof frame === "object") self._handle(frame);
    };
    ws.onerror = function () {
      // The browser hides the reason on purpose; onclose always follows and decides what to do.
    };
    ws.onclose = function (ev) {
      if (self._ws !== ws) return;
      self._dropped(ev && ev.code);
    };
  };

  /**
   * The socket is gone (close frame, network drop, or our heartbeat gave up on it). client.close()
   * detaches onclose before closing, so every close that reaches here is one the page did not ask for.
   */
  Client.prototype._dropped = function (code) {
    var self = this;
    var ws = this._ws;
    this._ws = null;
    this._greeted = false;
    this._stopHeartbeat();
    this._newBudget(); // what waited for the pacer is re-sent by the next connection, if at all
    if (ws && ws !== "pending") {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(); } catch { /* already closing */ }
    }
    this._subs.forEach(function (topic) { topic._disconnected(); });
    this._statusRefs.clear(); // their answers died with the connection; onSubscribed re-sends
    // What was sent on this socket and not answered has an unknown fate. Re-send only what is safe to.
    this._pending.forEach(function (p) {
      if (!p.sent) return;
      p.sent = false;
      clearTimeout(p.timer);
      p.timer = null;
      if (p.retry) return;
      self._pending.delete(p.ref);
      p.reject(p.queue
        ? RealtimeError("connection_lost", "the connection dropped before the server answered; it may or may not have been done")
        : RealtimeError("offline", "the connection dropped before the server answered"));
    });
    this._emit("close", { code: code });
    var retryAfter = this._retryAfter;
    this._retryAfter = null;
    if (this._stopped) return;
    var plan = closePlan(code, !!this.ticketUrl);
    if (plan.action === "stop") return this._stop(plan.reason);
    var delay = plan.delay; // undefined: the backoff delay (reconnect, refresh_ticket)
    if (plan.action === "reconnect_soon") delay = Math.floor(this._random() * RESTART_JITTER);
    else if (plan.action === "retry_after") {
      // Jitter on top of the server's pause, so a database coming back is not met by every tab at once.
      delay = (retryAfter === null ? 0 : retryAfter * 1000) + this.backoffDelay(this.attempt);
    }
    this._scheduleRetry(delay, plan.reason, plan.penalty);
  };

  /** The backoff delay of reconnect attempt `attempt` (0-based), with this client's random(). */
  Client.prototype.backoffDelay = function (attempt) {
    return backoffDelay(attempt, this._random);
  };

  Client.prototype._scheduleRetry = function (delay, reason, penalty) {
    var self = this;
    if (this._stopped) return;
    if (delay === undefined) delay = this.backoffDelay(this.attempt);
    // A planned restart (1001) costs nothing: the next unplanned drop still starts at the short delays.
    if (penalty !== false) this.attempt += 1;
    this._setState(OFFLINE_PAUSES[reason] ? "offline" : "reconnecting", reason);
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(function () {
      self._retryTimer = null;
      self._attemptNow();
    }, delay);
  };

  Client.prototype._attemptNow = function () {
    if (this._stopped || this._ws) return;
    // A hidden tab or a machine without network gets no attempts: they would fail or waste the
    // server's time. visibilitychange / online call _wake, which retries at once.
    if (this._doc && this._doc.hidden) return this._setState("reconnecting", "hidden");
    if (root.navigator && root.navigator.onLine === false) return this._setState("offline", "network");
    this._open();
  };

  Client.prototype._wake = function () {
    if (this._stopped || this._ws || this.reason === "policy") return;
    if (this._doc && this._doc.hidden) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._attemptNow();
  };

  Client.prototype._stop = function (reason) {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearTimeout(this._holdTimer);
    this._holdTimer = null;
    this._newBudget();
    this._subs.forEach(function (topic) { topic._disconnected(); });
    this._statusRefs.clear(); // their answers died with the connection; onSubscribed re-sends
    this._setState("offline", reason);
    var err = RealtimeError(reason === "signed_out" ? "signed_out" : "closed", "connection stopped: " + reason);
    var pending = Array.from(this._pending.values());
    this._pending.clear();
    pending.forEach(function (p) { clearTimeout(p.timer); p.reject(err); });
  };

  /** Close for good (e.g. leaving the page); pending publishes are rejected. */
  Client.prototype.close = function () {
    var ws = this._ws;
    this._stop("closed");
    this._ws = null;
    this._greeted = false;
    this._stopHeartbeat();
    if (ws && ws !== "pending") {
      ws.onclose = null; // so _dropped never mistakes our own close for the server's
      try { ws.close(1000); } catch { /* ignore */ }
    }
    if (this._doc && this._doc.removeEventListener) this._doc.removeEventListener("visibilitychange", this._onWake);
    if (root.removeEventListener) root.removeEventListener("online", this._onWake);
  };

  // -- heartbeat -----------------------------------------------------------------------------------
  // A socket can stay "open" long after the network under it died (laptop sleep, NAT timeout): only
  // silence tells. Any frame counts as a sign of life; pings guarantee there is one to expect.
  Client.prototype._startHeartbeat = function () {
    var self = this;
    this._stopHeartbeat();
    var interval = this.heartbeat * 1000;
    this._pingTimer = setInterval(function () { self._ping(); }, interval);
    this._watchTimer = setInterval(function () {
      var now = Date.now();
      if (now - self._lastFrameAt <= 2 * interval) return;
      // Silence alone is not proof: a throttled background tab may not have run our ping timer. Give
      // up only on a ping that has had a whole interval to be answered.
      if (!self._pingSentAt) self._ping();
      else if (now - self._pingSentAt >= interval) self._dropped(4000);
    }, Math.min(interval / 2, 5000));
  };
  Client.prototype._ping = function () {
    if (this._request({ type: "ping" }) && !this._pingSentAt) this._pingSentAt = Date.now();
  };
  Client.prototype._stopHeartbeat = function () {
    clearInterval(this._pingTimer);
    clearInterval(this._watchTimer);
    this._pingTimer = this._watchTimer = null;
  };

  Client.prototype._send = function (frame) {
    var ws = this._ws;
    if (!ws || ws === "pending" || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  };

  // -- pacing: the server's request budget ---------------------------------------------------------
  // Every request costs the server a token (see RequestPacer). Requests other than publishes
  // (subscribe, unsubscribe, ping) go through _request, publishes through _flush; both spend from the
  // pacer, and what finds it empty waits, in order (the others ahead of publishes: they are few, and
  // publishes may wait on a subscription).
  Client.prototype._newBudget = function () {
    this._pacer = null;
    this._paced = [];
    this._spent = 0;
    clearTimeout(this._paceTimer);
    this._paceTimer = null;
  };

  /** Send a request other than a publish, within the budget; false when there is no socket to send on. */
  Client.prototype._request = function (frame) {
    if (!this._pacer) {
      if (!this._send(frame)) return false;
      this._spent += 1;
      return true;
    }
    if (!this._ws || this._ws === "pending" || this._ws.readyState !== 1) return false;
    this._paced.push(frame);
    this._release();
    return true;
  };

  /** Send the waiting requests the pacer allows; true once none waits. */
  Client.prototype._release = function () {
    var now = Date.now();
    while (this._paced.length && this._pacer && this._pacer.take(now)) this._send(this._paced.shift());
    if (this._paced.length) this._paceLater();
    return this._paced.length === 0;
  };

  /** Come back when the pacer has a token again (once: one timer at a time). */
  Client.prototype._paceLater = function () {
    var self = this;
    if (this._paceTimer || !this._pacer) return;
    this._paceTimer = setTimeout(function () {
      self._paceTimer = null;
      self._flush();
    }, Math.max(PACE_MIN_WAIT, Math.ceil(this._pacer.readyAt() - Date.now())));
  };

  Client.prototype._ref = function () {
    this._refSeq += 1;
    return this._refPrefix + "-" + this._refSeq;
  };

  // -- inbound -------------------------------------------------------------------------------------
  Client.prototype._handle = function (frame) {
    var topic;
    switch (frame.type) {
      case "hello":
        this.user = frame.user || null;
        // Only a greeting proves the server serves us; resetting on a bare TCP open would let an
        // accept-then-close loop run at full speed.
        this.attempt = 0;
        this._greeted = true;
        this._maxInFlight = maxInFlight(frame);
        this._pacer = requestPacer(frame, Date.now(), this._spent);
        if (Number(frame.heartbeat) > 0 && Number(frame.heartbeat) !== this.heartbeat) {
          this.heartbeat = Number(frame.heartbeat);
          this._startHeartbeat();
        }
        this._setState("live");
        this._emit("hello", frame);
        this._flush(); // publishes to topics we hold no subscription for
        break;
      case "batch":
        var messages = Array.isArray(frame.messages) ? frame.messages : [];
        for (var i = 0; i < messages.length; i++) {
          if (messages[i] && typeof messages[i] === "object") this._handle(messages[i]);
        }
        break;
      case "event":
        topic = this._subs.get(frame.topic);
        if (topic) topic._event(frame);
        this._emit("event", frame);
        break;
      case "subscribed":
        topic = this._subs.get(frame.topic);
        // Only the answer to the topic's latest subscribe: a late answer to one made before an
        // unsubscribe would let the old subscription's events in as the new one's.
        if (topic && (!frame.ref || frame.ref === topic._ref)) topic._subscribed(frame);
        this._flush(); // publishes that waited for this subscription
        this._emit("subscribed", frame);
        break;
      case "unsubscribed":
        this._emit("unsubscribed", frame);
        break;
      case "kicked":
        topic = this._subs.get(frame.topic);
        // The server removed us on purpose (e.g. banned): coming back on reconnect would be wrong.
        if (topic) { topic._forget(); topic._call("onKicked", frame); }
        this._rejectTopic(frame.topic, RealtimeError(frame.code || "kicked", frame.message, frame));
        this._emit("kicked", frame);
        break;
      case "ack":
        var p = this._pending.get(frame.ref);
        // A publish that timed out is no longer pending: its late ack is ignored here.
        if (p) { this._settle(p); p.resolve(frame); }
        this._statusRefs.delete(frame.ref);
        this._emit("ack", frame);
        this._flush(); // a slot in the in-flight window is free
        break;
      case "error":
        this._error(frame);
        break;
      case "presence_state":
      case "presence_diff":
        this._presenceFrame(frame);
        this._emit("presence", frame);
        break;
      case "pong":
        break;
      default:
        this._emit("message", frame);
    }
  };

  Client.prototype._error = function (frame) {
    var err = RealtimeError(frame.code, frame.message, frame);
    // Whichever request it answers (a ping has no ref): the server's bucket is empty.
    if (frame.code === "rate_limited" && err.retryAfter !== null && this._pacer) {
      this._pacer.refused(err.retryAfter * 1000, Date.now());
    }
    // An `unavailable` answering no request comes before a 4013 close: it says how long to stay away.
    if (!frame.ref && frame.code === "unavailable") this._retryAfter = err.retryAfter;
    var p = frame.ref && this._pending.get(frame.ref);
    var presence = frame.ref && this._statusRefs.get(frame.ref);
    if (presence) {
      this._statusRefs.delete(frame.ref);
      presence._statusRefused(err);
    } else if (p && p.sent && p.queue && publishRetryable(frame.code, err.retryAfter)) {
      // Not carried out (a full window, the database or the layer down): the same frame goes again,
      // in its place in the queue, once the pause is over. Nothing behind it overtakes it.
      p.sent = false;
      clearTimeout(p.timer);
      p.timer = null;
      p.attempt += 1;
      this._holdPublishes(err.retryAfter !== null ? err.retryAfter * 1000 : this.backoffDelay(p.attempt - 1));
    } else if (p) {
      this._settle(p);
      p.reject(err);
      this._flush(); // its slot in the window is free
    } else if (frame.ref) {
      var topic = null;
      this._subs.forEach(function (t) { if (t._ref === frame.ref) topic = t; });
      if (topic && subscribeRetryable(frame.code, err.retryAfter)) {
        // The server failed (database or channel layer down), it did not say no: ask again later.
        // Publishes waiting for this subscription keep waiting.
        topic._retryLater(err.retryAfter);
      } else if (topic) {
        // A refused subscription (not_found, forbidden, auth_required, ...) will be refused again:
        // forget it so reconnects do not keep asking. Publishes waiting on it can never be sent.
        topic._forget();
        this._rejectTopic(topic.name, err);
        topic._call("onError", err);
      }
    }
    this._emit("error", err);
  };

  // -- subscriptions -------------------------------------------------------------------------------
  /** The one server subscription to a topic, shared by every handle the page holds on it. */
  function Topic(client, name) {
    this.client = client;
    this.name = name;
    this.handles = []; // Subscription handles, in the order they subscribed
    this.lastId = null; // highest stored event id seen: the resume point
    this.ready = false; // subscribed on the current connection
    this.state = {}; // subscribed.state of the latest (re)subscribe
    this.lastSubscribed = null; // that whole frame, for handles that join later
    this._ref = null;
    this._historyLeft = 0;
    this._resuming = false;
    this._attempt = 0; // consecutive `unavailable` refusals, for the backoff
    this._retryTimer = null;
  }
  Topic.prototype._call = function (name, a, b) {
    var handles = this.handles.slice();
    for (var i = 0; i < handles.length; i++) handles[i]._call(name, a, b);
  };
  Topic.prototype._send = function () {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._ref = this.client._ref();
    this.ready = false;
    var frame = { type: "subscribe", topic: this.name, ref: this._ref };
    if (this.lastId !== null) frame.since = this.lastId;
    this._resuming = this.lastId !== null;
    this.client._request(frame);
  };
  Topic.prototype._disconnected = function () {
    this.ready = false;
    // The next connection resubscribes at once; a timer left over would subscribe a second time.
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
  };
  Topic.prototype._retryLater = function (retryAfter) {
    var self = this;
    var delay = typeof retryAfter === "number" && retryAfter >= 0
      ? retryAfter * 1000
      : this.client.backoffDelay(this._attempt);
    this._attempt += 1;
    this._ref = null; // a late answer to the refused ref must not match
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(function () {
      self._retryTimer = null;
      if (self.client._subs.get(self.name) === self) self._send();
    }, delay);
  };
  Topic.prototype._forget = function () {
    if (this.client._subs.get(this.name) === this) this.client._subs.delete(this.name);
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this.ready = false;
  };
  Topic.prototype._subscribed = function (frame) {
    this.ready = true;
    this._attempt = 0;
    this.state = frame.state || {};
    this.lastSubscribed = frame;
    // The next `history` stored events are a replay. On a first subscribe that is old news (a list
    // wants it, an overlay does not); on a resume it is what we missed while away.
    this._historyLeft = Number(frame.history) || 0;
    this._call("onSubscribed", frame);
  };
  Topic.prototype._event = function (frame) {
    // Before this subscription's `subscribed`, an event for the topic is a stray of an earlier
    // subscription (unsubscribed and subscribed again quickly): the server sends `subscribed` before
    // any event of a new one. Taken, its id would become the resume point and the new subscription's
    // replay would be dropped as duplicates.
    if (!this.ready) return;
    var info = { history: false, resumed: false };
    if (typeof frame.id === "number") {
      if (this._historyLeft > 0) {
        this._historyLeft -= 1;
        info.history = !this._resuming;
        info.resumed = this._resuming;
      }
      // Duplicates can arrive when a live event races the replay; the id makes them harmless.
      if (this.lastId !== null && frame.id <= this.lastId) return;
      this.lastId = frame.id;
    }
    this._call("onEvent", frame, info);
  };

  /** What subscribe() returns: one page part's handlers on a (possibly shared) Topic. */
  function Subscription(topic, handlers) {
    this.client = topic.client;
    this.topic = topic.name;
    this.handlers = handlers || {};
    this._topic = topic;
  }
  // Read-through to the shared subscription, so the handle reports what the server subscription is.
  ["lastId", "ready", "state"].forEach(function (name) {
    Object.defineProperty(Subscription.prototype, name, {
      get: function () { return this._topic[name]; },
    });
  });
  Subscription.prototype._call = function (name, a, b) {
    var fn = this.handlers[name];
    if (typeof fn === "function") {
      try { fn.call(this, a, b); } catch (e) { reportError(e); }
    }
  };
  /** Stop receiving. The server is told (if connected) once no other handle holds the topic. */
  Subscription.prototype.unsubscribe = function () {
    var topic = this._topic;
    var i = topic.handles.indexOf(this);
    if (i < 0) return;
    topic.handles.splice(i, 1);
    if (topic.handles.length || this.client._subs.get(topic.name) !== topic) return;
    var client = this.client;
    topic._forget();
    // Publishes still waiting to go out would now be sent without the subscription they needed.
    client._pending.forEach(function (p) {
      if (p.topic === topic.name && !p.sent) {
        client._settle(p);
        p.reject(RealtimeError("unsubscribed", "unsubscribed from " + topic.name + " before this was sent"));
      }
    });
    client._request({ type: "unsubscribe", topic: topic.name, ref: client._ref() });
  };

  /**
   * subscribe(topic, {onEvent, onSubscribed, onKicked, onError}, since?) -> Subscription.
   * Remembered across reconnects and re-sent with `since` = the last id seen, so nothing is missed.
   * `since` may be given to start after a known id (e.g. the last one rendered server-side); it only
   * applies when this call creates the server subscription, not when it joins an existing one.
   */
  Client.prototype.subscribe = function (name, handlers, since) {
    var topic = this._subs.get(name);
    var fresh = !topic;
    if (fresh) {
      topic = new Topic(this, name);
      if (typeof since === "number") topic.lastId = since;
      this._subs.set(name, topic);
    }
    var sub = new Subscription(topic, handlers);
    topic.handles.push(sub);
    if (fresh) topic._send();
    else if (topic.ready && topic.lastSubscribed) sub._call("onSubscribed", topic.lastSubscribed);
    return sub;
  };

  // -- publishing ----------------------------------------------------------------------------------
  /** publish(topic, event, data, {queue, retry, timeout}) -> Promise<ack>; see the header comment. */
  Client.prototype.publish = function (topic, event, data, options) {
    var self = this;
    options = options || {};
    data = data || {};
    var queue = options.queue !== false;
    var retry = queue && ("retry" in options
      ? options.retry !== false
      : typeof data.client_id === "string" && data.client_id !== "");
    var timeout = "timeout" in options ? Number(options.timeout) || 0 : PUBLISH_TIMEOUT;
    return new Promise(function (resolve, reject) {
      if (self._stopped) return reject(RealtimeError(self.reason === "signed_out" ? "signed_out" : "closed", "not connected"));
      if (!queue && !self._canSend(topic)) return reject(RealtimeError("offline", "not connected"));
      var ref = self._ref();
      self._pending.set(ref, {
        ref: ref,
        topic: topic,
        frame: { type: "publish", ref: ref, topic: topic, event: event, data: data },
        queue: queue,
        retry: retry,
        timeout: timeout,
        sent: false, // on the wire on the current connection
        attempt: 0, // retryable refusals so far (too_many_in_flight, unavailable, ...), for the backoff
        timer: null,
        resolve: resolve,
        reject: reject,
      });
      self._flush();
    });
  };

  /** Whether a publish to `topic` may go out on the current connection right now. */
  Client.prototype._canSend = function (topic) {
    if (!this._greeted || !this._ws || this._ws === "pending" || this._ws.readyState !== 1) return false;
    var t = this._subs.get(topic);
    // Publishing needs the subscription on this connection when the page holds one.
    return !t || t.ready;
  };

  /**
   * The one place a pending publish goes out: in the order publish() was called, each at most once
   * per connection (`sent` is cleared only when the connection drops or the server asks for it again),
   * once the connection has said hello and the topic's subscription, if we hold one, is live on it,
   * and never more than hello.max_in_flight sent and unanswered at once: past the server's window it
   * would refuse them. Called on hello, on every `subscribed`, ack and error, and on publish().
   */
  Client.prototype._flush = function () {
    var self = this;
    // Requests other than publishes first; then publishes, while the pacer has tokens.
    if (!this._release()) return;
    if (this._holdTimer) return; // the server asked for a pause: _holdPublishes flushes after it
    var inFlight = 0;
    var spent = false; // the budget ran out: the rest wait for _paceLater
    var now = Date.now();
    this._pending.forEach(function (p) {
      if (p.sent) inFlight += 1;
    });
    this._pending.forEach(function (p) {
      if (spent || inFlight >= self._maxInFlight || p.sent || !self._canSend(p.topic)) return;
      if (self._pacer && !self._pacer.take(now)) {
        spent = true;
        return self._paceLater();
      }
      if (!self._send(p.frame)) return;
      p.sent = true;
      inFlight += 1;
      if (p.timeout > 0) {
        // Counted from sending: time spent queued while offline is not the server being slow.
        p.timer = setTimeout(function () {
          if (self._pending.get(p.ref) !== p) return;
          self._settle(p);
          p.reject(RealtimeError("timeout", "no answer from the server within " + p.timeout / 1000 + " s"));
        }, p.timeout);
      }
    });
  };

  /** No publish goes out for `delay` ms (longer if already held longer); then they go in order. */
  Client.prototype._holdPublishes = function (delay) {
    var self = this;
    var until = Date.now() + delay;
    if (this._holdTimer && until <= this._holdUntil) return;
    clearTimeout(this._holdTimer);
    this._holdUntil = until;
    this._holdTimer = setTimeout(function () {
      self._holdTimer = null;
      self._flush();
    }, delay);
  };

  /** Forget a pending publish (answered, refused, timed out): later answers to its ref are ignored. */
  Client.prototype._settle = function (p) {
    clearTimeout(p.timer);
    p.timer = null;
    this._pending.delete(p.ref);
  };

  Client.prototype._rejectTopic = function (topic, err) {
    var self = this;
    this._pending.forEach(function (p) {
      if (p.topic === topic) { self._settle(p); p.reject(err); }
    });
  };

  // -- presence ------------------------------------------------------------------------------------
  // Roster merging, pure (exported in `policy`): Phoenix's syncState / syncDiff (presence.js) with the
  // server's meta {conn, status}. A meta is identified by conn AND status, because the server reports a
  // status change as a leave of the old meta and a join of the new one on the same connection.
  function metaId(meta) {
    return String(meta && meta.conn) + "\u0000" + String(meta && meta.status);
  }
  function cloneEntry(entry) {
    var copy = Object.assign({}, entry);
    copy.metas = Array.isArray(entry && entry.metas) ? entry.metas.map(function (m) { return Object.assign({}, m); }) : [];
    return copy;
  }
  function cloneRoster(roster) {
    var copy = {};
    Object.keys(roster || {}).forEach(function (key) { copy[key] = cloneEntry(roster[key]); });
    return copy;
  }
  /**
   * syncDiff(roster, {joins, leaves}, onJoin?, onLeave?) -> the new roster (the old one is not changed).
   * onJoin(key, before|undefined, joined) and onLeave(key, after, left): `after.metas` empty means the
   * user is gone.
   */
  function syncDiff(roster, diff, onJoin, onLeave) {
    var state = cloneRoster(roster);
    var joins = (diff && diff.joins) || {};
    var leaves = (diff && diff.leaves) || {};
    Object.keys(joins).forEach(function (key) {
      var before = state[key];
      var joined = cloneEntry(joins[key]);
      var next = cloneEntry(joined);
      if (before) {
        var ids = next.metas.map(metaId);
        var kept = before.metas.filter(function (m) { return ids.indexOf(metaId(m)) < 0; });
        next.metas = kept.concat(next.metas);
      }
      state[key] = next;
      if (onJoin) onJoin(key, before, joined);
    });
    Object.keys(leaves).forEach(function (key) {
      var current = state[key];
      if (!current) return;
      var left = cloneEntry(leaves[key]);
      var gone = left.metas.map(metaId);
      current.metas = current.metas.filter(function (m) { return gone.indexOf(metaId(m)) < 0; });
      if (onLeave) onLeave(key, current, left);
      if (current.metas.length === 0) delete state[key];
    });
    return state;
  }
  /** syncState(roster, fresh, onJoin?, onLeave?): only the real differences between the two rosters. */
  function syncState(roster, fresh, onJoin, onLeave) {
    var joins = {};
    var leaves = {};
    roster = roster || {};
    fresh = fresh || {};
    Object.keys(roster).forEach(function (key) {
      if (!(key in fresh)) leaves[key] = roster[key];
    });
    Object.keys(fresh).forEach(function (key) {
      var current = roster[key];
      if (!current) { joins[key] = fresh[key]; return; }
      var freshIds = (fresh[key].metas || []).map(metaId);
      var currentIds = current.metas.map(metaId);
      var joined = (fresh[key].metas || []).filter(function (m) { return currentIds.indexOf(metaId(m)) < 0; });
      var left = current.metas.filter(function (m) { return freshIds.indexOf(metaId(m)) < 0; });
      if (joined.length) joins[key] = Object.assign(cloneEntry(fresh[key]), { metas: joined });
      if (left.length) leaves[key] = Object.assign(cloneEntry(current), { metas: left });
    });
    return syncDiff(roster, { joins: joins, leaves: leaves }, onJoin, onLeave);
  }

  // setStatus sends at most one frame per STATUS_MIN_INTERVAL (the latest status wins), so a page
  // calling it on every keystroke never earns rate_limited; the server limits as well.
  var STATUS_MIN_INTERVAL = 1000;

  /**
   * What client.presence(topic) returns. It holds a subscription handle on the topic (presence frames
   * only reach subscribers). The roster survives reconnects: it is kept as it was until the new
   * connection's presence_state arrives, and then only the real differences are reported.
   */
  function Presence(client, topic, handlers) {
    var self = this;
    this.client = client;
    this.topic = topic;
    this.count = 0; // signed-in users listed, as the server counts them
    this.anonymous = 0; // anonymous viewers, counted and never listed
    this.synced = false; // a presence_state arrived (on some connection)
    this._roster = {};
    this._fresh = false; // a presence_state arrived on the current subscription
    this._pending = []; // diffs that arrived before this subscription's presence_state
    this._listeners = { join: [], leave: [], sync: [], error: [] };
    this._status = null; // what the page asked for
    this._sentStatus = null; // what the server has for our connection (null after a reconnect)
    this._statusTimer = null;
    this._lastStatusAt = -Infinity;
    this._closed = false;
    handlers = handlers || {};
    this.subscription = client.subscribe(topic, {
      onSubscribed: function () {
        // A new connection has a new meta with no status: the next presence_state will say so.
        self._fresh = false;
        self._pending = [];
        self._sentStatus = null;
        self._scheduleStatus();
        if (typeof handlers.onSubscribed === "function") handlers.onSubscribed.apply(this, arguments);
      },
      onEvent: handlers.onEvent,
      onKicked: function (frame) { self._drop(); if (typeof handlers.onKicked === "function") handlers.onKicked(frame); },
      onError: function (err) { self._drop(); self._fire("error", [err]); if (typeof handlers.onError === "function") handlers.onError(err); },
    });
    // A roster already live on this topic (another part of the page) is ours too: the server sent
    // its presence_state once, to the shared subscription.
    var siblings = client._presences.filter(function (p) { return p.topic === topic && p._fresh; });
    if (siblings.length && this.subscription.ready) {
      this._roster = cloneRoster(siblings[0]._roster);
      this.count = siblings[0].count;
      this.anonymous = siblings[0].anonymous;
      this._fresh = this.synced = true;
    }
    client._presences.push(this);
  }
  Presence.prototype._fire = function (kind, args) {
    var fns = this._listeners[kind].slice();
    for (var i = 0; i < fns.length; i++) {
      try { fns[i].apply(null, args); } catch (e) { reportError(e); }
    }
  };
  Presence.prototype._on = function (kind, fn) {
    var list = this._listeners[kind];
    list.push(fn);
    return function () { var i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); };
  };
  /** onJoin(fn(key, before|undefined, joined)) -> unsubscribe function. */
  Presence.prototype.onJoin = function (fn) { return this._on("join", fn); };
  /** onLeave(fn(key, after, left)): `after.metas` empty means the user left altogether. */
  Presence.prototype.onLeave = function (fn) { return this._on("leave", fn); };
  /** onSync(fn(presence)): after every state or diff has been applied (render the roster here). */
  Presence.prototype.onSync = function (fn) { return this._on("sync", fn); };
  /** onError(fn(err)): the subscription was refused, or a setStatus was. */
  Presence.prototype.onError = function (fn) { return this._on("error", fn); };
  /** list() -> {key: {name, avatar, metas}} (a copy); list(fn) -> [fn(key, entry), ...]. */
  Presence.prototype.list = function (chooser) {
    var roster = cloneRoster(this._roster);
    if (typeof chooser !== "function") return roster;
    return Object.keys(roster).map(function (key) { return chooser(key, roster[key]); });
  };
  Presence.prototype._apply = function (fn) {
    var self = this;
    this._roster = fn(
      this._roster,
      function () { self._fire("join", arguments); },
      function () { self._fire("leave", arguments); }
    );
    this._fire("sync", [this]);
  };
  Presence.prototype._counts = function (frame) {
    if (typeof frame.count === "number") this.count = frame.count;
    if (typeof frame.anonymous === "number") this.anonymous = frame.anonymous;
  };
  Presence.prototype._state = function (frame) {
    var entries = frame.entries && typeof frame.entries === "object" ? frame.entries : {};
    this._counts(frame);
    this._fresh = true;
    this.synced = true;
    this._apply(function (roster, onJoin, onLeave) { return syncState(roster, entries, onJoin, onLeave); });
    var pending = this._pending;
    this._pending = [];
    for (var i = 0; i < pending.length; i++) this._diff(pending[i]);
  };
  Presence.prototype._diff = function (frame) {
    // A diff is relative to this connection's presence_state: before it, it would be applied to the
    // previous connection's roster (kept to avoid flicker), so it waits.
    if (!this._fresh) { this._pending.push(frame); return; }
    this._counts(frame);
    this._apply(function (roster, onJoin, onLeave) {
      return syncDiff(roster, { joins: frame.joins, leaves: frame.leaves }, onJoin, onLeave);
    });
  };
  /** The roster is no longer ours to show (refused, kicked, left): empty it, reporting the leaves. */
  Presence.prototype._drop = function () {
    this._fresh = false;
    this._pending = [];
    this.count = 0;
    this.anonymous = 0;
    if (Object.keys(this._roster).length) {
      this._apply(function (roster, onJoin, onLeave) { return syncState(roster, {}, onJoin, onLeave); });
    }
  };
  /**
   * setStatus("typing" | "away" | "active" | null): this connection's status in the roster. At most one
   * frame a second goes out, the latest status winning; it is re-sent after a reconnect.
   */
  Presence.prototype.setStatus = function (status) {
    this._status = status === undefined ? null : status;
    this._scheduleStatus();
  };
  Presence.prototype._scheduleStatus = function () {
    var self = this;
    if (this._closed || this._statusTimer || this._status === this._sentStatus) return;
    // Not before the subscription is live (onSubscribed calls again; it also runs inside subscribe(),
    // before this.subscription is set, when the topic was already live).
    if (!this.subscription || !this.subscription.ready) return;
    var wait = this._lastStatusAt + STATUS_MIN_INTERVAL - Date.now();
    if (wait > 0) {
      this._statusTimer = setTimeout(function () { self._statusTimer = null; self._scheduleStatus(); }, wait);
      return;
    }
    var ref = this.client._ref();
    this._lastStatusAt = Date.now();
    this._sentStatus = this._status;
    this.client._statusRefs.set(ref, this);
    this.client._request({ type: "presence", topic: this.topic, status: this._status, ref: ref });
  };
  Presence.prototype._statusRefused = function (err) {
    var self = this;
    this._sentStatus = null; // unknown: try again (rate_limited) or report
    if (err.code === "rate_limited" && err.retryAfter !== null) {
      clearTimeout(this._statusTimer);
      this._statusTimer = setTimeout(function () { self._statusTimer = null; self._scheduleStatus(); }, err.retryAfter * 1000);
      return;
    }
    this._status = null;
    this._fire("error", [err]);
  };
  /** Stop: unsubscribe this handle, forget the roster (no leave callbacks), cancel a pending status. */
  Presence.prototype.leave = function () {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._statusTimer);
    this._statusTimer = null;
    var list = this.client._presences;
    var i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
    this.subscription.unsubscribe();
    this._roster = {};
  };

  /** presence(topic, handlers?) -> Presence: the topic's roster (subscribes to it; see Presence). */
  Client.prototype.presence = function (topic, handlers) {
    return new Presence(this, topic, handlers);
  };
  Client.prototype._presenceFrame = function (frame) {
    var list = this._presences.slice();
    for (var i = 0; i < list.length; i++) {
      if (list[i].topic !== frame.topic) continue;
      if (frame.type === "presence_state") list[i]._state(frame);
      else list[i]._diff(frame);
    }
  };

  // -- the page's shared client --------------------------------------------------------------------
  var shared = null;
  /** connect(options?) -> the tab's one Client, created on first call from the script tag's data-*. */
  function connect(options) {
    if (shared && !shared._stopped) return shared;
    var merged = Object.assign(
      { url: scriptConfig.url, heartbeat: scriptConfig.heartbeat, ticketUrl: scriptConfig.ticketUrl },
      options || {}
    );
    shared = new Client(merged);
    return shared;
  }

  return {
    connect: connect,
    Client: Client,
    RealtimeError: RealtimeError,
    buildUrl: buildUrl,
    randomId: randomId,
    config: scriptConfig,
    STATES: STATES.slice(),
    policy: {
      backoffDelay: backoffDelay,
      publishRetryable: publishRetryable,
      subscribeRetryable: subscribeRetryable,
      maxInFlight: maxInFlight,
      RequestPacer: RequestPacer,
      requestPacer: requestPacer,
      closePlan: closePlan,
      syncState: syncState,
      syncDiff: syncDiff,
    },
  };
});
