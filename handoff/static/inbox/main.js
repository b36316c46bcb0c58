/*
 * Kestrel Support — agent inbox: state, views, the queue, the conversation and the push socket.
 * A native ES module (the inbox is same-origin); helpers in dom.js, the API in api.js.
 *
 * Plain JavaScript, no dependencies. Talks to the hub on the same origin:
 * JSON HTTP API under /api/agent/ (HttpOnly session cookie) and a push WebSocket at
 * /api/agent/ws. All untrusted text is written with textContent / text nodes only.
 */

import {
  $,
  appendRichText,
  clear,
  codePointLength,
  cssEscape,
  formatDuration,
  formatTime,
  h,
  isoTime,
  makeLink,
  safeHttpUrl,
  sameId,
  str,
  toSeq,
} from "./dom.js";
import { ApiError, AuthError, api, convPath, setUnauthorizedHandler } from "./api.js";
import { Notifier } from "./notify.js";
import { ReplyPicker } from "./replies.js";
import { ConversationSearch } from "./search.js";
import { Suggestions } from "./suggestions.js";


var MAX_REPLY_LENGTH = 4000; // until the hub says otherwise (limits in /api/agent/me and the sign-in reply)
var TYPING_SEND_INTERVAL_MS = 2000;
var CUSTOMER_TYPING_MS = 8000;
var BACKOFF_MIN_MS = 500;
var BACKOFF_MAX_MS = 10000;
var SESSION_ENDED = 4401; // the hub closes the socket of a session that ended (agent_sessions.py)
var POLL_MS = 30000;

// ------------------------------------------------------------------ elements & state

var el = {};
[
  "boot", "signin-view", "signin-form", "signin-email", "signin-password", "signin-error", "signin-button",
  "app-view", "agents-online", "connection", "agent-name", "dashboard-link", "signout", "queue", "queue-refresh",
  "queue-filter",
  "conversation", "conv-empty", "conv-view", "conv-title", "conv-meta", "btn-claim", "btn-release",
  "btn-resolve", "conv-notice", "conv-body", "handoff-meta", "summary", "details", "transcript", "load-earlier",
  "customer-typing", "reply-form", "reply", "reply-hint", "reply-send", "reply-label", "mode-reply", "mode-note",
  "btn-transfer", "transfer-form", "transfer-agent", "transfer-note", "transfer-cancel", "transfer-send",
  "transfer-banner", "transfer-banner-title", "transfer-banner-note",
].forEach(function (id) {
  el[id.replace(/-([a-z])/g, function (_, c) { return c.toUpperCase(); })] = $(id);
});

var state = {
  me: null,
  queue: [],
  agentsOnline: null,
  queueFetchedAt: 0,
  queueLoading: null,
  queueAgain: false,
  openId: null,
  conv: null,
  seqs: new Set(),
  // Transcript pages loaded with "Load earlier messages": kept across refreshes of the latest page.
  earlier: [],
  newActivity: new Set(),
  busy: false,
  loadToken: 0,
  lastTypingSent: 0,
  customerTypingTimer: null,
  ws: null,
  wsGen: 0,
  wsAttempt: 0,
  wsTimer: null,
  wsStatus: "closed",
  queueDebounce: null,
  // "reply" (to the customer) or "note" (private: agents only, any conversation)
  mode: "reply",
  // Teams: mine (from the queue's answer) and the queue filter ("", "mine", "none" or a team's id)
  myTeams: [],
  queueFilter: "",
  suggestionsTimer: null,
};

// Saved replies: /shortcut in the reply box (replies.js); {customer_name} and {agent_name} filled on insert.
var picker = new ReplyPicker(
  el.reply,
  $("reply-picker"),
  function () {
    return { customer_name: customerName() || "there", agent_name: (state.me && state.me.name) || "" };
  },
  function () {
    updateControls();
  }
);

function customerName() {
  var data = state.conv || {};
  var conv = data.conversation && typeof data.conversation === "object" ? data.conversation : {};
  var signed = conv.customer && typeof conv.customer === "object" ? conv.customer : {};
  var meta = conv.metadata && typeof conv.metadata === "object" ? conv.metadata : {};
  var item = queueItem(state.openId);
  return str(signed.name) || str(meta.name) || str(item && item.customer && item.customer.name);
}

// Put text into the reply box at the caret (a suggestion, an article), then back to typing.
function insertIntoReply(text) {
  var box = el.reply;
  if (box.disabled) return;
  var start = box.selectionStart, end = box.selectionEnd, value = box.value;
  var before = value.slice(0, start), after = value.slice(end);
  var glue = before && !/\s$/.test(before) ? "\n" : "";
  box.value = before + glue + text + after;
  var caret = (before + glue + text).length;
  box.focus();
  box.setSelectionRange(caret, caret);
  updateControls();
}

// Reply suggestions (suggestions.js): help-center passages for the customer's last messages.
var suggestions = new Suggestions(insertIntoReply);
var SUGGESTIONS_AFTER_MS = 1500;

function loadSuggestionsSoon(id) {
  clearTimeout(state.suggestionsTimer);
  state.suggestionsTimer = setTimeout(function () {
    if (state.me && sameId(state.openId, id)) suggestions.load(id);
  }, SUGGESTIONS_AFTER_MS);
}

// Search (search.js): its results replace the queue (and its filter) while a search is on.
var search = new ConversationSearch(
  function (id) {
    openConversation(id);
  },
  function (searching) {
    el.queue.hidden = searching;
    el.queueFilter.parentNode.hidden = searching;
  }
);

// Notifications (notify.js): a new handoff for my teams or the general queue; a customer's message
// in a conversation I own while the tab is hidden.
var notifier = new Notifier($("notify-live"), $("notify-sound"), $("notify-permission"));

function forMe(item) {
  return !item.team || isMyTeam(item.team);
}

// ------------------------------------------------------------------ views

function showView(name) {
  el.boot.hidden = true;
  el.signinView.hidden = name !== "signin";
  el.appView.hidden = name !== "app";
}

