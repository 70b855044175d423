// A small DOM for live.js's unit tests (no jsdom in the repo, and none needed): elements, text,
// comments and fragments; attributes in order; a forgiving HTML parser for innerHTML and <template>;
// simple selectors; bubbling events; a MutationObserver delivered in a microtask; focus, with the
// browser's rule that moving or removing the focused element (or an ancestor) blurs it; inputs and
// textareas with the "dirty value" rule (a typed value survives value-attribute changes).
// Not a test file itself (node --test runs *.test.js only).
"use strict";

const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
const RAW = new Set(["script", "style", "textarea", "title"]);
const ENTITIES = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'", nbsp: "\u00a0" };

function decode(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === "#") return String.fromCodePoint(name[1].toLowerCase() === "x" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
    return name in ENTITIES ? ENTITIES[name] : whole;
  });
}
const escapeText = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");

class Node {
  constructor(doc, nodeType, nodeName) {
    this.ownerDocument = doc;
    this.nodeType = nodeType;
    this.nodeName = nodeName;
    this.parentNode = null;
    this.childNodes = [];
    this._listeners = {};
  }
  get firstChild() { return this.childNodes[0] || null; }
  get lastChild() { return this.childNodes[this.childNodes.length - 1] || null; }
  get nextSibling() { const p = this.parentNode; return p ? p.childNodes[p.childNodes.indexOf(this) + 1] || null : null; }
  get previousSibling() { const p = this.parentNode; return p ? p.childNodes[p.childNodes.indexOf(this) - 1] || null : null; }
  get children() { return this.childNodes.filter((n) => n.nodeType === 1); }
  get firstElementChild() { return this.children[0] || null; }
  get isConnected() { let n = this; while (n.parentNode) n = n.parentNode; return n === this.ownerDocument; }
  contains(other) { for (let n = other; n; n = n.parentNode) if (n === this) return true; return false; }
  get textContent() { return this.childNodes.map((c) => (c.nodeType === 8 ? "" : c.textContent)).join(""); }
  set textContent(v) {
    this.childNodes.slice().forEach((c) => this.removeChild(c));
    if (String(v) !== "") this.appendChild(this.ownerDocument.createTextNode(String(v)));
  }
  _detach(node) {
    const old = node.parentNode;
    if (!old) return;
    this.ownerDocument._blurIfInside(node);
    old.childNodes.splice(old.childNodes.indexOf(node), 1);
    node.parentNode = null;
    this.ownerDocument._record(old, { type: "childList", addedNodes: [], removedNodes: [node] });
  }
  insertBefore(node, before) {
    if (node.nodeType === 11) {
      node.childNodes.slice().forEach((c) => this.insertBefore(c, before));
      return node;
    }
    if (before && before.parentNode !== this) throw new Error("insertBefore: reference is not a child");
    if (node.contains(this)) throw new Error("HierarchyRequestError");
    this._detach(node);
    const at = before ? this.childNodes.indexOf(before) : this.childNodes.length;
    this.childNodes.splice(at, 0, node);
    node.parentNode = this;
    this.ownerDocument._record(this, { type: "childList", addedNodes: [node], removedNodes: [] });
    return node;
  }
  appendChild(node) { return this.insertBefore(node, null); }
  removeChild(node) {
    if (node.parentNode !== this) throw new Error("removeChild: not a child");
    this._detach(node);
    return node;
  }
  replaceChild(node, old) {
    // One record holding both, as browsers report it.
    if (old.parentNode !== this) throw new Error("replaceChild: not a child");
    this._detach(node);
    this.ownerDocument._blurIfInside(old);
    this.childNodes.splice(this.childNodes.indexOf(old), 1, node);
    old.parentNode = null;
    node.parentNode = this;
    this.ownerDocument._record(this, { type: "childList", addedNodes: [node], removedNodes: [old] });
    return old;
  }
  remove() { if (this.parentNode) this.parentNode.removeChild(this); }
  addEventListener(type, fn) { (this._listeners[type] = this._listeners[type] || []).push(fn); }
  removeEventListener(type, fn) { const l = this._listeners[type] || []; const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); }
  dispatchEvent(event) {
    event.target = event.target || this;
    for (let n = this; n; n = event.bubbles ? n.parentNode : null) {
      (n._listeners[event.type] || []).slice().forEach((fn) => fn.call(n, event));
    }
    return true;
  }
  querySelectorAll(selector) {
    const out = [];
    const walk = (n) => n.childNodes.forEach((c) => { if (c.nodeType === 1) { if (c.matches(selector)) out.push(c); walk(c); } });
    walk(this);
    return out;
  }
  querySelector(selector) { return this.querySelectorAll(selector)[0] || null; }
  get innerHTML() { return this.childNodes.map(serialize).join(""); }
  set innerHTML(html) {
    this.childNodes.slice().forEach((c) => this.removeChild(c));
    parseInto(this.ownerDocument, String(html), this.nodeName === "TEMPLATE" ? this.content : this);
  }
}

