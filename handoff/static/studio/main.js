/*
 * Kestrel Support — content studio. Article text is untrusted: it is only ever written with
 * textContent / DOM building; the preview is rendered by the server into a sandboxed frame.
 */
import { api, ApiError, AuthError, setUnauthorizedHandler } from "../inbox/api.js";
import { $, h, clear, str } from "../inbox/dom.js";

const FIELDS = ["id", "title", "category", "tags", "questions", "body"];
const state = {
  me: null,
  offset: 0,
  editing: null, // {id, base, isNew}
  lastBuild: 0,
  conflict: null,
  previewTimer: null,
};

function articlePath(id, suffix) {
  return "/api/studio/articles/" + encodeURIComponent(id) + (suffix ? "/" + suffix : "");
}

function mayPublish() {
  return state.me && (state.me.role === "editor" || state.me.role === "admin");
}

function show(view) {
  ["articles-view", "gaps-view", "suggestions-view", "editor-view"].forEach(function (id) {
    $(id).hidden = id !== view;
  });
  [["tab-articles", "articles-view"], ["tab-gaps", "gaps-view"], ["tab-suggestions", "suggestions-view"]].forEach(
    function (pair) {
      $(pair[0]).setAttribute("aria-pressed", String(pair[1] === view));
    }
  );
}

function when(seconds) {
  var d = new Date(Number(seconds) * 1000);
  return isNaN(d.getTime()) ? "" : d.toLocaleString();
}

// --- sign-in --------------------------------------------------------------------------------

function showSignIn() {
  $("boot").hidden = true;
  $("app-view").hidden = true;
  $("signin-view").hidden = false;
  $("signin-email").focus();
}

setUnauthorizedHandler(showSignIn);

$("signin-form").addEventListener("submit", function (event) {
  event.preventDefault();
  $("signin-error").hidden = true;
  api("POST", "/api/agent/login", { email: $("signin-email").value, password: $("signin-password").value })
    .then(start)
    .catch(function (err) {
      $("signin-error").textContent = err.message || "Sign-in failed.";
      $("signin-error").hidden = false;
    });
});

function start() {
  return api("GET", "/api/agent/me")
    .then(function (me) {
      state.me = me.agent || me;
      $("me-name").textContent = str(state.me.name);
      $("me-role").textContent = str(state.me.role);
      $("boot").hidden = true;
      $("signin-view").hidden = true;
      $("app-view").hidden = false;
      $("publish").hidden = !mayPublish();
      $("delete").hidden = !mayPublish();
      $("suggest").hidden = mayPublish();
      show("articles-view");
      loadArticles(true);
      loadSuggestions();
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) {
        $("boot").textContent = err.message;
      }
    });
}

// --- article list ---------------------------------------------------------------------------

var listTimer = null;
function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(function () {
    loadArticles(true);
  }, 250);
}
["filter-q", "filter-category", "filter-sort", "filter-warnings"].forEach(function (id) {
  $(id).addEventListener(id === "filter-q" ? "input" : "change", scheduleList);
});
$("filters").addEventListener("submit", function (event) {
  event.preventDefault();
  loadArticles(true);
});
$("more-articles").addEventListener("click", function () {
  loadArticles(false);
});

function loadArticles(fresh) {
  if (fresh) state.offset = 0;
  var params = new URLSearchParams({
    q: $("filter-q").value,
    category: $("filter-category").value,
    sort: $("filter-sort").value,
    offset: String(state.offset),
  });
  if ($("filter-warnings").checked) params.set("warnings", "1");
  $("list-status").textContent = "Loading…";
  return api("GET", "/api/studio/articles?" + params.toString()).then(function (data) {
    var rows = $("article-rows");
    if (fresh) clear(rows);
    data.articles.forEach(function (a) {
      rows.appendChild(articleRow(a));
    });
    state.offset += data.articles.length;
    $("more-articles").hidden = state.offset >= data.total;
    $("list-status").textContent = data.total + " articles";
    fillCategories(data.categories);
    fillDeleted(data.deleted);
  });
}

