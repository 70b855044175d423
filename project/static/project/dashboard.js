/*
 * dashboard.js: the example site's live dashboard (templates/dashboard/dashboard.html).
 *
 * The page's stats value (`{% live_value "dashboard-stats" %}`, kept current by realtime's live.js)
 * holds per stream its viewers and comments in the last minute, the totals, and the comments per
 * minute of the last minutes. This script writes those numbers into the stream table's cells and the
 * totals, and draws the chart as SVG bars (no library, no CDN), with its text alternative (the SVG's
 * <desc>) saying the same figures in words. The stream rows themselves are live rows: when one is
 * re-rendered or added, its cells are filled again from the last value. No globals.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 360;
  var HEIGHT = 150;
  var LEFT = 28; // room for the y axis' labels
  var BOTTOM = 18; // room for the x axis' labels

  // The bars of `series` ([{minute, count}]): pure, so tests/js can check the geometry.
  function bars(series, width, height) {
    var max = 1;
    series.forEach(function (point) { max = Math.max(max, point.count); });
    var plotW = width - LEFT;
    var plotH = height - BOTTOM - 6;
    var step = series.length ? plotW / series.length : 0;
    return {
      max: max,
      bars: series.map(function (point, i) {
        var h = Math.round((point.count / max) * plotH);
        return {
          x: LEFT + i * step + 1,
          y: height - BOTTOM - h,
          width: Math.max(1, step - 2),
          height: h,
          minute: point.minute,
          count: point.count,
        };
      }),
    };
  }

  // The chart in words, for its text alternative: "12:16: 0, 12:17: 3, ...".
  function describe(series, none) {
    if (!series || !series.length) return none;
    return series.map(function (point) { return point.minute + ": " + point.count; }).join(", ");
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart(svg, series) {
    Array.prototype.slice.call(svg.querySelectorAll("[data-drawn]")).forEach(function (node) {
      node.remove();
    });
    var geometry = bars(series, WIDTH, HEIGHT);
    var group = el("g", { "data-drawn": "", "aria-hidden": "true" });
    var base = HEIGHT - BOTTOM;
    group.appendChild(el("line", { class: "grid", x1: LEFT, x2: WIDTH, y1: base, y2: base }));
    group.appendChild(el("text", { class: "axis", x: LEFT - 4, y: 12, "text-anchor": "end" }, geometry.max));
    group.appendChild(el("text", { class: "axis", x: LEFT - 4, y: base, "text-anchor": "end" }, 0));
    geometry.bars.forEach(function (bar, i) {
      var rect = el("rect", { class: "bar", x: bar.x, y: bar.y, width: bar.width, height: bar.height });
      rect.setAttribute("data-count", String(bar.count));
      group.appendChild(rect);
      if (i === 0 || i === geometry.bars.length - 1 || i % 5 === 0) {
        group.appendChild(el("text", { class: "axis", x: bar.x + bar.width / 2, y: HEIGHT - 4, "text-anchor": "middle" }, bar.minute));
      }
    });
    svg.appendChild(group);
  }

  function fillRows(root, value) {
    var streams = (value && value.streams) || {};
    Array.prototype.slice.call(root.querySelectorAll("[data-dashboard-stream]")).forEach(function (row) {
      var figures = streams[row.getAttribute("data-dashboard-stream")];
      Array.prototype.slice.call(row.querySelectorAll("[data-dashboard-field]")).forEach(function (cell) {
        var n = figures ? figures[cell.getAttribute("data-dashboard-field")] : undefined;
        var text = n === undefined ? "–" : String(n);
        if (cell.textContent !== text) cell.textContent = text;
      });
    });
  }

  function render(value) {
    if (!value) return;
    fillRows(document, value);
    Array.prototype.slice.call(document.querySelectorAll("[data-dashboard-total]")).forEach(function (cell) {
      var n = value[cell.getAttribute("data-dashboard-total")];
      cell.textContent = n === undefined ? "–" : String(n);
    });
    var svg = document.querySelector("[data-dashboard-chart]");
    if (svg && value.series) {
      drawChart(svg, value.series);
      var desc = svg.querySelector("[data-dashboard-chart-desc]");
      if (desc) desc.textContent = describe(value.series, desc.getAttribute("data-none"));
    }
  }

  function read(script) {
    try {
      return JSON.parse(script.textContent || "null");
    } catch {
      return null;
    }
  }

  function start() {
    var holder = document.querySelector("[data-dashboard-stats]");
    var script = holder && holder.querySelector("[data-live-topic]");
    if (!script) return; // the viewer may not see the stats: the tag rendered nothing
    var last = read(script);
    render(last);
    // live.js says "realtime:live" on the value's element after each update (detail.payload holds
    // the value); re-rendered or added stream rows say it on their tbody.
    holder.addEventListener("realtime:live", function (event) {
      var payload = event.detail && event.detail.payload;
      var value = payload && payload.form === "value" ? payload.value : read(script);
      if (value) {
        last = value;
        render(last);
      }
    });
    document.addEventListener("realtime:live", function (event) {
      if (!holder.contains(event.target)) fillRows(document, last);
    });
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { bars: bars, describe: describe };
    return;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
