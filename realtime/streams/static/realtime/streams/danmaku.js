/*
 * danmaku.js: the engine that flies comments across a video ("danmaku"), for stream-view.js.
 *
 *   var overlay = new realtime.Danmaku(layerElement);
 *   overlay.add({id: 12, text: "hi", color: "#ff5555", mode: "scroll" | "top" | "bottom", mine: false});
 *   overlay.remove(12);                      // a moderator deleted it: gone from the screen and the queue
 *
 * It knows nothing about the stream page: it is given the layer element and touches nothing outside
 * it, so another page (a VOD player, a preview) can reuse it. Text is set with textContent only: a
 * comment is data, never markup. Colours other than "#rrggbb" are ignored.
 *
 * It is attached to the one page global, as `realtime.Danmaku` (this script may run before or after
 * realtime.js; realtime.js keeps it). In Node it is module.exports, for unit tests.
 */
(function (root, factory) {
  "use strict";
  var Danmaku = factory();
  if (typeof module === "object" && module.exports) module.exports = Danmaku;
  else (root.realtime = root.realtime || {}).Danmaku = Danmaku;
})(typeof window !== "undefined" ? window : globalThis, function () {
  "use strict";

  var SCROLL_MS = 8000; // time for a scrolling comment to cross the player, whatever its length
  var PINNED_MS = 4000; // how long top/bottom comments stay
  var QUEUE_LIMIT = 40; // comments waiting for a free lane; beyond this the oldest are dropped
  var RETRY_MS = 300; // how often waiting comments look for a free lane again
  var LANE_GAP = 24; // px between a scrolling comment's tail and the next one's head

  /** Only the server's allow-listed "#rrggbb" values reach a style; anything else is ignored. */
  function safeColor(value) {
    return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value) ? value : null;
  }

  /**
   * Lanes keep comments from overlapping. Every scrolling comment takes SCROLL_MS to cross, so long
   * ones move faster; a lane accepts a newcomer once the previous comment's tail has entered and the
   * newcomer cannot catch up with it before it leaves.
   *   options.now: a clock in ms (default performance.now), injectable for tests.
   */
  function Danmaku(layer, options) {
    options = options || {};
    this.layer = layer;
    this.doc = layer.ownerDocument;
    this.now = options.now || function () { return performance.now(); };
    this.lanes = { scroll: [], top: [], bottom: [] };
    this.queue = [];
    this.retryTimer = null;
  }

  Danmaku.prototype.laneCount = function (laneHeight) {
    return Math.max(1, Math.floor(this.layer.clientHeight / laneHeight));
  };

  Danmaku.prototype.add = function (comment) {
    var node = this.doc.createElement("span");
    node.className = "rt-danmaku rt-danmaku--" + comment.mode;
    node.textContent = String(comment.text);
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
    }, RETRY_MS);
  };

  Danmaku.prototype.place = function (node, mode) {
    var width = this.layer.clientWidth;
    var w = node.offsetWidth;
    var h = node.offsetHeight || 24;
    var laneHeight = h + 4;
    var count = this.laneCount(laneHeight);
    var now = this.now();
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
    for (i = 0; i < count; i++) {
      var prev = lanes[i];
      if (!prev) break;
      var tailIn = now - prev.start >= (prev.w + LANE_GAP) / prev.speed;
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

  /** Take a comment off the screen and out of the waiting queue (deleted or hidden by a moderator). */
  Danmaku.prototype.remove = function (commentId) {
    var id = String(commentId);
    this.queue = this.queue.filter(function (c) { return String(c.id) !== id; });
    // Compared as attributes rather than through a selector: no escaping to get wrong.
    var nodes = Array.prototype.slice.call(this.layer.children);
    nodes.forEach(function (n) { if (n.getAttribute("data-comment-id") === id) n.remove(); });
  };

  Danmaku.safeColor = safeColor;
  Danmaku.SCROLL_MS = SCROLL_MS;
  Danmaku.PINNED_MS = PINNED_MS;
  return Danmaku;
});