function articleRow(a) {
  var open = h("button", { type: "button", className: "link", "data-article": a.id, text: a.title });
  open.addEventListener("click", function () {
    openArticle(a.id);
  });
  var warnings = h("ul", { className: "warn-list" });
  a.warnings.forEach(function (w) {
    warnings.appendChild(h("li", { text: w }));
  });
  return h("tr", { "data-testid": "studio-row-" + a.id }, [
    h("td", null, [open, h("div", { className: "muted small", text: a.id })]),
    h("td", { text: a.category }),
    h("td", { text: a.updated }),
    h("td", { className: "num", text: a.helpful_yes + " / " + a.helpful_no }),
    h("td", { className: "num", text: String(a.answers_30d) }),
    h("td", null, a.warnings.length ? [warnings] : [h("span", { className: "muted", text: "none" })]),
  ]);
}

function fillCategories(categories) {
  var select = $("filter-category");
  var current = select.value;
  while (select.options.length > 1) select.remove(1);
  var list = $("category-list");
  clear(list);
  categories.forEach(function (c) {
    select.appendChild(h("option", { value: c, text: c }));
    list.appendChild(h("option", { value: c }));
  });
  select.value = current;
}

function fillDeleted(deleted) {
  var list = $("deleted-list");
  clear(list);
  $("deleted-section").hidden = !deleted.length;
  deleted.forEach(function (r) {
    var undo = h("button", { type: "button", text: "Restore " + r.article_id });
    undo.hidden = !mayPublish();
    undo.addEventListener("click", function () {
      restore(r.article_id, r.number - 1, r.number);
    });
    list.appendChild(
      h("li", null, [r.article_id + " — deleted by " + r.author + ", " + when(r.created_at) + " ", undo])
    );
  });
}

$("tab-articles").addEventListener("click", function () {
  show("articles-view");
  loadArticles(true);
});
$("tab-gaps").addEventListener("click", function () {
  show("gaps-view");
});
$("tab-suggestions").addEventListener("click", function () {
  show("suggestions-view");
  loadSuggestions();
});

// --- editor ---------------------------------------------------------------------------------

function setForm(form) {
  $("f-id").value = str(form.id);
  $("f-title").value = str(form.title);
  $("f-category").value = str(form.category);
  $("f-tags").value = (form.tags || []).join(", ");
  $("f-questions").value = (form.questions || []).join("\n");
  $("f-needs-person").checked = !!form.needs_person;
  $("f-body").value = str(form.body);
  $("f-message").value = "";
}

function readForm() {
  return {
    id: $("f-id").value.trim(),
    title: $("f-title").value,
    category: $("f-category").value,
    tags: $("f-tags").value,
    questions: $("f-questions").value,
    needs_person: $("f-needs-person").checked,
    body: $("f-body").value,
  };
}

function clearErrors() {
  FIELDS.forEach(function (name) {
    var err = $("err-" + name);
    err.hidden = true;
    err.textContent = "";
    $("f-" + name).removeAttribute("aria-invalid");
  });
}

function showErrors(fields) {
  var first = null;
  Object.keys(fields || {}).forEach(function (name) {
    var err = $("err-" + name);
    if (!err) return;
    err.textContent = str(fields[name]);
    err.hidden = false;
    $("f-" + name).setAttribute("aria-invalid", "true");
    if (!first) first = $("f-" + name);
  });
  if (first) first.focus();
}

function showWarnings(warnings) {
  var box = $("warnings");
  box.hidden = !warnings || !warnings.length;
  box.textContent = warnings && warnings.length ? "Warnings: " + warnings.join("; ") : "";
}

function resetEditor() {
  clearErrors();
  showWarnings([]);
  $("conflict").hidden = true;
  $("editor-status").textContent = "";
  clear($("build-progress"));
  clear($("try-results"));
  $("try-status").textContent = "";
  clear($("diff-view"));
}

function openEditor(form, base, isNew) {
  state.editing = { id: form.id || "", base: base, isNew: isNew };
  resetEditor();
  setForm(form);
  $("f-id").readOnly = !isNew;
  $("delete").hidden = isNew || !mayPublish();
  $("editor-title").textContent = isNew ? "New article" : "Edit article";
  $("editor-revision").textContent = isNew ? "Not published yet." : "Editing revision " + base + ".";
  show("editor-view");
  refreshPreview();
  $(isNew ? "f-id" : "f-title").focus();
  if (!isNew) loadHistory(form.id);
  else {
    clear($("history-list"));
    clear($("diff-from"));
    clear($("diff-to"));
  }
}

function openArticle(id) {
  return api("GET", articlePath(id)).then(function (data) {
    openEditor(data.form, data.revision, false);
    if (data.broken) showErrors({ body: data.broken });
    if (data.suggestions && data.suggestions.length) {
      $("editor-status").textContent = data.suggestions.length + " suggested edit(s) waiting for this article.";
    }
  });
}

