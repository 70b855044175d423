/*
 * stream-moderation.js: the moderator's side of the stream page, for stream-view.js.
 *
 *   var tools = new realtime.ModeratorTools(view);   // view: the page's StreamView
 *   item.appendChild(tools.render(comment, mine));   // Hide, Delete, Mute, Time out…, Ban… per comment
 *   tools.start();                                   // once subscribed.state says moderator: true
 *
 * Per comment: Hide (Restore from the panel), Delete, Mute (until lifted), and Time out… / Ban…, which
 * open an accessible confirmation dialog ([data-rt-mod-dialog], a native <dialog> shown modally: focus
 * stays inside, Escape cancels) asking for the duration (timeouts) and a reason. The panel
 * ([data-rt-mod-panel]) lists current restrictions (who, what, until when, why, set by whom and when)
 * with Unmute / End timeout / Unban, and recently hidden comments with Restore. Both come from the
 * moderators' topic `stream_mod.<id>`: its `subscribed` state is the whole list, its events
 * (`restriction.set`, `restriction.lifted`, `comment.state`) keep every moderator's page current.
 *
 * Requests are `moderate` publishes with {retry: false} (not idempotent); a refusal is shown by its
 * stable code, never with the server's English message. The server checks every request: these
 * buttons are shown to moderators only for convenience.
 */
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else (root.realtime = root.realtime || {}).ModeratorTools = api.ModeratorTools;
})(typeof window !== "undefined" ? window : globalThis, function (root) {
  "use strict";

  var MAX_TIMER_MS = 2147483647; // setTimeout's limit (24.8 days); longer restrictions wait for an event
  var LIFT = { mute: "unmute", timeout: "untimeout", ban: "unban" };

  /** A time for people: the page's language, seconds shown (timeouts can be short). */
  function formatTime(iso, lang) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var sameDay = new Date().toDateString() === date.toDateString();
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    if (!sameDay) { options.month = "short"; options.day = "numeric"; }
    try {
      return date.toLocaleString(lang || undefined, options);
    } catch {
      return date.toISOString();
    }
  }

  function ModeratorTools(view) {
    this.view = view;
    this.panel = view.q("[data-rt-mod-panel]");
    this.dialog = view.q("[data-rt-mod-dialog]");
    this.restrictionList = view.q("[data-rt-restrictions]");
    this.hiddenList = view.q("[data-rt-hidden]");
    this.topic = "stream_mod." + String(view.topic).split(".")[1];
    this.rows = new Map(); // "kind:user id" -> {item, timer}
    this.hidden = new Map(); // comment id -> item
    this.subscription = null;
    this.lang = (view.doc.documentElement && view.doc.documentElement.lang) || undefined;
  }

  ModeratorTools.prototype.t = function (key, params) { return this.view.t(key, params); };
  ModeratorTools.prototype.time = function (iso) { return formatTime(iso, this.lang); };

  /** Send one `moderate` request; `notice` (a text key) is shown once the server carried it out. */
  ModeratorTools.prototype.act = function (payload, notice, params, button) {
    var view = this.view;
    if (button) button.disabled = true;
    return view.client.publish(view.topic, "moderate", payload, { retry: false }).then(
      function (ack) {
        var data = (ack && ack.data) || {};
        var values = Object.assign({}, params || {});
        if (data.until) values.time = formatTime(data.until, this.lang);
        if (notice) view.showNotice(view.t(notice, values));
      }.bind(this),
      function (err) { view.showError(err); }
    ).then(function () { if (button) button.disabled = false; });
  };

  ModeratorTools.prototype.button = function (action, label, onClick) {
    var b = this.view.el("button", "rt-tool rt-tool--" + action, label);
    b.type = "button";
    b.setAttribute("data-rt-moderate", action);
    b.addEventListener("click", function () { onClick(b); });
    return b;
  };

  /** The tools of one comment in the list (CSS shows them only while data-moderator="true"). */
  ModeratorTools.prototype.render = function (c, mine) {
    var self = this;
    var tools = this.view.el("span", "rt-comment__tools");
    var author = c.author || {};
    var who = { user: author.username };
    tools.appendChild(this.button("hide", this.t("moderate.hide"), function (b) {
      self.act({ action: "hide", comment: c.id }, "notice.hidden", who, b);
    }));
    tools.appendChild(this.button("delete", this.t("moderate.delete"), function (b) {
      self.act({ action: "delete", comment: c.id }, null, who, b);
    }));
    if (!mine && author.id != null) {
      tools.appendChild(this.button("mute", this.t("moderate.mute"), function (b) {
        self.act({ action: "mute", user: author.id }, "notice.muted", who, b);
      }));
      ["timeout", "ban"].forEach(function (action) {
        tools.appendChild(self.button(action, self.t("moderate." + action), function (b) {
          self.restrict(action, author, b);
        }));
      });
    }
    return tools;
  };

  /** Time out or ban `author` ({id, username}) after the dialog; also used by the viewer list. */
  ModeratorTools.prototype.restrict = function (action, author, button) {
    var self = this;
    return this.ask(action, author).then(function (answer) {
      if (!answer) return;
      var payload = { action: action, user: author.id, reason: answer.reason };
      if (action === "timeout") payload.seconds = answer.seconds;
      return self.act(payload, action === "ban" ? "notice.banned" : "notice.timed_out", { user: author.username }, button);
    });
  };

  /**
   * The confirmation dialog for a timeout or a ban: resolves {seconds, reason} or null (cancelled).
   * A native modal <dialog>: the browser keeps focus inside it and Escape cancels; focus goes back
   * to the button that opened it. Without dialog support (old browsers) it falls back to confirm().
   */
  ModeratorTools.prototype.ask = function (action, author) {
    var dialog = this.dialog;
    var who = { user: author.username || "?" };
    if (!dialog || typeof dialog.showModal !== "function") {
      var ok = root.confirm ? root.confirm(this.t("dialog." + action + ".title", who)) : false;
      return Promise.resolve(ok ? { seconds: 600, reason: "" } : null);
    }
    var form = dialog.querySelector("form");
    var opener = this.view.doc.activeElement;
    dialog.setAttribute("data-action", action);
    dialog.querySelector("[data-rt-mod-dialog-title]").textContent = this.t("dialog." + action + ".title", who);
    dialog.querySelector("[data-rt-mod-dialog-text]").textContent = this.t("dialog." + action + ".text");
    dialog.querySelector("[data-rt-mod-duration]").hidden = action !== "timeout";
    var confirm = dialog.querySelector("[data-rt-mod-confirm]");
    confirm.textContent = this.t("dialog." + action + ".confirm");
    form.elements.reason.value = "";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function closed() {
        dialog.removeEventListener("close", closed);
        if (opener && opener.focus) opener.focus();
        if (dialog.returnValue !== "confirm") return resolve(null);
        resolve({ seconds: Number(form.elements.seconds.value), reason: form.elements.reason.value.trim() });
      });
      dialog.showModal();
      (action === "timeout" ? form.elements.seconds : form.elements.reason).focus();
    });
  };

  // -- the panel: restrictions and hidden comments ---------------------------------------------------
  ModeratorTools.prototype.start = function () {
    var self = this;
    if (this.subscription) return;
    if (this.panel) this.panel.hidden = false;
    this.subscription = this.view.client.subscribe(this.topic, {
      onSubscribed: function (msg) { self.reset(msg.state || {}); },
      onEvent: function (msg) { self.onEvent(msg); },
      onKicked: function () { self.stop(); },
      onError: function (err) { if (err.code !== "unavailable") self.stop(); },
    });
  };

  ModeratorTools.prototype.stop = function () {
    if (this.panel) this.panel.hidden = true;
    if (this.subscription) this.subscription.unsubscribe();
    this.subscription = null;
  };

  ModeratorTools.prototype.reset = function (state) {
    var self = this;
    this.rows.forEach(function (row) { clearTimeout(row.timer); row.item.remove(); });
    this.rows.clear();
    this.hidden.forEach(function (item) { item.remove(); });
    this.hidden.clear();
    (state.restrictions || []).slice().reverse().forEach(function (r) { self.setRestriction(r); });
    (state.hidden || []).slice().reverse().forEach(function (c) { self.setHidden(c, true); });
    this.empty();
  };

  ModeratorTools.prototype.onEvent = function (msg) {
    var data = msg.data || {};
    if (msg.event === "restriction.set") this.setRestriction(data);
    else if (msg.event === "restriction.lifted") this.removeRestriction(data.kind, (data.user || {}).id);
    else if (msg.event === "comment.state") this.setHidden(data.comment || {}, data.state === "hidden");
    this.empty();
  };

  ModeratorTools.prototype.empty = function () {
    [[this.restrictionList, this.rows], [this.hiddenList, this.hidden]].forEach(function (pair) {
      if (pair[0]) pair[0].setAttribute("data-count", String(pair[1].size));
    });
  };

  ModeratorTools.prototype.setRestriction = function (r) {
    var self = this;
    var user = r.user || {};
    var key = r.kind + ":" + user.id;
    this.removeRestriction(r.kind, user.id);
    if (!this.restrictionList || !LIFT[r.kind]) return;
    var view = this.view;
    var item = view.el("li", "rt-restriction rt-restriction--" + r.kind);
    item.setAttribute("data-rt-restriction", key);
    item.appendChild(view.el("span", "rt-restriction__user", user.username || "?"));
    var what = r.until ? this.t("restriction." + r.kind + ".until", { time: this.time(r.until) }) : this.t("restriction." + r.kind);
    item.appendChild(view.el("span", "rt-restriction__kind", what));
    if (r.reason) item.appendChild(view.el("span", "rt-restriction__reason", this.t("restriction.reason", { reason: r.reason })));
    var by = (r.by || {}).username || this.t("restriction.someone");
    item.appendChild(view.el("span", "rt-restriction__by", this.t("restriction.by", { user: by, time: this.time(r.at) })));
    var action = LIFT[r.kind];
    item.appendChild(this.button(action, this.t("moderate." + action), function (b) {
      self.act({ action: action, user: user.id }, "notice." + action, { user: user.username }, b);
    }));
    this.restrictionList.insertBefore(item, this.restrictionList.firstChild);
    var row = { item: item, timer: null };
    var left = r.until ? Date.parse(r.until) - Date.now() : null;
    if (left !== null && left < MAX_TIMER_MS) {
      // An expired timeout ends by itself: no event comes, so the row goes on time here.
      row.timer = setTimeout(function () { self.removeRestriction(r.kind, user.id); self.empty(); }, Math.max(left, 0));
    }
    this.rows.set(key, row);
  };

  ModeratorTools.prototype.removeRestriction = function (kind, userId) {
    var key = kind + ":" + userId;
    var row = this.rows.get(key);
    if (!row) return;
    clearTimeout(row.timer);
    row.item.remove();
    this.rows.delete(key);
  };

  ModeratorTools.prototype.setHidden = function (c, hidden) {
    var self = this;
    var old = this.hidden.get(c.id);
    if (old) { old.remove(); this.hidden.delete(c.id); }
    if (!hidden || !this.hiddenList || c.id == null) return;
    var view = this.view;
    var item = view.el("li", "rt-hidden-comment");
    item.setAttribute("data-comment-id", String(c.id));
    item.appendChild(view.el("span", "rt-comment__author", (c.author || {}).username || "?"));
    item.appendChild(view.el("span", "rt-comment__text", c.text));
    item.appendChild(this.button("restore", this.t("moderate.restore"), function (b) {
      self.act({ action: "restore", comment: c.id }, "notice.restored", {}, b);
    }));
    this.hiddenList.insertBefore(item, this.hiddenList.firstChild);
    this.hidden.set(c.id, item);
  };

  ModeratorTools.formatTime = formatTime;
  return { ModeratorTools: ModeratorTools, formatTime: formatTime };
});
