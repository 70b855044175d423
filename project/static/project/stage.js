/*
 * stage.js: the demo site's stand-in for video, for streams without a video URL.
 *
 * Draws a moving backdrop and a running clock on every <canvas data-rt-stage> (rendered by
 * realtime/streams/stream.html), so the demo has a visible, advancing media time to pin comments to.
 * Demo-only: the realtime app does not need it. Without it the canvas stays blank and stream-view.js
 * takes the media time from the wall clock since the stream's data-started-at.
 *
 * The hook: this script defines `currentTime` on the canvas itself, named like
 * HTMLMediaElement.currentTime, so stream-view.js reads a stage and a <video> alike and the clock drawn
 * here is the time comments are stamped with. No globals. With prefers-reduced-motion the lights stand
 * still; only the clock's digits change.
 */
(function () {
  "use strict";

  function formatClock(seconds) {
    var s = Math.floor(Math.max(0, seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  function Stage(canvas) {
    var self = this;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.title = canvas.getAttribute("data-title") || "";
    var holder = canvas.closest("[data-started-at]");
    var started = Date.parse(holder ? holder.getAttribute("data-started-at") : "");
    this.startedAt = isNaN(started) ? Date.now() : started;
    this.lastDraw = 0;
    this.still = !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
    Object.defineProperty(canvas, "currentTime", {
      configurable: true,
      get: function () { return self.currentTime(); },
    });
    function frame(t) {
      // ~15 fps is plenty for a clock and keeps a background tab's CPU near zero.
      if (t - self.lastDraw > 66) { self.lastDraw = t; self.draw(); }
      requestAnimationFrame(frame);
    }
    this.draw();
    requestAnimationFrame(frame);
  }

  Stage.prototype.currentTime = function () {
    return Math.max(0, (Date.now() - this.startedAt) / 1000);
  };

  Stage.prototype.draw = function () {
    var c = this.ctx;
    var W = this.canvas.width;
    var H = this.canvas.height;
    var t = this.still ? 0 : Date.now() / 1000;
    var g = c.createLinearGradient(0, 0, W, H);
    g.addColorStop(0, "#141a33");
    g.addColorStop(1, "#2a1238");
    c.fillStyle = g;
    c.fillRect(0, 0, W, H);
    // Slowly drifting lights: motion proves the page is alive, even in a screenshot.
    var hues = [200, 280, 330];
    for (var i = 0; i < hues.length; i++) {
      var x = W * (0.5 + 0.35 * Math.sin(t * 0.3 + i * 2.1));
      var y = H * (0.5 + 0.3 * Math.cos(t * 0.25 + i * 1.7));
      var r = c.createRadialGradient(x, y, 0, x, y, H * 0.6);
      r.addColorStop(0, "hsla(" + hues[i] + ", 80%, 60%, 0.35)");
      r.addColorStop(1, "hsla(" + hues[i] + ", 80%, 60%, 0)");
      c.fillStyle = r;
      c.fillRect(0, 0, W, H);
    }
    c.textAlign = "center";
    c.textBaseline = "middle";
    c.fillStyle = "rgba(255,255,255,0.92)";
    c.font = "600 " + Math.round(H / 7) + "px system-ui, sans-serif";
    c.fillText(formatClock(this.currentTime()), W / 2, H / 2);
    c.fillStyle = "rgba(255,255,255,0.6)";
    c.font = Math.round(H / 22) + "px system-ui, sans-serif";
    c.fillText(this.title, W / 2, H / 2 + H / 8);
  };

  function start() {
    document.querySelectorAll("canvas[data-rt-stage]").forEach(function (canvas) {
      if (canvas.realtimeStage) return; // the script may be on the page twice
      canvas.realtimeStage = new Stage(canvas);
    });
  }

  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
