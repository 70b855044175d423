/*
 * announcements.js: the announcement banners of {% realtime_announcements %}, kept live.
 *
 * The server renders what is live for this visitor into [data-rt-announcements]; this script adopts
 * those banners and then follows the page's one realtime.js connection (window.realtime.connect()):
 *
 *   announcements.all / .users / .user-<id>   from the ids the page was rendered at (data-config), so
 *                                             nothing sent in between is missed or shown twice;
 *   announcements.stream-<id>                 for each live stream on the page ([data-realtime-stream]).
 *
 * Events: `announcement` (show; a higher round replaces the banner), `announcement.ended` (take down:
 * ended, expired, cancelled, deleted), `announcement.dismissed` (this user closed it on another page).
 * Every `subscribed` carries the server's list of what is live (`state.live`), and the banners from
 * that topic are made to match it, so a reconnect after a long sleep shows exactly what is live now.
 * The client's clock never decides anything: banners come and go when the server says so.
 *
 * Signed-in visitors report receipts (delivered; seen, once a banner is on screen while the tab is
 * visible; dismissed) and their dismissals are kept by the server for every device. Anonymous
 * visitors' dismissals are kept in localStorage. Text is set with textContent only; links must be
 * http(s). No globals beyond reading window.realtime.
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else api.autostart();
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var LEVELS = { info: true, success: true, warning: true, critical: true };
  var STORAGE_KEY = "realtime.announcements.dismissed";
  var STREAM_TOPIC = /^stream\.([1-9][0-9]*)$/;
  var SAFE_LINK = /^https?:\/\//i;

  function parseJson(text, fallback) {
    try { return JSON.parse(text) || fallback; } catch { return fallback; }
  }

  function valid(data) {
    return data && typeof data === "object" && typeof data.id === "number" && typeof data.round === "number";
  }

  /** Test banners live beside the real one they preview. */
  function keyOf(data) { return (data.test ? "test-" : "") + data.id; }

  function safeStorage() {
    try {
      var s = root.localStorage;
      return s && typeof s.getItem === "function" ? s : null;
    } catch { return null; } // storage disabled: dismissals last for this page only
  }

  /** Stacking order: critical first, then the newest (as the server renders them). */
  function compare(a, b) {
    var ca = a.data.level === "critical" ? 0 : 1;
    var cb = b.data.level === "critical" ? 0 : 1;
    if (ca !== cb) return ca - cb;
    var ta = Date.parse(a.data.sent_at) || 0;
    var tb = Date.parse(b.data.sent_at) || 0;
    if (ta !== tb) return tb - ta;
    return b.data.id - a.data.id;
  }

  function Board(el, client, options) {
    options = options || {};
    this.el = el;
    this.doc = el.ownerDocument;
    this.client = client;
    this.storage = "storage" in options ? options.storage : safeStorage();
    var config = parseJson(el.getAttribute("data-config"), {});
    this.userId = typeof config.user === "number" ? config.user : null;
    this.topics = config.topics && typeof config.topics === "object" ? config.topics : {};
    this.items = new Map(); // key -> {data, topic, el, sent: {kind: true}}
    this.onScreen = new Set(); // keys of banners inside the viewport
    this.subs = [];
    this.observer = null;
    // Words come from the server-rendered container, in the page's language.
    this.labels = {
      more: el.getAttribute("data-label-more") || "Learn more",
      dismiss: el.getAttribute("data-label-dismiss") || "Dismiss",
      test: el.getAttribute("data-label-test") || "Test",
    };
  }

  Board.prototype.start = function () {
    var self = this;
    var IO = root.IntersectionObserver;
    if (typeof IO === "function") {
      this.observer = new IO(function (entries) {
        entries.forEach(function (entry) {
          var key = entry.target.getAttribute("data-rt-key");
          if (entry.isIntersecting) self.onScreen.add(key);
          else self.onScreen.delete(key);
        });
        self._checkSeen();
      }, { threshold: 0.5 });
    }
    if (this.doc.addEventListener) {
      this.doc.addEventListener("visibilitychange", function () { self._checkSeen(); });
    }
    this.el.addEventListener("click", function (e) {
      var button = e.target && e.target.closest && e.target.closest("[data-rt-announcement-dismiss]");
      var box = button && button.closest("[data-rt-announcement]");
      if (box) self.dismiss(box.getAttribute("data-rt-key"));
    });
    Array.prototype.slice.call(this.el.querySelectorAll("[data-rt-announcement]")).forEach(function (node) {
      self._adopt(node);
    });
    Object.keys(this.topics).forEach(function (topic) {
      var since = self.topics[topic];
      self._subscribe(topic, typeof since === "number" ? since : undefined);
    });
    var streams = this.doc.querySelectorAll ? this.doc.querySelectorAll("[data-realtime-stream]") : [];
    Array.prototype.slice.call(streams).forEach(function (node) {
      var match = STREAM_TOPIC.exec(node.getAttribute("data-topic") || "");
      if (match) self._subscribe("announcements.stream-" + match[1]);
    });
  };

  Board.prototype._subscribe = function (topic, since) {
    var self = this;
    this.subs.push(this.client.subscribe(topic, {
      onSubscribed: function (frame) {
        var live = frame && frame.state && Array.isArray(frame.state.live) ? frame.state.live : [];
        self._reconcile(topic, live);
      },
      onEvent: function (msg) { self._event(topic, msg); },
    }, since));
  };

  /** A server-rendered banner becomes a live one. */
  Board.prototype._adopt = function (node) {
    var data = {
      id: Number(node.getAttribute("data-rt-announcement")),
      round: Number(node.getAttribute("data-round")),
      level: node.getAttribute("data-level"),
      sent_at: node.getAttribute("data-sent-at"),
      dismissible: node.getAttribute("data-dismissible") === "true",
    };
    if (!(data.id > 0)) return;
    if (this._dismissedHere(data)) {
      // The server cannot know what an anonymous visitor closed; this browser does.
      node.remove();
      return;
    }
    node.setAttribute("data-rt-key", keyOf(data));
    this._track({ data: data, topic: node.getAttribute("data-topic"), el: node, sent: {} });
  };

  Board.prototype._reconcile = function (topic, live) {
    var self = this;
    var wanted = {};
    live.forEach(function (data) {
      if (!valid(data)) return;
      wanted[keyOf(data)] = true;
      self._show(topic, data);
    });
    this.items.forEach(function (item, key) {
      if (item.topic === topic && !item.data.test && !wanted[key]) self._remove(key);
    });
  };

  Board.prototype._event = function (topic, msg) {
    var data = msg.data;
    if (!valid(data)) return;
    if (msg.event === "announcement") this._show(topic, data);
    else if (msg.event === "announcement.ended" || msg.event === "announcement.dismissed") this._end(data);
  };

  Board.prototype._show = function (topic, data) {
    var key = keyOf(data);
    var item = this.items.get(key);
    if (item && item.data.round >= data.round && !data.test) return; // already up
    if (!data.test && this._dismissedHere(data)) return;
    if (item) this._remove(key);
    this._track({ data: data, topic: topic, el: this._build(data), sent: {} });
  };

  Board.prototype._track = function (item) {
    this.items.set(keyOf(item.data), item);
    this._render();
    if (this.observer) this.observer.observe(item.el);
    else this.onScreen.add(keyOf(item.data)); // no observer to ask: a banner at the top counts as on screen
    this._receipt(item, "delivered");
    this._checkSeen();
  };

  Board.prototype._end = function (data) {
    var item = this.items.get(keyOf(data));
    if (item && !(item.data.round > data.round)) this._remove(keyOf(data));
  };

  Board.prototype._remove = function (key) {
    var item = this.items.get(key);
    if (!item) return;
    this.items.delete(key);
    this.onScreen.delete(key);
    if (this.observer) this.observer.unobserve(item.el);
    item.el.remove();
  };

  /** The visitor closed a banner: gone here, and (signed in) on every page and device of theirs. */
  Board.prototype.dismiss = function (key) {
    var item = this.items.get(key);
    if (!item || !item.data.dismissible) return;
    this._remove(key);
    if (item.data.test) return;
    if (this.userId !== null) this._receipt(item, "dismissed");
    else this._rememberDismissal(item.data);
  };

  Board.prototype._dismissedHere = function (data) {
    if (this.userId !== null || !this.storage) return false;
    var dismissed = parseJson(this.storage.getItem(STORAGE_KEY), {});
    return typeof dismissed[data.id] === "number" && dismissed[data.id] >= data.round;
  };

  Board.prototype._rememberDismissal = function (data) {
    if (!this.storage) return;
    var dismissed = parseJson(this.storage.getItem(STORAGE_KEY), {});
    dismissed[data.id] = data.round;
    var keys = Object.keys(dismissed);
    // Old ids are worthless once their announcements ended: keep the newest hundred.
    keys.sort(function (a, b) { return Number(a) - Number(b); }).slice(0, Math.max(0, keys.length - 100))
      .forEach(function (id) { delete dismissed[id]; });
    try { this.storage.setItem(STORAGE_KEY, JSON.stringify(dismissed)); } catch { /* full: page only */ }
  };

  Board.prototype._checkSeen = function () {
    var doc = this.doc;
    if (doc.visibilityState === "hidden" || doc.hidden === true) return;
    var self = this;
    this.onScreen.forEach(function (key) {
      var item = self.items.get(key);
      if (item) self._receipt(item, "seen");
    });
  };

  /** Each receipt once per page; the server counts it once per user whatever the pages send. */
  Board.prototype._receipt = function (item, kind) {
    if (this.userId === null || item.data.test || item.sent[kind] || !item.topic) return;
    item.sent[kind] = true;
    var sent = this.client.publish(item.topic, "receipt",
      { announcement: item.data.id, round: item.data.round, kind: kind }, { retry: true });
    if (sent && typeof sent.catch === "function") sent.catch(function () { /* counted elsewhere or not at all */ });
  };

  Board.prototype._render = function () {
    var self = this;
    var ordered = Array.from(this.items.values()).sort(compare);
    ordered.forEach(function (item) { self.el.appendChild(item.el); });
  };

  Board.prototype._build = function (data) {
    var doc = this.doc;
    var box = doc.createElement("div");
    box.className = "rt-announcement";
    box.setAttribute("data-rt-announcement", String(data.id));
    box.setAttribute("data-rt-key", keyOf(data));
    box.setAttribute("data-round", String(data.round));
    box.setAttribute("data-level", LEVELS[data.level] ? data.level : "info");
    // The stack is a polite live region; only a critical banner interrupts.
    if (data.level === "critical") box.setAttribute("role", "alert");
    if (data.test) {
      box.setAttribute("data-test", "true");
      var badge = doc.createElement("span");
      badge.className = "rt-announcement__test";
      badge.textContent = this.labels.test;
      box.appendChild(badge);
    }
    var title = doc.createElement("strong");
    title.className = "rt-announcement__title";
    title.setAttribute("data-rt-announcement-title", "");
    title.textContent = String(data.title || "");
    box.appendChild(title);
    var body = doc.createElement("span");
    body.className = "rt-announcement__body";
    body.setAttribute("data-rt-announcement-body", "");
    body.textContent = String(data.body || "");
    box.appendChild(body);
    if (typeof data.link === "string" && SAFE_LINK.test(data.link)) {
      var link = doc.createElement("a");
      link.className = "rt-announcement__link";
      link.setAttribute("data-rt-announcement-link", "");
      link.setAttribute("href", data.link);
      link.textContent = this.labels.more;
      box.appendChild(link);
    }
    var close = doc.createElement("button");
    close.type = "button";
    close.className = "rt-announcement__dismiss";
    close.setAttribute("data-rt-announcement-dismiss", "");
    close.setAttribute("aria-label", this.labels.dismiss);
    close.textContent = "×";
    close.hidden = !data.dismissible;
    box.appendChild(close);
    return box;
  };

  function start() {
    var rt = root.realtime;
    if (!rt || typeof rt.connect !== "function") {
      root.console.error("realtime announcements: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return;
    }
    Array.prototype.slice.call(root.document.querySelectorAll("[data-rt-announcements]")).forEach(function (el) {
      if (el.realtimeBoard) return; // the tag was used twice, or this script loaded twice
      el.realtimeBoard = new Board(el, rt.connect());
      el.realtimeBoard.start();
    });
  }

  function autostart() {
    var doc = root.document;
    // Deferred scripts run in document order before DOMContentLoaded; if realtime.js comes later in
    // the page, waiting for DOMContentLoaded means it has run too.
    if (doc.readyState !== "loading" && root.realtime && root.realtime.connect) start();
    else doc.addEventListener("DOMContentLoaded", start);
  }

  return { Board: Board, compare: compare, start: start, autostart: autostart, STORAGE_KEY: STORAGE_KEY };
});