function showSigninError(text) {
  el.signinError.textContent = str(text);
  el.signinError.hidden = !text;
  if (text) el.signinEmail.setAttribute("aria-describedby", "signin-error");
  else el.signinEmail.removeAttribute("aria-describedby");
}

function useLimits(limits) {
  var n = limits && Number(limits.max_message_chars);
  if (n > 0) MAX_REPLY_LENGTH = n;
}

function signedIn(agent) {
  state.me = agent && typeof agent === "object" ? agent : {};
  el.agentName.textContent = str(state.me.name) || str(state.me.email) || "Agent";
  el.dashboardLink.hidden = state.me.role !== "admin"; // the metrics are for admins (README, roles)
  showSigninError("");
  showView("app");
  loadQueue();
  connectWs();
  picker.load();
  var fromHash = conversationFromHash();
  if (fromHash) openConversation(fromHash);
}

function signedOut() {
  var wasSignedIn = !!state.me;
  state.me = null;
  disconnectWs();
  clearTimeout(state.customerTypingTimer);
  state.queue = [];
  state.myTeams = [];
  search.clear();
  clearTimeout(state.suggestionsTimer);
  suggestions.reset();
  notifier.reset();
  state.agentsOnline = null;
  state.openId = null;
  state.conv = null;
  state.seqs = new Set();
  state.earlier = [];
  state.newActivity = new Set();
  state.loadToken++;
  clear(el.queue);
  clear(el.transcript);
  el.convView.hidden = true;
  el.convEmpty.hidden = false;
  el.agentName.textContent = "";
  el.agentsOnline.textContent = "";
  showView("signin");
  if (wasSignedIn) {
    try {
      history.replaceState(null, "", location.pathname + location.search);
    } catch (e) {
      /* ignore */
    }
  }
  el.signinButton.disabled = false;
  setTimeout(function () {
    if (!state.me) el.signinEmail.focus();
  }, 0);
}

// ------------------------------------------------------------------ sign in / out

el.signinForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  var email = el.signinEmail.value.trim();
  var password = el.signinPassword.value;
  if (!email || !password) {
    showSigninError("Enter your email and password.");
    (email ? el.signinPassword : el.signinEmail).focus();
    return;
  }
  showSigninError("");
  el.signinButton.disabled = true;
  api("POST", "/api/agent/login", { email: email, password: password })
    .then(function (data) {
      el.signinPassword.value = "";
      useLimits(data.limits);
      if (data.agent) return data.agent;
      return api("GET", "/api/agent/me").then(function (me) {
        useLimits(me.limits);
        return me.agent;
      });
    })
    .then(function (agent) {
      signedIn(agent);
    })
    .catch(function (err) {
      if (err instanceof AuthError) return;
      showSigninError(
        err.status === 401 ? err.message || "Wrong email or password." : err.message || "Sign-in failed."
      );
      el.signinPassword.focus();
      el.signinPassword.select();
    })
    .then(function () {
      el.signinButton.disabled = false;
    });
});

el.signout.addEventListener("click", function () {
  el.signout.disabled = true;
  api("POST", "/api/agent/logout")
    .catch(function () {
      /* signing out locally anyway */
    })
    .then(function () {
      el.signout.disabled = false;
      if (state.me) signedOut();
    });
});

// ------------------------------------------------------------------ queue

function loadQueue() {
  if (!state.me) return Promise.resolve();
  if (state.queueLoading) {
    state.queueAgain = true;
    return state.queueLoading;
  }
  el.queue.setAttribute("aria-busy", "true");
  var filter = state.queueFilter;
  state.queueLoading = api("GET", "/api/agent/queue" + (filter ? "?team=" + encodeURIComponent(filter) : ""))
    .then(function (data) {
      state.myTeams = (Array.isArray(data.my_teams) ? data.my_teams : []).filter(function (t) {
        return t && typeof t === "object" && typeof t.id === "number";
      });
      renderQueueFilter();
      state.queue = Array.isArray(data.items) ? data.items.filter(function (i) {
        return i && typeof i === "object" && i.conversation_id !== undefined && i.conversation_id !== null;
      }) : [];
      state.agentsOnline = typeof data.agents_online === "number" ? data.agents_online : null;
      state.queueFetchedAt = Date.now();
      if (!filter) notifier.queueLoaded(state.queue, forMe); // a filtered queue is not the whole picture
      renderQueue();
      renderAgentsOnline();
    })
    .catch(function (err) {
      if (err instanceof AuthError) return;
      setConnectionText("Couldn't load the queue: " + err.message);
    })
    .then(function () {
      state.queueLoading = null;
      el.queue.setAttribute("aria-busy", "false");
      if (state.queueAgain) {
        state.queueAgain = false;
        loadQueue();
      }
    });
  return state.queueLoading;
}

function isMyTeam(team) {
  return !!team && state.myTeams.some(function (t) {
    return sameId(t.id, team.id);
  });
}

// The filter's fixed choices, then one per team of mine (rebuilt only when my teams change).
function renderQueueFilter() {
  var select = el.queueFilter;
  var wanted = state.myTeams.map(function (t) { return String(t.id); }).join(",");
  if (select.getAttribute("data-teams") === wanted) return;
  select.setAttribute("data-teams", wanted);
  while (select.options.length > 3) select.remove(3);
  state.myTeams.forEach(function (t) {
    select.appendChild(h("option", { value: String(t.id), text: "Team: " + str(t.name) }));
  });
  select.value = state.queueFilter;
  if (select.value !== state.queueFilter) select.value = "";
}

el.queueFilter.addEventListener("change", function () {
  state.queueFilter = el.queueFilter.value;
  loadQueue();
});

function loadQueueSoon() {
  clearTimeout(state.queueDebounce);
  state.queueDebounce = setTimeout(loadQueue, 150);
}

function renderAgentsOnline() {
  var n = state.agentsOnline;
  el.agentsOnline.textContent = n === null ? "" : n + (n === 1 ? " agent online" : " agents online");
}

