"""The help center beside the reply box, for agents: the passages most relevant to what the
customer last wrote (`GET /api/agent/conversations/{id}/suggestions`), and any article by its
title, with its link and first passage, for the saved-replies picker (`GET /api/agent/articles`).

The hub searches the live index itself, as the studio's "try it" and the help center do
(`handoff/kb_access.py`: the bot's own `Searcher`, loaded on first use, following each new index
version); the action server has no search endpoint to call (only `/kb/health`). Nothing leaves
the machine.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from handoff import auth
from handoff.app_keys import SETTINGS, STORE
from handoff.errors import error_response
from handoff.kb_access import LIVE_SEARCH
from handoff.store import NotFound
from handoff.studio.catalog import CATALOG
from knowledge_base.articles import ArticleError, parse_article
from knowledge_base.chunking import chunk_article
from knowledge_base.corpus import article_url
from knowledge_base.index_store import IndexNotBuilt

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
#: how many of the customer's latest messages the suggestions are searched with
CUSTOMER_MESSAGES = 3
SUGGESTIONS = 3
ARTICLES = 8
MAX_QUERY = 100
#: characters of the customer's words searched (the embedding model reads about 256 tokens)
MAX_SEARCH_CHARS = 1000


def absolute(request: web.Request, url: str) -> str:
    """An article's link as a customer can open it from a reply (the index keeps it relative)."""
    return request.app[SETTINGS].public_url + url if url.startswith("/") else url


async def customer_words(request: web.Request, conversation_id: str) -> str:
    """The customer's last few messages, oldest first, as one text."""
    messages = await request.app[STORE].messages_before(conversation_id, None, 100)
    said = [m.text for m in messages if m.sender == "customer" and m.text.strip()]
    return " ".join(said[-CUSTOMER_MESSAGES:])[-MAX_SEARCH_CHARS:]


@routes.get("/api/agent/conversations/{conversation_id}/suggestions")
@auth.agent_required
async def suggestions(request: web.Request) -> web.StreamResponse:
    """Up to three help-center passages for the customer's last messages, best first; `status` is
    `ok`, `nothing_to_search` (the customer has written nothing) or `no_index` (none built yet)."""
    conversation_id = request.match_info["conversation_id"]
    try:
        await request.app[STORE].get_conversation(conversation_id)
    except NotFound as exc:
        return error_response(404, exc.code, str(exc))
    words = await customer_words(request, conversation_id)
    if not words:
        return web.json_response({"status": "nothing_to_search", "suggestions": []})
    try:
        result = await request.app[LIVE_SEARCH].search(words, SUGGESTIONS)
    except IndexNotBuilt:
        return web.json_response({"status": "no_index", "suggestions": []})
    return web.json_response(
        {
            "status": "ok",
            "suggestions": [
                {
                    "article_id": hit.article_id,
                    "title": hit.title,
                    "section": hit.section,
                    "passage": hit.passage,
                    "url": absolute(request, hit.url),
                    "score": round(hit.score, 4),
                }
                for hit in result.hits
            ],
        }
    )


def _first_passage(path: str) -> str:
    try:
        passages = chunk_article(parse_article(Path(path)))
    except (ArticleError, OSError):  # changed or deleted since the catalog listed it
        return ""
    return passages[0].text if passages else ""


@routes.get("/api/agent/articles")
@auth.agent_required
async def articles(request: web.Request) -> web.StreamResponse:
    """`?q=words`: up to eight help-center articles whose id, title, category or tags hold every
    word, with their link and first passage (what "insert the article" puts in a reply)."""
    words = request.query.get("q", "").lower().split()
    if not words or len(" ".join(words)) > MAX_QUERY:
        return error_response(400, "malformed", f"Add ?q= with a word or a few (up to {MAX_QUERY} characters).")
    entries = await asyncio.to_thread(request.app[CATALOG].entries, request.app[SETTINGS].articles_dir)
    found = [e for e in entries if not e.error and e.matches(words)]
    found.sort(key=lambda e: (not all(w in e.title.lower() for w in words), e.title.lower()))
    chosen, kb_settings = found[:ARTICLES], request.app[LIVE_SEARCH].settings
    passages = await asyncio.to_thread(lambda: [_first_passage(e.path) for e in chosen])
    return web.json_response(
        {
            "articles": [
                {
                    "id": entry.id,
                    "title": entry.title,
                    "url": absolute(request, article_url(kb_settings, entry.id)),
                    "passage": passage,
                }
                for entry, passage in zip(chosen, passages, strict=True)
            ]
        }
    )
