/*
 * stream-presence.js: who is watching, for stream-view.js (issue 20).
 *
 *   var presence = new realtime.StreamPresence(view);   // view: the page's StreamView
 *
 * Two parts, both on the stream topic's roster (client.presence(view.topic): the same server
 * subscription as the view). The server decides who gets the roster (the stream's moderators and
 * staff, realtime/streams/topic.py); everyone else gets only who is typing (StreamPresence's
 * public_statuses: names and statuses, no counts), which is all the indicator needs.
 *   - The moderators' viewer list ([data-rt-viewer-list] in the moderation panel): signed-in viewers
 *     by name (anonymous ones only counted, [data-rt-viewer-count]); a name is a button that shows
 *     Time out… and Ban… for that viewer, through stream-moderation.js's dialogs (ModeratorTools).
 *   - The typing indicator ([data-rt-typing]): "alice is typing…", "alice and bob are typing…",
 *     "3 people are typing…" (others only: never ourselves). While the comment box holds text we set
 *     the status "typing"; it is cleared after TYPING_IDLE_MS without a keystroke and on send. The
 *     client sends at most one status frame a second (realtime.js), and we only call it on a change.
 * Words come from data-* attributes on those elements (translated by the template); textContent only.
 */
(function (root, factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else (root.realtime = root.realtime || {}).StreamPresence = api.StreamPresence;
})(typeof window !== "undefined" ? window : globalThis, function () {
  "use strict";

  var TYPING_IDLE_MS = 4000;

  function fill(text, params) {
    // {name} placeholders: a template's {% translate %} would double a % sign in the msgid.
    return String(text || "").replace(/\{(\w+)\}/g, function (all, name) {
      return name in params ? String(params[name]) : all;
    });
  }

  function isTyping(entry) {
    return ((entry && entry.metas) || []).some(function (m) { return m && m.status === "typing"; });
  }

  /** The indicator's sentence for these names (already without ourselves), or "" for nobody. */
  function typingText(names, labels) {
    if (!names.length) return "";
    if (names.length === 1) return fill(labels.one, { name: names[0] });
    if (names.length === 2) return fill(labels.two, { first: names[0], second: names[1] });
    return fill(labels.many, { count: names.length });
  }

  function StreamPresence(view) {
    this.view = view;
    this.me = view.userId !== null ? String(view.userId) : null;
    this.list = view.q("[data-rt-viewer-list]");
    this.count = view.q("[data-rt-viewer-count]");
    this.typing = view.q("[data-rt-typing]");
    this.open = null; // key of the viewer whose actions are shown
    this.idleTimer = null;
    this.typingNow = false;
    this.presence = null;
    this.restart();
    this.bindInput();
  }

  /** (Re)join the topic's roster: at start, and after a ban, which ended the old subscription. */
  StreamPresence.prototype.restart = function () {
    var self = this;
    if (this.presence) this.presence.leave();
    this.typingNow = false;
    this.presence = this.view.client.presence(this.view.topic);
    this.presence.onSync(function () { self.render(); });
  };

  StreamPresence.prototype.render = function () {
    var roster = this.presence.list();
    this.renderTyping(roster);
    this.renderViewers(roster);
  };

  StreamPresence.prototype.renderTyping = function (roster) {
    if (!this.typing) return;
    var me = this.me;
    var names = Object.keys(roster).filter(function (key) {
      return key !== me && isTyping(roster[key]);
    }).map(function (key) { return String(roster[key].name || ""); }).sort();
    var labels = {
      one: this.typing.getAttribute("data-label-one"),
      two: this.typing.getAttribute("data-label-two"),
      many: this.typing.getAttribute("data-label-many"),
    };
    this.typing.textContent = typingText(names, labels);
    this.typing.hidden = names.length === 0;
  };

  StreamPresence.prototype.renderViewers = function (roster) {
    var self = this;
    var view = this.view;
    if (view.root && view.root.getAttribute("data-moderator") === "false") {
      // A viewer's roster holds only who is typing: not a viewer list (and the panel is not theirs).
      if (this.count) this.count.textContent = "";
      if (this.list) {
        while (this.list.firstChild) this.list.removeChild(this.list.firstChild);
        this.list.setAttribute("data-count", "0");
      }
      return;
    }
    if (this.count) {
      this.count.textContent = fill(this.count.getAttribute("data-label"), {
        count: this.presence.count, anonymous: this.presence.anonymous,
      });
    }
    if (!this.list) return;
    var keys = Object.keys(roster).sort(function (a, b) {
      var na = String(roster[a].name || ""), nb = String(roster[b].name || "");
      return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : 1;
    });
    while (this.list.firstChild) this.list.removeChild(this.list.firstChild);
    if (this.open !== null && keys.indexOf(this.open) < 0) this.open = null;
    keys.forEach(function (key) {
      var entry = roster[key];
      var item = view.el("li", "rt-mod__item rt-viewer");
      item.setAttribute("data-key", key);
      var name = view.el("button", "rt-viewer__name", entry.name || "");
      name.type = "button";
      var tools = self.view.modTools;
      if (key === self.me || !tools) {
        name.disabled = true; // ourselves: nothing to do
      } else {
        var actionsId = "rt-viewer-actions-" + key;
        name.setAttribute("aria-expanded", self.open === key ? "true" : "false");
        name.setAttribute("aria-controls", actionsId);
        name.addEventListener("click", function () {
          self.open = self.open === key ? null : key;
          self.render();
          var again = self.list.querySelector('[data-key="' + key + '"] .rt-viewer__name');
          if (again) again.focus();
        });
        var actions = view.el("span", "rt-viewer__actions");
        actions.id = actionsId;
        actions.hidden = self.open !== key;
        ["timeout", "ban"].forEach(function (action) {
          actions.appendChild(tools.button(action, view.t("moderate." + action), function (b) {
            tools.restrict(action, { id: Number(key), username: entry.name }, b);
          }));
        });
        item.appendChild(name);
        item.appendChild(actions);
        self.list.appendChild(item);
        return;
      }
      item.appendChild(name);
      self.list.appendChild(item);
    });
    this.list.setAttribute("data-count", String(keys.length));
  };

  // -- our own typing status ------------------------------------------------------------------------
  StreamPresence.prototype.bindInput = function () {
    var self = this;
    var form = this.view.form;
    var input = form && form.elements && form.elements.text;
    if (!input || this.me === null) return;
    input.addEventListener("input", function () { self.setTyping(input.value.trim() !== ""); });
    form.addEventListener("submit", function () { self.setTyping(false); });
  };

  StreamPresence.prototype.setTyping = function (typing) {
    var self = this;
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (typing) {
      this.idleTimer = setTimeout(function () { self.setTyping(false); }, TYPING_IDLE_MS);
    }
    if (typing === this.typingNow) return;
    this.typingNow = typing;
    this.presence.setStatus(typing ? "typing" : null);
  };

  return { StreamPresence: StreamPresence, typingText: typingText, TYPING_IDLE_MS: TYPING_IDLE_MS };
});