function waitBase(item) {
  if (typeof item.wait_seconds === "number" && isFinite(item.wait_seconds)) return item.wait_seconds;
  var t = Date.parse(item.queued_at);
  return isNaN(t) ? null : (Date.now() - t) / 1000;
}

function queueItem(id) {
  for (var i = 0; i < state.queue.length; i++) {
    if (sameId(state.queue[i].conversation_id, id)) return state.queue[i];
  }
  return null;
}

// What happened to the email follow-up (handoff/mail): emailed, read (the customer came back or
// opened the link), replied by email, or bounced (the email did not arrive). Text only.
function emailMarkerText(markers) {
  if (!markers || typeof markers !== "object") return "";
  if (markers.bounced_at) return "Email not delivered" + (markers.bounce_reason ? ": " + str(markers.bounce_reason) : "");
  var parts = [];
  if (markers.emailed_at) parts.push("Answered by email " + formatTime(markers.emailed_at));
  if (markers.read_at) parts.push("read " + formatTime(markers.read_at));
  else if (markers.emailed_at) parts.push("not read yet");
  if (markers.replied_at) parts.push("customer replied by email " + formatTime(markers.replied_at));
  return parts.join(" · ");
}

function emailMarker(markers, className) {
  var text = emailMarkerText(markers);
  if (!text) return null;
  return h("span", {
    className: className + (markers.bounced_at ? " " + className + "--bounced" : ""),
    "data-testid": "inbox-email-status",
    "data-bounced": markers.bounced_at ? "true" : "false",
    text: text,
  });
}

function buildCard(item) {
  var id = String(item.conversation_id);
  var priority = ["high", "normal", "low"].indexOf(item.priority) >= 0 ? item.priority : "normal";
  var claimed = item.agent && typeof item.agent === "object" ? item.agent : null;
  var customer = item.customer && typeof item.customer === "object" ? item.customer : null;
  var isOpen = sameId(state.openId, id);
  var hasNew = state.newActivity.has(id);

  var card = h("button", {
    type: "button",
    className: "card card--" + priority + (isOpen ? " card--open" : "") + (hasNew ? " card--new" : ""),
    "data-testid": "inbox-card",
    "data-conversation-id": id,
    "data-state": str(item.state),
    "aria-current": isOpen ? "true" : null,
  });

  var top = h("span", { className: "card__top" }, [
    h("span", { className: "badge badge--" + priority, text: priority }),
    item.reason ? h("span", { className: "card__reason", text: str(item.reason) }) : null,
    item.team && typeof item.team === "object"
      ? h("span", {
          className: "card__team" + (isMyTeam(item.team) ? " card__team--mine" : ""),
          "data-testid": "inbox-card-team",
          text: str(item.team.name) + (isMyTeam(item.team) ? " (your team)" : ""),
        })
      : null,
    hasNew ? h("span", { className: "card__new", text: "New activity" }) : null,
  ]);
  var wait = h("span", {
    className: "card__wait",
    "data-wait-base": waitBase(item) === null ? null : String(waitBase(item)),
    "data-label": item.state === "agent" ? "Open" : "Waiting",
  });
  updateWaitNode(wait);
  var sla = slaNode(item);

  card.appendChild(top);
  card.appendChild(h("span", { className: "card__headline", text: str(item.headline) || "(no headline)" }));
  if (customer && (customer.name || customer.email)) {
    card.appendChild(
      h("span", {
        className: "card__customer",
        text: [str(customer.name), str(customer.email) + (customer.email && customer.verified !== true ? " (unverified)" : "")]
          .filter(Boolean)
          .join(" · "),
      })
    );
  }
  var marker = emailMarker(item.email, "card__email");
  if (marker) card.appendChild(marker);
  if (sla) card.appendChild(sla);
  card.appendChild(
    h("span", { className: "card__bottom" }, [
      wait,
      h("span", {
        className: "card__claimed" + (claimed && isMe(claimed) ? " card__claimed--me" : ""),
        text: claimed
          ? "Claimed by " + (isMe(claimed) ? "you" : str(claimed.name) || "another agent")
          : "Unclaimed",
      }),
    ])
  );
  card.addEventListener("click", function () {
    openConversation(id);
  });
  return card;
}

function renderQueue() {
  var focusedId =
    document.activeElement && document.activeElement.getAttribute
      ? document.activeElement.getAttribute("data-conversation-id")
      : null;
  clear(el.queue);
  // My teams' waiting conversations first; the hub's order (priority, then wait) within each part.
  var waiting = state.queue.filter(function (i) {
    return i.state !== "agent";
  });
  waiting = waiting.filter(function (i) { return isMyTeam(i.team); }).concat(
    waiting.filter(function (i) { return !isMyTeam(i.team); })
  );
  var active = state.queue.filter(function (i) {
    return i.state === "agent";
  });
  [
    { title: "Waiting", items: waiting, empty: "Nobody is waiting. Nice work!" },
    { title: "In progress", items: active, empty: "No conversations in progress." },
  ].forEach(function (group, gi) {
    var headingId = "queue-group-" + gi;
    var section = h("section", { className: "queue-group", "aria-labelledby": headingId }, [
      h("h3", { className: "queue-group__title", id: headingId, text: group.title + " (" + group.items.length + ")" }),
    ]);
    if (!group.items.length) {
      section.appendChild(h("p", { className: "queue-empty muted", text: group.empty }));
    } else {
      var list = h("ul", { className: "queue-list", role: "list" });
      group.items.forEach(function (item) {
        list.appendChild(h("li", { className: "queue-list__item" }, [buildCard(item)]));
      });
      section.appendChild(list);
    }
    el.queue.appendChild(section);
  });
  if (focusedId) {
    var cards = el.queue.querySelectorAll('[data-testid="inbox-card"]');
    for (var i = 0; i < cards.length; i++) {
      if (cards[i].getAttribute("data-conversation-id") === focusedId) {
        cards[i].focus();
        break;
      }
    }
  }
}

