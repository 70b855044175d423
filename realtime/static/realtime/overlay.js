/*
 * overlay.js: the live-stream player UI rendered by {% realtime_stream %}.
 *
 * Comments fly across the video (danmaku), fill the list beside it, and are posted from the form;
 * reactions float up, the viewer count and connection badge stay current, admin broadcasts show as a
 * banner. Everything goes through the page's one realtime.js connection. User text is only ever put
 * in the page with textContent: a comment is data, never markup.
 */
(function () {
  "use strict";

  var SCROLL_MS = 8000; // time for a scrolling comment to cross the player, whatever its length
  var PINNED_MS = 4000; // how long top/bottom comments stay
  var LIST_LIMIT = 200; // comments kept in the list; older ones leave the DOM
  var QUEUE_LIMIT = 40; // comments waiting for a free lane; beyond this the oldest are dropped
  var BANNER_FRESH_MS = 10 * 60 * 1000; // a replayed broadcast younger than this is still news
  var REACTION_EMOJI = { heart: "❤️", laugh: "😂", wow: "😮", clap: "👏", fire: "🔥" };
  var BANNER_LEVELS = ["info", "success", "warning", "error", "critical"];

  // Per stable error code (docs/protocol.md); anything else shows the server's message.
  var ERROR_TEXT = {
    rate_limited: function (s) { return "You're posting too fast. Try again in " + s + " s."; },
    slow_mode: function (s) { return "Slow mode is on: you can post again in " + s + " s."; },
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
    comment_not_found: "That comment is already gone.",
    user_not_found: "That user no longer exists.",
  };

  function errorText(err) {
    var entry = ERROR_TEXT[err.code];
    var wait = err.retryAfter != null ? Math.ceil(err.retryAfter) : null;
    if (typeof entry === "function") return entry(wait != null ? wait : "a few");
    return entry || err.message || "Something went wrong (" + err.code + ").";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  /** Only the server's allow-listed "#rrggbb" values reach a style; anything else is ignored. */
  function safeColor(value) {
    return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value) ? value : null;
  }

  function formatMediaTime(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "";
    var s = Math.floor(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  // -- the danmaku layer ---------------------------------------------------------------------------
  /**
   * Lanes keep comments from overlapping. Every scrolling comment takes SCROLL_MS to cross, so long
   * ones move faster; a lane accepts a newcomer once the previous comment's tail has entered and the
   * newcomer cannot catch up with it before it leaves.
   */
  function Danmaku(layer) {
    this.layer = layer;
    this.lanes = { scroll: [], top: [], bottom: [] };
    this.queue = [];
    this.retryTimer = null;
  }

  Danmaku.prototype.laneCount = function (laneHeight) {
    return Math.max(1, Math.floor(this.layer.clientHeight / laneHeight));
  };

  Danmaku.prototype.add = function (comment) {
    var node = el("span", "rt-danmaku rt-danmaku--" + comment.mode, comment.text);
    var color = safeColor(comment.color);
    if (color) node.style.color = color;
    node.setAttribute("data-comment-id", String(comment.id));
    if (comment.mine) node.classList.add("rt-danmaku--mine");
    // Measure off-screen first: the lane choice depends on its width.
    node.style.visibility = "hidden";
    this.layer.appendChild(node);
    if (!this.place(node, comment.mode)) {
      node.remove();
      this.queue.push(comment);
      if (this.queue.length > QUEUE_LIMIT) this.queue.shift();
      this.scheduleRetry();
    }
  };

  Danmaku.prototype.scheduleRetry = function () {
    var self = this;
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(function () {
      self.retryTimer = null;
      var waiting = self.queue;
      self.queue = [];
      waiting.forEach(function (c) { self.add(c); });
    }, 300);
  };

  Danmaku.prototype.place = function (node, mode) {
    var width = this.layer.clientWidth;
    var w = node.offsetWidth;
    var h = node.offsetHeight || 24;
    var laneHeight = h + 4;
    var count = this.laneCount(laneHeight);
    var now = performance.now();
    var lanes = this.lanes[mode] || this.lanes.scroll;
    var i;
    if (mode === "top" || mode === "bottom") {
      for (i = 0; i < count; i++) if (!lanes[i] || lanes[i].end <= now) break;
      if (i === count) return false;
      lanes[i] = { end: now + PINNED_MS };
      node.style[mode] = i * laneHeight + "px";
      node.style.visibility = "";
      var pinned = node.animate(
        [{ opacity: 0 }, { opacity: 1, offset: 0.05 }, { opacity: 1, offset: 0.9 }, { opacity: 0 }],
        { duration: PINNED_MS }
      );
      pinned.onfinish = function () { node.remove(); };
      return true;
    }
    var speed = (width + w) / SCROLL_MS;
    var gap = 24;
    for (i = 0; i < count; i++) {
      var prev = lanes[i];
      if (!prev) break;
      var tailIn = now - prev.start >= (prev.w + gap) / prev.speed;
      var noCatchUp = speed <= prev.speed || now + width / speed >= prev.start + SCROLL_MS;
      if (tailIn && noCatchUp) break;
    }
    if (i === count) return false;
    lanes[i] = { start: now, w: w, speed: speed };
    node.style.top = i * laneHeight + "px";
    node.style.visibility = "";
    var flight = node.animate(
      [{ transform: "translateX(" + width + "px)" }, { transform: "translateX(" + -w + "px)" }],
      { duration: SCROLL_MS, easing: "linear" }
    );
    flight.onfinish = function () { node.remove(); };
    return true;
  };

  Danmaku.prototype.remove = function (commentId) {
    this.queue = this.queue.filter(function (c) { return c.id !== commentId; });
    var nodes = this.layer.querySelectorAll('[data-comment-id="' + CSS.escape(String(commentId)) + '"]');
    nodes.forEach(function (n) { n.remove(); });
  };

  // -- the stage: a stand-in for video when the stream has no video URL --------------------------------
  /** Draws a moving backdrop and a running clock so there is a visible, advancing media time. */
  function Stage(canvas, startedAt) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.title = canvas.getAttribute("data-title") || "";
    this.startedAt = startedAt;
    this.lastDraw = 0;
    var self = this;
    function frame(t) {
      // ~15 fps is plenty for a clock and keeps a background tab's CPU near zero.
      if (t - self.lastDraw > 66) { self.lastDraw = t; self.draw(); }
      requestAnimationFrame(frame);
    }
    this.draw();
    requestAnimationFrame(frame);
  }

  // Named like HTMLMediaElement.currentTime so the rest of the code treats stage and <video> alike.
  Object.defineProperty(Stage.prototype, "currentTime", {
    get: function () { return Math.max(0, (Date.now() - this.startedAt) / 1000); },
  });

  Stage.prototype.draw = function () {
    var c = this.ctx;
    var W = this.canvas.width;
    var H = this.canvas.height;
    var t = Date.now() / 1000;
    var g = c.createLinearGradient(0, 0, W, H);
    g.addColorStop(0, "#141a33");
    g.addColorStop(1, "#2a1238");
    c.fillStyle = g;
    c.fillRect(0, 0, W, H);
    // Slowly drifting lights: motion proves the page is alive, even in a screenshot.
    var hues = [200, 280, 330];
    for (var i = 0; i < hues.length; i++) {
      var x = W * (0.5 + 0.35 * Math.sin(t * 0.3 + i * 2.1));
      var y = H * (0.5 + 0.3 * Math.cos(t * 0.25 + i * 1.7));
      var r = c.createRadialGradient(x, y, 0, x, y, H * 0.6);
      r.addColorStop(0, "hsla(" + hues[i] + ", 80%, 60%, 0.35)");
      r.addColorStop(1, "hsla(" + hues[i] + ", 80%, 60%, 0)");
      c.fillStyle = r;
      c.fillRect(0, 0, W, H);
    }
    c.textAlign = "center";
    c.textBaseline = "middle";
    c.fillStyle = "rgba(255,255,255,0.92)";
    c.font = "600 " + Math.round(H / 7) + "px system-ui, sans-serif";
    c.fillText(formatMediaTime(this.currentTime) || "0:00", W / 2, H / 2);
    c.fillStyle = "rgba(255,255,255,0.6)";
    c.font = Math.round(H / 22) + "px system-ui, sans-serif";
    c.fillText(this.title, W / 2, H / 2 + H / 8);
  };

  // -- one stream component --------------------------------------------------------------------------
  function StreamView(root, rt) {
    this.root = root;
    this.rt = rt;
    this.client = rt.connect();
    this.topic = root.getAttribute("data-topic");
    this.userId = Number(root.getAttribute("data-user-id")) || null;
    this.comments = new Map(); // comment id -> list item
    this.pendingByClientId = new Map(); // our posts not yet acknowledged
    this.overlay = new Danmaku(this.q("[data-rt-overlay]"));
    this.list = this.q("[data-rt-comments]");
    this.form = this.q("[data-rt-form]");
    this.errorBox = this.q("[data-rt-error]");
    this.hint = this.q("[data-rt-hint]");
    this.floats = this.q("[data-rt-floats]");
    this.state = {};
    this.cooldownTimer = null;

    var started = Date.parse(root.getAttribute("data-started-at"));
    var media = this.q("[data-rt-media]");
    this.media = media && media.hasAttribute("data-rt-stage") ? new Stage(media, isNaN(started) ? Date.now() : started) : media;

    this.root.querySelectorAll("[data-rt-swatch]").forEach(function (dot) {
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

  StreamView.prototype.mediaTime = function () {
    var t = this.media && this.media.currentTime;
    return typeof t === "number" && isFinite(t) ? Math.round(t * 10) / 10 : null;
  };

  StreamView.prototype.subscribe = function () {
    var self = this;
    this.client.subscribe(this.topic, {
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
    var item = el("li", "rt-comment" + (mine ? " rt-comment--mine" : ""));
    item.setAttribute("data-comment-id", String(c.id));
    item.appendChild(el("span", "rt-comment__author", author.username || "?"));
    var text = el("span", "rt-comment__text", c.text);
    var color = safeColor(c.color);
    if (color) text.style.color = color;
    item.appendChild(text);
    var when = formatMediaTime(c.media_time);
    if (when) item.appendChild(el("span", "rt-comment__time", when));
    item.appendChild(this.renderTools(c, mine));
    return item;
  };

  /** Moderator tools on every item; CSS shows them only while data-moderator="true". */
  StreamView.prototype.renderTools = function (c, mine) {
    var self = this;
    var tools = el("span", "rt-comment__tools");
    var author = c.author || {};
    function tool(label, action, payload, confirmText) {
      var b = el("button", "rt-tool rt-tool--" + action, label);
      b.type = "button";
      b.setAttribute("data-rt-moderate", action);
      b.addEventListener("click", function () {
        b.disabled = true;
        self.client.publish(self.topic, "moderate", payload).then(
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
    this.root.querySelectorAll("[data-rt-reaction]").forEach(function (button) {
      button.addEventListener("click", function () {
        var kind = button.getAttribute("data-rt-reaction");
        // A late reaction is noise, so it is not queued while offline.
        self.client.publish(self.topic, "reaction", { kind: kind }, { queue: false }).catch(function (err) {
          self.showError(err);
        });
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

    var pending = el("li", "rt-comment rt-comment--mine rt-comment--pending");
    pending.appendChild(el("span", "rt-comment__author", this.root.getAttribute("data-username") || "you"));
    pending.appendChild(el("span", "rt-comment__text", text));
    pending.appendChild(el("span", "rt-comment__status", this.client.state === "live" ? "sending…" : "will send when reconnected"));
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

  /** After slow_mode / rate_limited, hold the send button with a countdown instead of failing again. */
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
    var node = el("span", "rt-float", symbol);
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

  // -- the broadcast banner (one per page) ----------------------------------------------------------
  function Banner(box, client, userId) {
    var self = this;
    this.box = box;
    var close = box.querySelector("[data-rt-banner-close]");
    if (close) close.addEventListener("click", function () { box.hidden = true; });
    function onEvent(msg, info) {
      if (msg.event !== "broadcast") return;
      // On first load a replayed broadcast is shown only if still recent; older ones are history.
      if (info.history && !(Date.now() - Date.parse(msg.at) < BANNER_FRESH_MS)) return;
      self.show(msg.data || {});
    }
    client.subscribe("broadcast.all", { onEvent: onEvent });
    if (userId) client.subscribe("user." + userId, { onEvent: onEvent });
  }

  Banner.prototype.show = function (data) {
    var level = BANNER_LEVELS.indexOf(data.level) >= 0 ? data.level : "info";
    this.box.setAttribute("data-level", level);
    this.box.querySelector("[data-rt-banner-title]").textContent = data.title || "";
    this.box.querySelector("[data-rt-banner-message]").textContent = data.message || "";
    this.box.hidden = false;
  };

  // -- start-up -----------------------------------------------------------------------------------
  function start() {
    var rt = window.realtime;
    if (!rt) {
      console.error("realtime overlay: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return;
    }
    var banner = false;
    document.querySelectorAll("[data-realtime-stream]").forEach(function (root) {
      if (root.realtimeView) return; // the template may have included this script twice
      root.realtimeView = new StreamView(root, rt);
      var box = root.querySelector("[data-rt-banner]");
      if (box && !banner) {
        banner = true;
        new Banner(box, root.realtimeView.client, root.realtimeView.userId);
      }
    });
  }

  // Deferred scripts run in document order before DOMContentLoaded; if realtime.js comes later in the
  // page, waiting for DOMContentLoaded means it has run too.
  if (document.readyState !== "loading" && window.realtime) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
