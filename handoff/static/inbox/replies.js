/*
 * Kestrel Support — agent inbox: saved replies. Typing /shortcut in the reply box opens a list of
 * matching replies (a listbox the textarea controls: ArrowUp/ArrowDown move, Enter or Tab insert,
 * Escape closes); the chosen reply replaces the /shortcut with its body, its variables filled.
 * Help-center articles whose title matches the words after the slash are listed under the saved
 * replies ("Article"): choosing one inserts its first passage and its link (GET /api/agent/articles).
 * Replies are text: inserted into the textarea's value, never rendered as HTML.
 */

import { clear, h, str } from "./dom.js";
import { api } from "./api.js";
import { articleText } from "./suggestions.js";

var ARTICLES_AFTER_MS = 200;
var ARTICLE_MIN_CHARS = 2;

// The variables a saved reply may hold, and what fills them on insert.
export function fillVariables(body, values) {
  return str(body).replace(/\{(customer_name|agent_name)\}/g, function (_, name) {
    return str(values[name]);
  });
}

// The "/query" just before the caret (at the start or after a space), or null.
export function shortcutAt(text, caret) {
  var m = /(^|\s)\/([a-z0-9-]*)$/i.exec(str(text).slice(0, caret));
  return m ? { start: caret - m[2].length - 1, query: m[2].toLowerCase() } : null;
}

export function ReplyPicker(textarea, list, variables, onInsert) {
  this.textarea = textarea;
  this.list = list;
  this.variables = variables; // () => { customer_name, agent_name }
  this.onInsert = onInsert;
  this.replies = [];
  this.articles = { query: null, items: [] }; // the articles found for one query
  this.articleTimer = null;
  this.matches = [];
  this.active = 0;
  this.token = null;
  var picker = this;
  list.addEventListener("mousedown", function (ev) {
    ev.preventDefault(); // keep the focus in the textarea
    var option = ev.target.closest('[role="option"]');
    if (option) picker.insert(Number(option.getAttribute("data-index")));
  });
  textarea.setAttribute("aria-controls", list.id);
  textarea.setAttribute("aria-autocomplete", "list");
  this.close();
}

ReplyPicker.prototype.load = function () {
  var picker = this;
  return api("GET", "/api/agent/replies")
    .then(function (data) {
      picker.replies = (Array.isArray(data.replies) ? data.replies : []).filter(function (r) {
        return r && typeof r === "object" && typeof r.shortcut === "string" && typeof r.body === "string";
      });
      if (picker.isOpen()) picker.update();
    })
    .catch(function () {
      /* no saved replies until the next load */
    });
};

ReplyPicker.prototype.isOpen = function () {
  return !this.list.hidden;
};

ReplyPicker.prototype.close = function () {
  clearTimeout(this.articleTimer);
  this.list.hidden = true;
  this.matches = [];
  this.token = null;
  this.textarea.setAttribute("aria-expanded", "false");
  this.textarea.removeAttribute("aria-activedescendant");
};

// After every input: open, narrow or close the list for the /shortcut before the caret.
ReplyPicker.prototype.update = function () {
  var wasOpen = this.isOpen();
  this.token = shortcutAt(this.textarea.value, this.textarea.selectionStart);
  if (!this.token) {
    this.close();
    return;
  }
  if (!wasOpen) this.load();
  var query = this.token.query;
  this.matches = this.replies.filter(function (r) {
    return r.shortcut.indexOf(query) === 0 || str(r.title).toLowerCase().indexOf(query) >= 0;
  });
  if (this.articles.query === query) this.matches = this.matches.concat(this.articles.items);
  else this.findArticles(query);
  this.active = Math.min(this.active, Math.max(0, this.matches.length - 1));
  this.render();
};

// Help-center articles for the words after the slash (hyphens are spaces: /card-delivery).
ReplyPicker.prototype.findArticles = function (query) {
  var picker = this;
  clearTimeout(this.articleTimer);
  var words = query.replace(/-/g, " ").trim();
  if (words.length < ARTICLE_MIN_CHARS) return;
  this.articleTimer = setTimeout(function () {
    api("GET", "/api/agent/articles?q=" + encodeURIComponent(words))
      .then(function (data) {
        picker.articles = {
          query: query,
          items: (Array.isArray(data.articles) ? data.articles : [])
            .filter(function (a) {
              return a && typeof a === "object" && typeof a.title === "string";
            })
            .map(function (a) {
              return { article: true, title: a.title, body: articleText(a.passage, a.url) };
            }),
        };
        if (picker.isOpen() && picker.token && picker.token.query === query) picker.update();
      })
      .catch(function () {
        /* saved replies only */
      });
  }, ARTICLES_AFTER_MS);
};

ReplyPicker.prototype.render = function () {
  var picker = this;
  clear(this.list);
  if (!this.matches.length) {
    this.list.appendChild(h("li", { className: "picker__empty", role: "option", "aria-disabled": "true", text: "No saved reply matches" }));
  }
  this.matches.forEach(function (r, i) {
    picker.list.appendChild(
      h("li", {
        id: picker.list.id + "-" + i,
        className: "picker__option" + (i === picker.active ? " picker__option--active" : ""),
        role: "option",
        "aria-selected": i === picker.active ? "true" : "false",
        "data-index": String(i),
        "data-testid": r.article ? "inbox-picker-article" : "inbox-saved-reply",
      }, [
        h("span", { className: "picker__shortcut", text: r.article ? "Article" : "/" + r.shortcut }),
        " ",
        h("span", { className: "picker__title", text: str(r.title) }),
        h("span", { className: "picker__scope", text: r.article ? "insert the article" : r.shared ? "shared" : "mine" }),
      ])
    );
  });
  this.list.hidden = false;
  this.textarea.setAttribute("aria-expanded", "true");
  if (this.matches.length) this.textarea.setAttribute("aria-activedescendant", this.list.id + "-" + this.active);
  else this.textarea.removeAttribute("aria-activedescendant");
};

// The textarea's keydown, first: true when the picker used the key.
ReplyPicker.prototype.handleKey = function (ev) {
  if (!this.isOpen()) return false;
  if (ev.key === "Escape") {
    this.close();
  } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    if (!this.matches.length) return false;
    var step = ev.key === "ArrowDown" ? 1 : -1;
    this.active = (this.active + step + this.matches.length) % this.matches.length;
    this.render();
  } else if ((ev.key === "Enter" || ev.key === "Tab") && !ev.shiftKey && this.matches.length) {
    this.insert(this.active);
  } else {
    return false;
  }
  ev.preventDefault();
  return true;
};

ReplyPicker.prototype.insert = function (index) {
  var reply = this.matches[index];
  var token = this.token;
  if (!reply || !token) return;
  var text = reply.article ? reply.body : fillVariables(reply.body, this.variables());
  var value = this.textarea.value;
  var end = this.textarea.selectionStart;
  this.textarea.value = value.slice(0, token.start) + text + value.slice(end);
  var caret = token.start + text.length;
  this.textarea.setSelectionRange(caret, caret);
  this.close();
  this.onInsert();
};
