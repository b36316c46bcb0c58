/*
 * Kestrel Support — customer chat widget.
 *
 * Embed with one tag:
 *   <script src="https://HUB/static/widget.js" data-hub="https://HUB" defer></script>
 *
 * Optional attributes on the script tag:
 *   data-hub             hub base URL (default: the origin this script was loaded from)
 *   data-customer-name   logged-in customer's name  (sent as conversation metadata)
 *   data-customer-email  logged-in customer's email (sent as conversation metadata)
 *   data-customer-signature  HMAC-SHA256 of the email with HUB_IDENTITY_SECRET, made by the
 *                        website's server: without it agents see the identity as unverified
 *   data-max-length      max characters per message (default 4000)
 *
 * Plain JavaScript, no dependencies, no build step. Everything lives in a Shadow DOM so the
 * host page's CSS cannot reach it. Untrusted text is only ever written with textContent /
 * text nodes; links are only created for http(s) URLs.
 *
 * Testing/debug API: window.KestrelSupport = { open(), close(), state() }.
 */
(function () {
  "use strict";

  if (window.KestrelSupport && window.KestrelSupport.__kestrelWidget) {
    return; // already loaded on this page
  }

  var STORAGE_KEY = "kestrel-support:v1";
  var DEFAULT_MAX_LENGTH = 4000;
  var TYPING_TIMEOUT_MS = 8000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var HELLO_TIMEOUT_MS = 15000;
  var ERROR_VISIBLE_MS = 15000;
  var CACHE_LIMIT = 100;
  var SENDERS = ["customer", "bot", "agent", "system"];
  var OWNERS = ["bot", "queued", "agent", "resolved"];

  // ------------------------------------------------------------------ configuration

  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll("script[src]");
    for (var ci = candidates.length - 1; ci >= 0; ci--) {
      if (/\/widget\.js(?:[?#]|$)/.test(candidates[ci].src)) {
        script = candidates[ci];
        break;
      }
    }
  }

  function scriptAttr(name) {
    if (!script) return "";
    var value = script.getAttribute(name);
    return typeof value === "string" ? value.trim() : "";
  }

  function resolveHub(value) {
    try {
      if (value) {
        var u = new URL(value, location.href);
        if (u.protocol === "http:" || u.protocol === "https:") {
          return (u.origin + u.pathname).replace(/\/+$/, "");
        }
      }
      if (script && script.src) {
        var s = new URL(script.src, location.href);
        if (s.protocol === "http:" || s.protocol === "https:") return s.origin;
      }
    } catch (e) {
      /* fall through */
    }
    return location.origin;
  }

  var HUB = resolveHub(scriptAttr("data-hub"));
  var WS_URL = HUB.replace(/^http/i, "ws") + "/ws";
  var CUSTOMER_NAME = scriptAttr("data-customer-name");
  var CUSTOMER_EMAIL = scriptAttr("data-customer-email");
  var CUSTOMER_SIGNATURE = scriptAttr("data-customer-signature");
  // Whose conversation the stored one is. On a shared browser, a different (or no) logged-in
  // customer must never get the previous one's conversation: a stored conversation of another
  // identity is dropped and a new one started.
  var IDENTITY = CUSTOMER_EMAIL.toLowerCase();
  var MAX_LENGTH = (function () {
    var n = parseInt(scriptAttr("data-max-length"), 10);
    return n > 0 ? n : DEFAULT_MAX_LENGTH;
  })();

  // ------------------------------------------------------------------ small helpers

  function toSeq(value) {
    var n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    return typeof n === "number" && isFinite(n) && n >= 0 ? Math.floor(n) : null;
  }

  function str(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "string" ? value : String(value);
  }

  function codePointLength(text) {
    return Array.from(text).length; // matches len() on the (Python) hub side
  }

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (e) {
        /* insecure context: fall back below */
      }
    }
    var b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") {
      c.getRandomValues(b);
    } else {
      for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = [];
    for (var j = 0; j < 16; j++) hex.push((b[j] + 0x100).toString(16).slice(1));
    return (
      hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" +
      hex.slice(6, 8).join("") + "-" + hex.slice(8, 10).join("") + "-" +
      hex.slice(10, 16).join("")
    );
  }

  /** Returns a normalised href when `value` is an http(s) URL, otherwise null. */
  function safeHttpUrl(value) {
    if (typeof value !== "string" || !value.trim()) return null;
    var u;
    try {
      // Relative article URLs belong to the hub, not to the embedding page.
      u = new URL(value.trim(), HUB + "/");
    } catch (e) {
      return null;
    }
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  }

  /** createElement with constant attributes; "text" sets textContent. */
  function h(tag, props, children) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var v = props[key];
        if (v === null || v === undefined || v === false) return;
        if (key === "text") el.textContent = str(v);
        else if (key === "className") el.className = v;
        else el.setAttribute(key, v === true ? "" : String(v));
      });
    }
    if (children) {
      children.forEach(function (child) {
        if (child === null || child === undefined) return;
        el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      });
    }
    return el;
  }

  /** An <a> for http(s) URLs, plain text (a <span>) for anything else. */
  function makeLink(url, text, testid) {
    var href = safeHttpUrl(url);
    var el;
    if (href) {
      el = h("a", { href: href, target: "_blank", rel: "noopener noreferrer" });
    } else {
      el = h("span");
    }
    el.textContent = str(text) || str(url);
    if (testid) el.setAttribute("data-testid", testid);
    return el;
  }

  var URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  /** Appends `text` as text nodes, turning bare http(s) URLs into safe links. */
  function appendRichText(parent, text) {
    text = str(text);
    var last = 0;
    var match;
    URL_IN_TEXT.lastIndex = 0;
    while ((match = URL_IN_TEXT.exec(text)) !== null) {
      var raw = match[0].replace(/[.,;:!?)\]}>'"]+$/, "");
      if (!raw) continue;
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var href = safeHttpUrl(raw);
      if (href) {
        var a = h("a", { href: href, target: "_blank", rel: "noopener noreferrer" });
        a.textContent = raw;
        parent.appendChild(a);
      } else {
        parent.appendChild(document.createTextNode(raw));
      }
      last = match.index + raw.length;
      URL_IN_TEXT.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // ------------------------------------------------------------------ persistence

  var memoryFallback = null;

  function loadStore() {
    var raw = null;
    try {
      raw = window.localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      raw = memoryFallback;
    }
    var data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch (e) {
      data = null;
    }
    if (!data || typeof data !== "object") data = {};
    var sameCustomer = (data.identity || "") === IDENTITY;
    var hasConversation =
      sameCustomer && data.token !== null && data.token !== undefined && data.token !== "" &&
      data.conversation_id !== null && data.conversation_id !== undefined;
    return {
      identity: IDENTITY,
      conversation_id: hasConversation ? data.conversation_id : null,
      token: hasConversation ? str(data.token) : null,
      last_seq: hasConversation ? toSeq(data.last_seq) || 0 : 0,
      outbox: sameCustomer && Array.isArray(data.outbox)
        ? data.outbox.filter(function (e) {
            return e && typeof e.client_id === "string" && (e.kind === "message" || e.kind === "button");
          })
        : [],
      messages: hasConversation && Array.isArray(data.messages)
        ? data.messages.filter(function (m) {
            return m && typeof m === "object" && toSeq(m.seq) !== null;
          })
        : [],
      rated: hasConversation && data.rated === true,
    };
  }

  var store = loadStore();

  function saveStore() {
    var raw = JSON.stringify(store);
    try {
      window.localStorage.setItem(STORAGE_KEY, raw);
    } catch (e) {
      // Quota exceeded or storage disabled: drop the transcript cache and retry once.
      try {
        var slim = JSON.stringify(Object.assign({}, store, { messages: [] }));
        window.localStorage.setItem(STORAGE_KEY, slim);
      } catch (e2) {
        memoryFallback = raw;
      }
    }
  }

  function cacheMessage(m) {
    if (m.seq === null) return;
    var list = store.messages;
    for (var i = 0; i < list.length; i++) {
      if (toSeq(list[i].seq) === m.seq) return;
    }
    list.push({
      seq: m.seq,
      sender: m.sender,
      text: m.text,
      buttons: m.buttons,
      article: m.article,
      agent: m.agent,
      client_id: m.client_id,
    });
    list.sort(function (a, b) {
      return toSeq(a.seq) - toSeq(b.seq);
    });
    if (list.length > CACHE_LIMIT) list.splice(0, list.length - CACHE_LIMIT);
  }

  // ------------------------------------------------------------------ runtime state

  var ui = {}; // the widget's DOM nodes, made once by build(); nothing else creates them

  // What the customer sees about the chat. Invariants: view.owner is one of OWNERS and matches
  // view.stateInfo.state (the latest state frame, or { state: "bot" } for a new conversation);
  // view.connection is what the status line says ("open" | "connecting" | "closed").
  var view = {
    isOpen: false,
    connection: "closed",
    owner: "bot",
    stateInfo: { state: "bot" },
    errorTimer: null,
  };

  // The rendered transcript. Invariants: every message node shown is in bySeq (acked, by seq) or
  // renderedByClientId (still pending, by client_id), never both for one message; lastRenderedSeq
  // is the highest seq shown, so a reconnect asks the hub for everything after it; bootSeq is that
  // seq when the page loaded (messages up to it came from the localStorage cache).
  var transcript = {
    lastRenderedSeq: store.messages.length ? store.last_seq : 0,
    bootSeq: 0,
    renderedBySeq: new Map(),
    renderedByClientId: new Map(),
    messageData: new WeakMap(),
  };
  transcript.bootSeq = transcript.lastRenderedSeq;

  // "Bot/agent is typing…": shown while active[sender], hidden by timers[sender] after TYPING_TIMEOUT_MS.
  var typing = { active: { bot: false, agent: false }, timers: { bot: null, agent: null } };

  // The rating form. Invariants: score is 0 until a star is picked; askCes comes from the hub's
  // ready frame (the effort question is shown only then); pending holds a rating to send once the
  // socket is open.
  var rating = { pending: null, score: 0, askCes: false, cesScore: 0 };

  // The socket. Invariant: inflight lists the client_ids sent on the current socket and not yet
  // acked (resent, in order, after a reconnect); gen changes whenever the socket is replaced, so a
  // late event of an old socket is ignored.
  var conn = {
    ws: null,
    inflight: [],
    gen: 0,
    ready: false,
    attempt: 0,
    timer: null,
    helloTimer: null,
    creating: false,
    started: false,
    everOpen: false,
    resets: 0,
  };

  // ------------------------------------------------------------------ styles

  var CSS = [
    ":host { all: initial; }",
    ".kw, .kw * { box-sizing: border-box; }",
    ".kw { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;",
    "  font-size: 15px; line-height: 1.45; color: #1b1f24; font-weight: 400; font-style: normal;",
    "  letter-spacing: normal; text-align: left; text-transform: none; -webkit-font-smoothing: antialiased; }",
    "[hidden] { display: none !important; }",
    ".sr-only { position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;",
    "  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    "button, textarea { font: inherit; color: inherit; letter-spacing: inherit; text-transform: none; margin: 0; }",
    "button { -webkit-appearance: none; appearance: none; }",
    ":focus { outline: none; }",
    ":focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }",
    "a { color: #0b5e4f; text-decoration: underline; }",
    "a:hover { text-decoration-thickness: 2px; }",

    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;",
    "  border-radius: 50%; border: 0; padding: 0; background: #0b5e4f; color: #fff; cursor: pointer;",
    "  box-shadow: 0 6px 20px rgba(0,0,0,.25); display: flex; align-items: center; justify-content: center; }",
    ".launcher:hover { background: #094b3f; }",
    ".launcher svg { width: 28px; height: 28px; fill: currentColor; display: block; }",
    ".badge { position: absolute; top: 4px; right: 4px; width: 14px; height: 14px; border-radius: 50%;",
    "  background: #e11d48; border: 2px solid #fff; }",

    ".panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483001; width: 360px; height: 600px;",
    "  max-height: calc(100vh - 108px); display: flex; flex-direction: column; background: #fff;",
    "  border: 1px solid #d0d7de; border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(0,0,0,.28); }",
    ".header { display: flex; align-items: flex-start; gap: 8px; padding: 12px 10px 10px 16px; background: #0b5e4f; color: #fff; flex: none; }",
    ".header__text { min-width: 0; flex: 1 1 auto; }",
    ".title { margin: 0; font-size: 17px; font-weight: 650; line-height: 1.3; color: #fff; }",
    ".status { margin: 2px 0 0; font-size: 13px; line-height: 1.35; color: #e6f4f1; overflow-wrap: anywhere; }",
    ".close { flex: none; width: 36px; height: 36px; border: 0; border-radius: 8px; background: transparent;",
    "  color: #fff; font-size: 24px; line-height: 1; cursor: pointer; padding: 0; }",
    ".close:hover { background: rgba(255,255,255,.16); }",
    ".close:focus-visible { outline-color: #fff; }",

    ".log { flex: 1 1 auto; min-height: 0; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;",
    "  gap: 10px; background: #f6f7f9; overscroll-behavior: contain; }",
    ".empty { margin: auto 0; text-align: center; color: #57606a; font-size: 14px; }",
    ".msg { max-width: 86%; display: flex; flex-direction: column; gap: 3px; align-self: flex-start; align-items: flex-start; }",
    ".msg__who { font-size: 12px; font-weight: 600; color: #4b5563; padding: 0 4px; }",
    ".msg__text { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; padding: 8px 11px;",
    "  border-radius: 12px; max-width: 100%; }",
    ".msg--customer { align-self: flex-end; align-items: flex-end; }",
    ".msg--customer .msg__text { background: #0b5e4f; color: #fff; border-bottom-right-radius: 4px; }",
    ".msg--customer .msg__text a { color: #fff; }",
    ".msg--pending .msg__text { opacity: .8; }",
    ".msg--failed .msg__text { background: #7a2e24; }",
    ".msg--bot .msg__text { background: #fff; border: 1px solid #d8dee4; border-bottom-left-radius: 4px; }",
    ".msg--agent .msg__who { color: #1e40af; }",
    ".msg--agent .msg__text { background: #eaf1ff; border: 1px solid #b9cdf5; border-left: 4px solid #1d4ed8;",
    "  border-bottom-left-radius: 4px; }",
    ".msg--system { align-self: center; align-items: center; max-width: 96%; }",
    ".msg--system .msg__text { background: transparent; color: #4b5563; font-size: 13px; font-style: italic;",
    "  text-align: center; padding: 2px 8px; }",
    ".msg__source { font-size: 12.5px; color: #4b5563; padding: 0 4px; overflow-wrap: anywhere; }",
    ".msg__status { font-size: 11.5px; color: #57606a; padding: 0 4px; display: flex; gap: 6px; align-items: center; }",
    ".msg--failed .msg__status { color: #b42318; }",
    ".retry { border: 0; background: transparent; color: #0b5e4f; text-decoration: underline; cursor: pointer;",
    "  padding: 0 2px; font-size: 12px; }",
    ".chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }",
    ".chip { border: 1px solid #0b5e4f; background: #fff; color: #0b5e4f; border-radius: 999px; padding: 6px 12px;",
    "  font-size: 14px; line-height: 1.3; cursor: pointer; text-align: left; }",
    ".chip:hover { background: #e3f1ed; }",
    ".chip:disabled { opacity: .55; cursor: default; }",

    ".typing { flex: none; padding: 4px 16px 6px; font-size: 13px; color: #4b5563; background: #f6f7f9;",
    "  display: flex; align-items: center; gap: 6px; }",
    ".dots { display: inline-flex; gap: 3px; }",
    ".dots span { width: 5px; height: 5px; border-radius: 50%; background: #6b7280; animation: kw-blink 1.2s infinite ease-in-out; }",
    ".dots span:nth-child(2) { animation-delay: .2s; }",
    ".dots span:nth-child(3) { animation-delay: .4s; }",
    "@keyframes kw-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }",

    ".rating { flex: none; border-top: 1px solid #e5e7eb; padding: 10px 14px 12px; background: #fff; }",
    ".rating__title { margin: 0 0 6px; font-size: 14px; font-weight: 600; }",
    ".stars { display: flex; gap: 6px; }",
    ".star { width: 38px; height: 38px; border: 1px solid #d0d7de; border-radius: 8px; background: #fff;",
    "  color: #8c959f; font-size: 21px; line-height: 1; cursor: pointer; padding: 0; }",
    ".star:hover { border-color: #b45309; }",
    ".star.on { color: #b45309; background: #fff5e1; border-color: #e9a23b; }",
    ".rating__label { display: block; margin: 8px 0 4px; font-size: 13px; color: #374151; }",
    ".rating__comment { display: block; width: 100%; min-height: 48px; resize: vertical; border: 1px solid #c4ccd4;",
    "  border-radius: 8px; padding: 6px 8px; font-size: 14px; background: #fff; color: #1b1f24; }",
    ".rating__send { margin-top: 8px; height: 34px; padding: 0 14px; border: 0; border-radius: 8px; background: #0b5e4f;",
    "  color: #fff; font-weight: 600; cursor: pointer; }",
    ".rating__send:disabled { background: #9ca3af; cursor: not-allowed; }",
    ".rating__thanks { margin: 0; font-size: 14px; color: #0b5e4f; font-weight: 600; }",
    ".ces { display: flex; gap: 6px; }",
    ".ces__option { width: 38px; height: 34px; border: 1px solid #d0d7de; border-radius: 8px; background: #fff;",
    "  color: #374151; font-size: 15px; cursor: pointer; padding: 0; }",
    ".ces__option.on { color: #0b5e4f; background: #e6f4f1; border-color: #0b5e4f; font-weight: 700; }",
    ".ces__scale { margin: 4px 0 0; font-size: 12px; color: #57606a; }",

    ".mail { flex: none; margin: 0; padding: 4px 12px; font-size: 12px; color: #57606a; border-top: 1px solid #e5e7eb; }",
    ".mail__toggle { border: 0; background: none; padding: 2px 0; color: #0b5e4f; font-size: 12px; cursor: pointer;",
    "  text-decoration: underline; }",
    ".mail__form { display: flex; gap: 6px; margin: 4px 0; }",
    ".mail__input { flex: 1; min-width: 0; padding: 5px 8px; border: 1px solid #aab4be; border-radius: 8px;",
    "  font-size: 13px; background: #fff; color: #1b1f24; }",
    ".mail__send { border: 0; border-radius: 8px; padding: 5px 10px; background: #0b5e4f; color: #fff; font-size: 13px;",
    "  cursor: pointer; }",
    ".mail__note { margin: 2px 0; }",
    ".error { flex: none; margin: 0; padding: 8px 14px; background: #fef3f2; color: #b42318; font-size: 13px;",
    "  border-top: 1px solid #fecdca; overflow-wrap: anywhere; }",
    ".error.error--info { background: #ecfdf3; color: #05603a; border-top-color: #abefc6; }",
    ".privacy { flex: none; margin: 0; padding: 6px 14px; font-size: 12px; color: #4b5563; background: #f6f7f9;",
    "  border-top: 1px solid #e5e7eb; display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: center; }",
    ".privacy a { color: #0b5e4f; }",
    ".privacy__delete { border: 0; background: none; padding: 0; color: #b42318; font-size: 12px; text-decoration: underline;",
    "  cursor: pointer; }",
    ".privacy__delete:disabled { color: #9ca3af; cursor: wait; }",
    ".composer { flex: none; display: grid; grid-template-columns: 1fr auto; gap: 6px 8px; padding: 10px 12px;",
    "  border-top: 1px solid #e5e7eb; background: #fff; align-items: end; margin: 0; }",
    ".input { display: block; width: 100%; min-height: 42px; max-height: 140px; resize: none; overflow-y: auto;",
    "  padding: 9px 10px; border: 1px solid #aab4be; border-radius: 10px; background: #fff; color: #1b1f24;",
    "  font-size: 15px; line-height: 1.4; }",
    ".input::placeholder { color: #6b7280; }",
    ".send { height: 42px; padding: 0 16px; border: 0; border-radius: 10px; background: #0b5e4f; color: #fff;",
    "  font-weight: 600; cursor: pointer; }",
    ".send:hover { background: #094b3f; }",
    ".send:disabled { background: #9ca3af; cursor: not-allowed; }",
    ".counter { grid-column: 1 / -1; margin: 0; font-size: 12px; color: #4b5563; text-align: right; }",
    ".counter.over { color: #b42318; font-weight: 600; }",

    "@media (max-width: 480px) {",
    "  .panel { top: 0; left: 0; right: 0; bottom: 0; width: auto; height: auto; max-height: none;",
    "    border-radius: 0; border: 0; }",
    "  .msg { max-width: 92%; }",
    "  .input { font-size: 16px; }",
    "}",
    "@media (prefers-reduced-motion: reduce) { .dots span { animation: none; opacity: .7; } }",
  ].join("\n");

  function applyStyles(shadow) {
    try {
      if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (e) {
      /* fall back to a <style> element */
    }
    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  // ------------------------------------------------------------------ DOM construction

  function chatIcon() {
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(NS, "path");
    path.setAttribute("fill-rule", "evenodd");
    path.setAttribute(
      "d",
      "M5 3h14a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3h-8.6L5.7 21.6A1 1 0 0 1 4 20.8V18a3 3 0 0 1-2-2.8V6a3 3 0 0 1 3-3zm2 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"
    );
    svg.appendChild(path);
    return svg;
  }

  function buildUi() {
    var host = document.createElement("div");
    host.id = "kestrel-support-widget";
    // The page's own CSS can still match the host element itself; neutralise that.
    try {
      host.style.setProperty("all", "initial", "important");
    } catch (e) {
      /* ignore */
    }
    var shadow = host.attachShadow({ mode: "open" });
    applyStyles(shadow);

    var rootEl = h("div", { className: "kw" });

    ui.badge = h("span", { className: "badge", "aria-hidden": "true", hidden: true });
    ui.launcher = h(
      "button",
      {
        type: "button",
        className: "launcher",
        "data-testid": "kestrel-launcher",
        "aria-label": "Open support chat",
        "aria-expanded": "false",
        "aria-controls": "kw-panel",
        title: "Chat with Kestrel Support",
      },
      [chatIcon(), ui.badge]
    );

    // Header
    ui.status = h("p", {
      className: "status",
      id: "kw-status",
      "data-testid": "kestrel-status",
      role: "status",
      "aria-live": "polite",
    });
    ui.close = h("button", {
      type: "button",
      className: "close",
      "aria-label": "Close support chat",
      title: "Close",
      text: "\u00d7",
    });
    var header = h("div", { className: "header" }, [
      h("div", { className: "header__text" }, [
        h("h2", { className: "title", id: "kw-title", text: "Kestrel Support" }),
        ui.status,
      ]),
      ui.close,
    ]);

    // Message log
    ui.empty = h("p", {
      className: "empty",
      text: "Hi! Ask us anything about your Kestrel account, payments or cards.",
    });
    ui.log = h(
      "div",
      {
        className: "log",
        role: "log",
        "aria-live": "polite",
        "aria-relevant": "additions",
        "aria-label": "Conversation with Kestrel Support",
        tabindex: "0",
      },
      [ui.empty]
    );

    // Typing indicator
    ui.typingText = h("span", { text: "" });
    ui.typing = h(
      "div",
      { className: "typing", hidden: true },
      [h("span", { className: "dots", "aria-hidden": "true" }, [h("span"), h("span"), h("span")]), ui.typingText]
    );

    // Rating (CSAT)
    ui.stars = [];
    var starsRow = h("div", { className: "stars" });
    for (var n = 1; n <= 5; n++) {
      var star = h("button", {
        type: "button",
        className: "star",
        "data-testid": "kestrel-rating-" + n,
        "data-score": String(n),
        "aria-label": n + (n === 1 ? " star" : " stars") + " out of 5",
        "aria-pressed": "false",
        text: "\u2605",
      });
      ui.stars.push(star);
      starsRow.appendChild(star);
    }
    ui.ratingComment = h("textarea", {
      className: "rating__comment",
      id: "kw-rating-comment",
      "data-testid": "kestrel-rating-comment",
      rows: "2",
      maxlength: "2000",
    });
    ui.ratingSend = h("button", {
      type: "button",
      className: "rating__send",
      "data-testid": "kestrel-rating-send",
      disabled: true,
      text: "Send",
    });
    // Customer effort (CES): optional, shown only when the hub asks for it
    var CES_LABELS = ["very difficult", "difficult", "neither easy nor difficult", "easy", "very easy"];
    ui.cesButtons = [];
    var cesRow = h("div", { className: "ces", role: "group", "aria-labelledby": "kw-ces-title" });
    for (var c = 1; c <= 5; c++) {
      var cesButton = h("button", {
        type: "button",
        className: "ces__option",
        "data-testid": "kestrel-ces-" + c,
        "data-ces": String(c),
        "aria-label": c + " out of 5, " + CES_LABELS[c - 1],
        "aria-pressed": "false",
        title: CES_LABELS[c - 1],
        text: String(c),
      });
      ui.cesButtons.push(cesButton);
      cesRow.appendChild(cesButton);
    }
    ui.ces = h("div", { className: "ces-block", "data-testid": "kestrel-ces", hidden: true }, [
      h("p", { className: "rating__label", id: "kw-ces-title", text: "How easy was it to get help today? (optional)" }),
      cesRow,
      h("p", { className: "ces__scale", text: "1 = very difficult, 5 = very easy" }),
    ]);
    ui.ratingForm = h("div", { className: "rating__form" }, [
      h("p", { className: "rating__title", id: "kw-rating-title", text: "How did we do? Rate this conversation" }),
      starsRow,
      ui.ces,
      h("label", { className: "rating__label", for: "kw-rating-comment", text: "Comment (optional)" }),
      ui.ratingComment,
      ui.ratingSend,
    ]);
    ui.ratingThanks = h("p", {
      className: "rating__thanks",
      "data-testid": "kestrel-rating-thanks",
      tabindex: "-1",
      hidden: true,
      text: "Thank you for your feedback!",
    });
    ui.rating = h(
      "div",
      { className: "rating", role: "group", "aria-labelledby": "kw-rating-title", hidden: true },
      [ui.ratingForm, ui.ratingThanks]
    );

    // Error line
    ui.error = h("p", { className: "error", "data-testid": "kestrel-error", role: "alert", hidden: true });

    // What is kept (before the first message), then "Delete this conversation" (once it is not
    // waiting for or with a person)
    ui.privacyNote = h("span", {
      "data-testid": "kestrel-privacy-note",
      text: "We keep chats for a while to help you. Never share card numbers or passwords here.",
    });
    ui.deleteButton = h("button", {
      type: "button",
      className: "privacy__delete",
      "data-testid": "kestrel-delete",
      hidden: true,
      text: "Delete this conversation",
    });
    ui.privacy = h("p", { className: "privacy", "data-testid": "kestrel-privacy" }, [
      ui.privacyNote,
      makeLink(HUB + "/privacy", "How we handle your data", "kestrel-privacy-link"),
      ui.deleteButton,
    ]);
    // "Email me this conversation": the hub mails the transcript (handoff/mail); the address is
    // the one typed here, else the one the customer gave before.
    ui.mailToggle = h("button", {
      type: "button",
      className: "mail__toggle",
      "data-testid": "kestrel-email-transcript",
      text: "Email me this conversation",
    });
    ui.mailInput = h("input", {
      type: "email",
      className: "mail__input",
      "data-testid": "kestrel-email-address",
      placeholder: "you@example.com",
      "aria-label": "Your email address",
      autocomplete: "email",
    });
    if (CUSTOMER_EMAIL) ui.mailInput.value = CUSTOMER_EMAIL;
    ui.mailSend = h("button", { type: "submit", className: "mail__send", "data-testid": "kestrel-email-send", text: "Send" });
    ui.mailForm = h("form", { className: "mail__form", novalidate: true, hidden: true }, [ui.mailInput, ui.mailSend]);
    ui.mailNote = h("p", { className: "mail__note", "data-testid": "kestrel-email-note", role: "status", hidden: true });
    ui.mail = h("div", { className: "mail" }, [ui.mailToggle, ui.mailForm, ui.mailNote]);

    // Composer
    ui.input = h("textarea", {
      className: "input",
      id: "kw-input",
      "data-testid": "kestrel-input",
      rows: "1",
      placeholder: "Type your message\u2026",
      autocomplete: "off",
      "aria-describedby": "kw-hint kw-counter",
    });
    ui.send = h("button", { type: "submit", className: "send", "data-testid": "kestrel-send", text: "Send" });
    ui.counter = h("p", { className: "counter", id: "kw-counter", hidden: true });
    ui.form = h("form", { className: "composer", novalidate: true }, [
      h("label", { className: "sr-only", for: "kw-input", text: "Type your message" }),
      ui.input,
      ui.send,
      h("span", { className: "sr-only", id: "kw-hint", text: "Press Enter to send, Shift+Enter for a new line." }),
      ui.counter,
    ]);

    ui.panel = h(
      "section",
      {
        className: "panel",
        id: "kw-panel",
        "data-testid": "kestrel-panel",
        role: "dialog",
        "aria-modal": "false",
        "aria-labelledby": "kw-title",
        "aria-describedby": "kw-status",
        hidden: true,
      },
      [header, ui.log, ui.typing, ui.rating, ui.error, ui.mail, ui.privacy, ui.form]
    );

    rootEl.appendChild(ui.panel);
    rootEl.appendChild(ui.launcher);
    shadow.appendChild(rootEl);
    ui.host = host;
    ui.shadow = shadow;

    // Events
    ui.launcher.addEventListener("click", function () {
      if (view.isOpen) closePanel();
      else openPanel();
    });
    ui.close.addEventListener("click", function () {
      closePanel();
    });
    ui.panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" || ev.key === "Esc") {
        ev.preventDefault();
        ev.stopPropagation();
        closePanel();
      }
    });
    ui.form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener("input", function () {
      updateCounter();
      autoGrow();
    });
    ui.stars.forEach(function (btn) {
      btn.addEventListener("click", function () {
        setRatingScore(Number(btn.getAttribute("data-score")));
      });
    });
    ui.ratingSend.addEventListener("click", submitRating);
    ui.deleteButton.addEventListener("click", deleteConversation);
    ui.mailToggle.addEventListener("click", function () {
      ui.mailForm.hidden = !ui.mailForm.hidden;
      if (!ui.mailForm.hidden) ui.mailInput.focus();
    });
    ui.mailForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var address = ui.mailInput.value.trim();
      var frame = { type: "email_transcript" };
      if (address) frame.email = address;
      if (!sendFrame(frame)) showError("You're offline; try again once the chat has reconnected.");
    });
    ui.cesButtons.forEach(function (btn) {
      btn.addEventListener("click", function () {
        var n = Number(btn.getAttribute("data-ces"));
        setCesScore(rating.cesScore === n ? 0 : n); // a second click takes the answer back
      });
    });

    document.body.appendChild(host);
  }

  // ------------------------------------------------------------------ panel

  function openPanel() {
    if (!ui.panel) return;
    ensureStarted();
    if (view.isOpen) {
      focusInput();
      return;
    }
    view.isOpen = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.badge.hidden = true;
    scrollToBottom(true);
    focusInput();
  }

  function closePanel() {
    if (!ui.panel || !view.isOpen) return;
    var hadFocus = ui.shadow.activeElement && ui.panel.contains(ui.shadow.activeElement);
    view.isOpen = false;
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    if (hadFocus) ui.launcher.focus();
  }

  function focusInput() {
    // After the panel becomes visible.
    setTimeout(function () {
      if (view.isOpen && ui.input) {
        try {
          ui.input.focus({ preventScroll: true });
        } catch (e) {
          ui.input.focus();
        }
      }
    }, 0);
  }

  function isNearBottom() {
    var log = ui.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom(force) {
    if (!ui.log) return;
    if (force || isNearBottom()) ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ------------------------------------------------------------------ status line

  function setConnection(value) {
    view.connection = value;
    renderStatus();
  }

  function minutesFromSeconds(seconds) {
    var s = Number(seconds);
    if (!isFinite(s) || s < 0) return null;
    return Math.max(1, Math.ceil(s / 60));
  }

  function statusText() {
    if (conn.started && view.connection !== "open") {
      return conn.everOpen || conn.attempt > 0 ? "Reconnecting\u2026" : "Connecting\u2026";
    }
    var info = view.stateInfo || {};
    switch (view.owner) {
      case "queued": {
        if (info.opens) {
          // Outside business hours: when a person is back, in words ("tomorrow at 9:00").
          var place = toSeq(info.position);
          return "Our team is back " + str(info.opens) + (place ? " \u2014 you are number " + place + " in the queue" : "");
        }
        if (info.agents_online === 0) {
          return "No agents are online right now \u2014 a person will follow up by email";
        }
        var position = toSeq(info.position);
        var minutes = minutesFromSeconds(info.eta_seconds === null ? NaN : info.eta_seconds);
        var text = "Waiting for a person";
        if (position) text += " \u2014 you are number " + position + " in the queue";
        if (minutes !== null) text += (position ? ", about " : " \u2014 about ") + minutes + " min";
        return text;
      }
      case "agent": {
        var name = info.agent && info.agent.name ? str(info.agent.name) : "";
        return (name || "An agent") + " joined the chat";
      }
      case "resolved":
        return "Conversation resolved";
      default:
        return "Bot";
    }
  }

  function renderStatus() {
    if (!ui.status) return;
    var text = statusText();
    if (ui.status.textContent !== text) ui.status.textContent = text;
  }

  // ------------------------------------------------------------------ errors

  var DEFAULT_ERRORS = {
    too_long: "Your message is too long (max " + MAX_LENGTH + " characters).",
    rate_limited: "You're sending messages too quickly. Please wait a moment and try again.",
    malformed: "That message couldn't be sent. Please try again.",
    unauthorized: "Your previous chat session expired, so we started a new conversation.",
  };
  var DELETED_TEXT = "Your conversation was deleted: nothing of it is kept.";
  var DELETE_FAILED_TEXT = "We couldn't delete it just now; please try again in a minute.";

  function showError(text, info) {
    if (!ui.error) return;
    ui.error.classList.toggle("error--info", info === true);
    ui.error.textContent = str(text) || "Something went wrong. Please try again.";
    ui.error.hidden = false;
    clearTimeout(view.errorTimer);
    view.errorTimer = setTimeout(clearError, ERROR_VISIBLE_MS);
  }

  function clearError() {
    clearTimeout(view.errorTimer);
    if (ui.error) {
      ui.error.hidden = true;
      ui.error.textContent = "";
    }
  }

  // ------------------------------------------------------------------ messages

  function normalizeMessage(frame) {
    var sender = SENDERS.indexOf(frame.sender) >= 0 ? frame.sender : "system";
    var buttons = Array.isArray(frame.buttons)
      ? frame.buttons
          .filter(function (b) {
            return b && typeof b === "object" && (b.title !== undefined || b.payload !== undefined);
          })
          .map(function (b) {
            return { title: str(b.title !== undefined && b.title !== null ? b.title : b.payload), payload: b.payload };
          })
      : [];
    var article =
      frame.article && typeof frame.article === "object"
        ? { id: frame.article.id, title: str(frame.article.title), url: str(frame.article.url) }
        : null;
    var agent = frame.agent && typeof frame.agent === "object" ? { name: str(frame.agent.name) } : null;
    return {
      seq: toSeq(frame.seq),
      sender: sender,
      text: str(frame.text),
      buttons: buttons,
      article: article,
      agent: agent,
      client_id: typeof frame.client_id === "string" && frame.client_id ? frame.client_id : null,
    };
  }

  function senderLabel(m) {
    switch (m.sender) {
      case "customer":
        return "You";
      case "bot":
        return "Kestrel Bot";
      case "agent":
        return (m.agent && m.agent.name) || "Support agent";
      default:
        return "";
    }
  }

  function buildMessageEl(m) {
    var el = h("div", {
      className: "msg msg--" + m.sender,
      "data-testid": "kestrel-message",
      "data-sender": m.sender,
    });
    var label = senderLabel(m);
    if (label) {
      el.appendChild(
        h("div", {
          className: "msg__who" + (m.sender === "customer" ? " sr-only" : ""),
          text: label,
        })
      );
    }
    var body = h("div", { className: "msg__text" });
    appendRichText(body, m.text);
    el.appendChild(body);

    if (m.article && (m.article.title || m.article.url)) {
      el.appendChild(
        h("div", { className: "msg__source" }, [
          "Source: ",
          makeLink(m.article.url, m.article.title || m.article.url, "kestrel-source"),
        ])
      );
    }
    if (m.sender === "customer") {
      el.appendChild(h("div", { className: "msg__status" }));
    }
    transcript.messageData.set(el, { sender: m.sender, buttons: m.buttons || [] });
    return el;
  }

  function setCustomerStatus(el, status) {
    var statusEl = el.querySelector(".msg__status");
    if (!statusEl) return;
    while (statusEl.firstChild) statusEl.removeChild(statusEl.firstChild);
    el.classList.toggle("msg--pending", status === "sending");
    el.classList.toggle("msg--failed", status === "failed");
    if (status === "sending") {
      statusEl.appendChild(h("span", { text: "Sending\u2026" }));
    } else if (status === "sent") {
      statusEl.appendChild(h("span", { text: "Sent" }));
    } else if (status === "failed") {
      statusEl.appendChild(h("span", { text: "Not sent" }));
      var retry = h("button", { type: "button", className: "retry", text: "Retry" });
      var cid = el.getAttribute("data-client-id");
      retry.addEventListener("click", function () {
        retryOutgoing(cid);
      });
      statusEl.appendChild(retry);
    }
  }

  function insertSorted(el, seq) {
    if (ui.empty && ui.empty.parentNode) ui.empty.parentNode.removeChild(ui.empty);
    if (seq !== null) {
      var children = ui.log.children;
      for (var i = 0; i < children.length; i++) {
        var s = toSeq(children[i].getAttribute("data-seq"));
        if (s !== null && s > seq) {
          ui.log.insertBefore(el, children[i]);
          return;
        }
      }
    }
    ui.log.appendChild(el);
  }

  function confirmCustomer(el, clientId, seq) {
    var existing = transcript.renderedBySeq.get(seq);
    if (existing && existing !== el) {
      // Rendered twice somehow: keep the one that already has the seq.
      if (el.parentNode) el.parentNode.removeChild(el);
      transcript.renderedByClientId.set(clientId, existing);
      setCustomerStatus(existing, "sent");
      return existing;
    }
    el.setAttribute("data-seq", String(seq));
    transcript.renderedBySeq.set(seq, el);
    setCustomerStatus(el, "sent");
    return el;
  }

  function removeFromOutbox(clientId) {
    for (var i = 0; i < store.outbox.length; i++) {
      if (store.outbox[i].client_id === clientId) {
        return store.outbox.splice(i, 1)[0];
      }
    }
    return null;
  }

  function findOutbox(clientId) {
    for (var i = 0; i < store.outbox.length; i++) {
      if (store.outbox[i].client_id === clientId) return store.outbox[i];
    }
    return null;
  }

  function removeInflight(clientId) {
    var idx = conn.inflight.indexOf(clientId);
    if (idx >= 0) conn.inflight.splice(idx, 1);
  }

  /** Renders a message from the hub (live or replayed). Returns its element. */
  function renderMessage(m) {
    if (m.seq !== null && transcript.renderedBySeq.has(m.seq)) return transcript.renderedBySeq.get(m.seq);
    if (m.sender === "customer" && m.client_id && transcript.renderedByClientId.has(m.client_id)) {
      var mine = transcript.renderedByClientId.get(m.client_id);
      if (m.seq !== null) {
        mine = confirmCustomer(mine, m.client_id, m.seq);
        showStoredText(mine, m.text);
        removeFromOutbox(m.client_id);
        removeInflight(m.client_id);
      }
      return mine;
    }
    var el = buildMessageEl(m);
    if (m.seq !== null) {
      el.setAttribute("data-seq", String(m.seq));
      transcript.renderedBySeq.set(m.seq, el);
    }
    if (m.client_id) {
      el.setAttribute("data-client-id", m.client_id);
      transcript.renderedByClientId.set(m.client_id, el);
    }
    if (m.sender === "customer") {
      setCustomerStatus(el, m.seq !== null ? "sent" : "sending");
      if (m.client_id) removeFromOutbox(m.client_id);
    }
    insertSorted(el, m.seq);
    return el;
  }

  /** The hub may store less than was typed (a card number it hid): show what it kept. */
  function showStoredText(el, text) {
    var body = el.querySelector(".msg__text");
    if (!body || typeof text !== "string" || body.textContent === text) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    appendRichText(body, text);
  }

  function renderPending(entry) {
    var el = buildMessageEl({
      seq: null,
      sender: "customer",
      text: entry.kind === "button" ? str(entry.title) : str(entry.text),
      buttons: [],
      article: null,
      agent: null,
      client_id: entry.client_id,
    });
    el.setAttribute("data-client-id", entry.client_id);
    transcript.renderedByClientId.set(entry.client_id, el);
    setCustomerStatus(el, entry.failed ? "failed" : "sending");
    insertSorted(el, null);
    return el;
  }

  /** The privacy line: what is kept until the customer writes, then the delete button while no
   *  person is on the conversation. */
  function refreshPrivacy() {
    if (!ui.log) return;
    var wrote = !!ui.log.querySelector('[data-sender="customer"]');
    ui.privacyNote.hidden = wrote;
    ui.deleteButton.hidden = !(wrote && store.token && view.owner !== "queued" && view.owner !== "agent");
    if (ui.deleteButton.hidden) disarmDelete();
  }

  /** How long the hub keeps a chat (its answer to "start a conversation"), said before the first message. */
  function showRetention(days) {
    if (!ui.privacyNote || typeof days !== "number" || days < 0) return;
    ui.privacyNote.textContent =
      (days === 0
        ? "We keep this chat until you delete it."
        : "We keep this chat for " + days + " days after your last message.") +
      " Never share card numbers or passwords here.";
  }

  // A first click arms the button ("Delete it for good?"), the second deletes.
  var deletion = { armed: false, busy: false };

  function disarmDelete() {
    deletion.armed = false;
    if (!deletion.busy) ui.deleteButton.textContent = "Delete this conversation";
  }

  function deleteConversation() {
    var token = store.token;
    if (!token || deletion.busy) return;
    if (!deletion.armed) {
      deletion.armed = true;
      ui.deleteButton.textContent = "Delete it for good? Click again";
      return;
    }
    deletion.busy = true;
    ui.deleteButton.disabled = true;
    postToHub("/api/conversations/delete", { token: token })
      .then(function (result) {
        if (result.res.ok) {
          if (store.token === token) resetConversation(false);
          showError(DELETED_TEXT, true);
        } else {
          var error = result.data && result.data.error;
          showError(error && typeof error.message === "string" ? error.message : DELETE_FAILED_TEXT);
        }
      })
      .catch(function () {
        showError(DELETE_FAILED_TEXT);
      })
      .then(function () {
        deletion.busy = false;
        ui.deleteButton.disabled = false;
        disarmDelete();
        refreshPrivacy();
      });
  }

  /** Quick-reply chips only under the latest bot message, and only until the customer answers. */
  function refreshChips() {
    refreshPrivacy();
    if (!ui.log) return;
    var els = ui.log.querySelectorAll('[data-testid="kestrel-message"]');
    var target = null;
    for (var i = els.length - 1; i >= 0; i--) {
      var sender = els[i].getAttribute("data-sender");
      if (sender === "customer") break;
      if (sender === "bot" || sender === "agent") {
        target = els[i];
        break;
      }
    }
    for (var j = 0; j < els.length; j++) {
      if (els[j] === target) continue;
      var old = els[j].querySelector(".chips");
      if (old) old.parentNode.removeChild(old);
    }
    if (!target || target.querySelector(".chips")) return;
    var data = transcript.messageData.get(target);
    if (!data || !data.buttons || !data.buttons.length) return;
    var chips = h("div", { className: "chips", role: "group", "aria-label": "Suggested replies" });
    data.buttons.forEach(function (b) {
      var chip = h("button", {
        type: "button",
        className: "chip",
        "data-testid": "kestrel-quick-reply",
        text: b.title,
      });
      chip.addEventListener("click", function () {
        if (chip.disabled) return;
        var all = chips.querySelectorAll("button");
        for (var k = 0; k < all.length; k++) all[k].disabled = true;
        sendOutgoing({ kind: "button", payload: b.payload === undefined ? b.title : b.payload, title: b.title });
        focusInput();
      });
      chips.appendChild(chip);
    });
    target.appendChild(chips);
  }

  function clearRenderedMessages() {
    while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    ui.log.appendChild(ui.empty);
    transcript.renderedBySeq.clear();
    transcript.renderedByClientId.clear();
  }

  // ------------------------------------------------------------------ typing indicator

  function showTyping(sender) {
    if (sender !== "bot" && sender !== "agent") return;
    typing.active[sender] = true;
    clearTimeout(typing.timers[sender]);
    typing.timers[sender] = setTimeout(function () {
      hideTyping(sender);
    }, TYPING_TIMEOUT_MS);
    renderTyping();
  }

  function hideTyping(sender) {
    if (sender !== "bot" && sender !== "agent") return;
    typing.active[sender] = false;
    clearTimeout(typing.timers[sender]);
    typing.timers[sender] = null;
    renderTyping();
  }

  function renderTyping() {
    if (!ui.typing) return;
    var text = typing.active.agent ? "Agent is typing\u2026" : typing.active.bot ? "Kestrel is typing\u2026" : "";
    ui.typingText.textContent = text;
    ui.typing.hidden = !text;
    if (text) scrollToBottom(false);
  }

  // ------------------------------------------------------------------ rating (CSAT)

  function showRatingIfNeeded() {
    if (store.rated) {
      return;
    }
    if (!ui.rating.hidden && ui.ratingThanks.hidden) return; // already showing the form
    rating.score = 0;
    ui.ratingComment.value = "";
    updateStars();
    setCesScore(0);
    ui.ces.hidden = !rating.askCes;
    ui.ratingForm.hidden = false;
    ui.ratingThanks.hidden = true;
    ui.rating.hidden = false;
  }

  function hideRating() {
    ui.rating.hidden = true;
  }

  function setRatingScore(n) {
    if (!(n >= 1 && n <= 5)) return;
    rating.score = n;
    updateStars();
  }

  function updateStars() {
    ui.stars.forEach(function (btn, i) {
      var n = i + 1;
      btn.classList.toggle("on", n <= rating.score);
      btn.setAttribute("aria-pressed", n === rating.score ? "true" : "false");
    });
    ui.ratingSend.disabled = rating.score < 1;
  }

  function setCesScore(n) {
    rating.cesScore = n >= 1 && n <= 5 ? n : 0;
    ui.cesButtons.forEach(function (btn, i) {
      btn.classList.toggle("on", i + 1 === rating.cesScore);
      btn.setAttribute("aria-pressed", i + 1 === rating.cesScore ? "true" : "false");
    });
  }

  function submitRating() {
    if (rating.score < 1) return;
    var frame = { type: "rating", score: rating.score, comment: ui.ratingComment.value.trim() };
    if (rating.askCes && rating.cesScore >= 1) frame.ces = rating.cesScore;
    if (!(conn.ready && sendFrame(frame))) rating.pending = frame;
    store.rated = true;
    saveStore();
    ui.ratingForm.hidden = true;
    ui.ratingThanks.hidden = false;
    try {
      ui.ratingThanks.focus();
    } catch (e) {
      /* ignore */
    }
  }

  // ------------------------------------------------------------------ composer

  function updateCounter() {
    var len = codePointLength(ui.input.value);
    var threshold = Math.max(MAX_LENGTH - Math.max(100, Math.floor(MAX_LENGTH * 0.1)), 0);
    var over = len > MAX_LENGTH;
    if (len >= threshold && len > 0) {
      ui.counter.hidden = false;
      ui.counter.textContent = over
        ? len + " / " + MAX_LENGTH + " \u2014 " + (len - MAX_LENGTH) + " over the limit"
        : len + " / " + MAX_LENGTH;
      ui.counter.classList.toggle("over", over);
    } else {
      ui.counter.hidden = true;
      ui.counter.textContent = "";
      ui.counter.classList.remove("over");
    }
    ui.send.disabled = over;
    if (over) ui.input.setAttribute("aria-invalid", "true");
    else ui.input.removeAttribute("aria-invalid");
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 140) + "px";
  }

  function submitInput() {
    var text = ui.input.value.trim();
    if (!text) return;
    if (codePointLength(text) > MAX_LENGTH) {
      showError(DEFAULT_ERRORS.too_long);
      return;
    }
    ui.input.value = "";
    updateCounter();
    autoGrow();
    sendOutgoing({ kind: "message", text: text });
  }

  function sendOutgoing(entry) {
    entry.client_id = uuid();
    entry.created_at = Date.now();
    store.outbox.push(entry);
    saveStore();
    clearError();
    renderPending(entry);
    refreshChips();
    scrollToBottom(true);
    ensureStarted();
    if (conn.ready) transmit(entry);
  }

  function retryOutgoing(clientId) {
    var entry = findOutbox(clientId);
    var el = transcript.renderedByClientId.get(clientId);
    if (!entry || !el) return;
    entry.failed = false;
    saveStore();
    setCustomerStatus(el, "sending");
    clearError();
    ensureStarted();
    if (conn.ready) transmit(entry);
  }

  function outgoingFrame(entry) {
    if (entry.kind === "button") {
      return { type: "button", client_id: entry.client_id, payload: entry.payload, title: str(entry.title) };
    }
    return { type: "message", client_id: entry.client_id, text: str(entry.text) };
  }

  function transmit(entry) {
    if (sendFrame(outgoingFrame(entry))) {
      removeInflight(entry.client_id);
      conn.inflight.push(entry.client_id);
    }
  }

  function markFailed(clientId) {
    var entry = findOutbox(clientId);
    if (entry) {
      entry.failed = true;
      saveStore();
    }
    removeInflight(clientId);
    var el = transcript.renderedByClientId.get(clientId);
    if (el && !el.hasAttribute("data-seq")) setCustomerStatus(el, "failed");
  }

  // ------------------------------------------------------------------ view.connection

  function sendFrame(frame) {
    var ws = conn.ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function ensureStarted() {
    if (conn.started) return;
    conn.started = true;
    renderStatus();
    if (store.token) connect();
    else createConversation();
  }

  function clearReconnectTimer() {
    if (conn.timer) {
      clearTimeout(conn.timer);
      conn.timer = null;
    }
  }

  function closeSocket() {
    var ws = conn.ws;
    conn.ws = null;
    clearTimeout(conn.helloTimer);
    if (ws) {
      try {
        ws.close(1000, "client closing");
      } catch (e) {
        /* ignore */
      }
    }
  }

  function scheduleReconnect() {
    if (conn.timer) return;
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, conn.attempt));
    var delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    conn.attempt += 1;
    renderStatus();
    conn.timer = setTimeout(function () {
      conn.timer = null;
      if (store.token) connect();
      else createConversation();
    }, delay);
  }

  /** POST JSON to the hub without cookies; resolves to { res, data } (data null when the answer
   *  is not JSON), rejects when the network fails. */
  function postToHub(path, body) {
    var request;
    try {
      request = fetch(HUB + path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      return Promise.reject(e);
    }
    return request.then(function (res) {
      return res
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          return { res: res, data: data };
        });
    });
  }

  function createConversation() {
    if (conn.creating) return;
    clearReconnectTimer();
    conn.creating = true;
    setConnection("connecting");
    var metadata = {};
    if (CUSTOMER_NAME) metadata.name = CUSTOMER_NAME;
    if (CUSTOMER_EMAIL) metadata.email = CUSTOMER_EMAIL;
    if (CUSTOMER_EMAIL && CUSTOMER_SIGNATURE) metadata.signature = CUSTOMER_SIGNATURE;
    postToHub("/api/conversations", { metadata: metadata })
      .then(function (r) {
        conn.creating = false;
        var data = r.data;
        if (!r.res.ok || !data || data.token === undefined || data.token === null || data.conversation_id === undefined || data.conversation_id === null) {
          throw new Error("could not create conversation (HTTP " + r.res.status + ")");
        }
        store.conversation_id = data.conversation_id;
        store.token = str(data.token);
        showRetention(data.retention_days);
        store.last_seq = 0;
        store.messages = [];
        store.rated = false;
        transcript.lastRenderedSeq = 0;
        saveStore();
        connect();
      })
      .catch(function () {
        conn.creating = false;
        setConnection("closed");
        scheduleReconnect();
      });
  }

  function connect() {
    clearReconnectTimer();
    if (!store.token) {
      createConversation();
      return;
    }
    var gen = ++conn.gen;
    closeSocket();
    conn.ready = false;
    conn.inflight = [];
    setConnection("connecting");
    var ws;
    try {
      ws = new WebSocket(WS_URL);
    } catch (e) {
      setConnection("closed");
      scheduleReconnect();
      return;
    }
    conn.ws = ws;

    ws.onopen = function () {
      if (gen !== conn.gen) return;
      try {
        ws.send(JSON.stringify({ type: "hello", token: store.token, after_seq: transcript.lastRenderedSeq }));
      } catch (e) {
        /* onclose will follow */
      }
      clearTimeout(conn.helloTimer);
      conn.helloTimer = setTimeout(function () {
        if (gen === conn.gen && !conn.ready) {
          try {
            ws.close(4000, "hello timeout");
          } catch (e) {
            /* ignore */
          }
        }
      }, HELLO_TIMEOUT_MS);
    };

    ws.onmessage = function (ev) {
      if (gen !== conn.gen) return;
      var frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (!frame || typeof frame !== "object" || Array.isArray(frame)) return;
      try {
        handleFrame(frame);
      } catch (err) {
        if (window.console && console.error) console.error("[kestrel-support] frame handling failed", err);
      }
    };

    ws.onclose = function (ev) {
      if (gen !== conn.gen) return;
      clearTimeout(conn.helloTimer);
      conn.ws = null;
      conn.ready = false;
      conn.inflight = [];
      setConnection("closed");
      if (ev && (ev.code === 4401 || ev.code === 4404)) {
        resetConversation(false);
        return;
      }
      if (ev && ev.code === 4410) {
        // the conversation was deleted (by the customer here, or on request by the company)
        resetConversation(false);
        showError(DELETED_TEXT, true);
        return;
      }
      scheduleReconnect();
    };

    ws.onerror = function () {
      /* a close event always follows */
    };
  }

  function resetConversation(announce) {
    conn.gen++;
    closeSocket();
    clearReconnectTimer();
    conn.ready = false;
    conn.inflight = [];
    store.conversation_id = null;
    store.token = null;
    store.last_seq = 0;
    store.messages = [];
    store.rated = false;
    // Unsent messages follow the customer into the new conversation; failed ones don't.
    store.outbox = store.outbox.filter(function (entry) {
      return !entry.failed;
    });
    saveStore();
    transcript.lastRenderedSeq = 0;
    transcript.bootSeq = 0;
    view.owner = "bot";
    view.stateInfo = { state: "bot" };
    hideTyping("bot");
    hideTyping("agent");
    hideRating();
    clearRenderedMessages();
    store.outbox.forEach(renderPending);
    refreshChips();
    setConnection("closed");
    if (announce) showError(DEFAULT_ERRORS.unauthorized);
    conn.resets += 1;
    if (conn.resets > 1) scheduleReconnect();
    else createConversation();
  }

  // ------------------------------------------------------------------ incoming frames

  function handleFrame(frame) {
    switch (frame.type) {
      case "ready":
        onReady(frame);
        break;
      case "ack":
        onAck(frame);
        break;
      case "message":
        onMessage(frame);
        break;
      case "state":
        onState(frame);
        break;
      case "typing":
        showTyping(frame.sender === "agent" ? "agent" : frame.sender === "bot" ? "bot" : null);
        break;
      case "error":
        onError(frame);
        break;
      case "transcript_sent":
        onTranscriptSent(frame);
        break;
      default:
        break; // unknown frame types are ignored on purpose
    }
  }

  function onTranscriptSent(frame) {
    if (!ui.mailNote) return;
    ui.mailNote.textContent =
      typeof frame.email === "string" && frame.email
        ? "We're emailing this conversation to " + frame.email + "."
        : "We couldn't email this conversation: type your email address and press Send.";
    ui.mailNote.hidden = false;
    ui.mailForm.hidden = !!frame.email;
  }

  function onReady(frame) {
    clearTimeout(conn.helloTimer);
    var limit = frame.limits && Number(frame.limits.max_message_chars);
    if (limit > 0) MAX_LENGTH = limit; // the hub's own limit beats the script tag's guess
    conn.ready = true;
    conn.attempt = 0;
    conn.resets = 0;
    conn.everOpen = true;
    if (frame.conversation_id !== undefined && frame.conversation_id !== null) {
      store.conversation_id = frame.conversation_id;
      saveStore();
    }
    rating.askCes = frame.ask_ces === true; // CES
    if (ui.ces && ui.ratingThanks.hidden) ui.ces.hidden = !rating.askCes;
    var s = OWNERS.indexOf(frame.state) >= 0 ? frame.state : null;
    if (s) applyOwner(s, view.stateInfo && view.stateInfo.state === s ? view.stateInfo : { state: s });
    setConnection("open");
    // Resend everything the hub has not acknowledged yet (same client_id: the hub dedupes).
    conn.inflight = [];
    store.outbox.forEach(function (entry) {
      if (!entry.failed) transmit(entry);
    });
    if (rating.pending && sendFrame(rating.pending)) rating.pending = null;
  }

  function onAck(frame) {
    var clientId = typeof frame.client_id === "string" ? frame.client_id : null;
    if (!clientId) return;
    var seq = toSeq(frame.seq);
    removeInflight(clientId);
    var entry = removeFromOutbox(clientId);
    var el = transcript.renderedByClientId.get(clientId);
    if (seq !== null) {
      if (el) {
        el = confirmCustomer(el, clientId, seq);
      } else if (entry && !transcript.renderedBySeq.has(seq)) {
        el = renderMessage({
          seq: seq,
          sender: "customer",
          text: entry.kind === "button" ? str(entry.title) : str(entry.text),
          buttons: [],
          article: null,
          agent: null,
          client_id: clientId,
        });
      }
      if (entry) {
        cacheMessage({
          seq: seq,
          sender: "customer",
          text: entry.kind === "button" ? str(entry.title) : str(entry.text),
          buttons: [],
          article: null,
          agent: null,
          client_id: clientId,
        });
      }
    } else if (el) {
      setCustomerStatus(el, "sent");
    }
    saveStore();
  }

  function onMessage(frame) {
    var m = normalizeMessage(frame);
    if (m.sender === "bot" || m.sender === "agent") hideTyping(m.sender);
    var wasNearBottom = ui.log ? isNearBottom() : true;
    var known = m.seq !== null && transcript.renderedBySeq.has(m.seq);
    renderMessage(m);
    if (m.seq !== null) {
      if (m.seq > transcript.lastRenderedSeq) transcript.lastRenderedSeq = m.seq;
      store.last_seq = transcript.lastRenderedSeq;
      cacheMessage(m);
      saveStore();
    }
    refreshChips();
    if (wasNearBottom || m.sender === "customer") scrollToBottom(true);
    if (!known && !view.isOpen && m.sender !== "customer" && (m.seq === null || m.seq > transcript.bootSeq)) {
      ui.badge.hidden = false;
    }
  }

  function applyOwner(s, info) {
    view.owner = s;
    view.stateInfo = info;
    if (s === "queued" || s === "agent") {
      if (store.rated) {
        store.rated = false;
        saveStore();
      }
      hideRating();
    } else if (s === "resolved") {
      hideTyping("agent");
      showRatingIfNeeded();
    }
    refreshPrivacy();
    renderStatus();
  }

  function onState(frame) {
    var s = OWNERS.indexOf(frame.state) >= 0 ? frame.state : null;
    if (!s) return;
    applyOwner(s, {
      state: s,
      reason: frame.reason === undefined ? null : frame.reason,
      position: frame.position === undefined ? null : frame.position,
      eta_seconds: frame.eta_seconds === undefined ? null : frame.eta_seconds,
      opens: typeof frame.opens === "string" ? frame.opens : null,
      agents_online: typeof frame.agents_online === "number" ? frame.agents_online : null,
      agent: frame.agent && typeof frame.agent === "object" ? { name: str(frame.agent.name) } : null,
    });
  }

  function onError(frame) {
    var code = str(frame.code);
    if (code === "unauthorized" || code === "not_found" || code === "conversation_not_found") {
      resetConversation(true);
      return;
    }
    var message = typeof frame.message === "string" && frame.message.trim() ? frame.message : DEFAULT_ERRORS[code];
    showError(message);
    var clientId = typeof frame.client_id === "string" && frame.client_id ? frame.client_id : null;
    if (!clientId && (code === "too_long" || code === "rate_limited") && conn.inflight.length) {
      clientId = conn.inflight[0]; // the hub answers frames in order: the oldest unacked one failed
    }
    if (clientId && findOutbox(clientId)) markFailed(clientId);
  }

  // ------------------------------------------------------------------ a link from an email

  // An agent's reply to a customer who was away is emailed with a link to the website's page
  // plus "#kestrel-resume=<signed reference>" (handoff/mail/links.py). A fragment never reaches
  // a server, and the widget takes it out of the address bar at once, then exchanges it for a
  // fresh key to that one conversation (POST /api/conversations/resume). The link expires; the
  // key the widget keeps is new, stored like any other.
  var RESUME_PREFIX = "kestrel-resume=";

  function takeResumeLink() {
    var hash = location.hash || "";
    var at = hash.indexOf(RESUME_PREFIX);
    if (at < 0) return null;
    var link = hash.slice(at + RESUME_PREFIX.length).split("&")[0];
    try {
      history.replaceState(null, "", location.pathname + location.search);
    } catch (e) {
      /* the link stays in the address bar; it still works only until it expires */
    }
    return /^[0-9a-f]{32}\.[0-9]{1,12}\.[0-9a-f]{32}$/.test(link) ? link : "malformed";
  }

  function switchToConversation(conversationId, token) {
    conn.gen++;
    closeSocket();
    clearReconnectTimer();
    conn.ready = false;
    conn.inflight = [];
    store.conversation_id = conversationId;
    store.token = token;
    store.last_seq = 0;
    store.messages = [];
    store.rated = false;
    store.outbox = [];
    saveStore();
    transcript.lastRenderedSeq = 0;
    transcript.bootSeq = 0;
    view.owner = "bot";
    view.stateInfo = { state: "bot" };
    hideTyping("bot");
    hideTyping("agent");
    hideRating();
    clearRenderedMessages();
    refreshChips();
    connect();
  }

  function resumeFromLink(link) {
    setConnection("connecting");
    postToHub("/api/conversations/resume", { link: link })
      .then(function (r) {
        var data = r.data;
        if (!r.res.ok || !data || !data.token || !data.conversation_id) {
          var message = data && data.error && typeof data.error.message === "string" ? data.error.message : "";
          throw new Error(message || "The link from your email could not be opened; you can write to us here.");
        }
        switchToConversation(str(data.conversation_id), str(data.token));
      })
      .catch(function (e) {
        showError(e && e.message ? e.message : "The link from your email could not be opened; you can write to us here.");
        if (store.token) connect();
        else createConversation();
      });
  }

  // ------------------------------------------------------------------ boot

  function boot() {
    if (!document.body) return;
    buildUi();
    store.messages.forEach(function (cached) {
      renderMessage(normalizeMessage(cached));
    });
    store.outbox.forEach(function (entry) {
      if (!transcript.renderedByClientId.has(entry.client_id)) renderPending(entry);
    });
    refreshChips();
    updateCounter();
    renderStatus();

    window.addEventListener("online", function () {
      if (conn.timer) {
        clearReconnectTimer();
        conn.attempt = 0;
        if (store.token) connect();
        else createConversation();
      }
    });

    var resumeLink = takeResumeLink();
    if (resumeLink) {
      // Opened from an email: show that conversation, in an open panel.
      conn.started = true;
      openPanel();
      resumeFromLink(resumeLink);
      return;
    }
    // A returning customer: reconnect straight away so agent replies arrive while the panel is closed.
    if (store.token) ensureStarted();
  }

  var api = {
    open: function () {
      openPanel();
    },
    close: function () {
      closePanel();
    },
    state: function () {
      return {
        conversation_id: store.conversation_id,
        last_seq: transcript.lastRenderedSeq,
        connection: view.connection,
        owner: view.owner,
      };
    },
  };
  Object.defineProperty(api, "__kestrelWidget", { value: true });
  window.KestrelSupport = api;

  if (document.body) {
    boot();
  } else {
    document.addEventListener("DOMContentLoaded", boot, { once: true });
  }
})();