$("new-article").addEventListener("click", function () {
  openEditor({ id: "", title: "", category: "", tags: [], questions: [], body: "" }, 0, true);
});
$("close-editor").addEventListener("click", function () {
  show("articles-view");
  loadArticles(true);
});

function refreshPreview() {
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(function () {
    $("editor").requestSubmit($("preview-button"));
  }, 400);
}
["f-title", "f-category", "f-body", "f-tags", "f-questions"].forEach(function (id) {
  $(id).addEventListener("input", refreshPreview);
});

function publishedMessage(data) {
  return "Published revision " + data.revision.number + ".";
}

$("publish").addEventListener("click", function () {
  publish(false);
});

function publish(onTheirs) {
  var form = readForm();
  var editing = state.editing;
  var id = editing.isNew ? form.id : editing.id;
  clearErrors();
  $("conflict").hidden = true;
  if (!id) {
    showErrors({ id: "Give the article an id: lowercase letters, digits and dashes, e.g. savings-pots." });
    return;
  }
  var base = onTheirs && state.conflict ? state.conflict.number : editing.base;
  $("editor-status").textContent = "Publishing…";
  return api("POST", articlePath(id, "publish"), { form: form, base: base, message: $("f-message").value })
    .then(function (data) {
      state.editing = { id: id, base: data.revision.number, isNew: false };
      $("f-id").readOnly = true;
      $("delete").hidden = !mayPublish();
      $("editor-revision").textContent = "Editing revision " + data.revision.number + ".";
      showWarnings(data.warnings);
      $("editor-status").textContent = publishedMessage(data) + " Updating the bot's index…";
      followBuild(data.build.request, publishedMessage(data));
      loadHistory(id);
    })
    .catch(function (err) {
      handleSaveError(err, id);
    });
}

function handleSaveError(err, id) {
  if (err instanceof AuthError) return;
  $("editor-status").textContent = "";
  if (err.status === 422 && err.body && err.body.error && err.body.error.fields) {
    showErrors(err.body.error.fields);
    $("editor-status").textContent = "Not published: fix the fields marked below.";
  } else if (err.status === 409 && err.body && err.body.theirs) {
    showConflict(err.body);
  } else {
    $("editor-status").textContent = err.message;
  }
}

function showConflict(body) {
  state.conflict = body.theirs;
  $("conflict-message").textContent =
    body.error.message + " (" + body.theirs.author + ", " + when(body.theirs.created_at) +
    (body.theirs.message ? ": “" + body.theirs.message + "”" : "") + ")";
  renderDiff($("conflict-diff"), body.diff || []);
  $("conflict").hidden = false;
  $("conflict").focus();
  $("editor-status").textContent = "Not published: someone else published first.";
}

$("conflict-load").addEventListener("click", function () {
  openArticle(state.editing.id);
});
$("conflict-rebase").addEventListener("click", function () {
  publish(true);
});

function renderDiff(node, lines) {
  clear(node);
  if (!lines.length) {
    node.appendChild(document.createTextNode("No differences."));
    return;
  }
  lines.forEach(function (line) {
    var cls = line.kind === "+" ? "add" : line.kind === "-" ? "del" : line.kind === "@" ? "hunk" : "ctx";
    var prefix = line.kind === "@" ? "" : line.kind + " ";
    node.appendChild(h("span", { className: cls, text: prefix + line.text + "\n" }));
  });
}

function followBuild(request, published) {
  var list = $("build-progress");
  function poll() {
    api("GET", "/api/studio/build").then(function (build) {
      clear(list);
      (build.progress || []).forEach(function (line) {
        list.appendChild(h("li", { text: line }));
      });
      var covered = (build.covers || 0) >= request;
      if (covered && build.status === "done") {
        $("editor-status").textContent = published + " Live: the bot now answers from index " + build.version + ".";
        $("editor-status").setAttribute("data-version", str(build.version));
      } else if (covered && build.status === "failed") {
        $("editor-status").textContent = published + " The index build failed: " + build.error;
      } else {
        setTimeout(poll, 500);
      }
    });
  }
  poll();
}

