/*
 * Kestrel Support — agent inbox: reply suggestions. Beside the reply box, the three help-center
 * passages most relevant to what the customer last wrote (GET …/suggestions: the bot's own search
 * on the live index), each with its article's link and an Insert button that puts the passage and
 * the link into the reply at the caret. Loaded when a conversation opens and again when the
 * customer writes. Text only (textContent); links only http(s) or relative.
 */

import { $, clear, h, makeLink, str } from "./dom.js";
import { AuthError, api, convPath } from "./api.js";

var PASSAGE_CHARS = 320;
var STATUS = {
  nothing_to_search: "Suggestions appear once the customer has written.",
  no_index: "The help center is not indexed yet.",
};

// The text a suggestion or an article puts into a reply: the passage, then its link.
export function articleText(passage, url) {
  return [str(passage).trim(), str(url)].filter(Boolean).join("\n");
}

export function Suggestions(insert) {
  this.insert = insert; // (text) => void
  this.status = $("suggestions-status");
  this.list = $("suggestions-list");
  this.token = 0;
  this.enabled = true;
}

Suggestions.prototype.reset = function () {
  this.token++;
  clear(this.list);
  this.status.textContent = "";
};

Suggestions.prototype.load = function (conversationId) {
  var token = ++this.token;
  var view = this;
  this.status.textContent = "Looking for help-center passages…";
  return api("GET", convPath(conversationId, "suggestions"))
    .then(function (data) {
      if (token !== view.token) return;
      var items = (Array.isArray(data.suggestions) ? data.suggestions : []).filter(function (s) {
        return s && typeof s === "object" && typeof s.passage === "string";
      });
      view.render(items, STATUS[data.status] || (items.length ? "" : "No help-center passage matches."));
    })
    .catch(function (err) {
      if (err instanceof AuthError || token !== view.token) return;
      view.render([], "Suggestions are not available: " + str(err.message));
    });
};

Suggestions.prototype.render = function (items, status) {
  var view = this;
  clear(this.list);
  this.status.textContent = status || items.length + (items.length === 1 ? " passage" : " passages") + " for the customer's last messages";
  items.forEach(function (s) {
    var title = str(s.title) || str(s.article_id);
    var passage = str(s.passage);
    var button = h("button", {
      type: "button",
      className: "btn btn--small",
      "data-testid": "inbox-suggestion-insert",
      "aria-label": "Insert “" + title + "” into the reply",
      text: "Insert",
    });
    button.disabled = !view.enabled;
    button.addEventListener("click", function () {
      view.insert(articleText(passage, s.url));
    });
    view.list.appendChild(
      h("li", { className: "suggestion", "data-testid": "inbox-suggestion", "data-article-id": str(s.article_id) }, [
        h("h4", { className: "suggestion__title" }, [makeLink(str(s.url), title)]),
        s.section ? h("span", { className: "muted", text: str(s.section) }) : null,
        h("p", {
          className: "suggestion__passage",
          text: passage.length > PASSAGE_CHARS ? passage.slice(0, PASSAGE_CHARS) + "…" : passage,
        }),
        button,
      ])
    );
  });
};

// Insert works only where the agent may write (their own conversation, or a private note).
Suggestions.prototype.setEnabled = function (enabled) {
  this.enabled = enabled;
  var buttons = this.list.querySelectorAll("button");
  for (var i = 0; i < buttons.length; i++) buttons[i].disabled = !enabled;
};
