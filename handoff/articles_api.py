"""The content API: list, read, create, update and delete help-center articles.

Authenticated by a signed-in agent session or by `Authorization: Bearer <CONTENT_API_TOKEN>`
(for content tools and CI; the token has no default, so without it only agents can write).
A write validates the Markdown first, saves it atomically, then runs an incremental index build
in the background; the action server picks the new version up within about a second.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.app_keys import SETTINGS
from handoff.errors import error_response
from knowledge_base import tuning
from knowledge_base.articles import ARTICLE_ID, ArticleError, load_articles, parse_article
from knowledge_base.settings import KBSettings

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_ARTICLE_BYTES = 200_000


class IndexRebuilds:
    """One build at a time, off the event loop; the last report is kept for GET /api/articles/build."""

    def __init__(self, kb_settings: Callable[[], KBSettings] = KBSettings.from_env) -> None:
        self._kb_settings = kb_settings
        self._pending: asyncio.Task[None] | None = None
        self._again = False
        self._embedder: Any = None  # loaded on the first build, then reused
        self.last: dict[str, Any] = {"status": "idle", "covers": 0}
        #: how many builds were asked for; a build reports in `last["covers"]` the highest request
        #: it includes, so a caller knows when the build with its write is done
        self.requested = 0

    @property
    def kb_settings(self) -> KBSettings:
        """The knowledge base's settings, as the builds see them."""
        return self._kb_settings()

    def request(self, reason: str) -> int:
        """Start a build, or ask the running one to go again when it ends (writes coalesce).
        Returns the request's number: the build whose `covers` reaches it includes this write."""
        self.requested += 1
        if self._pending is not None and not self._pending.done():
            self._again = True
            return self.requested
        self._pending = asyncio.create_task(self._run(reason))
        return self.requested

    async def wait(self) -> None:
        while self._pending is not None and not self._pending.done():
            await asyncio.shield(self._pending)

    async def _run(self, reason: str) -> None:
        from knowledge_base.builder import build_index

        while True:
            self._again = False
            covers = self.requested
            progress: list[str] = []
            self.last = {
                "status": "building",
                "reason": reason,
                "started_at": time.time(),
                "covers": covers,
                "progress": progress,
            }
            try:
                settings = self._kb_settings()
                model = tuning.model_for_build(settings)  # the tuned model when there is one
                if self._embedder is None or str(self._embedder.model_path) != str(model):
                    from knowledge_base.embedding import Embedder

                    self._embedder = await asyncio.to_thread(Embedder, model)
                # the build's own progress lines (loaded, embedding, embedded n/m), read by the studio
                report = await asyncio.to_thread(build_index, settings, self._embedder, progress.append)
                self.last = {
                    "status": "done",
                    "reason": reason,
                    "finished_at": time.time(),
                    "version": report.version,
                    "summary": report.line(),
                    "covers": covers,
                    "progress": progress,
                }
            except Exception as exc:  # an article broke the build: the old index keeps serving
                log.warning("index build failed: %s", exc)
                self.last = {
                    "status": "failed",
                    "reason": reason,
                    "error": str(exc),
                    "finished_at": time.time(),
                    "covers": covers,
                    "progress": progress,
                }
            if not self._again:
                return


REBUILDS = web.AppKey("article_rebuilds", IndexRebuilds)


def _token_ok(request: web.Request) -> bool:
    expected = request.app[SETTINGS].content_api_token
    header = request.headers.get("Authorization", "")
    return bool(expected) and header.startswith("Bearer ") and hmac.compare_digest(header[7:], str(expected))


def content_auth(role: str) -> Any:
    """The content API's bearer token (CONTENT_API_TOKEN, for pipelines), or a signed-in agent
    whose role is `role` or above: every agent reads articles, editors and admins change them."""

    def decorate(handler: Any) -> Any:
        with_role = auth.role_required(role)(handler)

        async def wrapper(request: web.Request) -> web.StreamResponse:
            if _token_ok(request):
                return await handler(request)
            return await with_role(request)

        wrapper.__name__ = handler.__name__
        return wrapper

    return decorate


def _articles_dir(request: web.Request) -> Path:
    return request.app[SETTINGS].articles_dir


def _path_for(request: web.Request, article_id: str) -> Path | None:
    if not ARTICLE_ID.match(article_id):
        return None
    return _articles_dir(request) / f"{article_id}.md"


