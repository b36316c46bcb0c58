/*
 * Kestrel Support — agent inbox: DOM and formatting helpers shared by the inbox modules.
 * Untrusted text is only ever written with textContent / text nodes; links only for http(s).
 */

export function $(id) {
  return document.getElementById(id);
}

export function str(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : String(value);
}

export function toSeq(value) {
  var n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

export function h(tag, props, children) {
  var node = document.createElement(tag);
  if (props) {
    Object.keys(props).forEach(function (key) {
      var v = props[key];
      if (v === null || v === undefined || v === false) return;
      if (key === "text") node.textContent = str(v);
      else if (key === "className") node.className = v;
      else node.setAttribute(key, v === true ? "" : String(v));
    });
  }
  if (children) {
    children.forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export function safeHttpUrl(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  var u;
  try {
    u = new URL(value.trim(), location.origin);
  } catch (e) {
    return null;
  }
  return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
}

export function makeLink(url, text) {
  var href = safeHttpUrl(url);
  var node = href ? h("a", { href: href, target: "_blank", rel: "noopener noreferrer" }) : h("span");
  node.textContent = str(text) || str(url);
  return node;
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;

export function appendRichText(parent, text) {
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

export function formatDuration(totalSeconds) {
  var s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return s + "s";
  var m = Math.floor(s / 60);
  var sec = s % 60;
  if (m < 60) return m + "m " + (sec < 10 ? "0" : "") + sec + "s";
  var hr = Math.floor(m / 60);
  var min = m % 60;
  return hr + "h " + (min < 10 ? "0" : "") + min + "m";
}

// The API sends times as Unix seconds (floats); the inbox's own optimistic echo uses an ISO
// string. Date() takes milliseconds, so seconds are scaled here, once.
export function toDate(value) {
  return typeof value === "number" ? new Date(value * 1000) : new Date(value);
}

export function isoTime(value) {
  var d = toDate(value);
  return isNaN(d.getTime()) ? "" : d.toISOString();
}

export function formatTime(value) {
  if (!value) return "";
  var d = toDate(value);
  if (isNaN(d.getTime())) return "";
  var sameDay = new Date().toDateString() === d.toDateString();
  try {
    return sameDay
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  } catch (e) {
    return d.toISOString();
  }
}

export function codePointLength(text) {
  return Array.from(text).length;
}

export function sameId(a, b) {
  return a !== null && a !== undefined && b !== null && b !== undefined && String(a) === String(b);
}

export function cssEscape(value) {
  if (window.CSS && typeof window.CSS.escape === "function") return window.CSS.escape(value);
  return String(value).replace(/[^a-zA-Z0-9_-]/g, function (c) {
    return "\\" + c.charCodeAt(0).toString(16) + " ";
  });
}
