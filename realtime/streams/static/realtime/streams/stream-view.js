/*
 * stream-view.js: the live-stream page view rendered by realtime/streams/stream.html.
 *
 * The comment list beside the player, the form that posts, moderator tools, reactions, the viewer
 * count, the stream's and the connection's states, hints (slow mode, closed, ended) and the send
 * cooldown. Comments fly across the video through danmaku.js (`realtime.Danmaku`), with the viewer's
 * settings from danmaku-controls.js and, over a recording, in sync with it through stream-sync.js; the
 * broadcast banner is banner.js's. Everything goes through the page's one realtime.js connection. User
 * text is only ever put in the page with textContent: a comment is data, never markup.
 *
 * Words: every text this script shows comes from the JSON in <script type="application/json"
 * data-rt-texts> that the template tag renders from Django's catalogue (realtime/streams/texts.py), so
 * the page speaks the viewer's language. Errors are shown by their stable code, never with the
 * server's message (which is for developers, and English).
 *
 * Media time: from the element marked [data-rt-media]: a <video>'s currentTime; for a
 * <canvas data-rt-stage> (no video URL) whatever `currentTime` a stage script defined on the canvas
 * (the demo's stage.js does), else the wall-clock time since the stream's data-started-at.
 *
 * Restrictions (the viewer's own "standing"): a muted, timed-out or banned viewer sees one state,
 * the same live and after a reload: a line saying what happened, until when and why
 * ([data-rt-standing-notice]), the comment box and reactions disabled, the comments so far still
 * listed, and (banned) a connection badge saying the chat is closed to them rather than "connected".
 * It comes from the page (<script data-rt-standing>, rendered with the comments a banned viewer saw),
 * the stream's subscribed.state, the viewer's own `user.<id>` topic (`stream.standing`, live), a
 * `banned` kick or refusal; it ends by itself at `until`, or when a moderator lifts it.
 * Moderator tools and the moderators' panel are stream-moderation.js's (`realtime.ModeratorTools`).
 *
 * Publishing (see realtime.js): reactions are {queue: false} (late is worthless; never sent twice);
 * moderation is {retry: false} (not idempotent). A refused reaction is reported on the reaction bar,
 * not in the comment form, and never holds the Send button. The comment list is a role="log" that
 * does not announce each comment: a summary at most every ANNOUNCE_MS, mentions of the viewer at once.
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
  var ANNOUNCE_MS = 5000; // at most one "N new comments" for screen readers this often
  var REACTION_EMOJI = { heart: "❤️", laugh: "😂", wow: "😮", clap: "👏", fire: "🔥" };

  /** The page's words: key -> text with %(name)s placeholders, from Django's catalogue. */
  function Texts(table) {
    this.table = table || {};
  }
  Texts.prototype.get = function (key, params) {
    var text = this.table[key];
    if (typeof text !== "string") return null;
    return text.replace(/%\((\w+)\)s/g, function (m, name) {
      return params && params[name] != null ? String(params[name]) : m;
    });
  };
  /** Missing words show their key: visible in development, never the server's English. */
  Texts.prototype.t = function (key, params) {
    var text = this.get(key, params);
    return text === null ? key : text;
  };

  function readJson(el, selector) {
    var node = el.querySelector(selector);
    try {
      return node ? JSON.parse(node.textContent) : null;
    } catch {
      return null;
    }
  }

  function readTexts(el) {
    var node = el.querySelector("script[data-rt-texts]");
    try {
      return new Texts(JSON.parse(node ? node.textContent : "{}"));
    } catch {
      return new Texts({});
    }
  }

  /** The human message for an error code; `prefix` ("reaction.") picks shorter words where there are. */
  function errorText(texts, err, prefix) {
    var code = (err && err.code) || "unknown";
    var wait = err && err.retryAfter > 0 ? Math.ceil(err.retryAfter) : null;
    var keys = [];
    [prefix, "error."].forEach(function (p) {
      if (!p) return;
      if (wait !== null) keys.push(p + code + ".wait");
      keys.push(p + code);
    });
    for (var i = 0; i < keys.length; i++) {
      var text = texts.get(keys[i], { seconds: wait });
      if (text !== null) return text;
    }
    return texts.t("error.unknown");
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
  var NO_OVERLAY = {
    add: function () {}, remove: function () {}, clear: function () {}, configure: function () {},
    pause: function () {}, resume: function () {}, setRate: function () {}, relayout: function () {},
  };

  // -- one stream component --------------------------------------------------------------------------
  function StreamView(el, rt) {
    var self = this;
    this.root = el;
    this.doc = el.ownerDocument;
    this.rt = rt;
    this.texts = readTexts(el);
    this.client = rt.connect();
    this.topic = el.getAttribute("data-topic");
    this.userId = Number(el.getAttribute("data-user-id")) || null;
    this.username = el.getAttribute("data-username") || "";
    this.comments = new Map(); // comment id -> list item
    this.truncatedReplay = false; // the latest (re)subscribe's replay starts the list over
    this.pendingByClientId = new Map(); // our posts not yet acknowledged
    this.list = this.q("[data-rt-comments]");
    this.form = this.q("[data-rt-form]");
    this.errorBox = this.q("[data-rt-error]");
    this.hint = this.q("[data-rt-hint]");
    this.floats = this.q("[data-rt-floats]");
    this.announcer = this.q("[data-rt-announcer]");
    this.reactionButtons = Array.prototype.slice.call(el.querySelectorAll("[data-rt-reaction]"));
    this.reactionStatus = this.q("[data-rt-reaction-status]");
    this.state = { live: el.getAttribute("data-live") !== "false" };
    this.formOpen = true;
    this.cooldownTimer = null;
    this.cooling = false;
    this.reactionTimer = null;
    this.reactionsHeld = []; // reaction buttons we disabled for a retry_after, to give back after it
    this.unannounced = 0;
    this.announceTimer = null;
    this.streamOpen = true; // comments open and the stream live, as the server last said
    this.standing = null; // this viewer's restriction on the stream ({kind, until, reason}) or null
    this.standingTimer = null;
    this.reactionsRestricted = []; // reaction buttons disabled by the restriction, to give back after it
    this.standingNotice = this.q("[data-rt-standing-notice]");
    this.modTools = rt.ModeratorTools ? new rt.ModeratorTools(this) : null;

    var started = Date.parse(el.getAttribute("data-started-at"));
    this.startedAt = isNaN(started) ? Date.now() : started;
    this.media = this.q("[data-rt-media]");
    this.reducedMotion = !!(root.matchMedia && root.matchMedia("(prefers-reduced-motion: reduce)").matches);

    var layer = this.q("[data-rt-overlay]");
    if (rt.Danmaku && layer) this.overlay = new rt.Danmaku(layer);
    else {
      if (!rt.Danmaku && root.console) root.console.error("realtime stream: danmaku.js is not loaded before stream-view.js.");
      this.overlay = NO_OVERLAY;
    }
    var t = function (key, params) { return self.texts.t(key, params); };
    this.controls = rt.DanmakuControls ? new rt.DanmakuControls(el, this.overlay, { texts: t }) : null;
    if (this.controls) this.controls.onChange = function () { self.applyBlocked(); };
    if (rt.MediaSync && this.media && this.media.tagName === "VIDEO") {
      this.sync = new rt.MediaSync({
        media: this.media, overlay: this.overlay, replayUrl: el.getAttribute("data-replay-url"),
        live: this.state.live, show: function (c) { self.fly(c); },
        onError: function (err) { self.setHint(errorText(self.texts, err)); },
      });
    }
    if (this.doc.hidden) this.overlay.pause("hidden"); // opened in a background tab
    if (this.doc.addEventListener) {
      this.doc.addEventListener("visibilitychange", function () {
        if (self.doc.hidden) self.overlay.pause("hidden");
        else self.overlay.resume("hidden");
      });
    }

    el.querySelectorAll("[data-rt-swatch]").forEach(function (dot) {
      var color = safeColor(dot.getAttribute("data-rt-swatch"));
      // Set through CSSOM, not a style attribute, so a strict CSP (no 'unsafe-inline') still allows it.
      if (color) dot.style.setProperty("--rt-swatch", color);
    });
    this.bind();
    this.showConnection(this.client.state, this.client.reason);
    this.startStanding(readJson(el, "script[data-rt-standing]"));
    this.client.on("statechange", function (e) {
      self.showConnection(e.detail.state, e.detail.reason);
      if (e.detail.reason === "signed_out") {
        self.showError({ code: "signed_out" });
        self.setFormEnabled(false);
      }
    });
    this.subscribe();
    this.subscribeOwnTopic();
    // Who is watching (moderators) and who is typing: stream-presence.js, on the same subscription.
    this.presence = rt.StreamPresence && typeof this.client.presence === "function" ? new rt.StreamPresence(this) : null;
  }

  StreamView.prototype.q = function (selector) {
    return this.root.querySelector(selector);
  };

  StreamView.prototype.t = function (key, params) {
    return this.texts.t(key, params);
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
        self.subscription = null;
        if (msg.code === "banned") return self.banned();
        self.showError({ code: msg.code });
        self.setFormEnabled(false);
      },
      onError: function (err) {
        if (err.code === "banned") {
          self.subscription = null;
          return self.banned();
        }
        self.showError(err);
      },
    });
  };

  /** The viewer's own topic brings `stream.standing` the moment a moderator restricts or frees them. */
  StreamView.prototype.subscribeOwnTopic = function () {
    var self = this;
    var streamId = Number(String(this.topic).split(".")[1]);
    if (this.userId === null) return;
    this.client.subscribe("user." + this.userId, {
      onEvent: function (msg, info) {
        // A first subscribe's replay is old news: the page and subscribed.state are newer.
        if (msg.event !== "stream.standing" || info.history) return;
        var data = msg.data || {};
        if (data.stream === streamId) self.applyStanding(data.standing || null);
      },
    });
  };

  // -- the viewer's restriction -----------------------------------------------------------------------
  StreamView.prototype.startStanding = function (initial) {
    var self = this;
    if (!initial) return;
    // Banned: no subscription replays the chat, so the page brought what the viewer saw until the ban.
    (initial.history || []).forEach(function (c) { self.addComment(c, { fly: false, history: true }); });
    this.applyStanding({ kind: initial.kind, until: initial.until, reason: initial.reason });
  };

  /** Kicked or refused with `banned`: keep what a `stream.standing` told us (until, reason) if it came first. */
  StreamView.prototype.banned = function () {
    var s = this.standing;
    this.applyStanding(s && s.kind === "ban" ? s : { kind: "ban", until: null, reason: "" });
  };

  StreamView.prototype.applyStanding = function (standing) {
    var self = this;
    var was = this.standing;
    var wasBanned = !!was && was.kind === "ban";
    this.standing = standing && standing.kind ? standing : null;
    var kind = this.standing ? this.standing.kind : "";
    clearTimeout(this.standingTimer);
    this.standingTimer = null;
    this.root.setAttribute("data-standing", kind);
    if (this.standing) {
      var until = Date.parse(this.standing.until || "");
      var left = isNaN(until) ? null : until - Date.now();
      if (left !== null && left <= 0) return this.applyStanding(null);
      // Ends by itself: the server lets the viewer post from `until` on, and no event says so.
      if (left !== null && left < 2147483647) {
        this.standingTimer = setTimeout(function () { self.applyStanding(null); }, left + 250);
      }
    }
    this.showStanding();
    this.refreshForm();
    this.restrictReactions(!!this.standing);
    this.showConnection(this.client.state, this.client.reason);
    if (this.standing) this.clearError();
    else if (was) this.showNotice(this.t("standing.lifted"));
    // Unbanned (lifted, or expired): back into the chat; the replay fills in what was missed.
    if (wasBanned && kind !== "ban" && !this.subscription) {
      this.subscribe();
      if (this.presence) this.presence.restart(); // the ban ended its subscription too
    }
  };

  StreamView.prototype.showStanding = function () {
    var node = this.standingNotice;
    if (!node) return;
    var s = this.standing;
    node.hidden = !s;
    node.textContent = "";
    if (!s) return node.removeAttribute("data-kind");
    node.setAttribute("data-kind", s.kind);
    var lang = (this.doc.documentElement && this.doc.documentElement.lang) || undefined;
    var format = this.rt.ModeratorTools && this.rt.ModeratorTools.formatTime;
    var time = s.until ? (format ? format(s.until, lang) : new Date(s.until).toLocaleString(lang)) : "";
    node.appendChild(this.el("strong", "rt-standing__what", this.t("standing." + s.kind + (s.until ? ".until" : ""), { time: time })));
    if (s.reason) node.appendChild(this.el("span", "rt-standing__reason", this.t("standing.reason", { reason: s.reason })));
    if (s.kind === "ban") node.appendChild(this.el("span", "rt-standing__history", this.t("standing.history")));
  };

  StreamView.prototype.restrictReactions = function (restricted) {
    var self = this;
    if (restricted) {
      this.reactionButtons.forEach(function (b) {
        if (!b.disabled) { b.disabled = true; self.reactionsRestricted.push(b); }
      });
    } else {
      this.reactionsRestricted.forEach(function (b) { b.disabled = false; });
      this.reactionsRestricted = [];
    }
  };

  /** The connection's state, worded apart from the stream's own (live / ended). */
  StreamView.prototype.showConnection = function (state, reason) {
    var node = this.q("[data-rt-connection]");
    // Banned, the socket may be up but this stream's chat is not: "connected" would be a lie.
    if (this.standing && this.standing.kind === "ban" && state === "live") {
      state = "offline";
      reason = "banned";
    }
    if (node) {
      node.setAttribute("data-state", state || "connecting");
      if (reason) node.setAttribute("data-reason", reason);
      else node.removeAttribute("data-reason");
      var text = (reason && this.texts.get("connection." + state + "." + reason)) || this.t("connection." + state);
      node.textContent = text;
    }
    // A count from before the drop would be stale: unknown until the resubscribe brings a fresh one.
    if (state !== "live") this.setViewers(null);
  };

  StreamView.prototype.onSubscribed = function (msg) {
    var state = msg.state || {};
    if (typeof state.viewers === "number") this.setViewers(state.viewers);
    this.root.setAttribute("data-moderator", state.moderator ? "true" : "false");
    if (this.modTools) {
      if (state.moderator) this.modTools.start();
      else this.modTools.stop();
    }
    this.applyStreamState(state);
    if ("standing" in state || (this.standing && this.standing.kind === "ban")) this.applyStanding(state.standing || null);
    // truncated: more happened while we were away than the server replays, so deletions among the
    // older events were never seen. What is on screen may be stale: start again from the replay.
    this.truncatedReplay = !!msg.truncated;
    if (msg.truncated) {
      this.resetComments();
      this.setHint(this.t("hint.truncated"));
    }
  };

  /** Forget every stored comment shown (list, overlay, media sync); our unacknowledged posts stay. */
  StreamView.prototype.resetComments = function () {
    var sync = this.sync;
    this.comments.forEach(function (item, id) {
      item.remove();
      if (sync) sync.remove(id);
    });
    this.comments.clear();
    this.overlay.clear();
  };

  StreamView.prototype.onEvent = function (msg, info) {
    var data = msg.data || {};
    switch (msg.event) {
      case "comment":
        // A truncated replay rebuilds the list: old news, like a first subscribe's history.
        var old = !!info.history || (!!info.resumed && this.truncatedReplay);
        this.addComment(data, { fly: !old, history: old });
        break;
      case "comment.deleted":
        this.removeComment(data.comment);
        break;
      case "comment.restored":
        this.addComment(data, { fly: false, history: true });
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
    if (!node) return;
    var known = typeof count === "number";
    node.textContent = known ? String(count) : "–";
    if (known) node.removeAttribute("title");
    else node.setAttribute("title", this.t("viewers.unknown"));
    node.setAttribute("data-known", known ? "true" : "false");
  };

  StreamView.prototype.applyStreamState = function (s) {
    if ("comments_open" in s) this.state.comments_open = s.comments_open;
    if ("slow_mode_seconds" in s) this.state.slow_mode_seconds = s.slow_mode_seconds;
    if ("live" in s) this.state.live = s.live;
    var live = this.state.live !== false;
    var replay = !live && !!this.sync;
    if (this.sync) this.sync.live = live;
    this.root.setAttribute("data-live", live ? "true" : "false");
    var liveLabel = this.q("[data-rt-live]");
    if (liveLabel) liveLabel.textContent = this.t(live ? "stream.live" : replay ? "stream.replay" : "stream.ended");
    this.streamOpen = this.state.comments_open !== false && live;
    this.refreshForm();
    if (!live) this.setHint(this.t(replay ? "hint.replay" : "hint.ended"));
    else if (this.state.comments_open === false) this.setHint(this.t("hint.closed"));
    else if (this.state.slow_mode_seconds > 0) this.setHint(this.t("hint.slow_mode", { seconds: this.state.slow_mode_seconds }));
    else this.setHint(null);
  };

  StreamView.prototype.setHint = function (text) {
    if (!this.hint) return;
    this.hint.hidden = !text;
    this.hint.textContent = text || "";
  };

  /** The comment box: open while the stream takes comments and the viewer is not restricted. */
  StreamView.prototype.refreshForm = function () {
    // Signed out in another tab: a restriction ending does not make this page able to post again.
    this.setFormEnabled(this.streamOpen && !this.standing && this.client.reason !== "signed_out");
  };

  StreamView.prototype.setFormEnabled = function (enabled) {
    this.formOpen = enabled;
    if (!this.form) return;
    var self = this;
    this.form.querySelectorAll("input, select, button").forEach(function (n) {
      // A cooldown holds the Send button until it ends, whatever else opens the form meanwhile.
      n.disabled = !enabled || (self.cooling && n.type === "submit");
    });
  };

  // -- comments -----------------------------------------------------------------------------------
  StreamView.prototype.isMine = function (c) {
    return this.userId !== null && (c.author || {}).id === this.userId;
  };

  StreamView.prototype.fly = function (c) {
    this.overlay.add({ id: c.id, text: c.text, color: c.color, mode: c.mode || "scroll", mine: this.isMine(c) });
  };

  StreamView.prototype.addComment = function (c, opts) {
    if (!c || c.id == null) return;
    var mine = this.isMine(c);
    // Our own post may already be shown as pending: swap it for the stored one.
    if (mine && c.client_id && this.pendingByClientId.has(c.client_id)) {
      this.pendingByClientId.get(c.client_id).remove();
      this.pendingByClientId.delete(c.client_id);
    }
    if (this.comments.has(c.id)) return; // the ack and the event both carry it
    var item = this.renderComment(c, mine);
    item.hidden = !mine && !!this.controls && this.controls.blocks(c.text);
    this.appendToList(item);
    this.comments.set(c.id, item);
    if (this.sync) this.sync.incoming(c, { history: !!opts.history || !opts.fly });
    else if (opts.fly) this.fly(c);
    if (opts.fly && !opts.history) this.announce(c, mine);
  };

  StreamView.prototype.renderComment = function (c, mine) {
    var author = c.author || {};
    var item = this.el("li", "rt-comment" + (mine ? " rt-comment--mine" : ""));
    item.setAttribute("data-comment-id", String(c.id));
    item.rtText = String(c.text);
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

  /** Personal blocked words changed: hide (or show again) the list's comments, one's own excepted. */
  StreamView.prototype.applyBlocked = function () {
    var controls = this.controls;
    if (!controls) return;
    this.comments.forEach(function (item) {
      item.hidden = !item.classList.contains("rt-comment--mine") && controls.blocks(item.rtText);
    });
  };

  /** Moderator tools on every item (stream-moderation.js); CSS shows them only to moderators. */
  StreamView.prototype.renderTools = function (c, mine) {
    return this.modTools ? this.modTools.render(c, mine) : this.el("span", "rt-comment__tools");
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
    if (this.sync) this.sync.remove(id);
    else this.overlay.remove(id);
  };

  /** Screen readers: a mention of this viewer at once, everything else as a periodic count. */
  StreamView.prototype.announce = function (c, mine) {
    var self = this;
    if (!this.announcer || mine) return;
    var text = String(c.text || "");
    if (this.username && text.toLowerCase().indexOf("@" + this.username.toLowerCase()) >= 0) {
      this.announcer.textContent = this.t("announce.mention", { author: (c.author || {}).username || "?", text: text });
      return;
    }
    this.unannounced += 1;
    if (this.announceTimer) return;
    this.announceTimer = setTimeout(function () {
      self.announceTimer = null;
      if (!self.unannounced) return;
      self.announcer.textContent = self.t("announce.new", { count: self.unannounced });
      self.unannounced = 0;
    }, ANNOUNCE_MS);
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
    if (this.cooling) return;
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
    pending.appendChild(this.el("span", "rt-comment__author", this.username || this.t("comment.you")));
    pending.appendChild(this.el("span", "rt-comment__text", text));
    pending.appendChild(this.el("span", "rt-comment__status", this.t(this.client.state === "live" ? "comment.sending" : "comment.queued")));
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
        // Restricted while this page did not know (e.g. offline): show the one restricted state.
        var kind = { muted: "mute", timed_out: "timeout", banned: "ban" }[err.code];
        if (kind && !self.standing) return self.applyStanding({ kind: kind, until: null, reason: "" });
        self.showError(err);
        if (err.retryAfter > 0) self.cooldown(err);
      }
    );
  };

  StreamView.prototype.clearError = function () {
    if (!this.errorBox) return;
    this.errorBox.hidden = true;
    this.errorBox.textContent = "";
    this.errorBox.removeAttribute("data-code");
    this.errorBox.classList.remove("rt-form__error--notice");
  };

  StreamView.prototype.showError = function (err) {
    if (!this.errorBox) return;
    this.errorBox.hidden = false;
    this.errorBox.classList.remove("rt-form__error--notice");
    this.errorBox.setAttribute("data-code", err.code || "error");
    this.errorBox.textContent = errorText(this.texts, err);
  };

  StreamView.prototype.showNotice = function (text) {
    if (!this.errorBox) return;
    this.errorBox.hidden = false;
    this.errorBox.classList.add("rt-form__error--notice");
    this.errorBox.setAttribute("data-code", "notice");
    this.errorBox.textContent = text;
  };

  /** After slow_mode / rate_limited on a comment: the message counts down with the held Send button,
   * and both end together (the message goes, the button comes back). */
  StreamView.prototype.cooldown = function (err) {
    var self = this;
    var button = this.form && this.form.querySelector("button[type=submit]");
    if (!button) return;
    var until = Date.now() + err.retryAfter * 1000;
    clearInterval(this.cooldownTimer);
    this.cooling = true;
    button.disabled = true;
    function tick() {
      var left = Math.ceil((until - Date.now()) / 1000);
      var showing = self.errorBox && self.errorBox.getAttribute("data-code") === err.code;
      if (left <= 0) {
        clearInterval(self.cooldownTimer);
        self.cooldownTimer = null;
        self.cooling = false;
        button.disabled = !self.formOpen;
        button.textContent = self.t("form.send");
        if (showing) self.clearError();
        return;
      }
      button.textContent = self.t("form.wait", { seconds: left });
      if (showing) self.errorBox.textContent = errorText(self.texts, { code: err.code, retryAfter: left });
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
      this.setReactionStatus(errorText(this.texts, err, "reaction."), err.code);
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
        // Restricted meanwhile: the buttons stay off, and come back with the rest when it ends.
        if (self.standing) self.reactionsRestricted = self.reactionsRestricted.concat(self.reactionsHeld);
        else self.reactionsHeld.forEach(function (b) { b.disabled = false; });
        self.reactionsHeld = [];
        self.setReactionStatus(null);
        return;
      }
      self.setReactionStatus(errorText(self.texts, { code: err.code, retryAfter: left }, "reaction."), err.code);
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
    // Reduced motion: the reaction appears where it is and fades, it does not rise.
    var frames = this.reducedMotion
      ? [{ opacity: 0 }, { opacity: 1, offset: 0.15 }, { opacity: 0 }]
      : [
          { transform: "translate(0, 0) scale(0.6)", opacity: 0 },
          { transform: "translate(" + drift / 2 + "px, -40px) scale(1.1)", opacity: 1, offset: 0.15 },
          { transform: "translate(" + drift + "px, -260px) scale(1)", opacity: 0 },
        ];
    var anim = node.animate(frames, { duration: 2200 + Math.random() * 600, delay: index * 120, easing: "ease-out", fill: "backwards" });
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

  return {
    StreamView: StreamView, Texts: Texts, errorText: errorText, formatMediaTime: formatMediaTime,
    start: start, autostart: autostart,
  };
});
