"""The content studio's JSON API (/api/studio/...), used by /studio.

Everyone signed in reads; agents may suggest an edit; editors and admins publish, delete,
restore and publish suggestions (auth.role_required, which also checks the origin of every
state-changing request). A publish names the revision it was based on (`base`); a stale base is
a 409 carrying the other person's revision and the diff from the base to it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.app_keys import SETTINGS, STORE
from handoff.articles_api import REBUILDS
from handoff.errors import error_response
from handoff.kb_access import LIVE_SEARCH
from handoff.store import EditConflict, NotFound, Revision
from handoff.studio import publishing
from handoff.studio.activity import ACTIVITY
from handoff.studio.catalog import CATALOG
from handoff.studio.drafts import (
    MAX_ARTICLE_BYTES,
    MAX_QUESTION,
    ArticleForm,
    FormError,
    check_article,
    form_from_article,
    form_from_input,
)
from handoff.studio.try_it import TryIt
from knowledge_base.articles import ARTICLE_ID, ArticleError, parse_article
from knowledge_base.index_store import IndexNotBuilt

routes = web.RouteTableDef()
TRY_IT = web.AppKey("studio_try_it", TryIt)
#: a JSON body carrying one article (each character may be a 6-byte \\u escape) and a little more
MAX_BODY_BYTES = MAX_ARTICLE_BYTES * 6 + 8192
MAX_QUESTION_CHARS = 500
PAGE_SIZE = 50
#: revision numbers fit a 32-bit column with room for the next one
MAX_NUMBER = 2**31 - 2


class BadInput(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object of the request body, read against the article limit (not the hub's 64 KiB)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadInput(413, "too_large", f"Articles can be up to {MAX_ARTICLE_BYTES // 1000} kB.")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadInput(400, "malformed", "Send a JSON object.") from None
    if not isinstance(body, dict):
        raise BadInput(400, "malformed", "Send a JSON object.")
    return body


def _int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > MAX_NUMBER:
        raise BadInput(400, "malformed", f"'{name}' must be a whole number of at least {minimum}.")
    return value


def _str(value: Any, name: str, limit: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadInput(400, "malformed", f"'{name}' must be text.")
    if len(value) > limit:
        raise BadInput(400, "too_long", f"'{name}' can be up to {limit} characters.")
    return value.strip()


def _article_id(request: web.Request) -> str:
    article_id = request.match_info["article_id"]
    if not ARTICLE_ID.match(article_id):
        raise BadInput(404, "not_found", "No article with that id (ids are lowercase letters, digits and dashes).")
    return article_id


def form_invalid(exc: FormError) -> web.Response:
    return web.json_response(
        {"error": {"code": "invalid_article", "message": str(exc), "fields": exc.fields}}, status=422
    )


async def conflict(request: web.Request, article_id: str, exc: EditConflict) -> web.Response:
    """409 with the other person's revision and what changed since the base the client had."""
    store = request.app[STORE]
    try:
        diff = await store.diff(article_id, exc.base, exc.latest.number) if exc.base else []
    except NotFound:
        diff = []
    return web.json_response(
        {
            "error": {"code": exc.code, "message": str(exc)},
            "theirs": exc.latest.to_json(),
            "diff": diff,
        },
        status=409,
    )