function updateWaitNode(node) {
  var base = parseFloat(node.getAttribute("data-wait-base"));
  var label = node.getAttribute("data-label") || "Waiting";
  if (isNaN(base)) {
    node.textContent = "";
    return;
  }
  var elapsed = state.queueFetchedAt ? (Date.now() - state.queueFetchedAt) / 1000 : 0;
  node.textContent = label + " " + formatDuration(base + elapsed);
}

// The first-response target (handoff/sla.py): time left until the first reply is due, counted
// down live; red, and said in words, once breached. `seconds_left` is the hub's at fetch time, so
// the agent's own clock does not matter.
function slaNode(item) {
  var sla = item.sla && typeof item.sla === "object" ? item.sla : null;
  if (!sla || typeof sla.seconds_left !== "number" || !isFinite(sla.seconds_left)) return null;
  var node = h("span", {
    className: "card__sla",
    "data-testid": "inbox-card-sla",
    "data-sla-left": String(sla.seconds_left),
    "data-sla-replied": sla.responded_at ? "true" : "false",
    "data-headline": str(item.headline),
  });
  updateSlaNode(node, false);
  return node;
}

function updateSlaNode(node, announce) {
  var left = parseFloat(node.getAttribute("data-sla-left"));
  var replied = node.getAttribute("data-sla-replied") === "true";
  if (!replied) left -= state.queueFetchedAt ? (Date.now() - state.queueFetchedAt) / 1000 : 0;
  var breached = left < 0;
  var was = node.getAttribute("data-sla");
  var now = replied ? (breached ? "late" : "met") : breached ? "breached" : "running";
  node.setAttribute("data-sla", now);
  node.className = "card__sla card__sla--" + now;
  if (now === "running") node.textContent = "First reply due in " + formatDuration(left);
  else if (now === "breached") node.textContent = "SLA breached: first reply overdue by " + formatDuration(-left);
  else if (now === "late") node.textContent = "First reply came after the target";
  else node.textContent = "First reply within the target";
  if (announce && was === "running" && now === "breached") {
    $("notify-live").textContent = "First-reply target breached: " + (node.getAttribute("data-headline") || "a conversation");
  }
}

setInterval(function () {
  if (!state.me) return;
  var nodes = el.queue.querySelectorAll(".card__wait");
  for (var i = 0; i < nodes.length; i++) updateWaitNode(nodes[i]);
  var slas = el.queue.querySelectorAll(".card__sla");
  for (var j = 0; j < slas.length; j++) updateSlaNode(slas[j], true);
}, 1000);

setInterval(function () {
  if (state.me && state.wsStatus !== "open") loadQueue();
}, POLL_MS);

el.queueRefresh.addEventListener("click", function () {
  loadQueue();
  if (state.openId) refreshConversation();
});

// ------------------------------------------------------------------ conversation

function conversationFromHash() {
  var m = /^#conversation=(.+)$/.exec(location.hash || "");
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch (e) {
    return null;
  }
}

function isMe(agent) {
  var me = state.me;
  if (!agent || !me) return false;
  if (agent.id !== undefined && agent.id !== null && me.id !== undefined && me.id !== null) {
    return String(agent.id) === String(me.id);
  }
  if (agent.email && me.email) return str(agent.email).toLowerCase() === str(me.email).toLowerCase();
  return !!agent.name && agent.name === me.name;
}

function openConversation(id) {
  id = String(id);
  var switching = !sameId(state.openId, id);
  state.openId = id;
  if (state.newActivity.delete(id) || switching) renderQueue();
  try {
    history.replaceState(null, "", "#conversation=" + encodeURIComponent(id));
  } catch (e) {
    /* ignore */
  }
  if (switching) {
    state.conv = null;
    state.seqs = new Set();
    state.earlier = [];
    clear(el.transcript);
    clearTimeout(state.customerTypingTimer);
    el.customerTyping.hidden = true;
    el.reply.value = "";
    picker.close();
    closeTransfer(false);
    el.transferBanner.hidden = true;
    showNotice("");
    clearTimeout(state.suggestionsTimer);
    suggestions.reset();
    suggestions.load(id);
    el.convEmpty.hidden = true;
    el.convView.hidden = false;
    el.convTitle.textContent = "Loading…";
    el.convMeta.textContent = "";
    el.handoffMeta.textContent = "";
    el.summary.textContent = "";
    clear(el.details);
    updateControls();
  }
  return refreshConversation();
}

function refreshConversation() {
  var id = state.openId;
  if (!id || !state.me) return Promise.resolve();
  var token = ++state.loadToken;
  return api("GET", convPath(id))
    .then(function (data) {
      if (token !== state.loadToken || !sameId(state.openId, id)) return;
      state.conv = data;
      renderConversation();
    })
    .catch(function (err) {
      if (err instanceof AuthError || token !== state.loadToken) return;
      if (err.status === 404) {
        el.convTitle.textContent = "Conversation not found";
        state.conv = null;
        updateControls();
      }
      showNotice(err.message);
    });
}

function conversationState() {
  var c = state.conv && state.conv.conversation;
  return c && typeof c.state === "string" ? c.state : null;
}

function claimedBy() {
  var hd = state.conv && state.conv.handoff;
  if (hd && hd.agent && typeof hd.agent === "object") return hd.agent;
  var item = queueItem(state.openId);
  if (item && item.agent && typeof item.agent === "object") return item.agent;
  return null;
}

function canReply() {
  return !!state.conv && conversationState() === "agent" && isMe(claimedBy());
}

/** The open conversation's email markers, under its title (redrawn alone: the transcript stays). */
function renderEmailStatus(markers) {
  var markerLine = el.convMeta.parentNode.querySelector('[data-testid="inbox-email-status"]');
  if (markerLine) markerLine.remove();
  var convMarker = emailMarker(markers, "conv__email");
  if (convMarker) el.convMeta.insertAdjacentElement("afterend", convMarker);
}

