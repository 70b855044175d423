/*
 * presence-roster.js: "who is here" for every [data-realtime-presence] element on the page (the
 * {% realtime_presence topic %} tag renders one, and loads this after realtime.js).
 *
 *   <section data-realtime-presence data-topic="page.home" data-max="24" data-texts='{...}'>
 *     <p data-rt-presence-count id="..."></p>
 *     <ul data-rt-presence-list aria-describedby="..."></ul>
 *   </section>
 *
 * The roster is a plain <ul> a screen reader reads as a list (one item per signed-in user: avatar,
 * name, status), preceded by the count ("3 people here and 2 guests"). It is not a live region: a busy
 * page would talk over everything else. Names, statuses and counts are set with textContent only;
 * avatar URLs are used only when http(s) or same-origin. The words come from data-texts (translated
 * server-side). No globals: the page's shared client (window.realtime.connect()) does the work.
 *
 * renderRoster() is exported under Node for tests/js/presence-roster.test.js; the streams feature
 * reuses it for the moderators' viewer list (with a button per name).
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else if (root.document) api.startAll(root.document);
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var DEFAULT_MAX = 24; // avatars shown; the rest are "and N more" (a room may hold thousands)
  var SHOWN_STATUSES = { typing: true, away: true };

  /** "%(count)s people here" with the plural form the page's language picks for n. */
  function plural(forms, n, lang) {
    forms = forms || {};
    var form;
    try {
      form = new Intl.PluralRules(lang || undefined).select(n);
    } catch {
      form = n === 1 ? "one" : "other";
    }
    var text = forms[form] || forms.other || "";
    return String(text).replace("%(count)s", String(n));
  }

  /** An avatar URL we may load: http(s) or relative to the page; anything else (javascript:, data:) is dropped. */
  function safeAvatar(url, base) {
    if (typeof url !== "string" || url === "") return null;
    try {
      var parsed = new URL(url, base);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  /** The entry's most telling status across its connections (typing beats away). */
  function statusOf(entry) {
    var metas = (entry && entry.metas) || [];
    var best = null;
    for (var i = 0; i < metas.length; i++) {
      var s = metas[i] && metas[i].status;
      if (s === "typing") return s;
      if (s && SHOWN_STATUSES[s]) best = s;
    }
    return best;
  }

  /**
   * Fill `list` (a <ul>) with one <li> per entry, sorted by name, at most `options.max`; `count` (a
   * <p>) gets the count. options: {texts, lang, base, max, item(li, key, entry)} where `item` may add
   * to each row (the moderators' buttons). Returns the keys shown.
   */
  function renderRoster(doc, list, count, roster, counts, options) {
    options = options || {};
    var texts = options.texts || {};
    var max = options.max > 0 ? options.max : DEFAULT_MAX;
    var keys = Object.keys(roster || {}).sort(function (a, b) {
      var na = String(roster[a].name || ""), nb = String(roster[b].name || "");
      return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : 1;
    });
    while (list.firstChild) list.removeChild(list.firstChild);
    var shown = keys.slice(0, max);
    shown.forEach(function (key) {
      var entry = roster[key] || {};
      var li = doc.createElement("li");
      li.className = "rt-presence__item";
      li.setAttribute("data-key", key);
      var name = String(entry.name || "");
      var src = safeAvatar(entry.avatar, options.base);
      var face;
      if (src) {
        face = doc.createElement("img");
        face.setAttribute("src", src);
        face.setAttribute("alt", ""); // the name follows as text
        face.setAttribute("width", "32");
        face.setAttribute("height", "32");
      } else {
        face = doc.createElement("span");
        face.textContent = name.slice(0, 1).toUpperCase() || "?";
      }
      face.className = "rt-presence__avatar";
      face.setAttribute("aria-hidden", "true");
      li.appendChild(face);
      var label = doc.createElement("span");
      label.className = "rt-presence__name";
      label.textContent = name;
      li.appendChild(label);
      var status = statusOf(entry);
      if (status && texts["status_" + status]) {
        var badge = doc.createElement("span");
        badge.className = "rt-presence__status";
        badge.setAttribute("data-status", status);
        badge.textContent = texts["status_" + status];
        li.appendChild(badge);
      }
      li.setAttribute("title", name);
      if (typeof options.item === "function") options.item(li, key, entry);
      list.appendChild(li);
    });
    // The server lists at most PRESENCE_LIMIT users and counts all of them: "and N more" is everyone
    // not drawn, whether this page holds their entry or not.
    var total = counts && typeof counts.count === "number" ? Math.max(counts.count, keys.length) : keys.length;
    if (total > shown.length) {
      var more = doc.createElement("li");
      more.className = "rt-presence__more";
      more.textContent = plural(texts.more, total - shown.length, options.lang);
      list.appendChild(more);
    }
    if (count) {
      var users = counts && typeof counts.count === "number" ? counts.count : keys.length;
      var guests = counts && typeof counts.anonymous === "number" ? counts.anonymous : 0;
      var text = users || !guests ? plural(texts.here, users, options.lang) : "";
      if (guests) text = (text ? text + " " : "") + plural(text ? texts.and_guests : texts.guests, guests, options.lang);
      count.textContent = text;
    }
    return shown;
  }

  function readTexts(el) {
    try {
      return JSON.parse(el.getAttribute("data-texts") || "{}") || {};
    } catch {
      return {};
    }
  }

  /** Start one [data-realtime-presence] element (once: the tag may load this script several times). */
  function start(el, doc) {
    if (el.getAttribute("data-started") === "true") return null;
    var rt = root.realtime;
    if (!rt || typeof rt.connect !== "function") {
      console.error("realtime presence: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return null;
    }
    el.setAttribute("data-started", "true");
    var list = el.querySelector("[data-rt-presence-list]");
    var count = el.querySelector("[data-rt-presence-count]");
    var options = {
      texts: readTexts(el),
      lang: (doc.documentElement && doc.documentElement.lang) || undefined,
      base: doc.baseURI,
      max: Number(el.getAttribute("data-max")) || DEFAULT_MAX,
    };
    var presence = rt.connect().presence(el.getAttribute("data-topic"));
    presence.onSync(function (p) {
      renderRoster(doc, list, count, p.list(), { count: p.count, anonymous: p.anonymous }, options);
      el.setAttribute("data-synced", "true");
    });
    presence.onError(function (err) {
      if (err.code === "bad_status" || err.code === "rate_limited") return;
      el.setAttribute("data-error", err.code);
    });
    return presence;
  }

  function startAll(doc) {
    var go = function () {
      Array.prototype.forEach.call(doc.querySelectorAll("[data-realtime-presence]"), function (el) { start(el, doc); });
    };
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", go);
    else go();
  }

  return { renderRoster: renderRoster, plural: plural, safeAvatar: safeAvatar, statusOf: statusOf, start: start, startAll: startAll };
});
