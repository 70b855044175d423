/*
 * admin.js: the announcement compose page. Keeps the banner preview in step with the form, and (when
 * the page has a receipts panel) follows `announcement_stats.<id>` over the site's realtime.js client,
 * so delivered / seen / dismissed and connected figures update while the page is open.
 * Text goes into the page with textContent only. No globals beyond reading window.realtime.
 */
(function () {
  "use strict";

  var SAFE_LINK = /^https?:\/\//i;

  function value(id) {
    var field = document.getElementById(id);
    return field ? field.value : null;
  }

  function updatePreview(holder, box) {
    var level = value("id_level") || box.getAttribute("data-level") || "info";
    var dismissible = value("id_dismissible");
    var title = box.querySelector("[data-rt-announcement-title]");
    var body = box.querySelector("[data-rt-announcement-body]");
    var close = box.querySelector("[data-rt-announcement-dismiss]");
    if (value("id_title") !== null) title.textContent = value("id_title") || holder.getAttribute("data-placeholder");
    if (value("id_body") !== null) body.textContent = value("id_body");
    box.setAttribute("data-level", level);
    if (level === "critical") box.setAttribute("role", "alert");
    else box.removeAttribute("role");
    if (close && dismissible !== null) {
      // The model's rule: empty means "yes, except critical".
      close.hidden = dismissible === "False" || (dismissible !== "True" && level === "critical");
    }
    var link = box.querySelector("[data-rt-announcement-link]");
    var href = value("id_link");
    if (href === null) return;
    if (!SAFE_LINK.test(href)) {
      if (link) link.remove();
      return;
    }
    if (!link) {
      link = document.createElement("a");
      link.className = "rt-announcement__link";
      link.setAttribute("data-rt-announcement-link", "");
      link.textContent = holder.getAttribute("data-label-more") || "Learn more";
      box.insertBefore(link, close);
    }
    link.setAttribute("href", href);
  }

  function startPreview() {
    var holder = document.querySelector("[data-rt-announcement-preview]");
    var box = holder && holder.querySelector("[data-rt-announcement]");
    if (!box) return;
    // The preview is not a live banner: clicks on it do nothing.
    holder.addEventListener("click", function (e) { e.preventDefault(); });
    ["id_title", "id_body", "id_link", "id_level", "id_dismissible"].forEach(function (id) {
      var field = document.getElementById(id);
      if (field) {
        field.addEventListener("input", function () { updatePreview(holder, box); });
        field.addEventListener("change", function () { updatePreview(holder, box); });
      }
    });
    updatePreview(holder, box);
  }

  function render(panel, stats) {
    if (!stats || typeof stats !== "object") return;
    Array.prototype.forEach.call(panel.querySelectorAll("[data-stat]"), function (node) {
      var name = node.getAttribute("data-stat");
      if (!(name in stats)) return;
      node.textContent = stats[name] === null ? "—" : String(stats[name]);
    });
    var pill = panel.querySelector("[data-rt-stats-state]");
    if (pill && typeof stats.state === "string") pill.setAttribute("data-rt-stats-state", stats.state);
  }

  function startPanel() {
    var panel = document.querySelector("[data-rt-announcement-stats]");
    var rt = window.realtime;
    if (!panel || !rt || typeof rt.connect !== "function") return;
    var live = panel.querySelector("[data-rt-stats-live]");
    rt.connect().subscribe(panel.getAttribute("data-topic"), {
      onSubscribed: function (frame) {
        render(panel, frame.state);
        if (live) live.hidden = false;
      },
      onEvent: function (msg) { if (msg.event === "stats") render(panel, msg.data); },
      onError: function (err) {
        panel.setAttribute("data-error", err.code);
        if (live) live.hidden = true;
      },
    });
  }

  function start() {
    startPreview();
    startPanel();
  }

  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