$("suggest").addEventListener("click", function () {
  var form = readForm();
  var id = state.editing.isNew ? form.id : state.editing.id;
  clearErrors();
  if (!id) {
    showErrors({ id: "Give the article an id: lowercase letters, digits and dashes, e.g. savings-pots." });
    return;
  }
  api("POST", articlePath(id, "suggestions"), { form: form, base: state.editing.base, message: $("f-message").value })
    .then(function () {
      $("editor-status").textContent = "Suggestion sent: an editor will publish it.";
    })
    .catch(function (err) {
      handleSaveError(err, id);
    });
});

$("delete").addEventListener("click", function () {
  var id = state.editing.id;
  if (!window.confirm("Delete " + id + "? You can restore it from the list of deleted articles.")) return;
  api("POST", articlePath(id, "delete"), { base: state.editing.base, message: $("f-message").value })
    .then(function (data) {
      $("editor-status").textContent = "Deleted (revision " + data.revision.number + ").";
      show("articles-view");
      loadArticles(true);
    })
    .catch(function (err) {
      handleSaveError(err, id);
    });
});

// --- history --------------------------------------------------------------------------------

function loadHistory(id) {
  return api("GET", articlePath(id, "revisions")).then(function (data) {
    var list = $("history-list");
    clear(list);
    var from = $("diff-from");
    var to = $("diff-to");
    clear(from);
    clear(to);
    data.revisions.forEach(function (r, index) {
      var label = "Revision " + r.number + (r.deleted ? " (deleted)" : "");
      var item = h("li", { "data-revision": String(r.number) }, [
        h("strong", { text: label }),
        " " + r.author + ", " + when(r.created_at),
        r.message ? h("div", { className: "muted", text: r.message }) : null,
      ]);
      if (index > 0 && !r.deleted && mayPublish()) {
        var button = h("button", { type: "button", text: "Restore revision " + r.number });
        button.addEventListener("click", function () {
          restore(id, r.number, data.revisions[0].number);
        });
        item.appendChild(button);
      }
      list.appendChild(item);
      from.appendChild(h("option", { value: String(r.number), text: String(r.number) }));
      to.appendChild(h("option", { value: String(r.number), text: String(r.number) }));
    });
    if (data.revisions.length > 1) from.value = String(data.revisions[1].number);
  });
}

$("diff-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var id = state.editing.id;
  api("GET", articlePath(id, "diff") + "?from=" + $("diff-from").value + "&to=" + $("diff-to").value).then(
    function (data) {
      renderDiff($("diff-view"), data.lines);
    }
  );
});

function restore(id, number, base) {
  return api("POST", articlePath(id, "restore"), { number: number, base: base })
    .then(function (data) {
      return openArticle(id).then(function () {
        $("editor-status").textContent = "Restored revision " + number + " as revision " + data.revision.number + ".";
        followBuild(data.build.request, "Restored revision " + number + " as revision " + data.revision.number + ".");
      });
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) {
        if (err.status === 409 && err.body && err.body.theirs) {
          show("editor-view");
          showConflict(err.body);
        } else window.alert(err.message);
      }
    });
}

// --- try it ---------------------------------------------------------------------------------

$("try-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var question = $("try-question").value.trim();
  if (!question) return;
  var body = { question: question };
  if ($("try-draft").checked) body.form = readForm();
  if (body.form && !body.form.id) body.form = undefined;
  $("try-status").textContent = body.form ? "Trying on the saved index and with your draft…" : "Trying…";
  clear($("try-results"));
  api("POST", "/api/studio/try", body)
    .then(function (data) {
      $("try-status").textContent = "";
      var box = $("try-results");
      box.appendChild(outcomeView("Saved help center", data.saved, "try-saved"));
      if (data.draft) box.appendChild(outcomeView("With this draft", data.draft, "try-draft-result"));
    })
    .catch(function (err) {
      if (err instanceof AuthError) return;
      $("try-status").textContent =
        err.body && err.body.error && err.body.error.fields
          ? "Fix the draft first: " + Object.values(err.body.error.fields).join(" ")
          : err.message;
    });
});

function outcomeView(title, o, testid) {
  var list = h("ol");
  o.articles.forEach(function (a) {
    list.appendChild(
      h("li", null, [
        h("strong", { text: a.title }),
        " (" + a.id + (a.section && a.section !== a.title ? " › " + a.section : "") + ") score " + a.score.toFixed(3),
      ])
    );
  });
  return h("section", { className: "outcome", "data-testid": testid }, [
    h("h4", { text: title }),
    h("p", null, [h("strong", { text: "Tier: " + o.tier }), " — the bot " + o.does + "."]),
    o.quote ? h("blockquote", { text: o.quote }) : null,
    h("p", { text: (o.handoff.would ? "Hands off: " : "No handoff: ") + o.handoff.why }),
    list,
  ]);
}

