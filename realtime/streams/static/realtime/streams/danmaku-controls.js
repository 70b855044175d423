/*
 * danmaku-controls.js: the viewer's overlay settings next to the player, remembered per browser.
 *
 *   var controls = new realtime.DanmakuControls(streamElement, overlay, {texts: t, storage: localStorage});
 *
 * Markup (rendered, and translated, by realtime/streams/stream.html; found by data attributes):
 *   [data-rt-dm-toggle]   button, aria-pressed: comments on the video on/off
 *   [data-rt-dm-open]     button, aria-expanded: shows [data-rt-dm-panel]; Escape closes it again
 *   [data-rt-dm-panel]    named controls: opacity (range 10-100), size, speed, area (selects),
 *                         show_scroll, show_top, show_bottom, show_colored (checkboxes), blocked
 *                         (textarea, one word or phrase per line); [data-rt-dm-reset] restores defaults
 *   [data-rt-fullscreen]  puts [data-rt-screen] (player, overlay and these controls) in fullscreen, so
 *                         the comments stay over the video; the video's own fullscreen is redirected there
 *
 * Storage: one JSON object under localStorage["realtime.danmaku.v1"]:
 *   {enabled, opacity (0.1-1), size ("small"|"medium"|"large"), speed ("slow"|"normal"|"fast"),
 *    area ("quarter"|"half"|"full"), show: {scroll, top, bottom, colored}, blocked: [words]}
 * Unknown or malformed values fall back to the defaults one by one; a browser without storage (or
 * with it full) still gets working controls for the page's lifetime.
 */