function renderConversation() {
  var data = state.conv || {};
  var conv = data.conversation && typeof data.conversation === "object" ? data.conversation : {};
  var handoff = data.handoff && typeof data.handoff === "object" ? data.handoff : null;
  var meta = conv.metadata && typeof conv.metadata === "object" ? conv.metadata : {};
  var item = queueItem(state.openId);
  var customer = (item && item.customer) || {};

  var signed = conv.customer && typeof conv.customer === "object" ? conv.customer : {};
  var name = str(signed.name) || str(meta.name) || str(customer.name);
  var email = str(signed.email) || str(meta.email) || str(customer.email);
  el.convTitle.textContent = name || "Anonymous customer";
  el.convMeta.textContent = [
    // Only an email the website signed is the customer's for sure (README, identity verification).
    email ? email + (signed.verified === true ? " (verified)" : " (unverified)") : "",
    "Conversation " + str(conv.id !== undefined ? conv.id : state.openId),
    conv.state ? "State: " + str(conv.state) : "",
    conv.created_at ? "Started " + formatTime(conv.created_at) : "",
  ]
    .filter(Boolean)
    .join(" · ");
  renderEmailStatus(conv.email);
  renderTransferBanner(data.transfer);

  if (handoff) {
    var claimed = handoff.agent && typeof handoff.agent === "object" ? handoff.agent : null;
    el.handoffMeta.textContent = [
      handoff.priority ? str(handoff.priority) + " priority" : "",
      handoff.reason ? "Reason: " + str(handoff.reason) : "",
      handoff.queued_at ? "Queued " + formatTime(handoff.queued_at) : "",
      claimed
        ? "Claimed by " + (isMe(claimed) ? "you" : str(claimed.name) || "another agent") +
          (handoff.claimed_at ? " at " + formatTime(handoff.claimed_at) : "")
        : "Unclaimed",
    ]
      .filter(Boolean)
      .join(" · ");
    el.summary.textContent = str(handoff.summary) || "(no summary)";
  } else {
    el.handoffMeta.textContent = "No handoff: the bot is handling this conversation.";
    el.summary.textContent = "(no summary)";
  }

  clear(el.details);
  var details = handoff && handoff.details && typeof handoff.details === "object" ? handoff.details : {};
  var keys = Object.keys(details);
  if (!keys.length) {
    el.details.appendChild(h("dt", { text: "—" }));
    el.details.appendChild(h("dd", { text: "No details" }));
  }
  keys.forEach(function (key) {
    var value = details[key];
    var dd = h("dd");
    if (typeof value === "string" && safeHttpUrl(value) && /^https?:\/\//i.test(value.trim())) {
      dd.appendChild(makeLink(value, value));
    } else if (value === null || value === undefined) {
      dd.textContent = "—";
    } else if (typeof value === "object") {
      dd.textContent = JSON.stringify(value);
    } else {
      dd.textContent = String(value);
    }
    el.details.appendChild(h("dt", { text: key }));
    el.details.appendChild(dd);
  });

  // Transcript: rebuild, seq-ordered.
  var wasNearBottom = transcriptNearBottom();
  clear(el.transcript);
  state.seqs = new Set();
  var messages = state.earlier.concat(Array.isArray(data.messages) ? data.messages : []);
  messages.forEach(function (m) {
    if (m && typeof m === "object") appendMessage(m, true);
  });
  el.loadEarlier.hidden = earliestSeq() <= 1;
  if (wasNearBottom) scrollTranscript();
  updateControls();
}

// A conversation passed to me opens with the note my colleague left, above everything else.
function renderTransferBanner(transfer) {
  var t = transfer && typeof transfer === "object" ? transfer : null;
  var to = t && t.to && typeof t.to === "object" ? t.to : null;
  var team = t && t.team && typeof t.team === "object" ? t.team : null;
  // to me by name, or to a team and now mine (the hub sends a team's note only to its owner)
  if (!t || !(isMe(to) || (team && canReply()))) {
    el.transferBanner.hidden = true;
    return;
  }
  var from = t.from && typeof t.from === "object" ? t.from : {};
  el.transferBannerTitle.textContent =
    (str(from.name) || "A colleague") +
    (team ? " passed this conversation to the " + str(team.name) + " team" : " passed this conversation to you") +
    (t.created_at ? " at " + formatTime(t.created_at) : "");
  el.transferBannerNote.textContent = str(t.note);
  el.transferBanner.hidden = false;
}

function earliestSeq() {
  var earliest = Infinity;
  state.seqs.forEach(function (seq) {
    if (seq < earliest) earliest = seq;
  });
  return earliest === Infinity ? 1 : earliest;
}

// A long conversation opens at its latest page; each click loads the page before the earliest shown.
function loadEarlier() {
  var id = state.openId;
  var before = earliestSeq();
  if (!id || before <= 1) return;
  el.loadEarlier.disabled = true;
  api("GET", convPath(id, "messages") + "?before_seq=" + encodeURIComponent(String(before)))
    .then(function (page) {
      if (!sameId(state.openId, id)) return;
      var messages = Array.isArray(page.messages) ? page.messages : [];
      state.earlier = messages.concat(state.earlier);
      var box = el.convBody;
      var fromBottom = box.scrollHeight - box.scrollTop;
      messages.forEach(function (m) {
        if (m && typeof m === "object") appendMessage(m, true);
      });
      box.scrollTop = box.scrollHeight - fromBottom; // keep the reader's place
      el.loadEarlier.hidden = earliestSeq() <= 1;
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) showNotice(err.message);
    })
    .then(function () {
      el.loadEarlier.disabled = false;
    });
}

