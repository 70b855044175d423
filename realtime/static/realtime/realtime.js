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
 *   client.publish("stream.1", "comment", {text: "hi", client_id: "..."}).then(ack => ..., err => err.code);
 *   client.addEventListener("statechange", e => e.detail.state);  // connecting|live|reconnecting|offline
 *
 * Works in Node too (module.exports) so the reconnect, heartbeat and resume logic has unit tests.
 */
(function (root, factory) {
  "use strict";
  var config = {};
  // currentScript is only set while a classic script first runs, so it is read here and nowhere else.
  if (root.document && root.document.currentScript) config = Object.assign({}, root.document.currentScript.dataset);
  var api = factory(root, config);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.realtime = api;
})(typeof window !== "undefined" ? window : globalThis, function (root, scriptConfig) {
  "use strict";

  var STATES = ["connecting", "live", "reconnecting", "offline"];
  var BACKOFF_BASE = 1000;
  var BACKOFF_CAP = 30000;
  // After a 1008 policy close the server thinks we misbehaved: hammering it again would only repeat it.
  var POLICY_PAUSE = 5 * 60 * 1000;

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
   *   ticketUrl  when set, POST here for a fresh ticket before every connect (non-cookie auth)
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
    this.reason = null; // why we are offline: "closed", "signed_out", "auth_failed", "network"
    this.user = undefined; // from `hello`: null for anonymous
    this.attempt = 0;
    this._ws = null;
    this._stopped = false;
    this._retryTimer = null;
    this._pingTimer = null;
    this._watchTimer = null;
    this._lastFrameAt = 0;
    this._pingSentAt = 0; // when the oldest ping still waiting for any frame back was sent
    this._refSeq = 0;
    this._refPrefix = randomId().slice(0, 8);
    this._subs = new Map(); // topic -> Subscription (remembered across reconnects)
    this._pending = new Map(); // ref -> {frame, resolve, reject} publishes awaiting ack/error
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

  var LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };
  var REASON_LABELS = { signed_out: "Signed out", auth_failed: "Not signed in", policy: "Paused" };

  /** Every [data-realtime-badge] on the page shows the state as attribute (for CSS) and as text. */
  Client.prototype._reflectState = function () {
    if (!this._doc || !this._doc.querySelectorAll) return;
    var nodes = this._doc.querySelectorAll("[data-realtime-badge]");
    var text = (this.state === "offline" && REASON_LABELS[this.reason]) || LABELS[this.state];
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("data-realtime-state", this.state);
      if (this.reason) nodes[i].setAttribute("data-realtime-reason", this.reason);
      else nodes[i].removeAttribute("data-realtime-reason");
      nodes[i].textContent = text;
    }
  };

  // -- connection ----------------------------------------------------------------------------------
  Client.prototype._open = function () {
    var self = this;
    if (this._stopped || this._ws) return;
    this._setState(this.attempt === 0 && this.user === undefined ? "connecting" : "reconnecting");
    if (!this.ticketUrl) return this._dial(this.url);
    // A ticket lives ~60 s and is single-purpose, so each attempt fetches a fresh one.
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
      self._dial(self.url + (self.url.indexOf("?") < 0 ? "?" : "&") + "ticket=" + encodeURIComponent(body.ticket));
    }, function (err) {
      self._ws = null;
      if (err && err.code === "auth_failed") return self._stop("auth_failed");
      self._scheduleRetry();
    });
  };

  Client.prototype._dial = function (url) {
    var self = this;
    var ws;
    try {
      ws = new this._WebSocket(url);
    } catch (e) {
      reportError(e);
      return this._scheduleRetry();
    }
    this._ws = ws;
    ws.onopen = function () {
      if (self._ws !== ws) return;
      self._lastFrameAt = Date.now();
      self._pingSentAt = 0;
      self._startHeartbeat();
      // Resubscribe first. Queued publishes to a subscribed topic wait for its `subscribed` reply
      // (publishing needs the subscription on this connection); see _flushTopic.
      self._subs.forEach(function (sub) { sub._send(); });
      self._flushUntargeted();
    };
    ws.onmessage = function (msg) {
      if (self._ws !== ws) return;
      self._lastFrameAt = Date.now();
      self._pingSentAt = 0; // the oldest unanswered ping is answered by any frame
      var frame;
      try { frame = JSON.parse(msg.data); } catch (e) { return; }
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

  /** The socket is gone (close frame, network drop, or our heartbeat gave up on it). */
  Client.prototype._dropped = function (code) {
    var ws = this._ws;
    this._ws = null;
    this._stopHeartbeat();
    if (ws && ws !== "pending") {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(); } catch (e) { /* already closing */ }
    }
    this._subs.forEach(function (sub) { sub.ready = false; });
    this._emit("close", { code: code });
    if (this._stopped) return;
    if (code === 1000) return this._stop("closed");
    if (code === 4003) return this._stop("signed_out");
    if (code === 4001) {
      // With tickets we fetch a fresh one and retry; with the session cookie there is nothing to renew.
      if (!this.ticketUrl) return this._stop("auth_failed");
      return this._scheduleRetry();
    }
    if (code === 1008) return this._scheduleRetry(POLICY_PAUSE, "policy");
    this._scheduleRetry();
  };

  /** Full jitter: uniform in [0, min(cap, base * 2^attempt)], so a restarted server is not stampeded. */
  Client.prototype.backoffDelay = function (attempt) {
    var ceiling = Math.min(BACKOFF_CAP, BACKOFF_BASE * Math.pow(2, attempt));
    return Math.floor(this._random() * ceiling);
  };

  Client.prototype._scheduleRetry = function (delay, reason) {
    var self = this;
    if (this._stopped) return;
    if (delay === undefined) delay = this.backoffDelay(this.attempt);
    this.attempt += 1;
    this._setState(reason === "policy" ? "offline" : "reconnecting", reason);
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
    this._setState("offline", reason);
    var err = RealtimeError(reason === "signed_out" ? "signed_out" : "closed", "connection stopped: " + reason);
    this._pending.forEach(function (p) { p.reject(err); });
    this._pending.clear();
  };

  /** Close for good (e.g. leaving the page); pending publishes are rejected. */
  Client.prototype.close = function () {
    var ws = this._ws;
    this._stop("closed");
    this._ws = null;
    this._stopHeartbeat();
    if (ws && ws !== "pending") {
      ws.onclose = null;
      try { ws.close(1000); } catch (e) { /* ignore */ }
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
    if (this._send({ type: "ping" }) && !this._pingSentAt) this._pingSentAt = Date.now();
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

  Client.prototype._ref = function () {
    this._refSeq += 1;
    return this._refPrefix + "-" + this._refSeq;
  };

  // -- inbound -------------------------------------------------------------------------------------
  Client.prototype._handle = function (frame) {
    var sub;
    switch (frame.type) {
      case "hello":
        this.user = frame.user || null;
        // Only a greeting proves the server serves us; resetting on a bare TCP open would let an
        // accept-then-close loop run at full speed.
        this.attempt = 0;
        if (Number(frame.heartbeat) > 0 && Number(frame.heartbeat) !== this.heartbeat) {
          this.heartbeat = Number(frame.heartbeat);
          this._startHeartbeat();
        }
        this._setState("live");
        this._emit("hello", frame);
        break;
      case "batch":
        var messages = Array.isArray(frame.messages) ? frame.messages : [];
        for (var i = 0; i < messages.length; i++) {
          if (messages[i] && typeof messages[i] === "object") this._handle(messages[i]);
        }
        break;
      case "event":
        sub = this._subs.get(frame.topic);
        if (sub) sub._event(frame);
        this._emit("event", frame);
        break;
      case "subscribed":
        sub = this._subs.get(frame.topic);
        if (sub) sub._subscribed(frame);
        this._flushTopic(frame.topic);
        this._emit("subscribed", frame);
        break;
      case "unsubscribed":
        this._emit("unsubscribed", frame);
        break;
      case "kicked":
        sub = this._subs.get(frame.topic);
        // The server removed us on purpose (e.g. banned): coming back on reconnect would be wrong.
        if (sub) { this._subs.delete(frame.topic); sub._call("onKicked", frame); }
        this._rejectTopic(frame.topic, RealtimeError(frame.code || "kicked", frame.message, frame));
        this._emit("kicked", frame);
        break;
      case "ack":
        var p = this._pending.get(frame.ref);
        if (p) { this._pending.delete(frame.ref); p.resolve(frame); }
        this._emit("ack", frame);
        break;
      case "error":
        this._error(frame);
        break;
      case "pong":
        break;
      default:
        this._emit("message", frame);
    }
  };

  Client.prototype._error = function (frame) {
    var err = RealtimeError(frame.code, frame.message, frame);
    var p = frame.ref && this._pending.get(frame.ref);
    if (p) {
      this._pending.delete(frame.ref);
      p.reject(err);
    } else {
      var sub = null;
      this._subs.forEach(function (s) { if (s._ref === frame.ref) sub = s; });
      if (sub) {
        // A refused subscription (not_found, forbidden, auth_required, ...) will be refused again:
        // forget it so reconnects do not keep asking. Publishes waiting on it can never be sent.
        this._subs.delete(sub.topic);
        this._rejectTopic(sub.topic, err);
        sub._call("onError", err);
      }
    }
    this._emit("error", err);
  };

  // -- subscriptions -------------------------------------------------------------------------------
  function Subscription(client, topic, handlers) {
    this.client = client;
    this.topic = topic;
    this.handlers = handlers || {};
    this.lastId = null; // highest stored event id seen: the resume point
    this.ready = false; // subscribed on the current connection
    this.state = {}; // subscribed.state of the latest (re)subscribe
    this._ref = null;
    this._historyLeft = 0;
  }
  Subscription.prototype._call = function (name, a, b) {
    var fn = this.handlers[name];
    if (typeof fn === "function") {
      try { fn.call(this, a, b); } catch (e) { reportError(e); }
    }
  };
  Subscription.prototype._send = function () {
    this._ref = this.client._ref();
    this.ready = false;
    var frame = { type: "subscribe", topic: this.topic, ref: this._ref };
    if (this.lastId !== null) frame.since = this.lastId;
    this._resuming = this.lastId !== null;
    this.client._send(frame);
  };
  Subscription.prototype._subscribed = function (frame) {
    this.ready = true;
    this.state = frame.state || {};
    // The next `history` stored events are a replay. On a first subscribe that is old news (a list
    // wants it, an overlay does not); on a resume it is what we missed while away.
    this._historyLeft = Number(frame.history) || 0;
    this._call("onSubscribed", frame);
  };
  Subscription.prototype._event = function (frame) {
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
  /** Stop receiving; the server is told if we are connected. */
  Subscription.prototype.unsubscribe = function () {
    var client = this.client;
    if (client._subs.get(this.topic) !== this) return;
    client._subs.delete(this.topic);
    client._send({ type: "unsubscribe", topic: this.topic, ref: client._ref() });
  };

  /**
   * subscribe(topic, {onEvent, onSubscribed, onKicked, onError}) -> Subscription.
   * Remembered across reconnects and re-sent with `since` = the last id seen, so nothing is missed.
   * `since` may be given to start after a known id (e.g. the last one rendered server-side).
   */
  Client.prototype.subscribe = function (topic, handlers, since) {
    if (this._subs.has(topic)) throw new Error("realtime: already subscribed to " + topic);
    var sub = new Subscription(this, topic, handlers);
    if (typeof since === "number") sub.lastId = since;
    this._subs.set(topic, sub);
    sub._send();
    return sub;
  };

  // -- publishing ----------------------------------------------------------------------------------
  /**
   * publish(topic, event, data, {queue = true}) -> Promise<ack frame>, rejected with a RealtimeError.
   * While offline the publish waits and is re-sent, frame for frame, after reconnecting: a comment's
   * `client_id` then makes the retry idempotent on the server. Pass {queue: false} for things that
   * are worthless late (reactions): they fail at once with code "offline".
   */
  Client.prototype.publish = function (topic, event, data, options) {
    var self = this;
    var queue = !options || options.queue !== false;
    return new Promise(function (resolve, reject) {
      if (self._stopped) return reject(RealtimeError(self.reason === "signed_out" ? "signed_out" : "closed", "not connected"));
      var ref = self._ref();
      var frame = { type: "publish", ref: ref, topic: topic, event: event, data: data || {} };
      var sub = self._subs.get(topic);
      var canSend = self.state === "live" && (!sub || sub.ready);
      if (!canSend && !queue) return reject(RealtimeError("offline", "not connected"));
      self._pending.set(ref, { frame: frame, topic: topic, resolve: resolve, reject: reject });
      if (canSend) self._send(frame);
    });
  };

  /** Send queued publishes for a topic once this connection holds its subscription again. */
  Client.prototype._flushTopic = function (topic) {
    var self = this;
    this._pending.forEach(function (p) { if (p.topic === topic) self._send(p.frame); });
  };
  /** Publishes to topics we never subscribed to do not wait for a `subscribed`. */
  Client.prototype._flushUntargeted = function () {
    var self = this;
    this._pending.forEach(function (p) { if (!self._subs.has(p.topic)) self._send(p.frame); });
  };
  Client.prototype._rejectTopic = function (topic, err) {
    var self = this;
    this._pending.forEach(function (p, ref) {
      if (p.topic === topic) { self._pending.delete(ref); p.reject(err); }
    });
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
  };
});