class CharacterData extends Node {
  constructor(doc, nodeType, nodeName, value) { super(doc, nodeType, nodeName); this._value = value; }
  get nodeValue() { return this._value; }
  set nodeValue(v) { this._value = String(v); this.ownerDocument._record(this, { type: "characterData" }); }
  get data() { return this._value; }
  get textContent() { return this._value; }
  set textContent(v) { this.nodeValue = v; }
  cloneNode() { return this.nodeType === 3 ? this.ownerDocument.createTextNode(this._value) : this.ownerDocument.createComment(this._value); }
}

/** One simple selector list: tag, #id, .class, [attr], [attr="v"], joined without combinators. */
function matchesOne(el, selector) {
  let rest = selector.trim();
  const tag = /^([a-z][\w-]*|\*)/i.exec(rest);
  if (tag) {
    if (tag[1] !== "*" && el.nodeName !== tag[1].toUpperCase()) return false;
    rest = rest.slice(tag[0].length);
  }
  const re = /^(?:#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=["']?([^"'\]]*)["']?)?\])/;
  while (rest) {
    const m = re.exec(rest);
    if (!m) throw new Error("livedom: selector not supported: " + selector);
    rest = rest.slice(m[0].length);
    if (m[1] && el.getAttribute("id") !== m[1]) return false;
    if (m[2] && !(el.getAttribute("class") || "").split(/\s+/).includes(m[2])) return false;
    if (m[3] && (!el.hasAttribute(m[3]) || (m[4] !== undefined && el.getAttribute(m[3]) !== m[4]))) return false;
  }
  return true;
}

class Element extends Node {
  constructor(doc, tag) {
    super(doc, 1, tag.toUpperCase());
    this.localName = tag.toLowerCase();
    this.attributes = [];
    if (this.localName === "template") this.content = doc.createDocumentFragment();
  }
  get tagName() { return this.nodeName; }
  getAttribute(name) { const a = this.attributes.find((x) => x.name === name); return a ? a.value : null; }
  hasAttribute(name) { return this.attributes.some((x) => x.name === name); }
  setAttribute(name, value) {
    name = String(name).toLowerCase();
    const a = this.attributes.find((x) => x.name === name);
    const oldValue = a ? a.value : null;
    if (a) a.value = String(value);
    else this.attributes.push({ name, value: String(value) });
    this.ownerDocument._record(this, { type: "attributes", attributeName: name, oldValue });
  }
  removeAttribute(name) {
    const i = this.attributes.findIndex((x) => x.name === name);
    if (i < 0) return;
    const oldValue = this.attributes[i].value;
    this.attributes.splice(i, 1);
    this.ownerDocument._record(this, { type: "attributes", attributeName: name, oldValue });
  }
  get id() { return this.getAttribute("id") || ""; }
  get isContentEditable() {
    for (let n = this; n && n.nodeType === 1; n = n.parentNode) {
      const v = n.getAttribute("contenteditable");
      if (v !== null) return v !== "false";
    }
    return false;
  }
  get hidden() { return this.hasAttribute("hidden"); }
  matches(selector) { return selector.split(",").some((s) => matchesOne(this, s)); }
  closest(selector) { for (let n = this; n && n.nodeType === 1; n = n.parentNode) if (n.matches(selector)) return n; return null; }
  get outerHTML() { return serialize(this); }
  cloneNode(deep) {
    const copy = this.ownerDocument.createElement(this.localName);
    copy.attributes = this.attributes.map((a) => ({ ...a }));
    if (deep) this.childNodes.forEach((c) => copy.appendChild(c.cloneNode(true)));
    if (deep && this.content) this.content.childNodes.forEach((c) => copy.content.appendChild(c.cloneNode(true)));
    return copy;
  }
  focus() { if (this.isConnected) this.ownerDocument.activeElement = this; }
  blur() { if (this.ownerDocument.activeElement === this) this.ownerDocument.activeElement = this.ownerDocument.body; }
  // Form fields: the value attribute is the default; typing (setting .value) makes the value dirty.
  get type() { return (this.getAttribute("type") || "text").toLowerCase(); }
  get defaultValue() { return this.localName === "textarea" ? this.textContent : this.getAttribute("value") || ""; }
  get value() { return this._dirty ? this._value : this.defaultValue; }
  set value(v) { this._dirty = true; this._value = String(v); }
  get defaultChecked() { return this.hasAttribute("checked"); }
  get checked() { return this._dirtyChecked ? this._checked : this.defaultChecked; }
  set checked(v) { this._dirtyChecked = true; this._checked = !!v; }
  get options() { return this.querySelectorAll("option"); }
  get defaultSelected() { return this.hasAttribute("selected"); }
  get selected() { return this.defaultSelected; }
}

class Fragment extends Node {
  constructor(doc) { super(doc, 11, "#document-fragment"); }
  cloneNode(deep) { const f = new Fragment(this.ownerDocument); if (deep) this.childNodes.forEach((c) => f.appendChild(c.cloneNode(true))); return f; }
}

function serialize(n) {
  if (n.nodeType === 3) return n.parentNode && RAW.has(n.parentNode.localName) ? n.nodeValue : escapeText(n.nodeValue);
  if (n.nodeType === 8) return "<!--" + n.nodeValue + "-->";
  if (n.nodeType === 11) return n.childNodes.map(serialize).join("");
  const attrs = n.attributes.map((a) => " " + a.name + '="' + escapeAttr(a.value) + '"').join("");
  if (VOID.has(n.localName)) return "<" + n.localName + attrs + ">";
  const inner = n.content ? n.content.childNodes.map(serialize).join("") : n.childNodes.map(serialize).join("");
  return "<" + n.localName + attrs + ">" + inner + "</" + n.localName + ">";
}

function parseInto(doc, html, parent) {
  const stack = [parent];
  const top = () => stack[stack.length - 1];
  const tagRe = /^<([a-zA-Z][\w-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*(\/?)>/;
  const attrRe = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  let i = 0;
  while (i < html.length) {
    if (html.startsWith("<!--", i)) {
      const end = html.indexOf("-->", i + 4);
      top().appendChild(doc.createComment(html.slice(i + 4, end < 0 ? html.length : end)));
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    if (html.startsWith("</", i)) {
      const end = html.indexOf(">", i);
      const name = html.slice(i + 2, end).trim().toLowerCase();
      const at = stack.map((n) => n.localName).lastIndexOf(name);
      if (at > 0) stack.length = at;
      i = end + 1;
      continue;
    }
    const m = html[i] === "<" ? tagRe.exec(html.slice(i)) : null;
    if (m) {
      const name = m[1].toLowerCase();
      const el = doc.createElement(name);
      let a;
      attrRe.lastIndex = 0;
      while ((a = attrRe.exec(m[2]))) {
        if (!el.hasAttribute(a[1].toLowerCase())) el.attributes.push({ name: a[1].toLowerCase(), value: decode(a[2] ?? a[3] ?? a[4] ?? "") });
      }
      top().appendChild(el);
      i += m[0].length;
      if (RAW.has(name)) {
        const end = html.toLowerCase().indexOf("</" + name, i);
        const text = html.slice(i, end < 0 ? html.length : end);
        if (text) el.appendChild(doc.createTextNode(name === "textarea" || name === "title" ? decode(text) : text));
        i = end < 0 ? html.length : html.indexOf(">", end) + 1;
      } else if (!VOID.has(name) && !m[3]) {
        stack.push(name === "template" ? el.content : el);
        if (name === "template") el.content.localName = "template";
      }
      continue;
    }
    const next = html.indexOf("<", i + 1);
    const end = next < 0 ? html.length : next;
    top().appendChild(doc.createTextNode(decode(html.slice(i, end))));
    i = end;
  }
}

class Document extends Node {
  constructor() {
    super(null, 9, "#document");
    this.ownerDocument = this;
    this._observers = [];
    this.readyState = "complete";
    this.documentElement = this.createElement("html");
    this.appendChild(this.documentElement);
    this.body = this.createElement("body");
    this.documentElement.appendChild(this.body);
    this.activeElement = this.body;
  }
  get isConnected() { return true; }
  createElement(tag) { return new Element(this, tag); }
  createTextNode(text) { return new CharacterData(this, 3, "#text", String(text)); }
  createComment(text) { return new CharacterData(this, 8, "#comment", String(text)); }
  createDocumentFragment() { return new Fragment(this); }
  importNode(node, deep) { return node.cloneNode(deep); }
  _blurIfInside(node) { if (this.activeElement && node.contains(this.activeElement)) this.activeElement = this.body; }
  _record(target, record) {
    if (!this._observers.length || !target.isConnected) return;
    this._observers.forEach((o) => o._offer(target, { target, ...record }));
  }
}

class MutationObserver {
  constructor(callback) { this.callback = callback; this.records = []; this.targets = []; }
  observe(target, options) { this.targets.push({ target, options }); const doc = target.ownerDocument; if (!doc._observers.includes(this)) doc._observers.push(this); this.doc = doc; }
  disconnect() { if (this.doc) this.doc._observers = this.doc._observers.filter((o) => o !== this); this.records = []; }
  takeRecords() { const r = this.records; this.records = []; return r; }
  _offer(node, record) {
    const wanted = this.targets.some(({ target, options }) => {
      if (!(node === target || (options.subtree && target.contains(node)))) return false;
      if (record.type === "childList") return !!options.childList;
      if (record.type === "attributes") return !!options.attributes && (!options.attributeFilter || options.attributeFilter.includes(record.attributeName));
      return !!options.characterData;
    });
    if (!wanted) return;
    if (!this.records.length) queueMicrotask(() => { const r = this.takeRecords(); if (r.length) this.callback(r, this); });
    this.records.push(record);
  }
}

class CustomEvent {
  constructor(type, init = {}) { this.type = type; this.detail = init.detail; this.bubbles = !!init.bubbles; this.target = null; }
}

/** A document whose <body> holds `html`; `flush()` lets the MutationObserver deliver. */
function makeDocument(html = "") {
  const doc = new Document();
  doc.body.innerHTML = html;
  return doc;
}
const flush = () => new Promise((resolve) => setImmediate(resolve));

module.exports = { makeDocument, MutationObserver, CustomEvent, flush };