function senderLabel(m) {
  switch (m.sender) {
    case "customer": {
      var conv = state.conv && state.conv.conversation;
      var meta = conv && conv.metadata;
      return "Customer" + (meta && meta.name ? " (" + str(meta.name) + ")" : "");
    }
    case "bot":
      return "Bot";
    case "agent":
      return (m.agent && m.agent.name ? str(m.agent.name) : "Agent") + " (agent)";
    case "system":
      return "System";
    case "note":
      return (m.agent && m.agent.name ? str(m.agent.name) : "Agent") + " (private note)";
    default:
      return str(m.sender) || "Unknown";
  }
}

function transcriptNearBottom() {
  var box = el.convBody;
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

function scrollTranscript() {
  el.convBody.scrollTop = el.convBody.scrollHeight;
}

function appendMessage(m, bulk) {
  var seq = toSeq(m.seq);
  if (seq !== null && state.seqs.has(seq)) return;
  if (seq !== null) state.seqs.add(seq);
  var sender = ["customer", "bot", "agent", "system", "note"].indexOf(m.sender) >= 0 ? m.sender : "system";
  var nearBottom = bulk ? false : transcriptNearBottom();

  var li = h("li", {
    className: "msg msg--" + sender,
    "data-testid": "inbox-message",
    "data-sender": sender,
    "data-seq": seq === null ? null : String(seq),
  });
  var transfer = sender === "note" && m.transfer && typeof m.transfer === "object" ? m.transfer : null;
  var head = h("div", { className: "msg__head" }, [
    sender === "note"
      ? h("span", { className: "msg__badge", text: transfer ? "Note · transfer" : "Note" })
      : null,
    h("span", { className: "msg__who", text: senderLabel({ sender: sender, agent: m.agent }) }),
    m.via === "email" ? h("span", { className: "msg__via", "data-testid": "inbox-by-email", text: "by email" }) : null,
    m.created_at ? h("time", { className: "msg__time", datetime: isoTime(m.created_at), text: formatTime(m.created_at) }) : null,
    seq !== null ? h("span", { className: "msg__seq", text: "#" + seq }) : null,
  ]);
  var body = h("div", { className: "msg__text" });
  appendRichText(body, m.text);
  li.appendChild(head);
  li.appendChild(body);
  var article = m.article && typeof m.article === "object" ? m.article : null;
  if (article && (article.title || article.url)) {
    li.appendChild(
      h("div", { className: "msg__source" }, ["Source: ", makeLink(str(article.url), str(article.title) || str(article.url))])
    );
  }

  // Insert in seq order.
  var placed = false;
  if (seq !== null) {
    var items = el.transcript.children;
    for (var i = 0; i < items.length; i++) {
      var s = toSeq(items[i].getAttribute("data-seq"));
      if (s !== null && s > seq) {
        el.transcript.insertBefore(li, items[i]);
        placed = true;
        break;
      }
    }
  }
  if (!placed) el.transcript.appendChild(li);
  if (!bulk && (nearBottom || sender === "agent")) scrollTranscript();
}

// ------------------------------------------------------------------ controls

function showNotice(text) {
  el.convNotice.textContent = str(text);
  el.convNotice.hidden = !text;
}

function updateControls() {
  var convState = conversationState();
  var agent = claimedBy();
  var mine = isMe(agent);
  var loaded = !!state.conv;
  var claimable = loaded && (convState === "queued" || (!agent && !!state.conv.handoff && convState !== "resolved" && convState !== "agent" && convState !== "bot"));
  var ownedByMe = loaded && convState === "agent" && mine;

  el.btnClaim.disabled = state.busy || !claimable;
  el.btnRelease.disabled = state.busy || !ownedByMe;
  el.btnResolve.disabled = state.busy || !ownedByMe;
  var noting = state.mode === "note";
  var canWrite = noting ? loaded : ownedByMe;
  el.btnTransfer.disabled = state.busy || !ownedByMe;
  if (!ownedByMe && !el.transferForm.hidden) closeTransfer(false);
  el.replyForm.classList.toggle("reply--note", noting);
  el.replyLabel.textContent = noting ? "Private note (agents only; the customer never sees it)" : "Reply to the customer";
  el.replySend.textContent = noting ? "Add note" : "Send";
  el.reply.disabled = !canWrite;
  suggestions.setEnabled(canWrite);
  el.replySend.disabled = state.busy || !canWrite || codePointLength(el.reply.value.trim()) > MAX_REPLY_LENGTH;

  var hint;
  if (!loaded) hint = "";
  else if (noting) hint = "Enter to add the note, Shift+Enter for a new line.";
  else if (ownedByMe) {
    var len = codePointLength(el.reply.value);
    hint = len > MAX_REPLY_LENGTH - 400
      ? len + " / " + MAX_REPLY_LENGTH + " characters" + (len > MAX_REPLY_LENGTH ? " — too long" : "")
      : "Enter to send, Shift+Enter for a new line, / for saved replies.";
  } else if (convState === "resolved") hint = "This conversation is resolved.";
  else if (convState === "agent" && agent) hint = "Claimed by " + (str(agent.name) || "another agent") + ". Only they can reply.";
  else if (claimable) hint = "Claim this conversation to reply.";
  else hint = "The bot is handling this conversation.";
  el.replyHint.textContent = hint;
}

function setBusy(busy) {
  state.busy = busy;
  updateControls();
}

function doAction(kind) {
  var id = state.openId;
  if (!id || state.busy) return;
  setBusy(true);
  showNotice("");
  api("POST", convPath(id, kind))
    .then(function () {
      return true;
    })
    .catch(function (err) {
      if (err instanceof AuthError) return false;
      if (err.status === 409) {
        showNotice(err.message || "Another agent already claimed this conversation.");
      } else if (err.status === 403) {
        showNotice(err.message || "You can't do that: this conversation isn't claimed by you.");
      } else {
        showNotice(err.message);
      }
      return false;
    })
    .then(function (ok) {
      setBusy(false);
      if (!state.me) return;
      loadQueue();
      return refreshConversation().then(function () {
        if (ok && kind === "claim" && canReply() && sameId(state.openId, id)) el.reply.focus();
      });
    });
}

el.loadEarlier.addEventListener("click", loadEarlier);
el.btnClaim.addEventListener("click", function () {
  doAction("claim");
});
el.btnRelease.addEventListener("click", function () {
  doAction("release");
});
el.btnResolve.addEventListener("click", function () {
  doAction("resolve");
});

function sendNote() {
  var id = state.openId;
  var text = el.reply.value.trim();
  if (!id || !text || state.busy) return;
  if (codePointLength(text) > MAX_REPLY_LENGTH) {
    showNotice("Your note is too long (max " + MAX_REPLY_LENGTH + " characters).");
    return;
  }
  setBusy(true);
  api("POST", convPath(id, "notes"), { text: text })
    .then(function (data) {
      showNotice("");
      if (el.reply.value.trim() === text) el.reply.value = "";
      if (sameId(state.openId, id)) {
        appendMessage({
          seq: data.seq,
          sender: "note",
          text: text,
          created_at: new Date().toISOString(),
          agent: { name: state.me && state.me.name },
        });
      }
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) showNotice(err.message);
    })
    .then(function () {
      setBusy(false);
      if (state.me && sameId(state.openId, id)) el.reply.focus();
    });
}

