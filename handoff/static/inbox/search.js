/*
 * Kestrel Support — agent inbox: conversation search. The box above the queue searches every
 * conversation (GET /api/agent/search): an email, a name, a transaction reference or words, as
 * the agent types (debounced), narrowed by the filters (state, reason, team, the days it started).
 * While a search is on, its results replace the queue; Escape in the box or "Clear search" brings
 * the queue back. Each result is a button that opens the conversation. Text only (textContent).
 */

import { $, clear, formatTime, h, str } from "./dom.js";
import { AuthError, api } from "./api.js";

var DEBOUNCE_MS = 250;
var MATCHED = { email: "email", name: "name", message: "message", filters: "filters" };

export function ConversationSearch(onOpen, onActive) {
  this.onOpen = onOpen; // (conversationId) => void
  this.onActive = onActive; // (searching: boolean) => void
  this.form = $("search-form");
  this.input = $("search-q");
  this.toggle = $("search-filters-toggle");
  this.filters = $("search-filters");
  this.fields = { state: $("search-state"), reason: $("search-reason"), team: $("search-team"), from: $("search-from"), to: $("search-to") };
  this.section = $("search-results");
  this.title = $("search-results-title");
  this.list = $("search-list");
  this.timer = null;
  this.token = 0;
  this.teamsLoaded = false;
  var search = this;
  this.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    search.run();
  });
  this.input.addEventListener("input", function () {
    search.soon();
  });
  this.input.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      ev.preventDefault();
      search.clear();
    }
  });
  Object.keys(this.fields).forEach(function (key) {
    search.fields[key].addEventListener("change", function () {
      search.run();
    });
  });
  this.toggle.addEventListener("click", function () {
    var open = search.filters.hidden;
    search.filters.hidden = !open;
    search.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      search.loadTeams();
      search.fields.state.focus();
    }
  });
  $("search-clear").addEventListener("click", function () {
    search.clear();
    search.input.focus();
  });
}

ConversationSearch.prototype.params = function () {
  var params = new URLSearchParams();
  var text = this.input.value.trim();
  if (text) params.set("q", text);
  var fields = this.fields;
  Object.keys(fields).forEach(function (key) {
    if (fields[key].value) params.set(key, fields[key].value);
  });
  return params;
};

ConversationSearch.prototype.isActive = function () {
  return this.params().toString() !== "";
};

ConversationSearch.prototype.soon = function () {
  var search = this;
  clearTimeout(this.timer);
  this.timer = setTimeout(function () {
    search.run();
  }, DEBOUNCE_MS);
};

ConversationSearch.prototype.clear = function () {
  clearTimeout(this.timer);
  this.token++;
  this.input.value = "";
  var fields = this.fields;
  Object.keys(fields).forEach(function (key) {
    fields[key].value = "";
  });
  this.section.hidden = true;
  clear(this.list);
  this.onActive(false);
};

ConversationSearch.prototype.loadTeams = function () {
  if (this.teamsLoaded) return;
  var select = this.fields.team;
  var search = this;
  api("GET", "/api/agent/teams")
    .then(function (data) {
      search.teamsLoaded = true;
      (Array.isArray(data.teams) ? data.teams : []).forEach(function (t) {
        if (t && typeof t === "object" && typeof t.id === "number") {
          select.appendChild(h("option", { value: String(t.id), text: str(t.name) }));
        }
      });
    })
    .catch(function () {
      /* the team filter keeps its fixed choices */
    });
};

ConversationSearch.prototype.run = function () {
  clearTimeout(this.timer);
  if (!this.isActive()) {
    this.clear();
    return;
  }
  var token = ++this.token;
  var search = this;
  this.onActive(true);
  this.section.hidden = false;
  this.section.setAttribute("aria-busy", "true");
  api("GET", "/api/agent/search?" + this.params().toString())
    .then(function (data) {
      if (token !== search.token) return;
      search.render(Array.isArray(data.results) ? data.results : [], Number(data.limit) || 25);
    })
    .catch(function (err) {
      if (err instanceof AuthError || token !== search.token) return;
      clear(search.list);
      search.title.textContent = "Search failed: " + str(err.message);
    })
    .then(function () {
      if (token === search.token) search.section.setAttribute("aria-busy", "false");
    });
};

ConversationSearch.prototype.render = function (results, limit) {
  var search = this;
  clear(this.list);
  results = results.filter(function (r) {
    return r && typeof r === "object" && r.conversation_id !== undefined && r.conversation_id !== null;
  });
  this.title.textContent = results.length
    ? results.length + (results.length === 1 ? " conversation found" : " conversations found") +
      (results.length >= limit ? " (the newest " + limit + ")" : "")
    : "No conversation matches";
  results.forEach(function (r) {
    search.list.appendChild(h("li", { className: "queue-list__item" }, [search.resultCard(r)]));
  });
};

ConversationSearch.prototype.resultCard = function (r) {
  var id = String(r.conversation_id);
  var customer = r.customer && typeof r.customer === "object" ? r.customer : {};
  var handoff = r.handoff && typeof r.handoff === "object" ? r.handoff : null;
  var team = handoff && handoff.team && typeof handoff.team === "object" ? handoff.team : null;
  var who = [str(customer.name), str(customer.email)].filter(Boolean).join(" · ") || "Anonymous customer";
  var card = h("button", {
    type: "button",
    className: "card",
    "data-testid": "inbox-search-result",
    "data-conversation-id": id,
    "data-matched": MATCHED[r.matched] || "filters",
  }, [
    h("span", { className: "card__top" }, [
      h("span", { className: "card__reason", text: str(r.state) }),
      handoff && handoff.reason ? h("span", { className: "card__reason", text: str(handoff.reason) }) : null,
      team ? h("span", { className: "card__team", text: str(team.name) }) : null,
    ]),
    h("span", { className: "card__headline", text: who }),
    r.snippet ? h("span", { className: "result__snippet", text: str(r.snippet) }) : null,
    h("span", { className: "card__bottom" }, [
      h("span", { text: "Started " + formatTime(r.created_at) }),
      h("span", { text: "Matched by " + (MATCHED[r.matched] || "filters") }),
    ]),
  ]);
  var search = this;
  card.addEventListener("click", function () {
    search.onOpen(id);
  });
  return card;
};