(function (root, factory) {
  "use strict";
  var Controls = factory(root);
  if (typeof module === "object" && module.exports) module.exports = Controls;
  else (root.realtime = root.realtime || {}).DanmakuControls = Controls;
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var STORAGE_KEY = "realtime.danmaku.v1";
  var CHOICES = {
    size: ["small", "medium", "large"],
    speed: ["slow", "normal", "fast"],
    area: ["quarter", "half", "full"],
  };
  var MODES = ["scroll", "top", "bottom", "colored"];
  var MAX_BLOCKED = 100;
  var MAX_TERM = 50;

  function defaults() {
    return {
      enabled: true, opacity: 1, size: "medium", speed: "normal", area: "full",
      show: { scroll: true, top: true, bottom: true, colored: true }, blocked: [],
    };
  }

  function parseBlocked(text) {
    var seen = {};
    return String(text || "").split(/[\n,，]/).map(function (w) { return w.trim().slice(0, MAX_TERM); })
      .filter(function (w) {
        if (!w || seen[w.toLowerCase()]) return false;
        seen[w.toLowerCase()] = true;
        return true;
      }).slice(0, MAX_BLOCKED);
  }

  /** Whatever was stored, the settings that result: each field validated on its own. */
  function sanitize(raw) {
    var s = defaults();
    if (!raw || typeof raw !== "object") return s;
    if (typeof raw.enabled === "boolean") s.enabled = raw.enabled;
    var opacity = Number(raw.opacity);
    if (isFinite(opacity) && opacity >= 0.1 && opacity <= 1) s.opacity = Math.round(opacity * 100) / 100;
    Object.keys(CHOICES).forEach(function (k) { if (CHOICES[k].indexOf(raw[k]) >= 0) s[k] = raw[k]; });
    if (raw.show && typeof raw.show === "object") {
      MODES.forEach(function (m) { if (typeof raw.show[m] === "boolean") s.show[m] = raw.show[m]; });
    }
    if (Array.isArray(raw.blocked)) s.blocked = parseBlocked(raw.blocked.filter(function (w) { return typeof w === "string"; }).join("\n"));
    return s;
  }

  function load(storage) {
    try {
      return sanitize(JSON.parse(storage.getItem(STORAGE_KEY)));
    } catch {
      return defaults();
    }
  }

  function save(storage, settings) {
    try {
      storage.setItem(STORAGE_KEY, JSON.stringify(settings));
      return true;
    } catch {
      return false; // private mode or full: the settings still apply to this page
    }
  }

  function Controls(el, overlay, options) {
    options = options || {};
    this.root = el;
    this.doc = el.ownerDocument;
    this.overlay = overlay;
    this.t = options.texts || function (key) { return key; };
    this.storage = options.storage !== undefined ? options.storage : safeStorage();
    this.panel = el.querySelector("[data-rt-dm-panel]");
    this.toggleButton = el.querySelector("[data-rt-dm-toggle]");
    this.openButton = el.querySelector("[data-rt-dm-open]");
    this.screen = el.querySelector("[data-rt-screen]");
    this.fullscreenButton = el.querySelector("[data-rt-fullscreen]");
    this.settings = this.storage ? load(this.storage) : defaults();
    this.bind();
    this.render();
    this.apply();
  }

  function safeStorage() {
    try {
      return root.localStorage || null;
    } catch {
      return null; // storage blocked by the browser's settings
    }
  }

  Controls.prototype.field = function (name) {
    return this.panel ? this.panel.querySelector('[name="' + name + '"]') : null;
  };

  /** Settings -> the controls' state (after loading or a reset). */
  Controls.prototype.render = function () {
    var s = this.settings;
    var self = this;
    if (this.toggleButton) this.toggleButton.setAttribute("aria-pressed", s.enabled ? "true" : "false");
    var opacity = this.field("opacity");
    if (opacity) opacity.value = String(Math.round(s.opacity * 100));
    this.showOpacity();
    Object.keys(CHOICES).forEach(function (k) { var f = self.field(k); if (f) f.value = s[k]; });
    MODES.forEach(function (m) { var f = self.field("show_" + m); if (f) f.checked = s.show[m]; });
    var blocked = this.field("blocked");
    if (blocked) blocked.value = s.blocked.join("\n");
  };

  Controls.prototype.showOpacity = function () {
    var out = this.panel && this.panel.querySelector("[data-rt-dm-opacity-value]");
    if (out) out.textContent = Math.round(this.settings.opacity * 100) + "%";
  };

  /** The controls' state -> settings, applied and saved. */
  Controls.prototype.read = function () {
    var s = this.settings;
    var self = this;
    var opacity = this.field("opacity");
    if (opacity) s.opacity = Math.min(Math.max(Number(opacity.value) / 100 || 1, 0.1), 1);
    Object.keys(CHOICES).forEach(function (k) {
      var f = self.field(k);
      if (f && CHOICES[k].indexOf(f.value) >= 0) s[k] = f.value;
    });
    MODES.forEach(function (m) { var f = self.field("show_" + m); if (f) s.show[m] = !!f.checked; });
    var blocked = this.field("blocked");
    if (blocked) s.blocked = parseBlocked(blocked.value);
    this.showOpacity();
    this.changed();
  };

  Controls.prototype.changed = function () {
    this.apply();
    if (this.storage) save(this.storage, this.settings);
  };

  Controls.prototype.apply = function () {
    this.overlay.configure(JSON.parse(JSON.stringify(this.settings)));
    this.root.setAttribute("data-danmaku", this.settings.enabled ? "on" : "off");
    if (typeof this.onChange === "function") this.onChange(this.settings);
  };

  /** A personal blocked word in this text (the list hides such comments too, except one's own). */
  Controls.prototype.blocks = function (text) {
    var folded = String(text || "");
    if (folded.normalize) folded = folded.normalize("NFKC");
    folded = folded.toLowerCase();
    return this.settings.blocked.some(function (w) {
      var term = w.normalize ? w.normalize("NFKC").toLowerCase() : w.toLowerCase();
      return term && folded.indexOf(term) >= 0;
    });
  };

  Controls.prototype.setOpen = function (open) {
    if (!this.panel || !this.openButton) return;
    this.panel.hidden = !open;
    this.openButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var first = this.panel.querySelector("input, select, textarea, button");
      if (first && first.focus) first.focus();
    } else if (this.openButton.focus) {
      this.openButton.focus();
    }
  };

  Controls.prototype.bind = function () {
    var self = this;
    if (this.toggleButton) {
      this.toggleButton.addEventListener("click", function () {
        self.settings.enabled = !self.settings.enabled;
        self.toggleButton.setAttribute("aria-pressed", self.settings.enabled ? "true" : "false");
        self.changed();
      });
    }
    if (this.openButton) {
      this.openButton.addEventListener("click", function () { self.setOpen(self.panel.hidden); });
    }
    if (this.panel) {
      this.panel.addEventListener("input", function () { self.read(); });
      this.panel.addEventListener("change", function () { self.read(); });
      this.panel.addEventListener("keydown", function (e) {
        if (e.key === "Escape") { e.preventDefault(); self.setOpen(false); }
      });
      var reset = this.panel.querySelector("[data-rt-dm-reset]");
      if (reset) {
        reset.addEventListener("click", function () {
          self.settings = defaults();
          self.render();
          self.changed();
        });
      }
    }
    this.bindFullscreen();
  };

  // -- fullscreen: the player with its overlay, never the bare video --------------------------------------
  Controls.prototype.bindFullscreen = function () {
    var self = this;
    var doc = this.doc;
    var button = this.fullscreenButton;
    var screen = this.screen;
    if (!button || !screen) return;
    if (!screen.requestFullscreen) { button.hidden = true; return; }
    function quietly(promise) {
      if (promise && promise.catch) promise.catch(function () {}); // refused (no user gesture): nothing to do
    }
    button.addEventListener("click", function () {
      quietly(doc.fullscreenElement ? doc.exitFullscreen() : screen.requestFullscreen());
    });
    doc.addEventListener("fullscreenchange", function () {
      var current = doc.fullscreenElement;
      // The video's own button or a double click would put the bare video in fullscreen, without its
      // comments: move fullscreen to the player instead.
      if (current && current !== screen && screen.contains(current)) {
        var exiting = doc.exitFullscreen();
        quietly(exiting && exiting.then ? exiting.then(function () { return screen.requestFullscreen(); }) : exiting);
        return;
      }
      var on = current === screen;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = self.t(on ? "fullscreen.exit" : "fullscreen.enter");
      if (self.overlay.relayout) self.overlay.relayout();
    });
  };

  Controls.STORAGE_KEY = STORAGE_KEY;
  Controls.defaults = defaults;
  Controls.sanitize = sanitize;
  Controls.parseBlocked = parseBlocked;
  Controls.load = load;
  Controls.save = save;
  return Controls;
});