function setMode(mode) {
  state.mode = mode === "note" ? "note" : "reply";
  el.modeNote.checked = state.mode === "note";
  el.modeReply.checked = state.mode === "reply";
  updateControls();
}

el.modeReply.addEventListener("change", function () {
  setMode("reply");
});
el.modeNote.addEventListener("change", function () {
  setMode("note");
});

function sendReply() {
  if (state.mode === "note") {
    sendNote();
    return;
  }
  var id = state.openId;
  var text = el.reply.value.trim();
  if (!id || !text || state.busy) return;
  if (!canReply()) {
    showNotice("Claim this conversation before replying.");
    return;
  }
  if (codePointLength(text) > MAX_REPLY_LENGTH) {
    showNotice("Your reply is too long (max " + MAX_REPLY_LENGTH + " characters).");
    return;
  }
  setBusy(true);
  api("POST", convPath(id, "messages"), { text: text })
    .then(function (data) {
      showNotice("");
      if (el.reply.value.trim() === text) el.reply.value = "";
      if (sameId(state.openId, id)) {
        appendMessage({
          seq: data.seq,
          sender: "agent",
          text: text,
          created_at: new Date().toISOString(),
          agent: { name: state.me && state.me.name },
          article: null,
        });
      }
    })
    .catch(function (err) {
      if (err instanceof AuthError) return;
      showNotice(
        err.status === 403
          ? err.message || "Only the agent who claimed this conversation can reply."
          : err.message
      );
      if (err.status === 403 || err.status === 409) refreshConversation();
    })
    .then(function () {
      setBusy(false);
      if (state.me && sameId(state.openId, id) && canReply()) el.reply.focus();
    });
}

el.replyForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  sendReply();
});

el.reply.addEventListener("keydown", function (ev) {
  if (picker.handleKey(ev)) return;
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
    ev.preventDefault();
    sendReply();
  }
});

el.reply.addEventListener("input", function () {
  picker.update();
  updateControls();
  if (state.mode === "note" || !canReply() || !el.reply.value.trim()) return; // a note is never "typing"
  var now = Date.now();
  if (now - state.lastTypingSent < TYPING_SEND_INTERVAL_MS) return;
  state.lastTypingSent = now;
  api("POST", convPath(state.openId, "typing")).catch(function () {
    /* typing notifications are best-effort */
  });
});

// ------------------------------------------------------------------ transfer

function closeTransfer(focusButton) {
  el.transferForm.hidden = true;
  el.btnTransfer.setAttribute("aria-expanded", "false");
  el.transferNote.value = "";
  if (focusButton) el.btnTransfer.focus();
}

function openTransfer() {
  if (!canReply()) return;
  el.transferForm.hidden = false;
  el.btnTransfer.setAttribute("aria-expanded", "true");
  clear(el.transferAgent);
  el.transferAgent.appendChild(h("option", { value: "", text: "Loading…" }));
  el.transferAgent.focus();
  Promise.all([api("GET", "/api/agent/agents"), api("GET", "/api/agent/teams")])
    .then(function (answers) {
      clear(el.transferAgent);
      var others = (Array.isArray(answers[0].agents) ? answers[0].agents : []).filter(function (a) {
        return a && typeof a === "object" && typeof a.id === "number" && !isMe(a);
      });
      var teams = (Array.isArray(answers[1].teams) ? answers[1].teams : []).filter(function (t) {
        return t && typeof t === "object" && typeof t.id === "number";
      });
      if (!others.length && !teams.length) el.transferAgent.appendChild(h("option", { value: "", text: "No other agent" }));
      var people = h("optgroup", { label: "Colleagues" });
      others.forEach(function (a) {
        people.appendChild(
          h("option", { value: String(a.id), text: str(a.name) + (a.online ? " (online)" : " (offline)") })
        );
      });
      if (others.length) el.transferAgent.appendChild(people);
      // A team: back to the queue, in that team's (its next owner reads the note first).
      var groups = h("optgroup", { label: "Teams (back to their queue)" });
      teams.forEach(function (t) {
        groups.appendChild(h("option", { value: "team:" + t.id, text: "Team: " + str(t.name) }));
      });
      if (teams.length) el.transferAgent.appendChild(groups);
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) showNotice(err.message);
    });
}

el.btnTransfer.addEventListener("click", function () {
  if (el.transferForm.hidden) openTransfer();
  else closeTransfer(true);
});
el.transferCancel.addEventListener("click", function () {
  closeTransfer(true);
});
el.transferForm.addEventListener("keydown", function (ev) {
  if (ev.key === "Escape") closeTransfer(true);
});
el.transferForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  var id = state.openId;
  var choice = el.transferAgent.value;
  var toTeam = choice.indexOf("team:") === 0;
  var to = Number(toTeam ? choice.slice(5) : choice);
  if (!id || !to || state.busy) {
    el.transferAgent.focus();
    return;
  }
  setBusy(true);
  var body = toTeam ? { team_id: to } : { agent_id: to };
  body.note = el.transferNote.value.trim();
  api("POST", convPath(id, "transfer"), body)
    .then(function () {
      closeTransfer(false);
      showNotice("");
      return true;
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) showNotice(err.message);
      return false;
    })
    .then(function (ok) {
      setBusy(false);
      if (!state.me) return;
      loadQueue();
      refreshConversation();
      if (ok) el.conversation.focus();
    });
});

