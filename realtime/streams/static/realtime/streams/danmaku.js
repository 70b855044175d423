/*
 * danmaku.js: the engine that flies comments across a video ("danmaku"), for stream-view.js.
 *
 *   var overlay = new realtime.Danmaku(layerElement);
 *   overlay.add({id: 12, text: "hi", color: "#ff5555", mode: "scroll" | "top" | "bottom", mine: false});
 *   overlay.remove(12);          // a moderator deleted it: gone from the screen and the queue
 *   overlay.clear();             // a seek: nothing of the old position stays
 *   overlay.configure({enabled, opacity, size, speed, area, show: {scroll, top, bottom, colored}, blocked});
 *   overlay.pause("media"); overlay.resume("media");   // held while any reason holds it
 *   overlay.setRate(video.playbackRate);                // the clock follows the playback speed
 *
 * Lanes. The display area (the top quarter, half or all of the layer) is cut into rows one line high.
 * Every comment, whatever its mode, occupies one row, so comments in different rows never touch; within
 * a row the engine only lets a comment in when it can prove, from positions that are linear in time,
 * that it will not touch anything already there before that leaves:
 *   - scroll: enters at the right edge and crosses in SCROLL_MS (divided by the speed setting), so its
 *     speed is (width of layer + its width) / duration. It takes a row once the last scroll comment's
 *     tail is GAP px inside the edge, and only if it cannot catch that one up before it has left. Rows
 *     are tried from the top.
 *   - top / bottom: centred, PINNED_MS on screen (fading in and out). A row takes one only when no
 *     other pinned comment is in it and every scroll comment in it is already past its left edge (or
 *     cannot reach its right edge before it is gone). Top rows are tried from the top, bottom ones from
 *     the bottom of the area.
 * Density: a comment that finds no row waits in a queue (the viewer's own ones first) and is retried
 * every frame; it is dropped from the overlay (never from the list) after MAX_WAIT_MS of play time, or
 * when more than QUEUE_LIMIT are waiting (oldest first). Nothing is ever drawn over another comment.
 * In a busy room scrolling comments would refill every row before one clears for a pinned comment, so
 * the oldest waiting top (and bottom) comment reserves the row that frees soonest and waits for it (up
 * to MAX_PINNED_WAIT_MS): no new comment enters that row until it is placed.
 *
 * Motion comes from the engine's own clock, advanced each animation frame while nothing holds it
 * (paused video, hidden tab), so positions on screen are exactly the ones the lane rule reasoned
 * about. With `prefers-reduced-motion` scroll comments are shown in place, like top ones, and fade.
 * A resize (or fullscreen) re-lays out: rows are recounted, comments keep their row and progress, and
 * any that would now overlap or fall outside the area leave the overlay.
 *
 * It knows nothing about the stream page: it is given the layer element and touches nothing outside
 * it. Text is set with textContent only: a comment is data, never markup. Colours other than "#rrggbb"
 * are ignored. Attached to the page global as `realtime.Danmaku`; module.exports in Node.
 */