def _summary(path: Path) -> dict[str, Any]:
    article = parse_article(path)
    return {
        "id": article.id,
        "title": article.title,
        "category": article.category,
        "updated": article.updated,
        "tags": list(article.tags),
        "questions": len(article.questions),
        "needs_person": article.needs_person,
    }


def _write_atomically(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


@routes.get("/api/articles")
@content_auth("agent")
async def list_articles(request: web.Request) -> web.StreamResponse:
    try:
        articles = load_articles(_articles_dir(request))
    except ArticleError as exc:
        return error_response(500, "broken_article", str(exc))
    return web.json_response(
        {"articles": [{"id": a.id, "title": a.title, "category": a.category, "updated": a.updated} for a in articles]}
    )


@routes.get("/api/articles/build")
@content_auth("agent")
async def build_status(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[REBUILDS].last)


@routes.get("/api/articles/{article_id}")
@content_auth("agent")
async def read_article(request: web.Request) -> web.StreamResponse:
    path = _path_for(request, request.match_info["article_id"])
    if path is None or not path.is_file():
        return error_response(404, "not_found", "No article with that id.")
    return web.json_response({**_summary(path), "markdown": path.read_text(encoding="utf-8")})


#: The article limit is on the Markdown; its JSON body may be larger (each non-ASCII character can
#: be written as a 6-character \\u escape). Bodies are read against this, not the hub's 64 KiB limit
#: for everything else, and only after the role check.
MAX_ARTICLE_BODY_BYTES = MAX_ARTICLE_BYTES * 6 + 4096


async def _markdown_body(request: web.Request) -> str | web.Response:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ARTICLE_BODY_BYTES:
            return error_response(413, "too_large", f"Articles can be up to {MAX_ARTICLE_BYTES // 1000} kB.")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "malformed", 'Send {"markdown": "---\\nid: ...\\n---\\n..."}.')
    markdown = body.get("markdown") if isinstance(body, dict) else None
    if not isinstance(markdown, str):
        return error_response(
            400, "malformed", 'Send {"markdown": "..."} with the whole article, front matter included.'
        )
    if len(markdown.encode()) > MAX_ARTICLE_BYTES:
        return error_response(413, "too_large", f"Articles can be up to {MAX_ARTICLE_BYTES // 1000} kB.")
    return markdown


async def _save(request: web.Request, article_id: str, markdown: str, creating: bool) -> web.StreamResponse:
    path = _path_for(request, article_id)
    if path is None:
        return error_response(400, "bad_id", "Ids are lowercase letters, digits and dashes.")
    try:
        article = parse_article(path, text=markdown)
    except ArticleError as exc:
        return error_response(422, "invalid_article", exc.problem)
    if article.id != article_id:
        return error_response(422, "invalid_article", f"the front matter id '{article.id}' differs from '{article_id}'")
    if creating and path.exists():
        return error_response(409, "exists", f"An article with id '{article_id}' already exists; use PUT to change it.")
    if not creating and not path.exists():
        return error_response(404, "not_found", "No article with that id; use POST /api/articles to create it.")
    _write_atomically(path, markdown)
    request.app[REBUILDS].request(f"{'created' if creating else 'updated'} {article_id}")
    return web.json_response({**_summary(path), "build": "started"}, status=201 if creating else 200)


@routes.post("/api/articles")
@content_auth("editor")
async def create_article(request: web.Request) -> web.StreamResponse:
    markdown = await _markdown_body(request)
    if isinstance(markdown, web.Response):
        return markdown
    try:
        article_id = parse_article(Path("new-article.md"), text=markdown).id
    except ArticleError as exc:
        return error_response(422, "invalid_article", exc.problem)
    return await _save(request, article_id, markdown, creating=True)


@routes.put("/api/articles/{article_id}")
@content_auth("editor")
async def update_article(request: web.Request) -> web.StreamResponse:
    markdown = await _markdown_body(request)
    if isinstance(markdown, web.Response):
        return markdown
    return await _save(request, request.match_info["article_id"], markdown, creating=False)


@routes.delete("/api/articles/{article_id}")
@content_auth("editor")
async def delete_article(request: web.Request) -> web.StreamResponse:
    article_id = request.match_info["article_id"]
    path = _path_for(request, article_id)
    if path is None or not path.is_file():
        return error_response(404, "not_found", "No article with that id.")
    path.unlink()
    request.app[REBUILDS].request(f"deleted {article_id}")
    return web.json_response({"deleted": article_id, "build": "started"})
