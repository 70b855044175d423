/*
 * banner.js: shows admin broadcasts (`broadcast` events) in every [data-rt-banner] on the page.
 *
 * Works on any page that has realtime.js ({% realtime_client %}) and a banner element, stream page or
 * not:
 *
 *   <div class="rt-banner" data-rt-banner role="status" aria-live="polite" hidden>
 *     <strong data-rt-banner-title></strong> <span data-rt-banner-message></span>
 *     <button type="button" data-rt-banner-close aria-label="{% translate 'Dismiss' %}">×</button>
 *   </div>
 *
 * Sources: `broadcast.all` for everyone, and `user.<id>` for the signed-in user (the id comes from the
 * server's `hello`, so the page need not know it). Subscriptions go through the page's shared client,
 * so a stream view subscribed to the same topics costs no second server subscription. A page without
 * a banner element opens no socket on its account. Title and message are set with textContent only.
 */
(function () {
  "use strict";

  var BANNER_FRESH_MS = 10 * 60 * 1000; // a replayed broadcast younger than this is still news
  var LEVELS = ["info", "success", "warning", "error", "critical"];

  function banners() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-rt-banner]"));
  }

  /** Every banner on the page shows the latest broadcast (looked up now: some may have been added). */
  function show(data) {
    var level = LEVELS.indexOf(data.level) >= 0 ? data.level : "info";
    banners().forEach(function (box) {
      box.setAttribute("data-level", level);
      var title = box.querySelector("[data-rt-banner-title]");
      var message = box.querySelector("[data-rt-banner-message]");
      if (title) title.textContent = data.title || "";
      if (message) message.textContent = data.message || "";
      box.hidden = false;
    });
  }

  function onEvent(msg, info) {
    if (msg.event !== "broadcast") return;
    // On first load a replayed broadcast is shown only if still recent; older ones are history.
    if (info.history && !(Date.now() - Date.parse(msg.at) < BANNER_FRESH_MS)) return;
    show(msg.data || {});
  }

  function start() {
    var rt = window.realtime;
    if (!rt || typeof rt.connect !== "function") {
      console.error("realtime banner: realtime.js is not loaded. Add {% realtime_client %} to the page's <head>.");
      return;
    }
    // The script may be on the page twice (a base template and the stream template): the first run
    // claims the banners; a later run finding none unclaimed does nothing.
    var fresh = banners().filter(function (box) { return !box.realtimeBanner; });
    if (!fresh.length) return;
    fresh.forEach(function (box) { box.realtimeBanner = true; });

    // Delegated, so banners inserted later (and the ones claimed above) all close the same way.
    document.addEventListener("click", function (e) {
      var button = e.target && e.target.closest && e.target.closest("[data-rt-banner-close]");
      var box = button && button.closest("[data-rt-banner]");
      if (box) box.hidden = true;
    });

    var client = rt.connect();
    client.subscribe("broadcast.all", { onEvent: onEvent });
    // Personal broadcasts follow whoever the server says we are; a reconnect as someone else (a login
    // in another tab) moves to that user's topic.
    var userSub = null;
    var userId = null;
    function follow(user) {
      var id = user && user.id != null ? user.id : null;
      if (id === userId) return;
      if (userSub) userSub.unsubscribe();
      userSub = null;
      userId = id;
      if (id !== null) userSub = client.subscribe("user." + id, { onEvent: onEvent });
    }
    if (client.user !== undefined) follow(client.user);
    client.on("hello", function (e) { follow(e.detail.user); });
  }

  // Deferred scripts run in document order before DOMContentLoaded; if realtime.js comes later in the
  // page, waiting for DOMContentLoaded means it has run too.
  if (document.readyState !== "loading" && window.realtime && window.realtime.connect) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