(function (root, factory) {
  "use strict";
  var Danmaku = factory(root);
  if (typeof module === "object" && module.exports) module.exports = Danmaku;
  else (root.realtime = root.realtime || {}).Danmaku = Danmaku;
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var SCROLL_MS = 8000; // time for a scrolling comment to cross the layer at normal speed
  var PINNED_MS = 4000; // how long top/bottom (and reduced-motion) comments stay
  var FADE_IN_MS = 150;
  var FADE_OUT_MS = 500;
  var GAP = 24; // px between a scrolling comment's tail and the next one's head (and around pinned ones)
  var ROW_SPACING = 4; // px between rows
  var MAX_WAIT_MS = 3000; // play time a comment may wait for a row before it is dropped
  var MAX_PINNED_WAIT_MS = 8000; // ... or a pinned one for the row it reserved
  var QUEUE_LIMIT = 50;
  var MAX_STEP_MS = 100; // a stalled frame advances the clock at most this much: no jumps
  var SPEEDS = { slow: 0.7, normal: 1, fast: 1.4 };
  var SIZES = { small: 0.8, medium: 1, large: 1.25 };
  var AREAS = { quarter: 0.25, half: 0.5, full: 1 };
  var DEFAULTS = {
    enabled: true, opacity: 1, size: "medium", speed: "normal", area: "full",
    show: { scroll: true, top: true, bottom: true, colored: true }, blocked: [],
  };

  /** Only the server's allow-listed "#rrggbb" values reach a style; anything else is ignored. */
  function safeColor(value) {
    return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value) ? value : null;
  }

  function fold(text) {
    var s = String(text == null ? "" : text);
    if (s.normalize) s = s.normalize("NFKC");
    return s.toLowerCase();
  }

  function Danmaku(layer, options) {
    var self = this;
    options = options || {};
    this.layer = layer;
    this.doc = layer.ownerDocument;
    this.now = options.now || function () { return root.performance.now(); };
    this.raf = options.raf || (root.requestAnimationFrame && root.requestAnimationFrame.bind(root));
    this.settings = JSON.parse(JSON.stringify(DEFAULTS));
    this.time = 0; // the engine's clock: ms of play
    this.rate = 1;
    this.holds = {};
    this.items = new Map(); // id -> placed item
    this.rows = [];
    this.queue = [];
    this.width = 0;
    this.rowHeight = 0;
    this.frame = null;
    this.last = null;
    this.stats = { shown: 0, dropped: 0 };
    this.reduced = options.reducedMotion != null ? !!options.reducedMotion : false;
    var mq = options.reducedMotion == null && root.matchMedia && root.matchMedia("(prefers-reduced-motion: reduce)");
    if (mq) {
      this.reduced = mq.matches;
      var onChange = function () { self.reduced = mq.matches; self.clear(); };
      if (mq.addEventListener) mq.addEventListener("change", onChange);
    }
    if (typeof root.ResizeObserver === "function") {
      new root.ResizeObserver(function () { self.relayout(); }).observe(layer);
    }
    this.relayout();
  }

  // -- geometry (pure: times in engine ms, positions in px from the layer's left edge) --------------------
  Danmaku.prototype.speedOf = function (item) { return (this.width + item.w) / item.duration; };

  Danmaku.prototype.xOf = function (item, t) {
    if (item.kind === "pinned") return (this.width - item.w) / 2;
    return this.width - this.speedOf(item) * (t - item.start);
  };

  /** B (behind, entered later) never comes within GAP of A's tail while A is on screen. */
  Danmaku.prototype.scrollClear = function (a, b, t) {
    if (a.end <= t) return true;
    if (this.xOf(b, t) < this.xOf(a, t) + a.w + GAP) return false;
    if (this.speedOf(b) <= this.speedOf(a)) return true;
    return this.xOf(b, a.end) >= GAP; // A's tail leaves at x = 0: B's head must still be GAP behind it
  };

  /** Scroll comment S and pinned P share a row without touching while P is on screen. */
  Danmaku.prototype.pinnedClear = function (p, s, t) {
    if (p.end <= t || s.end <= t) return true;
    var left = (this.width - p.w) / 2;
    var right = left + p.w;
    if (this.xOf(s, t) + s.w + GAP <= left) return true; // already past it, moving away
    return this.xOf(s, t) >= right + GAP && this.xOf(s, p.end) >= right + GAP;
  };

  Danmaku.prototype.fits = function (row, item, t) {
    var self = this;
    if (row.reserved != null && row.reserved !== item.id) return false;
    var alive = row.scroll.filter(function (s) { return s.end > t; });
    if (item.kind === "pinned") {
      if (row.pinned && row.pinned.end > t) return false;
      return alive.every(function (s) { return self.pinnedClear(item, s, t); });
    }
    if (row.pinned && !this.pinnedClear(row.pinned, item, t)) return false;
    return !alive.length || this.scrollClear(alive[alive.length - 1], item, t);
  };

  Danmaku.prototype.findRow = function (item) {
    var n = this.rows.length;
    for (var k = 0; k < n; k++) {
      var r = item.mode === "bottom" ? n - 1 - k : k;
      if (this.fits(this.rows[r], item, this.time)) return r;
    }
    return -1;
  };

  /** When pinned P could take this row if nothing new entered it (its occupants only move away). */
  Danmaku.prototype.freeAt = function (row, p) {
    var self = this;
    var t = this.time;
    var at = row.pinned && row.pinned.end > t ? row.pinned.end : t;
    var left = (this.width - p.w) / 2;
    row.scroll.forEach(function (s) {
      if (s.end > t) at = Math.max(at, s.start + (self.width + s.w + GAP - left) / self.speedOf(s));
    });
    return at;
  };

  /** A waiting pinned comment holds the row that frees soonest, so scrolling ones cannot starve it. */
  Danmaku.prototype.reserve = function (item) {
    if (item.kind !== "pinned" || item.reserved != null) return;
    // One reservation per mode at a time (the next waits its turn): scrolling keeps most of the rows.
    var mode = item.mode;
    if (this.queue.some(function (e) { return e !== item && e.mode === mode && e.reserved != null; })) return;
    var n = this.rows.length;
    var best = -1;
    var bestAt = Infinity;
    for (var k = 0; k < n; k++) {
      var r = item.mode === "bottom" ? n - 1 - k : k;
      if (this.rows[r].reserved != null) continue;
      var at = this.freeAt(this.rows[r], item);
      if (at < bestAt) { best = r; bestAt = at; }
    }
    if (best >= 0 && bestAt - item.since <= MAX_PINNED_WAIT_MS) {
      this.rows[best].reserved = item.id;
      item.reserved = best;
      item.deadline = Math.max(item.deadline, bestAt + 50);
    }
  };

  Danmaku.prototype.unreserve = function (item) {
    var row = item.reserved != null && this.rows[item.reserved];
    if (row && row.reserved === item.id) row.reserved = null;
    item.reserved = null;
  };

  // -- comments -------------------------------------------------------------------------------------------
  Danmaku.prototype.accepts = function (comment) {
    var s = this.settings;
    var mode = comment.mode === "top" || comment.mode === "bottom" ? comment.mode : "scroll";
    if (!s.enabled || !s.show[mode]) return false;
    var color = safeColor(comment.color);
    if (!s.show.colored && color && color.toLowerCase() !== "#ffffff") return false;
    var text = fold(comment.text);
    return !s.blocked.some(function (term) { return term && text.indexOf(term) >= 0; });
  };

  Danmaku.prototype.add = function (comment) {
    var id = String(comment.id);
    if (this.items.has(id) || this.queue.some(function (e) { return e.id === id; })) return false;
    if (!this.accepts(comment)) return false;
    var mode = comment.mode === "top" || comment.mode === "bottom" ? comment.mode : "scroll";
    var node = this.doc.createElement("span");
    node.className = "rt-danmaku rt-danmaku--" + mode;
    node.textContent = String(comment.text);
    var color = safeColor(comment.color);
    if (color) node.style.color = color;
    node.setAttribute("data-comment-id", id);
    if (comment.mine) node.classList.add("rt-danmaku--mine");
    var item = { id: id, comment: comment, node: node, mode: mode, mine: !!comment.mine, since: this.time,
                 deadline: this.time + MAX_WAIT_MS };
    item.kind = mode === "scroll" && !this.reduced ? "scroll" : "pinned";
    if (item.kind === "pinned") node.classList.add("rt-danmaku--pinned");
    this.measure(item);
    if (!this.place(item)) this.enqueue(item);
    this.schedule();
    return true;
  };

  /** Width as laid out now (pinned ones are capped at the layer's width by CSS). */
  Danmaku.prototype.measure = function (item) {
    var node = item.node;
    var attached = node.parentNode === this.layer;
    if (!attached) {
      node.style.visibility = "hidden";
      this.layer.appendChild(node);
    }
    var box = node.getBoundingClientRect ? node.getBoundingClientRect() : null;
    item.w = Math.ceil((box && box.width) || node.offsetWidth || 0) + 1;
    if (!attached) node.remove();
  };

  Danmaku.prototype.place = function (item) {
    // The candidate's flight if it left now: what the lane rule checks against the row's occupants.
    item.start = this.time;
    item.duration = item.kind === "pinned" ? PINNED_MS : SCROLL_MS / (SPEEDS[this.settings.speed] || 1);
    item.end = item.start + item.duration;
    var row = this.findRow(item);
    if (row < 0) return false;
    this.unreserve(item);
    item.row = row;
    if (item.kind === "pinned") this.rows[row].pinned = item;
    else this.rows[row].scroll.push(item);
    this.items.set(item.id, item);
    this.layer.appendChild(item.node);
    this.draw(item);
    item.node.style.visibility = "";
    this.stats.shown += 1;
    return true;
  };

  Danmaku.prototype.enqueue = function (item) {
    if (item.mine) this.queue.unshift(item);
    else this.queue.push(item);
    this.reserve(item);
    while (this.queue.length > QUEUE_LIMIT) {
      var oldest = -1;
      for (var i = 0; i < this.queue.length && oldest < 0; i++) if (!this.queue[i].mine) oldest = i;
      this.unreserve(this.queue.splice(oldest < 0 ? 0 : oldest, 1)[0]);
      this.stats.dropped += 1;
    }
  };

  Danmaku.prototype.drain = function () {
    var self = this;
    var waiting = this.queue;
    this.queue = [];
    waiting.forEach(function (item) {
      if (self.time > item.deadline) {
        self.unreserve(item);
        self.stats.dropped += 1;
      } else if (!self.place(item)) {
        self.queue.push(item);
        self.reserve(item);
      }
    });
  };

  Danmaku.prototype.draw = function (item) {
    var x = this.xOf(item, this.time);
    var y = item.row * this.rowHeight;
    item.node.style.transform = "translate(" + x.toFixed(2) + "px, " + y + "px)";
    if (item.kind === "pinned") {
      var age = this.time - item.start;
      var left = item.end - this.time;
      item.node.style.opacity = String(Math.max(0, Math.min(1, age / FADE_IN_MS, left / FADE_OUT_MS)));
    }
  };

  Danmaku.prototype.drop = function (item) {
    item.node.remove();
    this.items.delete(item.id);
    var row = this.rows[item.row];
    if (!row) return;
    if (row.pinned === item) row.pinned = null;
    row.scroll = row.scroll.filter(function (s) { return s !== item; });
  };

  /** Take a comment off the screen and out of the waiting queue (deleted or hidden by a moderator). */
  Danmaku.prototype.remove = function (commentId) {
    var self = this;
    var id = String(commentId);
    this.queue = this.queue.filter(function (e) { if (e.id === id) self.unreserve(e); return e.id !== id; });
    var item = this.items.get(id);
    if (item) this.drop(item);
  };

  Danmaku.prototype.clear = function () {
    var self = this;
    this.items.forEach(function (item) { self.drop(item); });
    this.queue.forEach(function (item) { self.unreserve(item); });
    this.queue = [];
  };

  // -- the clock --------------------------------------------------------------------------------------------
  Danmaku.prototype.running = function () { return Object.keys(this.holds).length === 0; };

  Danmaku.prototype.schedule = function () {
    var self = this;
    if (this.frame || !this.raf || !this.running() || (!this.items.size && !this.queue.length)) return;
    this.frame = this.raf(function (now) { self.tick(now != null ? now : self.now()); });
  };

  Danmaku.prototype.tick = function (now) {
    var self = this;
    this.frame = null;
    if (!this.running()) { this.last = null; return; }
    if (this.last !== null) this.time += Math.min(Math.max(now - this.last, 0), MAX_STEP_MS) * this.rate;
    this.last = now;
    this.items.forEach(function (item) { if (item.end <= self.time) self.drop(item); });
    this.drain();
    this.items.forEach(function (item) { self.draw(item); });
    if (this.items.size || this.queue.length) this.schedule();
    else this.last = null; // idle: the next comment starts from a fresh frame, not a long gap
  };

  Danmaku.prototype.pause = function (reason) {
    this.holds[reason || "user"] = true;
    this.last = null;
  };

  Danmaku.prototype.resume = function (reason) {
    delete this.holds[reason || "user"];
    this.schedule();
  };

  Danmaku.prototype.setRate = function (rate) {
    this.rate = rate > 0 && isFinite(rate) ? Math.min(Math.max(rate, 0.25), 4) : 1;
  };

  // -- settings and layout ---------------------------------------------------------------------------------
  /** Apply viewer settings (any subset of DEFAULTS); what they now exclude leaves the screen. */
  Danmaku.prototype.configure = function (changes) {
    var s = this.settings;
    Object.keys(changes || {}).forEach(function (key) {
      if (key === "show") Object.assign(s.show, changes.show);
      else if (key === "blocked") s.blocked = (changes.blocked || []).map(fold).filter(Boolean);
      else if (key in DEFAULTS) s[key] = changes[key];
    });
    this.layer.hidden = !s.enabled;
    this.layer.style.opacity = String(Math.min(Math.max(Number(s.opacity) || 1, 0.1), 1));
    this.layer.style.setProperty("--rt-danmaku-scale", String(SIZES[s.size] || 1));
    var self = this;
    this.items.forEach(function (item) { if (!self.accepts(item.comment)) self.drop(item); });
    this.queue = this.queue.filter(function (item) {
      if (!self.accepts(item.comment)) self.unreserve(item);
      return self.accepts(item.comment);
    });
    this.relayout(true);
  };

  /** Recount rows for the layer's size, font and area; keep what still fits without touching. */
  Danmaku.prototype.relayout = function (force) {
    var self = this;
    var width = this.layer.clientWidth;
    var probe = this.doc.createElement("span");
    probe.className = "rt-danmaku";
    probe.textContent = "Mg";
    probe.style.visibility = "hidden";
    this.layer.appendChild(probe);
    var box = probe.getBoundingClientRect ? probe.getBoundingClientRect() : null;
    var rowHeight = Math.ceil((box && box.height) || probe.offsetHeight || 24) + ROW_SPACING;
    probe.remove();
    var height = this.layer.clientHeight * (AREAS[this.settings.area] || 1);
    var count = Math.max(0, Math.floor((height + ROW_SPACING) / rowHeight));
    if (!force && width === this.width && rowHeight === this.rowHeight && count === this.rows.length) return;
    this.width = width;
    this.rowHeight = rowHeight;
    var placed = [];
    this.items.forEach(function (item) { placed.push(item); });
    this.rows = [];
    for (var r = 0; r < count; r++) this.rows.push({ scroll: [], pinned: null });
    this.items.clear();
    this.queue.forEach(function (item) { item.reserved = null; }); // rows are new: reserved again next frame
    placed.sort(function (a, b) { return a.start - b.start; });
    placed.forEach(function (item) {
      self.measure(item);
      var row = self.rows[item.row];
      var fits = row && (item.kind === "pinned" ? self.fits(row, item, self.time) : self.fitsBehind(row, item));
      if (!fits) { item.node.remove(); return; }
      if (item.kind === "pinned") row.pinned = item;
      else row.scroll.push(item);
      self.items.set(item.id, item);
      self.draw(item);
    });
    this.queue.forEach(function (item) { self.measure(item); });
  };

  /** Re-admitting an already moving comment: it must still be clear of the one ahead and of a pinned one. */
  Danmaku.prototype.fitsBehind = function (row, item) {
    var t = this.time;
    var ahead = row.scroll.filter(function (s) { return s.end > t; });
    if (row.pinned && !this.pinnedClear(row.pinned, item, t)) return false;
    return !ahead.length || this.scrollClear(ahead[ahead.length - 1], item, t);
  };

  Danmaku.safeColor = safeColor;
  Danmaku.SCROLL_MS = SCROLL_MS;
  Danmaku.PINNED_MS = PINNED_MS;
  Danmaku.GAP = GAP;
  Danmaku.MAX_WAIT_MS = MAX_WAIT_MS;
  Danmaku.MAX_PINNED_WAIT_MS = MAX_PINNED_WAIT_MS;
  Danmaku.QUEUE_LIMIT = QUEUE_LIMIT;
  Danmaku.DEFAULTS = DEFAULTS;
  Danmaku.SPEEDS = SPEEDS;
  Danmaku.SIZES = SIZES;
  Danmaku.AREAS = AREAS;
  return Danmaku;
});
