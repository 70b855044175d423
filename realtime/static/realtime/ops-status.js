/*
 * ops-status.js: the admin's "Realtime status" page. Subscribes to `ops.status` over the site's
 * realtime.js client; every process publishes its snapshot there every few seconds while the page is
 * open. Draws one card per process (figures, hot topics, errors by code, two small SVG charts of the
 * last five minutes) and marks a process "not answering" when its snapshots stop, or when another
 * process names it as a peer and it never sent one. No CDN, no globals: it reads window.realtime.
 * Every text goes in with textContent; the words come from the page's data-label-* attributes.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var STALE_INTERVALS = 3; // snapshots missed before a process counts as not answering

  function word(root, name) {
    return root.getAttribute("data-label-" + name) || name;
  }

  function node(tag, className, text) {
    var made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined) made.textContent = String(text);
    return made;
  }

  function uptime(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var days = Math.floor(s / 86400);
    var clock = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60]
      .map(function (n) { return (n < 10 ? "0" : "") + n; })
      .join(":");
    return days ? days + " d " + clock : clock;
  }

  function chart(values, title) {
    var width = 300;
    var height = 40;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "rt-ops__chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    var heading = document.createElementNS(SVG, "title");
    heading.textContent = title;
    svg.appendChild(heading);
    var top = Math.max.apply(null, [1].concat(values));
    var step = width / Math.max(1, values.length - 1);
    var points = values.map(function (v, i) {
      return (i * step).toFixed(1) + "," + (height - 2 - (v / top) * (height - 4)).toFixed(1);
    });
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
    return svg;
  }

  function figure(list, root, name, value) {
    var row = node("div");
    row.appendChild(node("dt", "", word(root, name)));
    var dd = node("dd", "", value);
    dd.setAttribute("data-field", name);
    row.appendChild(dd);
    list.appendChild(row);
  }

  function health(root, part) {
    if (!part || part.up) return word(root, "up");
    return word(root, "down").replace("%(seconds)s", String(part.down_for));
  }

  function card(root, id, name, data) {
    var box = node("section", "rt-ops__process");
    box.setAttribute("data-process", id);
    box.setAttribute("data-name", name);
    box.appendChild(node("h2", "", name));
    if (!data) {
      box.setAttribute("data-answering", "false");
      box.appendChild(node("p", "rt-ops__silent", word(root, "not-answering")));
      return box;
    }
    box.setAttribute("data-answering", "true");
    var list = node("dl", "rt-ops__figures");
    figure(list, root, "uptime", uptime(data.uptime));
    figure(list, root, "connections", data.connections);
    figure(list, root, "signed-in", data.signed_in);
    figure(list, root, "anonymous", data.anonymous);
    figure(list, root, "rooms", data.rooms);
    figure(list, root, "subscriptions", data.subscriptions);
    figure(list, root, "layer", health(root, data.layer));
    figure(list, root, "database", health(root, data.database));
    box.appendChild(list);
    list.querySelector('[data-field="layer"]').setAttribute("data-up", String(!data.layer || data.layer.up));
    list.querySelector('[data-field="database"]').setAttribute("data-up", String(!data.database || data.database.up));

    var history = data.history || {};
    [["connections", "chart-connections"], ["events", "chart-events"]].forEach(function (pair) {
      var values = history[pair[0]] || [];
      // The chart's top is its largest value: the caption says what that is.
      var caption = node("p", "rt-ops__caption", word(root, pair[1]) + " · " + word(root, "max") + " " + Math.max.apply(null, [0].concat(values)));
      box.appendChild(caption);
      box.appendChild(chart(values, word(root, pair[1])));
    });

    box.appendChild(node("h3", "", word(root, "hot-topics")));
    var hot = data.hot_topics || [];
    if (!hot.length) box.appendChild(node("p", "rt-ops__none", word(root, "no-hot-topics")));
    var topics = node("ol", "rt-ops__topics");
    hot.forEach(function (t) {
      var item = node("li", "", t.topic + " — " + t.rate + " /s (" + t.subscribers + ")");
      item.setAttribute("data-topic", t.topic);
      topics.appendChild(item);
    });
    box.appendChild(topics);

    box.appendChild(node("h3", "", word(root, "errors")));
    var codes = Object.keys(data.errors || {});
    if (!codes.length) box.appendChild(node("p", "rt-ops__none", word(root, "no-errors")));
    var errors = node("ul", "rt-ops__errors");
    codes.forEach(function (code) {
      var item = node("li", "", code + ": " + data.errors[code]);
      item.setAttribute("data-code", code);
      errors.appendChild(item);
    });
    box.appendChild(errors);
    return box;
  }

  function start() {
    var root = document.querySelector("[data-rt-ops-status]");
    var rt = window.realtime;
    if (!root || !rt || typeof rt.connect !== "function") return;
    var holder = root.querySelector("[data-rt-ops-processes]");
    var state = root.querySelector("[data-rt-ops-state]");
    var interval = (parseFloat(root.getAttribute("data-interval")) || 2) * 1000;
    var seen = {}; // process id -> {data, at}
    var named = {}; // process id -> name, from the peers each snapshot lists

    function accept(data) {
      if (!data || typeof data.id !== "string") return;
      seen[data.id] = { data: data, at: Date.now() };
      named[data.id] = data.name;
      (data.peers || []).forEach(function (peer) {
        if (peer && typeof peer.id === "string") named[peer.id] = peer.name;
      });
    }

    function render() {
      var now = Date.now();
      var ids = Object.keys(named).sort(function (a, b) {
        return String(named[a]).localeCompare(String(named[b]));
      });
      var total = 0;
      var cards = ids.map(function (id) {
        var entry = seen[id];
        var fresh = entry && now - entry.at <= STALE_INTERVALS * interval ? entry.data : null;
        if (fresh) total += fresh.connections;
        return card(root, id, named[id], fresh);
      });
      holder.replaceChildren.apply(holder, cards);
      root.setAttribute("data-processes", String(ids.length));
      root.setAttribute("data-total-connections", String(total));
    }

    var sub = rt.connect().subscribe(root.getAttribute("data-topic"), {
      onSubscribed: function (frame) {
        state.textContent = word(root, "processes") + ": …";
        root.setAttribute("data-live", "true");
        ((frame.state && frame.state.processes) || []).forEach(accept);
        render();
      },
      onEvent: function (msg) {
        if (msg.event !== "snapshot") return;
        accept(msg.data);
        state.textContent = word(root, "processes") + ": " + Object.keys(named).length;
        render();
      },
      onKicked: function (frame) {
        root.setAttribute("data-error", frame.code);
        root.setAttribute("data-live", "false");
        state.textContent = word(root, "forbidden");
      },
      onError: function (err) {
        root.setAttribute("data-error", err.code);
        root.setAttribute("data-live", "false");
        state.textContent = err.code === "forbidden" || err.code === "auth_required" ? word(root, "forbidden") : word(root, "offline");
      },
    });
    window.setInterval(render, 1000); // a silent process turns "not answering" without an event
    return sub;
  }

  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