// --- gaps -----------------------------------------------------------------------------------

$("load-gaps").addEventListener("click", function () {
  $("gaps-status").textContent = "Grouping questions by meaning (the first time takes a few seconds)…";
  clear($("gap-list"));
  Promise.all([api("GET", "/api/metrics/gaps"), api("GET", "/api/studio/articles?limit=500")])
    .then(function (results) {
      var gaps = results[0].gaps || [];
      var ids = $("article-ids");
      clear(ids);
      results[1].articles.forEach(function (a) {
        ids.appendChild(h("option", { value: a.id, text: a.title }));
      });
      var list = $("gap-list");
      clear(list);
      $("gaps-status").textContent = gaps.length
        ? gaps.length + " groups of unanswered questions."
        : "No unanswered questions in the last 30 days.";
      gaps.forEach(function (gap, index) {
        list.appendChild(gapView(gap, index));
      });
    })
    .catch(function (err) {
      if (!(err instanceof AuthError)) $("gaps-status").textContent = err.message;
    });
});

function gapView(gap, index) {
  var write = h("button", { type: "button", className: "primary", text: "Write an article for this" });
  write.hidden = !mayPublish();
  write.addEventListener("click", function () {
    openEditor({ id: "", title: "", category: "", tags: [], questions: gap.questions, body: "" }, 0, true);
  });
  var questions = h("ul");
  gap.questions.forEach(function (question, q) {
    var inputId = "gap-" + index + "-" + q;
    var target = h("input", { id: inputId, list: "article-ids", placeholder: "article id", className: "short" });
    var add = h("button", { type: "button", text: "Add as example question" });
    var status = h("span", { role: "status", className: "muted" });
    add.hidden = target.hidden = !mayPublish();
    add.addEventListener("click", function () {
      var id = target.value.trim();
      if (!id) {
        status.textContent = "Choose the article first.";
        target.focus();
        return;
      }
      api("POST", articlePath(id, "questions"), { question: question })
        .then(function (data) {
          status.textContent = data.unchanged ? "Already there." : "Added to " + id + ".";
        })
        .catch(function (err) {
          if (!(err instanceof AuthError)) status.textContent = err.message;
        });
    });
    questions.appendChild(
      h("li", null, [
        h("span", { text: question }),
        " ",
        h("label", { for: inputId, className: "visually-hidden", text: "Article for “" + question + "”" }),
        target,
        add,
        status,
      ])
    );
  });
  return h("li", { className: "gap" }, [
    h("h3", { text: "“" + gap.example + "” (" + gap.size + " questions)" }),
    write,
    questions,
  ]);
}

// --- suggestions ----------------------------------------------------------------------------

function loadSuggestions() {
  return api("GET", "/api/studio/suggestions").then(function (data) {
    $("suggestion-count").textContent = data.suggestions.length ? "(" + data.suggestions.length + ")" : "";
    var list = $("suggestion-list");
    clear(list);
    $("suggestions-status").textContent = data.suggestions.length ? "" : "No suggested edits.";
    data.suggestions.forEach(function (s) {
      var item = h("li", null, [
        h("strong", { text: s.article_id }),
        " by " + s.author + ", " + when(s.created_at) + (s.message ? ": " + s.message : ""),
      ]);
      if (mayPublish()) {
        var publishIt = h("button", { type: "button", className: "primary", text: "Publish" });
        var dismiss = h("button", { type: "button", text: "Dismiss" });
        var status = h("span", { role: "status" });
        publishIt.addEventListener("click", function () {
          api("POST", "/api/studio/suggestions/" + s.id + "/publish", {})
            .then(function (data) {
              status.textContent = "Published as revision " + data.revision.number + ".";
              loadSuggestions();
            })
            .catch(function (err) {
              if (!(err instanceof AuthError)) status.textContent = err.message;
            });
        });
        dismiss.addEventListener("click", function () {
          api("POST", "/api/studio/suggestions/" + s.id + "/dismiss", {}).then(loadSuggestions);
        });
        item.appendChild(publishIt);
        item.appendChild(dismiss);
        item.appendChild(status);
      }
      list.appendChild(item);
    });
  });
}

start();
