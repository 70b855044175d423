/*
 * live.js: the browser side of realtime.live (issue 21). Elements the {% live_fragment %},
 * {% live_rows %} and {% live_value %} tags render keep themselves up to date:
 *
 *   <div data-live-topic="livev.card-all-7" data-live-form="fragment">...</div>
 *   <tbody data-live-topic="livev.open-all" data-live-form="rows"><tr data-live-key="17">..</tr></tbody>
 *   <script type="application/json" data-live-topic="livev.stats-all" data-live-form="value">{..}</script>
 *   <span data-live-topic="livev.stats-all" data-live-form="value" data-live-field="open">3</span>
 *
 * Every [data-live-topic] element at load is subscribed through the page's one realtime.js client
 * (one socket per tab; several elements of one topic share one subscription), and a MutationObserver
 * follows the DOM afterwards: an element htmx (or any script) swaps in is subscribed, and a topic is
 * unsubscribed when its last element leaves the page. No htmx-specific code is needed.
 *
 * Updates are applied by MORPHING, not by replacing: same-tag elements are updated in place (their
 * attributes synced, children matched by data-live-key or id, then by position), so focus, the caret
 * and selection, scroll positions and what the user typed survive an update. An input that has focus
 * or that the user edited keeps its value. The `subscribed.state` of every (re)subscribe is applied
 * the same way, so after a reconnect the page jumps to the current state without flicker.
 * Text values are set with textContent only; HTML comes from the server (rendered by Django templates
 * with autoescaping) and is parsed inert in a <template>.
 *
 *   realtime.live.value("livev.stats-all", function (value, info) {});  // -> stop(); info.initial
 *   realtime.live.on(topic, function (payload, info) {});  // every payload: {form, ...}; model topics'
 *                                                          // "change" events come as {form: "change", op, pk, fields}
 *   realtime.live.state();   // {state, reason} of the page's connection (null before any use); its
 *                            // changes: document "realtime:state" events, or live.client()'s "statechange"
 *   el.addEventListener("realtime:live", e => e.detail);   // {topic, form, initial, payload} after each update
 *   el.addEventListener("realtime:live-error", e => e.detail.code);  // refused or kicked; also data-live-error
 *
 * Works under Node (module.exports) for tests/js/live*.test.js; createLive() takes the document,
 * the client and the MutationObserver, so it runs on a fake DOM there.
 *
 * Why this module is long: {% live_scripts %} loads it as one classic script, with no build step, as
 * realtime.js is; its three sections (morph, the three forms, the page controller) are independent.
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else if (root.document) {
    // realtime.js keeps what companion scripts hung on window.realtime before it ran.
    var rt = root.realtime || (root.realtime = {});
    if (rt.live) return; // loaded twice (a base template and a page): the first copy does the work
    rt.live = api.createLive(root.document, {
      connect: function () {
        if (root.realtime && typeof root.realtime.connect === "function") return root.realtime.connect();
        console.error("realtime live: realtime.js is not loaded. Add {% live_scripts %} to the page.");
        return null;
      },
    });
    rt.live.start();
  }
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var SELECTOR = "[data-live-topic]";
  var FORM_FIELDS = { INPUT: true, TEXTAREA: true, SELECT: true };
  var USER_STATE_ATTRS = { value: true, checked: true, selected: true };

  function toArray(list) {
    return Array.prototype.slice.call(list || []);
  }

  // -- morph ---------------------------------------------------------------------------------------

  /** The identity a child is matched by across renders: data-live-key first, then id. */
  function keyOf(node) {
    if (!node || node.nodeType !== 1) return null;
    var key = node.getAttribute("data-live-key");
    if (key !== null) return "k" + key;
    var id = node.getAttribute("id");
    return id ? "i" + id : null;
  }

  function sameKind(a, b) {
    return a.nodeType === b.nodeType && (a.nodeType !== 1 || a.nodeName === b.nodeName);
  }

  /** Move without losing focus where the browser can (Element.moveBefore, Chromium 133+). */
  function move(parent, node, before) {
    if (typeof parent.moveBefore === "function" && node.parentNode === parent) {
      try {
        parent.moveBefore(node, before);
        return;
      } catch {
        // not movable atomically (another document, ...): the plain way below
      }
    }
    parent.insertBefore(node, before);
  }

  /** Whether the user owns this field's value right now: it has focus or was edited. */
  function userOwned(el, doc) {
    if (!FORM_FIELDS[el.nodeName]) return false;
    if (doc && doc.activeElement === el) return true;
    if (el.nodeName === "SELECT") {
      return toArray(el.options).some(function (o) { return o.selected !== o.defaultSelected; });
    }
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    return el.value !== el.defaultValue;
  }

  function syncAttributes(cur, next, keepUserState) {
    toArray(next.attributes).forEach(function (attr) {
      if (keepUserState && USER_STATE_ATTRS[attr.name]) return;
      if (cur.getAttribute(attr.name) !== attr.value) cur.setAttribute(attr.name, attr.value);
    });
    toArray(cur.attributes).forEach(function (attr) {
      if (keepUserState && USER_STATE_ATTRS[attr.name]) return;
      if (!next.hasAttribute(attr.name)) cur.removeAttribute(attr.name);
    });
  }

  /**
   * morph(cur, next, doc) -> the node now in cur's place: cur updated in place to look like next
   * (next is not changed), or a copy of next when the two are not the same kind of node.
   */
  function morph(cur, next, doc) {
    if (!sameKind(cur, next)) {
      var fresh = doc.importNode(next, true);
      cur.parentNode.replaceChild(fresh, cur);
      return fresh;
    }
    if (cur.nodeType !== 1) {
      if (cur.nodeValue !== next.nodeValue) cur.nodeValue = next.nodeValue;
      return cur;
    }
    var keep = userOwned(cur, doc);
    syncAttributes(cur, next, keep);
    if (cur.nodeName === "TEXTAREA" && keep) return cur; // its text is its value: the user's
    // Text being edited in place (contenteditable with the focus inside) is the user's as well.
    if (cur.isContentEditable && doc.activeElement && cur.contains(doc.activeElement)) return cur;
    morphChildren(cur, next, doc);
    if (FORM_FIELDS[cur.nodeName] && !keep && cur.nodeName !== "SELECT") {
      // An untouched field shows what the server says, even if a script set its value before.
      if (cur.type === "checkbox" || cur.type === "radio") cur.checked = cur.defaultChecked;
      else if (cur.value !== cur.defaultValue) cur.value = cur.defaultValue;
    }
    return cur;
  }

  /** Make parent's children look like next's: matched by key (data-live-key, id), then by position. */
  function morphChildren(parent, next, doc) {
    var wanted = toArray(next.childNodes);
    var wantedKeys = {};
    wanted.forEach(function (n) {
      var k = keyOf(n);
      if (k) wantedKeys[k] = true;
    });
    var byKey = {};
    // Keyed children that are gone go first, so the ones after them need not move.
    toArray(parent.childNodes).forEach(function (c) {
      var k = keyOf(c);
      if (!k) return;
      if (!wantedKeys[k] || byKey[k]) parent.removeChild(c);
      else byKey[k] = c;
    });
    // Invariant: children before position i are final; the rest are candidates or leftovers.
    for (var i = 0; i < wanted.length; i++) {
      var want = wanted[i];
      var here = parent.childNodes[i] || null;
      var k = keyOf(want);
      var match = null;
      if (k) {
        match = byKey[k] && sameKind(byKey[k], want) ? byKey[k] : null;
        delete byKey[k];
      } else if (here && !keyOf(here) && sameKind(here, want)) {
        match = here;
      }
      if (!match) {
        parent.insertBefore(doc.importNode(want, true), here);
        continue;
      }
      if (match !== here) move(parent, match, here);
      // Another live element inside this one keeps its own (possibly newer) content.
      var island = match.nodeType === 1 && match.hasAttribute("data-live-topic") &&
        match.getAttribute("data-live-topic") === want.getAttribute("data-live-topic");
      if (island) syncAttributes(match, want, false);
      else morph(match, want, doc);
    }
    while (parent.childNodes.length > wanted.length) parent.removeChild(parent.lastChild);
  }

  /** HTML from the server, parsed inert (no script runs, no image loads) in a <template>. */
  function parse(doc, html) {
    var template = doc.createElement("template");
    template.innerHTML = String(html);
    return template.content;
  }

  // -- the three forms -----------------------------------------------------------------------------

  function applyFragment(el, payload, doc) {
    morphChildren(el, parse(doc, payload.deleted ? "" : payload.html || ""), doc);
    if (payload.deleted) el.setAttribute("data-live-deleted", "");
    else if (el.hasAttribute("data-live-deleted")) el.removeAttribute("data-live-deleted");
  }

  /** Indices (into seq) of a longest strictly increasing subsequence: the rows that need not move. */
  function longestIncreasing(seq) {
    var tails = []; // tails[l]: index in seq of the smallest tail of an increasing run of length l+1
    var prev = new Array(seq.length);
    for (var i = 0; i < seq.length; i++) {
      var lo = 0, hi = tails.length;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (seq[tails[mid]] < seq[i]) lo = mid + 1;
        else hi = mid;
      }
      prev[i] = lo > 0 ? tails[lo - 1] : -1;
      tails[lo] = i;
    }
    var out = [];
    for (var j = tails.length ? tails[tails.length - 1] : -1; j >= 0; j = prev[j]) out.unshift(j);
    return out;
  }

  /**
   * Which rows stay put (indices into positions): a longest increasing run, through the row holding
   * focus if there is one (`focused`, -1 if none), since moving it would blur it where the browser has
   * no moveBefore. Moving the other rows costs a little layout, never the user's place.
   */
  function staying(positions, focused) {
    if (focused < 0) return longestIncreasing(positions);
    var pivot = positions[focused];
    var before = [], after = [];
    positions.forEach(function (p, i) {
      if (i < focused && p < pivot) before.push(i);
      else if (i > focused && p > pivot) after.push(i);
    });
    var pickFrom = function (list) {
      return longestIncreasing(list.map(function (i) { return positions[i]; })).map(function (j) { return list[j]; });
    };
    return pickFrom(before).concat([focused], pickFrom(after));
  }

  function focusedIn(nodes, doc) {
    var active = doc && doc.activeElement;
    if (!active) return -1;
    for (var i = 0; i < nodes.length; i++) if (nodes[i].contains(active)) return i;
    return -1;
  }

  /** One row from its HTML: exactly one root element, which carries the key. */
  function rowFrom(doc, html, key) {
    if (typeof html !== "string") return null;
    var content = parse(doc, html);
    var el = content.firstElementChild || toArray(content.childNodes).filter(function (n) { return n.nodeType === 1; })[0];
    if (!el) return null;
    el.setAttribute("data-live-key", key);
    return el;
  }

  /**
   * Rows: remove the children whose key is not in order, create new ones, morph changed ones, then
   * move only those out of place. `known` holds every row's latest HTML (a row in order but absent
   * from this element, e.g. one htmx swapped in late, is built from it).
   */
  function applyRows(container, payload, known, doc) {
    var order = (Array.isArray(payload.order) ? payload.order : []).map(String);
    var html = payload.html && typeof payload.html === "object" ? payload.html : {};
    var wanted = {};
    order.forEach(function (k) { wanted[k] = true; });
    var present = {};
    toArray(container.childNodes).forEach(function (child) {
      if (child.nodeType !== 1) return;
      var k = child.getAttribute("data-live-key");
      if (k === null) return; // not a row (a heading, an "empty" row): the page's
      if (!wanted[k] || present[k]) container.removeChild(child);
      else present[k] = child;
    });
    var nodes = [];
    var fresh = [];
    order.forEach(function (k) {
      var node = present[k] || null;
      if (node && typeof html[k] !== "string") return nodes.push(node);
      var row = rowFrom(doc, typeof html[k] === "string" ? html[k] : known[k], k);
      if (!row) return;
      if (node) nodes.push(morph(node, row, doc));
      else {
        var added = doc.importNode(row, true);
        fresh.push(added);
        nodes.push(added);
      }
    });
    var indexOf = new Map();
    toArray(container.childNodes).forEach(function (c, i) { indexOf.set(c, i); });
    var placed = nodes.filter(function (n) { return indexOf.has(n); });
    var stable = new Set(staying(placed.map(function (n) { return indexOf.get(n); }), focusedIn(placed, doc))
      .map(function (i) { return placed[i]; }));
    var last = null;
    placed.forEach(function (n) { if (!last || indexOf.get(n) > indexOf.get(last)) last = n; });
    var anchor = last ? last.nextSibling : null; // rows stay ahead of what follows them (a footer row)
    for (var i = nodes.length - 1; i >= 0; i--) {
      if (!stable.has(nodes[i])) move(container, nodes[i], anchor);
      anchor = nodes[i];
    }
    return fresh;
  }

  function pick(value, path) {
    return String(path).split(".").reduce(function (v, part) {
      return v !== null && typeof v === "object" ? v[part] : undefined;
    }, value);
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function applyValue(el, value) {
    var field = el.getAttribute("data-live-field");
    var shown = field === null ? value : pick(value, field);
    if (el.nodeName === "SCRIPT" || (shown !== null && typeof shown === "object")) setText(el, JSON.stringify(shown));
    else setText(el, shown === undefined || shown === null ? "" : String(shown));
  }

  /** The payload a frame carries, in the shape of `subscribed.state`. */
  function payloadOf(frame) {
    var data = frame && frame.data && typeof frame.data === "object" ? frame.data : null;
    if (!data) return null;
    switch (frame.event) {
      case "render": return { form: "fragment", html: data.html, deleted: !!data.deleted };
      case "rows": return { form: "rows", order: data.order, html: data.html };
      case "value": return { form: "value", value: data.value };
      case "change": return { form: "change", op: data.op, pk: data.pk, fields: data.fields };
      default: return null;
    }
  }

  // -- the page ------------------------------------------------------------------------------------

  /**
   * createLive(doc, {client | connect, MutationObserver, CustomEvent}) -> the live controller of one
   * document. The client is asked for (connect()) only when a first topic is used, so a page without
   * live elements opens no socket on their account.
   */
  function createLive(doc, options) {
    options = options || {};
    var view = doc.defaultView || root;
    var Observer = options.MutationObserver || view.MutationObserver;
    var Custom = options.CustomEvent || view.CustomEvent;
    var topics = new Map(); // topic -> entry {topic, elements, listeners, known, last, sub}
    var attached = new Map(); // element -> its topic
    var client = options.client || null;
    var observer = null;

    function getClient() {
      if (!client && typeof options.connect === "function") client = options.connect();
      return client;
    }

    /** One broken element or page callback must not keep the others from their update. */
    function guarded(fn, args) {
      try {
        fn.apply(null, args);
      } catch (e) {
        if (typeof view.reportError === "function") view.reportError(e);
        else if (view.console) view.console.error(e);
      }
    }

    function fire(el, type, detail) {
      if (typeof Custom !== "function") return;
      el.dispatchEvent(new Custom(type, { bubbles: true, detail: detail }));
    }

    function applyTo(el, entry, payload, initial) {
      var form = el.getAttribute("data-live-form");
      if (form && form !== payload.form) return;
      if (payload.form === "fragment") applyFragment(el, payload, doc);
      else if (payload.form === "rows") applyRows(el, payload, entry.known, doc);
      else if (payload.form === "value") applyValue(el, payload.value);
      else return;
      if (el.hasAttribute("data-live-error")) el.removeAttribute("data-live-error");
      fire(el, "realtime:live", { topic: entry.topic, form: payload.form, initial: initial, payload: payload });
    }

    function receive(entry, payload, initial) {
      if (!payload || typeof payload !== "object" || !payload.form) return;
      if (payload.form === "rows") {
        var known = initial ? {} : entry.known;
        var html = payload.html && typeof payload.html === "object" ? payload.html : {};
        Object.keys(html).forEach(function (k) { known[k] = html[k]; });
        var order = {};
        (payload.order || []).forEach(function (k) { order[String(k)] = true; });
        Object.keys(known).forEach(function (k) { if (!order[k]) delete known[k]; });
        entry.known = known;
      }
      entry.last = payload;
      entry.elements.slice().forEach(function (el) { guarded(applyTo, [el, entry, payload, initial]); });
      entry.listeners.slice().forEach(function (fn) { guarded(fn, [payload, { initial: initial, topic: entry.topic }]); });
    }

    function refused(entry, code) {
      entry.elements.forEach(function (el) {
        el.setAttribute("data-live-error", code);
        fire(el, "realtime:live-error", { topic: entry.topic, code: code });
      });
    }

    function entryFor(topic) {
      var entry = topics.get(topic);
      if (entry) return entry;
      entry = { topic: topic, elements: [], listeners: [], known: {}, last: null, sub: null };
      topics.set(topic, entry);
      var c = getClient();
      if (!c) return entry;
      // Set before subscribe(): a topic already live on the client answers inside the call.
      entry.sub = c.subscribe(topic, {
        onSubscribed: function (frame) { receive(entry, frame && frame.state, true); },
        onEvent: function (frame) { receive(entry, payloadOf(frame), false); },
        onError: function (err) { refused(entry, (err && err.code) || "error"); },
        onKicked: function (frame) { refused(entry, (frame && frame.code) || "kicked"); },
      });
      return entry;
    }

    function release(entry) {
      if (entry.elements.length || entry.listeners.length || topics.get(entry.topic) !== entry) return;
      topics.delete(entry.topic);
      if (entry.sub) entry.sub.unsubscribe();
    }

    function connected(el) {
      return typeof el.isConnected === "boolean" ? el.isConnected : doc.contains(el);
    }

    function attach(el) {
      var topic = el.getAttribute("data-live-topic");
      if (attached.get(el) === topic) return;
      detach(el);
      if (!topic || !connected(el)) return;
      attached.set(el, topic);
      var entry = entryFor(topic);
      entry.elements.push(el);
      // Joining a topic that is already live: the element may be older than what the page has seen
      // (htmx restoring its history snapshot), so it gets the latest state now, by morph (a no-op when
      // it is already current).
      var latest = current(entry);
      if (latest) guarded(applyTo, [el, entry, latest, true]);
    }

    /** The topic's whole current state as the page knows it (rows events only carry what changed). */
    function current(entry) {
      var last = entry.last;
      if (!last || last.form !== "rows") return last;
      return { form: "rows", order: last.order, html: entry.known };
    }

    function detach(el) {
      var topic = attached.get(el);
      if (topic === undefined) return;
      attached.delete(el);
      var entry = topics.get(topic);
      if (!entry) return;
      entry.elements = entry.elements.filter(function (e) { return e !== el; });
      release(entry);
    }

    function eachLive(node, fn) {
      if (!node || node.nodeType !== 1) return;
      if (node.hasAttribute("data-live-topic")) fn(node);
      toArray(node.querySelectorAll(SELECTOR)).forEach(fn);
    }

    function onMutations(records) {
      var added = [];
      var removed = [];
      records.forEach(function (r) {
        if (r.type !== "attributes") {
          added.push.apply(added, toArray(r.addedNodes));
          removed.push.apply(removed, toArray(r.removedNodes));
        } else if (connected(r.target) && r.target.hasAttribute("data-live-topic")) attach(r.target);
        else detach(r.target);
      });
      // Additions first: an element replaced by a fresh one of the same topic (an htmx swap, a
      // history restore) hands the subscription over instead of dropping and asking for it again. A
      // node moved within the page shows up as removed and added: still connected, it is kept.
      added.forEach(function (n) { eachLive(n, attach); });
      removed.forEach(function (n) {
        eachLive(n, function (el) { if (!connected(el)) detach(el); });
      });
    }

    function listen(topic, fn) {
      var entry = entryFor(topic);
      entry.listeners.push(fn);
      if (entry.last) fn(entry.last, { initial: true, topic: topic });
      return function stop() {
        entry.listeners = entry.listeners.filter(function (f) { return f !== fn; });
        release(entry);
      };
    }

    return {
      /** Subscribe every live element now in the page and follow the page's changes. */
      start: function () {
        var go = function () {
          eachLive(doc.documentElement, attach);
          if (!observer && typeof Observer === "function") {
            observer = new Observer(onMutations);
            observer.observe(doc.documentElement, {
              childList: true, subtree: true, attributes: true, attributeFilter: ["data-live-topic"],
            });
          }
        };
        if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", go);
        else go();
      },
      /** Subscribe the live elements in `node` now (the observer does this on its own a moment later). */
      scan: function (node) { eachLive(node || doc.documentElement, attach); },
      /** value(topic, fn(value, info)) -> stop(): a value topic's value now (if known) and on each change. */
      value: function (topic, fn) {
        return listen(topic, function (payload, info) { if (payload.form === "value") fn(payload.value, info); });
      },
      /** on(topic, fn(payload, info)) -> stop(): every payload of the topic, any form. */
      on: listen,
      /** morph(el, html): make el's children look like html, the way updates do. */
      morph: function (el, html) { morphChildren(el, parse(doc, html), doc); },
      client: function () { return client; },
      /** The connection's {state, reason} (connecting | live | reconnecting | offline), null before any use. */
      state: function () { return client ? { state: client.state, reason: client.reason } : null; },
      /** The topics subscribed now (for tests and debugging). */
      topics: function () { return Array.from(topics.keys()); },
      stop: function () {
        if (observer) observer.disconnect();
        observer = null;
        topics.forEach(function (entry) { if (entry.sub) entry.sub.unsubscribe(); });
        topics.clear();
        attached.clear();
      },
    };
  }

  return {
    createLive: createLive,
    morph: morph,
    morphChildren: morphChildren,
    applyRows: applyRows,
    applyValue: applyValue,
    applyFragment: applyFragment,
    longestIncreasing: longestIncreasing,
    payloadOf: payloadOf,
  };
});
