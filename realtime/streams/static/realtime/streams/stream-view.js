/*
 * stream-view.js: the live-stream page view rendered by realtime/streams/stream.html.
 *
 * The comment list beside the player, the form that posts, moderator tools, reactions, the viewer
 * count, hints (slow mode, closed, ended) and the send cooldown. Comments fly across the video through
 * danmaku.js (`realtime.Danmaku`, loaded before this script); the broadcast banner is banner.js's.
 * Everything goes through the page's one realtime.js connection. User text is only ever put in the
 * page with textContent: a comment is data, never markup.
 *
 * Media time: from the element marked [data-rt-media]: a <video>'s currentTime; for a
 * <canvas data-rt-stage> (no video URL) whatever `currentTime` a stage script defined on the canvas
 * (the demo's stage.js does), else the wall-clock time since the stream's data-started-at.
 *
 * Publishing (see realtime.js): reactions are {queue: false} (late is worthless; never sent twice);
 * moderation is {retry: false} (not idempotent: if the connection drops before the answer the
 * moderator is told, rather than a ban or delete being sent again). A refused reaction is reported on
 * the reaction bar, not in the comment form, and never holds the Send button.
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else api.autostart();
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var LIST_LIMIT = 200; // comments kept in the list; older ones leave the DOM
  var REACTION_STATUS_MS = 4000; // how long a reaction problem stays on the bar when there is no wait
  var REACTION_EMOJI = { heart: "❤️", laugh: "😂", wow: "😮", clap: "👏", fire: "🔥" };

  // Per stable error code (docs/protocol.md); anything else shows the server's message.
  var ERROR_TEXT = {
    rate_limited: function (s) { return "You're posting too fast. Try again in " + s + " s."; },
    slow_mode: function (s) { return "Slow mode is on: you can post again in " + s + " s."; },
    unavailable: function (s) { return "The server is having trouble. Try again in " + s + " s."; },
    muted: "You are muted in this stream.",
    banned: "You are banned from this stream.",
    text_empty: "Write something first.",
    text_too_long: "That comment is too long.",
    blocked_term: "That comment contains a word that isn't allowed here.",
    comments_closed: "Comments are closed.",
    stream_ended: "This stream has ended.",
    bad_color: "Pick one of the colours offered.",
    bad_mode: "Pick one of the display modes offered.",
    bad_reaction: "That reaction isn't available.",
    auth_required: "Log in to do that.",
    forbidden: "You are not allowed to do that.",
    signed_out: "You were signed out. Log in again to comment.",
    not_subscribed: "Not connected to this stream yet; try again in a moment.",
    offline: "You're offline; reactions aren't sent while disconnected.",
    connection_lost: "The connection dropped before the server confirmed that. Check whether it took effect before trying again.",
    timeout: "The server didn't answer in time. Try again.",
    comment_not_found: "That comment is already gone.",
    user_not_found: "That user no longer exists.",
  };
  // The reaction bar is small: short texts there, the comment texts above for everything else.
  var REACTION_TEXT = {
    rate_limited: function (s) { return "Too many reactions: wait " + s + " s."; },
    offline: "Offline: not sent.",
    connection_lost: "Connection lost: not sent.",
    timeout: "No answer: not sent.",
  };

  function errorText(err, table) {
    var entry = (table && table[err.code]) || ERROR_TEXT[err.code];
    var wait = err.retryAfter != null ? Math.ceil(err.retryAfter) : null;
    if (typeof entry === "function") return entry(wait != null ? wait : "a few");
    return entry || err.message || "Something went wrong (" + err.code + ").";
  }

  function formatMediaTime(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "";
    var s = Math.floor(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  /** Only the server's allow-listed "#rrggbb" values reach a style; anything else is ignored. */
  function safeColor(value) {
    return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value) ? value : null;
  }

  /** Used when danmaku.js is missing: the list, form and reactions still work, nothing flies. */
  var NO_OVERLAY = { add: function () {}, remove: function () {} };

  // -- one stream component --------------------------------------------------------------------------
  function StreamView(el, rt) {
    this.root = el;
    this.doc = el.ownerDocument;
    this.rt = rt;
    this.client = rt.connect();
    this.topic = el.getAttribute("data-topic");
    this.userId = Number(el.getAttribute("data-user-id")) || null;
    this.comments = new Map(); // comment id -> list item
    this.pendingByClientId = new Map(); // our posts not yet acknowledged
    var layer = this.q("[data-rt-overlay]");
    if (rt.Danmaku && layer) this.overlay = new rt.Danmaku(layer);
    else {
      if (!rt.Danmaku && root.console) root.console.error("realtime stream: danmaku.js is not loaded before stream-view.js.");
      this.overlay = NO_OVERLAY;
    }
    this.list = this.q("[data-rt-comments]");
    this.form = this.q("[data-rt-form]");
    this.errorBox = this.q("[data-rt-error]");
    this.hint = this.q("[data-rt-hint]");
    this.floats = this.q("[data-rt-floats]");
    this.reactionButtons = Array.prototype.slice.call(el.querySelectorAll("[data-rt-reaction]"));
    this.reactionStatus = this.q("[data-rt-reaction-status]");
    this.state = {};
    this.cooldownTimer = null;
    this.reactionTimer = null;
    this.reactionsHeld = []; // reaction buttons we disabled for a retry_after, to give back after it

    var started = Date.parse(el.getAttribute("data-started-at"));
    this.startedAt = isNaN(started) ? Date.now() : started;
    this.media = this.q("[data-rt-media]");

    el.querySelectorAll("[data-rt-swatch]").forEach(function (dot) {
      var color = safeColor(dot.getAttribute("data-rt-swatch"));
      // Set through CSSOM, not a style attribute, so a strict CSP (no 'unsafe-inline') still allows it.
      if (color) dot.style.setProperty("--rt-swatch", color);
    });
    this.bind();
    this.subscribe();
  }

  StreamView.prototype.q = function (selector) {
    return this.root.querySelector(selector);
  };

  StreamView.prototype.el = function (tag, className, text) {
    var node = this.doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  };

  StreamView.prototype.mediaTime = function () {
    var media = this.media;
    if (!media) return null;
    var t = media.currentTime;
    // A bare stage canvas has no clock of its own; a stage script may give it one (see the header).
    if (typeof t !== "number" && media.hasAttribute("data-rt-stage")) t = Math.max(0, (Date.now() - this.startedAt) / 1000);
    return typeof t === "number" && isFinite(t) ? Math.round(t * 10) / 10 : null;
  };

  StreamView.prototype.subscribe = function () {
    var self = this;
    this.subscription = this.client.subscribe(this.topic, {
      onSubscribed: function (msg) { self.onSubscribed(msg); },
      onEvent: function (msg, info) { self.onEvent(msg, info); },
      onKicked: function (msg) {
        self.showError({ code: msg.code, message: msg.message });
        self.setFormEnabled(false);
      },
      onError: function (err) { self.showError(err); },
    });
    this.client.on("statechange", function (e) {
      if (e.detail.reason === "signed_out") {
        self.showError({ code: "signed_out" });
        self.setFormEnabled(false);
      }
    });
  };

  StreamView.prototype.onSubscribed = function (msg) {
    var state = msg.state || {};
    if (typeof state.viewers === "number") this.setViewers(state.viewers);
    this.root.setAttribute("data-moderator", state.moderator ? "true" : "false");
    this.applyStreamState(state);
    if (msg.truncated) this.setHint("Some messages were skipped while you were away.");
  };

  StreamView.prototype.onEvent = function (msg, info) {
    var data = msg.data || {};
    switch (msg.event) {
      case "comment":
        this.addComment(data, { fly: !info.history });
        break;
      case "comment.deleted":
        this.removeComment(data.comment);
        break;
      case "comment.restored":
        this.addComment(data, { fly: false });
        break;
      case "stream.updated":
        this.applyStreamState(data);
        break;
      case "viewers":
        this.setViewers(data.count);
        break;
      case "reactions":
        this.floatReactions(data.counts || {});
        break;
    }
  };

  StreamView.prototype.setViewers = function (count) {
    var node = this.q("[data-rt-viewers]");
    if (node && typeof count === "number") node.textContent = String(count);
  };

  StreamView.prototype.applyStreamState = function (s) {
    if ("comments_open" in s) this.state.comments_open = s.comments_open;
    if ("slow_mode_seconds" in s) this.state.slow_mode_seconds = s.slow_mode_seconds;
    if ("live" in s) this.state.live = s.live;
    var live = this.state.live !== false;
    this.root.setAttribute("data-live", live ? "true" : "false");
    var liveLabel = this.q("[data-rt-live]");
    if (liveLabel) liveLabel.textContent = live ? "Live" : "Ended";
    var open = this.state.comments_open !== false && live;
    this.setFormEnabled(open);
    if (!live) this.setHint("This stream has ended.");
    else if (this.state.comments_open === false) this.setHint("Comments are closed.");
    else if (this.state.slow_mode_seconds > 0) this.setHint("Slow mode: one comment every " + this.state.slow_mode_seconds + " s.");
    else this.setHint(null);
  };

  StreamView.prototype.setHint = function (text) {
    if (!this.hint) return;
    this.hint.hidden = !text;
    this.hint.textContent = text || "";
  };

  StreamView.prototype.setFormEnabled = function (enabled) {
    if (!this.form) return;
    this.form.querySelectorAll("input, select, button").forEach(function (n) { n.disabled = !enabled; });
  };

  // -- comments -----------------------------------------------------------------------------------
  StreamView.prototype.addComment = function (c, opts) {
    if (!c || c.id == null) return;
    var author = c.author || {};
    var mine = this.userId !== null && author.id === this.userId;
    // Our own post may already be shown as pending: swap it for the stored one.
    if (mine && c.client_id && this.pendingByClientId.has(c.client_id)) {
      this.pendingByClientId.get(c.client_id).remove();
      this.pendingByClientId.delete(c.client_id);
    }
    if (this.comments.has(c.id)) return; // the ack and the event both carry it
    var item = this.renderComment(c, mine);
    this.appendToList(item);
    this.comments.set(c.id, item);
    if (opts.fly) this.overlay.add({ id: c.id, text: c.text, color: c.color, mode: c.mode || "scroll", mine: mine });
  };

  StreamView.prototype.renderComment = function (c, mine) {
    var author = c.author || {};
    var item = this.el("li", "rt-comment" + (mine ? " rt-comment--mine" : ""));
    item.setAttribute("data-comment-id", String(c.id));
    item.appendChild(this.el("span", "rt-comment__author", author.username || "?"));
    var text = this.el("span", "rt-comment__text", c.text);
    var color = safeColor(c.color);
    if (color) text.style.color = color;
    item.appendChild(text);
    var when = formatMediaTime(c.media_time);
    if (when) item.appendChild(this.el("span", "rt-comment__time", when));
    item.appendChild(this.renderTools(c, mine));
    return item;
  };

  /** Moderator tools on every item; CSS shows them only while data-moderator="true". */
  StreamView.prototype.renderTools = function (c, mine) {
    var self = this;
    var tools = this.el("span", "rt-comment__tools");
    var author = c.author || {};
    function tool(label, action, payload, confirmText) {
      var b = self.el("button", "rt-tool rt-tool--" + action, label);
      b.type = "button";
      b.setAttribute("data-rt-moderate", action);
      b.addEventListener("click", function () {
        b.disabled = true;
        // Not idempotent (a second "mute" extends it, a second "ban" after an unban re-bans): never
        // re-sent behind the moderator's back after a reconnect.
        self.client.publish(self.topic, "moderate", payload, { retry: false }).then(
          function () { if (confirmText) self.showNotice(confirmText); },
          function (err) { self.showError(err); }
        ).then(function () { b.disabled = false; });
      });
      tools.appendChild(b);
    }
    tool("Delete", "delete", { action: "delete", comment: c.id });
    if (!mine && author.id != null) {
      tool("Mute", "mute", { action: "mute", user: author.id, minutes: 10 }, "Muted " + author.username + " for 10 minutes.");
      tool("Ban", "ban", { action: "ban", user: author.id }, "Banned " + author.username + ".");
    }
    return tools;
  };

  StreamView.prototype.appendToList = function (item) {
    var list = this.list;
    // Follow the newest comment only if the reader is already at the bottom.
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(item);
    while (list.children.length > LIST_LIMIT) {
      var old = list.firstElementChild;
      this.comments.delete(Number(old.getAttribute("data-comment-id")));
      old.remove();
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
  };

  StreamView.prototype.removeComment = function (id) {
    var item = this.comments.get(id);
    if (item) { item.remove(); this.comments.delete(id); }
    this.overlay.remove(id);
  };

  // -- posting ------------------------------------------------------------------------------------
  StreamView.prototype.bind = function () {
    var self = this;
    if (this.form) {
      this.form.addEventListener("submit", function (e) {
        e.preventDefault();
        self.post();
      });
    }
    this.reactionButtons.forEach(function (button) {
      button.addEventListener("click", function () {
        self.react(button.getAttribute("data-rt-reaction"));
      });
    });
  };

  StreamView.prototype.post = function () {
    var self = this;
    var input = this.form.elements.text;
    var text = input.value.trim();
    if (!text) return this.showError({ code: "text_empty" });
    var colorInput = this.form.querySelector('input[name="color"]:checked');
    var data = {
      text: text,
      // Chosen once per post and kept across retries: the server stores it at most once.
      client_id: this.rt.randomId(),
      color: colorInput ? colorInput.value : undefined,
      mode: this.form.elements.mode ? this.form.elements.mode.value : "scroll",
    };
    var mediaTime = this.mediaTime();
    if (mediaTime !== null) data.media_time = mediaTime;
    if (!data.color) delete data.color;

    var pending = this.el("li", "rt-comment rt-comment--mine rt-comment--pending");
    pending.appendChild(this.el("span", "rt-comment__author", this.root.getAttribute("data-username") || "you"));
    pending.appendChild(this.el("span", "rt-comment__text", text));
    pending.appendChild(this.el("span", "rt-comment__status", this.client.state === "live" ? "sending…" : "will send when reconnected"));
    this.pendingByClientId.set(data.client_id, pending);
    this.appendToList(pending);
    input.value = "";
    this.clearError();

    this.client.publish(this.topic, "comment", data).then(
      function (ack) { self.addComment(ack.data || {}, { fly: true }); },
      function (err) {
        pending.remove();
        self.pendingByClientId.delete(data.client_id);
        if (!input.value) input.value = text; // give the words back so they can be fixed and re-sent
        self.showError(err);
      }
    );
  };

  StreamView.prototype.clearError = function () {
    if (!this.errorBox) return;
    this.errorBox.hidden = true;
    this.errorBox.textContent = "";
    this.errorBox.removeAttribute("data-code");
  };

  StreamView.prototype.showError = function (err) {
    if (!this.errorBox) return;
    this.errorBox.hidden = false;
    this.errorBox.classList.remove("rt-form__error--notice");
    this.errorBox.setAttribute("data-code", err.code || "error");
    this.errorBox.textContent = errorText(err);
    if (err.retryAfter > 0) this.cooldown(err.retryAfter);
  };

  StreamView.prototype.showNotice = function (text) {
    if (!this.errorBox) return;
    this.errorBox.hidden = false;
    this.errorBox.classList.add("rt-form__error--notice");
    this.errorBox.setAttribute("data-code", "notice");
    this.errorBox.textContent = text;
  };

  /** After slow_mode / rate_limited on a comment, hold the send button with a countdown. */
  StreamView.prototype.cooldown = function (seconds) {
    var self = this;
    var button = this.form && this.form.querySelector("button[type=submit]");
    if (!button) return;
    var until = Date.now() + seconds * 1000;
    clearInterval(this.cooldownTimer);
    button.disabled = true;
    function tick() {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(self.cooldownTimer);
        button.disabled = false;
        button.textContent = "Send";
        return;
      }
      button.textContent = "Wait " + left + " s";
    }
    tick();
    this.cooldownTimer = setInterval(tick, 250);
  };

  // -- reactions ----------------------------------------------------------------------------------
  StreamView.prototype.react = function (kind) {
    var self = this;
    // A late reaction is noise: not queued while offline, never re-sent after a reconnect.
    this.client.publish(this.topic, "reaction", { kind: kind }, { queue: false }).then(
      function () { if (!self.reactionsHeld.length) self.setReactionStatus(null); },
      function (err) { self.reactionRefused(err); }
    );
  };

  /** A reaction problem belongs to the reaction bar: the comment form and its button are not involved. */
  StreamView.prototype.reactionRefused = function (err) {
    var self = this;
    if (!(err.retryAfter > 0)) {
      // While the buttons are held, the countdown says more than this and must go on to release them.
      if (this.reactionsHeld.length) return;
      clearTimeout(this.reactionTimer);
      this.setReactionStatus(errorText(err, REACTION_TEXT), err.code);
      this.reactionTimer = setTimeout(function () { self.setReactionStatus(null); }, REACTION_STATUS_MS);
      return;
    }
    clearTimeout(this.reactionTimer); // a status shown for an earlier problem, or an earlier countdown
    // Pressing again before retry_after would only be refused again: hold the buttons until then.
    // Only buttons that were usable are held (anonymous viewers' stay disabled afterwards).
    this.reactionButtons.forEach(function (b) {
      if (!b.disabled) { b.disabled = true; self.reactionsHeld.push(b); }
    });
    var until = Date.now() + err.retryAfter * 1000;
    function tick() {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(self.reactionTimer);
        self.reactionTimer = null;
        self.reactionsHeld.forEach(function (b) { b.disabled = false; });
        self.reactionsHeld = [];
        self.setReactionStatus(null);
        return;
      }
      self.setReactionStatus(errorText({ code: err.code, message: err.message, retryAfter: left }, REACTION_TEXT), err.code);
    }
    tick();
    this.reactionTimer = setInterval(tick, 250);
  };

  StreamView.prototype.setReactionStatus = function (text, code) {
    var box = this.reactionStatus;
    if (!box && text && this.reactionButtons.length) {
      // Templates overridden before the status element existed still get one, next to the buttons.
      box = this.reactionStatus = this.el("span", "rt-reactions__status");
      box.setAttribute("data-rt-reaction-status", "");
      box.setAttribute("role", "status");
      this.reactionButtons[this.reactionButtons.length - 1].parentNode.appendChild(box);
    }
    if (!box) return;
    box.hidden = !text;
    box.textContent = text || "";
    if (text && code) box.setAttribute("data-code", code);
    else box.removeAttribute("data-code");
  };

  StreamView.prototype.floatReactions = function (counts) {
    var self = this;
    if (!this.floats) return;
    Object.keys(counts).forEach(function (kind) {
      var emoji = REACTION_EMOJI[kind];
      var n = Math.min(Number(counts[kind]) || 0, 8); // a burst of 500 hearts is still a handful on screen
      for (var i = 0; i < n; i++) self.floatOne(emoji || kind, i);
    });
  };

  StreamView.prototype.floatOne = function (symbol, index) {
    var node = this.el("span", "rt-float", symbol);
    node.style.right = 4 + Math.random() * 14 + "%";
    this.floats.appendChild(node);
    var drift = (Math.random() - 0.5) * 60;
    var anim = node.animate(
      [
        { transform: "translate(0, 0) scale(0.6)", opacity: 0 },
        { transform: "translate(" + drift / 2 + "px, -40px) scale(1.1)", opacity: 1, offset: 0.15 },
        { transform: "translate(" + drift + "px, -260px) scale(1)", opacity: 0 },
      ],
      { duration: 2200 + Math.random() * 600, delay: index * 120, easing: "ease-out", fill: "backwards" }
    );
    anim.onfinish = function () { node.remove(); };
  };

  // -- start-up -----------------------------------------------------------------------------------
  function start() {
    var rt = root.realtime;
    if (!rt || typeof rt.connect !== "function") {
      root.console.error("realtime stream: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return;
    }
    root.document.querySelectorAll("[data-realtime-stream]").forEach(function (el) {
      if (el.realtimeView) return; // the template may have included this script twice
      el.realtimeView = new StreamView(el, rt);
    });
  }

  function autostart() {
    var doc = root.document;
    // Deferred scripts run in document order before DOMContentLoaded; if realtime.js comes later in
    // the page, waiting for DOMContentLoaded means it has run too.
    if (doc.readyState !== "loading" && root.realtime && root.realtime.connect) start();
    else doc.addEventListener("DOMContentLoaded", start);
  }

  return { StreamView: StreamView, errorText: errorText, formatMediaTime: formatMediaTime, start: start, autostart: autostart };
});