def handles_input(handler: Any) -> Any:
    """BadInput raised anywhere in a handler becomes its 4xx reply."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadInput as exc:
            return exc.response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


@routes.get("/api/studio/articles")
@auth.role_required("agent")
@handles_input
async def list_articles(request: web.Request) -> web.StreamResponse:
    """Every article with its category, last update, helpfulness, the bot's answers with it in
    the last 30 days, and lint warnings; `q` searches id, title, category and tags; `category`
    and `warnings=1` filter; `sort` is id, updated, answers or unhelpful; paged by offset."""
    query = request.query
    q = _str(query.get("q"), "q", 200)
    category = _str(query.get("category"), "category", 100)
    sort = query.get("sort", "id")
    if sort not in ("id", "updated", "answers", "unhelpful"):
        raise BadInput(400, "malformed", "'sort' is one of id, updated, answers, unhelpful.")
    try:
        offset = max(0, int(query.get("offset", "0")))
        limit = min(500, max(1, int(query.get("limit", str(PAGE_SIZE)))))
    except ValueError:
        raise BadInput(400, "malformed", "'offset' and 'limit' are whole numbers.") from None
    store = request.app[STORE]
    (entries, ids), activity, numbers = await asyncio.gather(
        asyncio.to_thread(request.app[CATALOG].listing, request.app[SETTINGS].articles_dir),
        request.app[ACTIVITY].get(store),
        store.latest_revision_numbers(),
    )
    words = q.lower().split()
    only_warnings = query.get("warnings") in ("1", "true")
    chosen = [
        e
        for e in entries
        if (not category or e.category == category)
        and (not only_warnings or e.has_warnings(ids))
        and (not words or e.matches(words))
    ]
    empty = {"yes": 0, "no": 0, "answers": 0, "reads": 0}
    if sort == "updated":
        chosen.sort(key=lambda e: e.updated, reverse=True)
    elif sort == "answers":
        chosen.sort(key=lambda e: activity.get(e.id, empty)["answers"], reverse=True)
    elif sort == "unhelpful":
        chosen.sort(key=lambda e: (activity.get(e.id, empty)["no"], -activity.get(e.id, empty)["yes"]), reverse=True)
    rows = []
    for entry in chosen[offset : offset + limit]:  # JSON only for the page shown
        stats = activity.get(entry.id, empty)
        rows.append(
            {
                **entry.to_json(ids),
                "helpful_yes": stats["yes"],
                "helpful_no": stats["no"],
                "answers_30d": stats["answers"],
                "reads": stats["reads"],
                "revision": numbers.get(entry.id, 0),
            }
        )
    deleted = [r.to_json(with_text=False) for r in await store.deleted_articles() if r.article_id not in ids]
    return web.json_response(
        {
            "total": len(chosen),
            "offset": offset,
            "articles": rows,
            "categories": sorted({e.category for e in entries if e.category}),
            "deleted": deleted,
        }
    )


async def _article_json(request: web.Request, article_id: str) -> dict[str, Any]:
    latest = await publishing.current_revision(request.app, article_id)
    if latest is None or latest.deleted:
        raise BadInput(404, "not_found", "No article with that id (a deleted one can be restored from its history).")
    try:
        article = parse_article(publishing.article_path(request.app, article_id), text=latest.markdown)
        form, broken = form_from_article(article).to_json(), ""
    except ArticleError as exc:  # a broken file: the editor shows the problem and the raw text
        form, broken = {"id": article_id, "body": latest.markdown}, exc.problem
    suggestions = await request.app[STORE].open_suggestions(article_id)
    return {
        "form": form,
        "revision": latest.number,
        "author": latest.author,
        "updated_at": latest.created_at,
        "broken": broken,
        "suggestions": [s.to_json() for s in suggestions],
    }


@routes.get("/api/studio/articles/{article_id}")
@auth.role_required("agent")
@handles_input
async def read_article(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _article_json(request, _article_id(request)))


async def _checked_form(
    request: web.Request, body: dict[str, Any], article_id: str
) -> tuple[ArticleForm, str, list[str]]:
    fields = body.get("form")
    if not isinstance(fields, dict):
        raise BadInput(
            400, "malformed", 'Send {"form": {"id", "title", "category", "tags", "questions", "body"}, ...}.'
        )
    latest = await request.app[STORE].latest_revision(article_id)
    extra: dict[str, Any] = {}
    if latest is not None and not latest.deleted:
        try:  # keep front-matter keys the form does not show
            extra = dict(parse_article(publishing.article_path(request.app, article_id), text=latest.markdown).extra)
        except ArticleError:
            extra = {}
    form = form_from_input(fields, extra)
    if form.id != article_id:
        raise FormError({"id": f"This article's id is {article_id}; to use another id, create a new article."})
    _entries, all_ids = await asyncio.to_thread(request.app[CATALOG].listing, request.app[SETTINGS].articles_dir)
    ids = all_ids - {article_id}
    markdown, warnings = check_article(form, ids)
    return form, markdown, warnings


def _published_json(request: web.Request, published: publishing.Published, warnings: list[str]) -> dict[str, Any]:
    return {
        "revision": published.revision.to_json(with_text=False),
        "build": {"request": published.build, **request.app[REBUILDS].last},
        "warnings": warnings,
    }


@routes.post("/api/studio/articles/{article_id}/publish")
@auth.role_required("editor")
@handles_input
async def publish_article(request: web.Request) -> web.StreamResponse:
    """Create or change an article: {"form": {...}, "base": N, "message": "..."} (base 0: new)."""
    article_id = _article_id(request)
    body = await read_json(request)
    base = _int(body.get("base"), "base")
    message = _str(body.get("message"), "message", 500)
    try:
        _form, markdown, warnings = await _checked_form(request, body, article_id)
    except FormError as exc:
        return form_invalid(exc)
    if base == 0:
        latest = await publishing.current_revision(request.app, article_id)
        if latest is not None and not latest.deleted:
            return form_invalid(FormError({"id": "An article with this id already exists; pick another id."}))
        base = latest.number if latest is not None else 0  # a new article under a deleted one's id
    try:
        published = await publishing.publish(request.app, auth_agent(request), article_id, markdown, base, message)
    except EditConflict as exc:
        return await conflict(request, article_id, exc)
    return web.json_response(_published_json(request, published, warnings))


def auth_agent(request: web.Request) -> Any:
    return request[auth.AGENT]


@routes.post("/api/studio/articles/{article_id}/delete")
@auth.role_required("editor")
@handles_input
async def delete_article(request: web.Request) -> web.StreamResponse:
    """{"base": N, "message": "..."}: a deletion revision (undone by restoring the one before)."""
    article_id = _article_id(request)
    body = await read_json(request)
    base = _int(body.get("base"), "base", 1)
    latest = await publishing.current_revision(request.app, article_id)
    if latest is None or latest.deleted:
        raise BadInput(404, "not_found", "No article with that id.")
    try:
        published = await publishing.delete(
            request.app, auth_agent(request), article_id, base, _str(body.get("message"), "message", 500)
        )
    except EditConflict as exc:
        return await conflict(request, article_id, exc)
    return web.json_response(_published_json(request, published, []))


@routes.get("/api/studio/articles/{article_id}/revisions")
@auth.role_required("agent")
@handles_input
async def history(request: web.Request) -> web.StreamResponse:
    article_id = _article_id(request)
    await publishing.current_revision(request.app, article_id)
    revisions = await request.app[STORE].history(article_id)
    if not revisions:
        raise BadInput(404, "not_found", "No article with that id.")
    return web.json_response({"article_id": article_id, "revisions": [r.to_json(with_text=False) for r in revisions]})


async def _revision(request: web.Request, article_id: str, number: int) -> Revision:
    try:
        return await request.app[STORE].revision(article_id, number)
    except NotFound:
        raise BadInput(404, "not_found", f"Article {article_id} has no revision {number}.") from None


@routes.get("/api/studio/articles/{article_id}/revisions/{number}")
@auth.role_required("agent")
@handles_input
async def read_revision(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"]
    if not number.isdigit() or len(number) > 9:
        raise BadInput(404, "not_found", "Revisions are numbered 1, 2, 3…")
    return web.json_response((await _revision(request, _article_id(request), int(number))).to_json())


@routes.get("/api/studio/articles/{article_id}/diff")
@auth.role_required("agent")
@handles_input
async def diff(request: web.Request) -> web.StreamResponse:
    """`from` and `to`: two revision numbers of the article; lines marked " ", "+", "-" or "@"."""
    article_id = _article_id(request)
    try:
        old, new = int(request.query.get("from", "")), int(request.query.get("to", ""))
        if not (0 < old <= MAX_NUMBER and 0 < new <= MAX_NUMBER):
            raise ValueError
    except ValueError:
        raise BadInput(400, "malformed", "Give two revision numbers: ?from=1&to=2.") from None
    first, second = await _revision(request, article_id, old), await _revision(request, article_id, new)
    from handoff.store.revisions import diff_lines

    return web.json_response({"from": old, "to": new, "lines": diff_lines(first.markdown, second.markdown)})


@routes.post("/api/studio/articles/{article_id}/restore")
@auth.role_required("editor")
@handles_input
async def restore(request: web.Request) -> web.StreamResponse:
    """{"number": N, "base": M}: publish revision N's text again as revision M + 1."""
    article_id = _article_id(request)
    body = await read_json(request)
    number, base = _int(body.get("number"), "number", 1), _int(body.get("base"), "base", 1)
    old = await _revision(request, article_id, number)
    if old.deleted:
        raise BadInput(422, "deleted_revision", "That revision is the deletion; restore the revision before it.")
    try:
        published = await publishing.publish(
            request.app, auth_agent(request), article_id, old.markdown, base, f"restored revision {number}", "restore"
        )
    except EditConflict as exc:
        return await conflict(request, article_id, exc)
    return web.json_response(_published_json(request, published, []))


