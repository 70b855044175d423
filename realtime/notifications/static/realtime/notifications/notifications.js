/*
 * notifications.js: the {% notifications_badge %} of realtime.notifications, kept live.
 *
 * The server renders the unread count and the newest notifications into [data-rt-notifications]; this
 * script follows the user's topic `notify.<id>` on the page's one realtime.js connection
 * (window.realtime.connect()), from the topic id the page was rendered at (data-config.since):
 *
 *   notification  a new one: added to the panel (and to page 1 of the list page), count updated;
 *   read          {ids} or {upto}: marked read wherever shown, count updated.
 *
 * Every event carries the unread count after it, and every `subscribed` (each reconnect) the count and
 * the newest notifications as they are now, read at topic id `state.seq`: a count is taken only from a
 * newer source than the one shown, so the badge never steps back. Marking read publishes `read` on
 * the topic; every tab of the user (this one too) updates from the event. The list page's forms post
 * without JavaScript; with it they publish too. Text is set with textContent only; a link must be
 * http(s) or a path on this site. No globals beyond reading window.realtime.
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else api.autostart();
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var LEVELS = { info: true, success: true, warning: true, error: true };
  var SAFE_URL = /^(https?:\/\/[^\s\\]|\/(?![/\\]))/i;
  // Whitespace, control characters and backslashes: browsers read "/\\host" as another site.
  var UNSAFE = /[\s\\]/;
  function hasControl(text) { for (var i = 0; i < text.length; i++) { var c = text.charCodeAt(i); if (c < 32 || c === 127) return true; } return false; }

  function parseJson(text, fallback) {
    try { return JSON.parse(text) || fallback; } catch { return fallback; }
  }

  function safeUrl(url) {
    return typeof url === "string" && SAFE_URL.test(url) && !UNSAFE.test(url) && !hasControl(url);
  }

  /** The sentence for `count`, from the server's samples: the sample of the same plural category. */
  function sentence(texts, count, lang) {
    if (!count) return texts.none || "";
    var forms = texts.unread || {};
    var template = forms[String(count)];
    if (template === undefined) {
      var rules = null;
      try { rules = new Intl.PluralRules(lang || undefined); } catch { rules = new Intl.PluralRules(); }
      var wanted = rules.select(count);
      Object.keys(forms).forEach(function (sample) {
        if (template === undefined && Number(sample) > 0 && rules.select(Number(sample)) === wanted) template = forms[sample];
      });
      if (template === undefined) template = forms["2"] || "";
    }
    return template.replace("%(count)s", String(count));
  }

  function Notifications(el, client) {
    this.el = el;
    this.doc = el.ownerDocument;
    this.client = client;
    var config = parseJson(el.getAttribute("data-config"), {});
    this.topic = config.topic;
    this.seq = typeof config.since === "number" ? config.since : 0; // the count shown is as of this id
    this.size = config.size > 0 ? config.size : 8;
    this.texts = config.texts || {};
    this.lang = this.doc.documentElement.getAttribute("lang") || undefined;
    this.sub = null;
    this.part = function (name) { return el.querySelector("[data-rt-notify-" + name + "]"); };
  }

  Notifications.prototype.start = function () {
    var self = this;
    var toggle = this.part("toggle");
    if (toggle) toggle.addEventListener("click", function () { self.open(toggle.getAttribute("aria-expanded") !== "true"); });
    // On the document: the focused button may just have hidden itself ("Mark as read").
    this.doc.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && toggle && toggle.getAttribute("aria-expanded") === "true") { self.open(false); toggle.focus(); }
    });
    this.doc.addEventListener("click", function (e) { self._click(e); });
    this.doc.addEventListener("submit", function (e) { self._submit(e); });
    if (this.topic) {
      this.sub = this.client.subscribe(this.topic, {
        onSubscribed: function (frame) { self._subscribed(frame.state || {}); },
        onEvent: function (msg) { self._event(msg); },
      }, this.seq);
    }
  };

  Notifications.prototype.open = function (yes) {
    var panel = this.part("panel");
    var toggle = this.part("toggle");
    if (panel) panel.hidden = !yes;
    if (toggle) toggle.setAttribute("aria-expanded", yes ? "true" : "false");
  };

  /** The page's lists: this badge's panel, and the list page's if the page has one. */
  Notifications.prototype._lists = function () {
    var lists = [];
    var panel = this.part("list");
    if (panel) lists.push(panel);
    var page = this.doc.querySelector("[data-rt-notify-page-list]");
    if (page) lists.push(page);
    return lists;
  };

  Notifications.prototype._click = function (e) {
    var target = e.target && e.target.closest ? e.target : null;
    if (!target) return;
    var panel = this.part("panel");
    if (panel && !panel.hidden && !this.el.contains(target)) this.open(false); // a click elsewhere closes it
    var all = target.closest("[data-rt-notify-read-all]");
    if (all && this.el.contains(all)) { this.markRead(null); return; }
    var mark = target.closest("[data-rt-notify-mark]");
    var item = mark && mark.closest("[data-rt-notification]");
    if (item && mark.type !== "submit" && this._ours(item)) this.markRead([Number(item.getAttribute("data-rt-notification"))]);
  };

  /** The list page's forms: published over the socket instead of a page load while we are connected. */
  Notifications.prototype._submit = function (e) {
    var form = e.target;
    if (!form || !form.matches || !form.matches("form[data-rt-notify-form]") || !this.sub) return;
    e.preventDefault();
    var all = form.querySelector("input[name=all]");
    if (all && all.value === "1") { this.markRead(null); return; }
    var ids = Array.prototype.map.call(form.querySelectorAll("input[name=ids]"), function (i) { return Number(i.value); });
    this.markRead(ids.filter(function (n) { return n > 0; }));
  };

  Notifications.prototype._ours = function (node) {
    return this._lists().some(function (list) { return list.contains(node); });
  };

  Notifications.prototype.markRead = function (ids) {
    if (ids && !ids.length) return;
    this._markShown(ids, null); // at once here; the `read` event brings the count and the other tabs
    var sent = this.client.publish(this.topic, "read", ids ? { ids: ids } : { all: true }, { retry: true });
    if (sent && typeof sent.catch === "function") sent.catch(function (err) { root.console.warn("realtime notifications: not marked read", err && err.code); });
  };

  Notifications.prototype._subscribed = function (state) {
    var self = this;
    if (typeof state.seq !== "number" || state.seq < this.seq) return;
    this.seq = state.seq;
    var latest = Array.isArray(state.latest) ? state.latest : [];
    // The panel becomes what the server has now (an item deleted while away goes too).
    var panel = this.part("list");
    if (panel) {
      var keep = {};
      latest.forEach(function (data) { keep[data.id] = true; });
      Array.prototype.slice.call(panel.querySelectorAll("[data-rt-notification]")).forEach(function (node) {
        if (!keep[node.getAttribute("data-rt-notification")]) node.remove();
      });
    }
    latest.slice().reverse().forEach(function (data) { self._show(data); });
    latest.forEach(function (data) { if (data.read) self._markShown([data.id], null); });
    this._count(state.unread);
  };

  Notifications.prototype._event = function (msg) {
    var data = msg.data || {};
    if (msg.event === "notification" && typeof data.id === "number") this._show(data);
    else if (msg.event === "read") this._markShown(Array.isArray(data.ids) ? data.ids : null, typeof data.upto === "number" ? data.upto : null);
    else return;
    if (typeof msg.id === "number" && msg.id > this.seq) {
      this.seq = msg.id;
      this._count(data.unread);
    }
  };

  /** Put a notification at the top of the panel (and of the list page's first page), once. */
  Notifications.prototype._show = function (data) {
    var self = this;
    this._lists().forEach(function (list) {
      if (list.hasAttribute("data-rt-notify-page-list") && list.getAttribute("data-newest") !== "true") return;
      if (list.querySelector('[data-rt-notification="' + Number(data.id) + '"]')) return;
      var node = self._build(data);
      var after = Array.prototype.find.call(list.children, function (child) {
        return Number(child.getAttribute("data-rt-notification")) < data.id;
      });
      list.insertBefore(node, after || null);
      if (!list.hasAttribute("data-rt-notify-page-list")) {
        while (list.children.length > self.size) list.lastElementChild.remove();
      }
    });
    var empty = this.part("empty");
    if (empty) empty.hidden = !!(this.part("list") && this.part("list").children.length);
  };

  /** Mark shown items read: `ids`, or every id up to `upto`. */
  Notifications.prototype._markShown = function (ids, upto) {
    var wanted = {};
    (ids || []).forEach(function (id) { wanted[id] = true; });
    this._lists().forEach(function (list) {
      Array.prototype.forEach.call(list.querySelectorAll("[data-rt-notification]"), function (node) {
        var id = Number(node.getAttribute("data-rt-notification"));
        if (ids ? wanted[id] : (upto === null || id <= upto)) {
          node.setAttribute("data-read", "true");
          var mark = node.querySelector("[data-rt-notify-mark]");
          if (mark) mark.hidden = true;
        }
      });
    });
  };

  Notifications.prototype._count = function (unread) {
    if (typeof unread !== "number" || unread < 0) return;
    var self = this;
    var text = sentence(this.texts, unread, this.lang);
    this.el.setAttribute("data-unread", String(unread));
    var count = this.part("count");
    if (count) { count.textContent = String(unread); count.hidden = unread === 0; }
    ["status", "summary"].forEach(function (name) {
      var node = self.part(name);
      if (node && node.textContent !== text) node.textContent = text;
    });
    var summary = this.doc.querySelector("[data-rt-notify-page-summary]");
    if (summary) summary.textContent = text;
    Array.prototype.forEach.call(this.doc.querySelectorAll("[data-rt-notify-read-all]"), function (button) {
      button.disabled = unread === 0;
    });
  };

  Notifications.prototype._build = function (data) {
    var doc = this.doc;
    var item = doc.createElement("li");
    item.className = "rt-notify__item";
    item.setAttribute("data-rt-notification", String(Number(data.id)));
    item.setAttribute("data-level", LEVELS[data.level] ? data.level : "info");
    item.setAttribute("data-read", data.read ? "true" : "false");
    var title;
    if (data.url && safeUrl(data.url)) {
      title = doc.createElement("a");
      title.setAttribute("href", data.url);
    } else {
      title = doc.createElement("strong");
    }
    title.className = "rt-notify__title";
    title.setAttribute("data-rt-notify-title", "");
    title.textContent = String(data.title || "");
    item.appendChild(title);
    if (data.body) {
      var body = doc.createElement("span");
      body.className = "rt-notify__body";
      body.setAttribute("data-rt-notify-body", "");
      body.textContent = String(data.body);
      item.appendChild(body);
    }
    var when = new Date(data.created);
    if (!isNaN(when.getTime())) {
      var time = doc.createElement("time");
      time.className = "rt-notify__time";
      time.setAttribute("datetime", data.created);
      try { time.textContent = when.toLocaleString(this.lang, { dateStyle: "short", timeStyle: "short" }); } catch { time.textContent = when.toLocaleString(); }
      item.appendChild(time);
    }
    var mark = doc.createElement("button");
    mark.type = "button";
    mark.className = "rt-notify__mark";
    mark.setAttribute("data-rt-notify-mark", "");
    mark.textContent = this.texts.mark_read || "Mark as read";
    var hint = doc.createElement("span");
    hint.className = "rt-notify__sr";
    hint.textContent = " · " + String(data.title || "");
    mark.appendChild(hint);
    mark.hidden = !!data.read;
    item.appendChild(mark);
    return item;
  };

  function start() {
    var rt = root.realtime;
    if (!rt || typeof rt.connect !== "function") {
      root.console.error("realtime notifications: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return;
    }
    Array.prototype.slice.call(root.document.querySelectorAll("[data-rt-notifications]")).forEach(function (el, index) {
      if (el.realtimeNotifications || index > 0) return; // one badge per page drives the lists
      el.realtimeNotifications = new Notifications(el, rt.connect());
      el.realtimeNotifications.start();
    });
  }

  function autostart() {
    var doc = root.document;
    if (doc.readyState !== "loading" && root.realtime && root.realtime.connect) start();
    else doc.addEventListener("DOMContentLoaded", start);
  }

  return { Notifications: Notifications, sentence: sentence, safeUrl: safeUrl, start: start, autostart: autostart };
});