function showCustomerTyping() {
  el.customerTyping.hidden = false;
  clearTimeout(state.customerTypingTimer);
  state.customerTypingTimer = setTimeout(function () {
    el.customerTyping.hidden = true;
  }, CUSTOMER_TYPING_MS);
}

function hideCustomerTyping() {
  clearTimeout(state.customerTypingTimer);
  el.customerTyping.hidden = true;
}

// ------------------------------------------------------------------ push WebSocket

function setConnectionText(text) {
  el.connection.textContent = text;
}

function setWsStatus(status) {
  state.wsStatus = status;
  el.connection.className = "topbar__conn topbar__conn--" + status;
  setConnectionText(status === "open" ? "Live" : status === "connecting" ? "Connecting…" : "Reconnecting…");
}

function disconnectWs() {
  state.wsGen++;
  clearTimeout(state.wsTimer);
  state.wsTimer = null;
  state.wsAttempt = 0;
  if (state.ws) {
    try {
      state.ws.close(1000, "signed out");
    } catch (e) {
      /* ignore */
    }
  }
  state.ws = null;
  state.wsStatus = "closed";
}

function connectWs() {
  if (!state.me) return;
  clearTimeout(state.wsTimer);
  state.wsTimer = null;
  var gen = ++state.wsGen;
  if (state.ws) {
    try {
      state.ws.close(1000, "reconnecting");
    } catch (e) {
      /* ignore */
    }
  }
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/agent/ws";
  var ws;
  setWsStatus("connecting");
  try {
    ws = new WebSocket(url);
  } catch (e) {
    scheduleWs();
    return;
  }
  state.ws = ws;
  ws.onopen = function () {
    if (gen !== state.wsGen) return;
    state.wsAttempt = 0;
    setWsStatus("open");
    // Catch up on anything missed while disconnected.
    loadQueue();
    if (state.openId) refreshConversation();
  };
  ws.onmessage = function (ev) {
    if (gen !== state.wsGen) return;
    var frame;
    try {
      frame = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    try {
      handleFrame(frame);
    } catch (err) {
      if (window.console && console.error) console.error("[inbox] frame handling failed", err);
    }
  };
  ws.onclose = function (ev) {
    if (gen !== state.wsGen) return;
    state.ws = null;
    if (!state.me) return;
    if (ev.code === SESSION_ENDED) {
      // Signed out elsewhere, expired, password reset or account disabled: no reconnect.
      signedOut();
      return;
    }
    setWsStatus("closed");
    scheduleWs();
  };
  ws.onerror = function () {
    /* close follows */
  };
}

function scheduleWs() {
  if (state.wsTimer || !state.me) return;
  var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.wsAttempt));
  var delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
  state.wsAttempt++;
  state.wsTimer = setTimeout(function () {
    state.wsTimer = null;
    if (!state.me) return;
    // Check the session first: a socket refused for auth looks like any other close.
    api("GET", "/api/agent/me")
      .then(function () {
        connectWs();
      })
      .catch(function (err) {
        if (err instanceof AuthError) return;
        scheduleWs();
      });
  }, delay);
}

function handleFrame(frame) {
  var id = frame.conversation_id !== undefined && frame.conversation_id !== null ? String(frame.conversation_id) : null;
  switch (frame.type) {
    case "queue_changed":
      loadQueueSoon();
      break;
    case "message":
      if (!id) break;
      if (frame.sender === "customer") {
        var owned = queueItem(id);
        if (owned && owned.state === "agent" && isMe(owned.agent)) notifier.customerMessage(id, frame.text);
      }
      if (sameId(state.openId, id)) {
        if (frame.sender === "customer") {
          hideCustomerTyping();
          loadSuggestionsSoon(id); // what the customer just wrote may need another article
        }
        appendMessage(frame, false);
      } else {
        state.newActivity.add(id);
        var card = el.queue.querySelector('[data-testid="inbox-card"][data-conversation-id="' + cssEscape(id) + '"]');
        if (card) renderQueue();
      }
      break;
    case "conversation_state":
      if (id && sameId(state.openId, id)) {
        if (frame.state === "resolved") hideCustomerTyping();
        if (state.conv && state.conv.conversation && typeof frame.state === "string") {
          state.conv.conversation.state = frame.state;
          updateControls();
        }
        refreshConversation();
      }
      loadQueueSoon();
      break;
    case "email_status": {
      var queued = id ? queueItem(id) : null;
      if (queued) {
        queued.email = frame.email;
        renderQueue();
      }
      if (id && sameId(state.openId, id) && state.conv && state.conv.conversation) {
        state.conv.conversation.email = frame.email;
        renderEmailStatus(frame.email);
      }
      break;
    }
    case "typing":
      if (id && sameId(state.openId, id) && (frame.sender === "customer" || frame.sender === undefined)) {
        showCustomerTyping();
      }
      break;
    default:
      break; // unknown frames are ignored
  }
}

// ------------------------------------------------------------------ boot

setUnauthorizedHandler(signedOut);

window.addEventListener("hashchange", function () {
  var id = conversationFromHash();
  if (state.me && id && !sameId(id, state.openId)) openConversation(id);
});

api("GET", "/api/agent/me")
  .then(function (data) {
    useLimits(data && data.limits);
    if (data && data.agent) signedIn(data.agent);
    else signedOut();
  })
  .catch(function (err) {
    if (err instanceof AuthError) return; // the sign-in form is already showing
    signedOut();
    showSigninError(err.message);
  });