@routes.post("/api/studio/articles/{article_id}/questions")
@auth.role_required("editor")
@handles_input
async def add_question(request: web.Request) -> web.StreamResponse:
    """{"question": "..."}: add an example question to the article (from a content gap), published
    as a revision on top of the latest one."""
    article_id = _article_id(request)
    body = await read_json(request)
    question = _str(body.get("question"), "question", MAX_QUESTION, required=True)
    latest = await publishing.current_revision(request.app, article_id)
    if latest is None or latest.deleted:
        raise BadInput(404, "not_found", "No article with that id.")
    try:
        form = form_from_article(parse_article(publishing.article_path(request.app, article_id), text=latest.markdown))
    except ArticleError as exc:
        raise BadInput(422, "invalid_article", f"Fix the article first: {exc.problem}.") from None
    if question in form.questions:
        return web.json_response({"revision": latest.to_json(with_text=False), "unchanged": True})
    changed = ArticleForm(**{**form.__dict__, "questions": (*form.questions, question)})
    try:
        published = await publishing.publish(
            request.app,
            auth_agent(request),
            article_id,
            changed.markdown(),
            latest.number,
            f"example question: {question}",
        )
    except EditConflict as exc:
        return await conflict(request, article_id, exc)
    return web.json_response(_published_json(request, published, []))


