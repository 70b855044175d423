/*
 * stream-sync.js: comments in sync with a recording, for stream-view.js.
 *
 *   var sync = new realtime.MediaSync({media: videoElement, overlay: overlay, show: fn(comment),
 *                                      replayUrl: "/realtime/streams/3/comments/", live: true});
 *   sync.incoming(comment, {history: false});   // every comment the socket brings
 *   sync.remove(commentId);                      // deleted or hidden by a moderator
 *   sync.live = false;                           // the stream ended: only the recording's moments count
 *
 * A comment stores `media_time`: how far into the video its author was. Watching a recording, after
 * the stream or behind it, each comment is shown when the video reaches that time, also after seeking
 * backwards or forwards; seeking clears the overlay. Comments come from the replay read (`replayUrl`,
 * realtime/streams/views.py), fetched WINDOW_S seconds of video at a time, page by page, ahead of the
 * playhead; and from the socket. While the stream is live a new comment is shown at once, unless the
 * viewer is more than AHEAD_S behind its author (then it waits for its moment); a comment whose moment
 * passed more than LATE_S ago without being shown (a window that loaded late) is skipped, not dumped.
 * The overlay's clock is held while the video is paused, seeking or buffering and follows its
 * playback rate.
 *
 * `CommentTimeline` is the pure part (sorted by media time, emitted at most once per seek).
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else {
    var rt = (root.realtime = root.realtime || {});
    rt.MediaSync = api.MediaSync;
    rt.CommentTimeline = api.CommentTimeline;
  }
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var WINDOW_S = 60; // seconds of video per replay window
  var PREFETCH_S = 15; // load the next window this long before the playhead reaches it
  var PAGE_LIMIT = 200;
  var MAX_PAGES = 10; // per window: more than 2000 comments a minute cannot be shown anyway
  var LATE_S = 2;
  var AHEAD_S = 5;
  var STEP_MS = 100;
  var RETRY_MS = 5000;
  var REFUSALS = { auth_required: true, forbidden: true, banned: true, not_found: true, bad_request: true };

  function hasTime(c) {
    return c && c.id != null && typeof c.media_time === "number" && isFinite(c.media_time);
  }

  function CommentTimeline() {
    this.items = []; // sorted by (media_time, id)
    this.ids = new Map();
    this.emitted = new Set();
    this.floor = 0;
  }

  CommentTimeline.prototype.index = function (t, id) {
    var lo = 0;
    var hi = this.items.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      var m = this.items[mid];
      if (m.media_time < t || (m.media_time === t && Number(m.id) < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  CommentTimeline.prototype.add = function (c) {
    if (!hasTime(c) || this.ids.has(String(c.id))) return false;
    this.ids.set(String(c.id), c);
    this.items.splice(this.index(c.media_time, Number(c.id)), 0, c);
    return true;
  };

  CommentTimeline.prototype.remove = function (id) {
    var c = this.ids.get(String(id));
    if (!c) return;
    this.ids.delete(String(id));
    this.items.splice(this.items.indexOf(c), 1);
  };

  CommentTimeline.prototype.has = function (id) { return this.ids.has(String(id)); };

  /** After a seek to `t`: comments from `t` on are due again as the playhead reaches them. */
  CommentTimeline.prototype.seek = function (t) {
    this.emitted.clear();
    this.floor = t;
  };

  CommentTimeline.prototype.markEmitted = function (id) { this.emitted.add(String(id)); };

  /** Comments whose moment has come by `now` (not before the last seek, nor more than LATE_S ago). */
  CommentTimeline.prototype.due = function (now) {
    var out = [];
    for (var i = this.index(Math.max(this.floor, now - LATE_S), -Infinity); i < this.items.length; i++) {
      var c = this.items[i];
      if (c.media_time > now) break;
      if (!this.emitted.has(String(c.id))) {
        this.emitted.add(String(c.id));
        out.push(c);
      }
    }
    return out;
  };

  function MediaSync(options) {
    var self = this;
    this.media = options.media;
    this.overlay = options.overlay;
    this.show = options.show;
    this.replayUrl = options.replayUrl || "";
    this.live = !!options.live;
    this.fetch = options.fetch || (root.fetch && root.fetch.bind(root));
    this.onError = options.onError || function () {};
    this.doc = this.media.ownerDocument;
    this.timeline = new CommentTimeline();
    this.windows = {}; // window index -> "loading" | "done"
    var media = this.media;
    var hold = function () {
      self.step(true); // what came due just before the pause is shown, however late the timer runs
      self.overlay.pause("media");
    };
    media.addEventListener("play", function () { self.overlay.resume("media"); });
    media.addEventListener("playing", function () { self.overlay.resume("media"); });
    media.addEventListener("pause", hold);
    media.addEventListener("waiting", hold);
    media.addEventListener("ended", hold);
    media.addEventListener("seeking", function () { self.seek(); });
    media.addEventListener("seeked", function () { self.seek(); });
    media.addEventListener("ratechange", function () { self.overlay.setRate(media.playbackRate); });
    if (media.paused !== false) hold();
    this.timeline.seek(this.now());
    this.ensure(this.now());
    this.timer = setInterval(function () { self.step(); }, STEP_MS);
  }

  MediaSync.prototype.now = function () {
    var t = this.media.currentTime;
    return typeof t === "number" && isFinite(t) ? t : 0;
  };

  MediaSync.prototype.seek = function () {
    this.overlay.clear();
    this.timeline.seek(this.now());
    this.ensure(this.now());
  };

  MediaSync.prototype.step = function (evenIfPaused) {
    var media = this.media;
    if ((media.paused && !evenIfPaused) || media.seeking || (this.doc && this.doc.hidden)) return;
    var now = this.now();
    this.ensure(now);
    var self = this;
    this.timeline.due(now).forEach(function (c) { self.show(c); });
  };

  MediaSync.prototype.incoming = function (c, info) {
    this.timeline.add(c);
    if ((info && info.history) || !this.live) return;
    // Live: on screen now, unless this viewer is well behind its author (then at its moment).
    if (!hasTime(c) || c.media_time <= this.now() + AHEAD_S) {
      this.timeline.markEmitted(c.id);
      this.show(c);
    }
  };

  MediaSync.prototype.remove = function (id) {
    this.timeline.remove(id);
    this.overlay.remove(id);
  };

  MediaSync.prototype.ensure = function (t) {
    var k = Math.max(0, Math.floor(t / WINDOW_S));
    this.load(k);
    if (t >= (k + 1) * WINDOW_S - PREFETCH_S) this.load(k + 1);
  };

  MediaSync.prototype.load = function (k) {
    var state = this.windows[k];
    if (!this.replayUrl || !this.fetch || (state && !(state.retryAt <= Date.now()))) return;
    this.windows[k] = "loading";
    var self = this;
    var sep = this.replayUrl.indexOf("?") >= 0 ? "&" : "?";
    var first = this.replayUrl + sep + "from=" + k * WINDOW_S + "&to=" + (k + 1) * WINDOW_S + "&limit=" + PAGE_LIMIT;
    var pages = 0;
    function page(url) {
      return self.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw { code: (body && body.error && body.error.code) || "unavailable" };
            return body;
          });
        })
        .then(function (body) {
          (body.comments || []).forEach(function (c) { self.timeline.add(c); });
          pages += 1;
          if (body.next && pages < MAX_PAGES) return page(body.next);
          self.windows[k] = "done";
        });
    }
    page(first).catch(function (err) {
      var code = (err && err.code) || "unavailable";
      // A refusal stands; a failure is asked again a little later, when the playhead still needs it.
      self.windows[k] = REFUSALS[code] ? "refused" : { retryAt: Date.now() + RETRY_MS };
      self.onError({ code: code });
    });
  };

  MediaSync.prototype.destroy = function () { clearInterval(this.timer); };

  MediaSync.WINDOW_S = WINDOW_S;
  MediaSync.LATE_S = LATE_S;
  MediaSync.AHEAD_S = AHEAD_S;
  return { MediaSync: MediaSync, CommentTimeline: CommentTimeline };
});