# --- suggestions ----------------------------------------------------------------------------


@routes.post("/api/studio/articles/{article_id}/suggestions")
@auth.role_required("agent")
@handles_input
async def suggest(request: web.Request) -> web.StreamResponse:
    """An agent's edit, kept as a draft for an editor: {"form": {...}, "base": N, "message": "..."}."""
    article_id = _article_id(request)
    body = await read_json(request)
    base = _int(body.get("base"), "base")
    try:
        _form, markdown, _warnings = await _checked_form(request, body, article_id)
    except FormError as exc:
        return form_invalid(exc)
    agent = auth_agent(request)
    suggestion = await request.app[STORE].add_suggestion(
        article_id, base, markdown, publishing.author_of(agent), _str(body.get("message"), "message", 500), agent.id
    )
    return web.json_response(suggestion.to_json(), status=201)


@routes.get("/api/studio/suggestions")
@auth.role_required("agent")
async def suggestions(request: web.Request) -> web.StreamResponse:
    return web.json_response({"suggestions": [s.to_json() for s in await request.app[STORE].open_suggestions()]})


def _suggestion_id(request: web.Request) -> int:
    raw = request.match_info["suggestion_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise BadInput(404, "not_found", "No such suggestion.")
    return int(raw)


@routes.post("/api/studio/suggestions/{suggestion_id}/publish")
@auth.role_required("editor")
@handles_input
async def publish_suggestion(request: web.Request) -> web.StreamResponse:
    """Publish an agent's suggestion as it is, on the revision it was based on (409 if the article
    changed since: open it in the editor instead)."""
    try:
        suggestion = await request.app[STORE].suggestion(_suggestion_id(request))
    except NotFound:
        raise BadInput(404, "not_found", "No such suggestion.") from None
    if suggestion.status != "open":
        raise BadInput(409, "closed", f"This suggestion was {suggestion.status} already.")
    agent = auth_agent(request)
    try:
        published = await publishing.publish(
            request.app,
            agent,
            suggestion.article_id,
            suggestion.markdown,
            suggestion.base_number,
            f"suggested by {suggestion.author}: {suggestion.message}".strip(": "),
        )
    except EditConflict as exc:
        return await conflict(request, suggestion.article_id, exc)
    await request.app[STORE].close_suggestion(suggestion.id, "published", publishing.author_of(agent))
    return web.json_response(_published_json(request, published, []))


@routes.post("/api/studio/suggestions/{suggestion_id}/dismiss")
@auth.role_required("editor")
@handles_input
async def dismiss_suggestion(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[STORE].close_suggestion(
            _suggestion_id(request), "dismissed", publishing.author_of(auth_agent(request))
        )
    except NotFound:
        raise BadInput(404, "not_found", "No open suggestion with that id.") from None
    return web.json_response({"dismissed": True})


# --- build progress and "try it" --------------------------------------------------------------


@routes.get("/api/studio/build")
@auth.role_required("agent")
async def build_status(request: web.Request) -> web.StreamResponse:
    """The latest build: status, its progress lines, the index version, and `covers` (the highest
    publish request it includes; a publish answered with build.request N is live when a done
    build covers N)."""
    rebuilds = request.app[REBUILDS]
    return web.json_response({**rebuilds.last, "requested": rebuilds.requested})


@routes.post("/api/studio/try")
@auth.role_required("agent")
@handles_input
async def try_it(request: web.Request) -> web.StreamResponse:
    """{"question": "...", "form": {...}?}: what the bot would do on the saved index, and with the
    draft in `form` (when given) in place of its article."""
    body = await read_json(request)
    question = _str(body.get("question"), "question", MAX_QUESTION_CHARS, required=True)
    draft_json = None
    try:
        saved = await request.app[TRY_IT].saved(question)
        if body.get("form") is not None:
            fields = body["form"]
            article_id = fields.get("id") if isinstance(fields, dict) else None
            if not isinstance(article_id, str) or not ARTICLE_ID.match(article_id):
                return form_invalid(FormError({"id": "Give the draft a valid id before trying it."}))
            try:
                _form, markdown, _w = await _checked_form(request, body, article_id)
            except FormError as exc:
                return form_invalid(exc)
            draft_json = await request.app[TRY_IT].with_draft(article_id, markdown, question)
    except IndexNotBuilt:
        return error_response(
            409, "no_index", "The help center has no index yet; publish an article or run make index."
        )
    return web.json_response({"question": question, "saved": saved, "draft": draft_json})


def setup_api(app: web.Application) -> None:
    app[TRY_IT] = TryIt(app[LIVE_SEARCH])
    app.router.add_routes(routes)
