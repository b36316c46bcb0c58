"""The help center customers browse: /help (categories, most read, a search box), /help/search
(a ranked list from the same search the bot uses), and /help/<id> (the article, "Was this
helpful?" and related articles).

Server-rendered HTML, every string escaped, article bodies rendered with html=False
(pages.render_body); plain links and forms, so it reads and works without JavaScript and under
the hub's CSP. The search loads the embedding model on its first use (seconds), then answers in
milliseconds (scripts/bench_studio.py).
"""

from __future__ import annotations

import asyncio
import html
import logging
from urllib.parse import quote, urlencode

from aiohttp import web

from handoff.app_keys import SETTINGS, STORE
from handoff.auth import same_origin
from handoff.kb_access import LIVE_SEARCH
from handoff.pages import article_html, find_article
from handoff.studio.activity import ACTIVITY
from handoff.studio.catalog import CATALOG, Entry
from knowledge_base.articles import ARTICLE_ID
from knowledge_base.index_store import IndexNotBuilt

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MOST_READ = 8
RELATED = 5
SEARCH_RESULTS = 10
MAX_QUERY = 300


def _page(title: str, main: str) -> web.Response:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · Kestrel Help</title>
<link rel="stylesheet" href="/static/help.css"></head>
<body><main class="article help-home">{main}</main><script src="/static/widget.js" defer></script></body></html>"""
    return web.Response(text=page, content_type="text/html")


def _search_form(query: str = "") -> str:
    return f"""<form class="help-search" role="search" method="get" action="/help/search">
<label for="help-q">Search the help center</label>
<div class="help-search__row"><input id="help-q" name="q" type="search" value="{html.escape(query)}"
 maxlength="{MAX_QUERY}" placeholder="e.g. my card has not arrived" required>
<button type="submit">Search</button></div></form>"""


def _link(entry_id: str, title: str) -> str:
    return f'<a href="/help/{quote(entry_id)}">{html.escape(title)}</a>'


async def _entries(request: web.Request) -> list[Entry]:
    entries = await asyncio.to_thread(request.app[CATALOG].entries, request.app[SETTINGS].articles_dir)
    return [e for e in entries if not e.error]


@routes.get("/help")
async def help_home(request: web.Request) -> web.StreamResponse:
    """Categories with their articles, the most read articles, and the search box; `?category=`
    shows one category."""
    entries = await _entries(request)
    chosen = request.query.get("category", "")[:100]
    by_category: dict[str, list[Entry]] = {}
    for entry in entries:
        by_category.setdefault(entry.category, []).append(entry)
    activity = await request.app[ACTIVITY].get(request.app[STORE])
    titles = {e.id: e.title for e in entries}
    ranked = sorted(
        (a for a in activity if a in titles),
        key=lambda a: -(activity[a]["reads"] + activity[a]["answers"]),
    )
    most_read = [a for a in ranked if activity[a]["reads"] + activity[a]["answers"] > 0][:MOST_READ]
    parts = [
        '<p class="crumbs"><a href="/">Kestrel</a> › <a href="/help">Help center</a></p>',
        "<h1>How can we help?</h1>",
        _search_form(),
    ]
    if most_read and not chosen:
        items = "".join(f"<li>{_link(a, titles[a])}</li>" for a in most_read)
        parts.append(
            f'<section aria-labelledby="most-read"><h2 id="most-read">Most read</h2><ol>{items}</ol></section>'
        )
    shown = {chosen: by_category[chosen]} if chosen in by_category else by_category
    cards = []
    for category in sorted(shown):
        links = "".join(f"<li>{_link(e.id, e.title)}</li>" for e in sorted(shown[category], key=lambda e: e.title))
        heading = f'<a href="/help?{urlencode({"category": category})}">{html.escape(category)}</a>'
        cards.append(
            f'<section class="category"><h3>{heading} <span class="count">{len(shown[category])}</span></h3>'
            f"<ul>{links}</ul></section>"
        )
    parts.append(f"<h2>{'Articles in ' + html.escape(chosen) if chosen in by_category else 'Categories'}</h2>")
    parts.append(f'<div class="categories">{"".join(cards)}</div>')
    return _page("Help center", "\n".join(parts))


@routes.get("/help/search")
async def help_search(request: web.Request) -> web.StreamResponse:
    """The question searched as the bot searches it; every article it finds, best first (no
    answer tier: customers choose)."""
    query = request.query.get("q", "").strip()[:MAX_QUERY]
    parts = ['<p class="crumbs"><a href="/">Kestrel</a> › <a href="/help">Help center</a> › Search</p>']
    parts.append("<h1>Search results</h1>")
    parts.append(_search_form(query))
    if not query:
        parts.append("<p>Type a question above.</p>")
        return _page("Search", "\n".join(parts))
    try:
        result = await request.app[LIVE_SEARCH].search(query, SEARCH_RESULTS)
    except IndexNotBuilt:
        parts.append('<p role="status">Search is not available yet; browse the categories instead.</p>')
        return _page("Search", "\n".join(parts))
    items = []
    for hit in result.hits:
        snippet = hit.passage if len(hit.passage) <= 240 else hit.passage[:240].rsplit(" ", 1)[0] + " …"
        section = f" › {html.escape(hit.section)}" if hit.section and hit.section != hit.title else ""
        items.append(
            f'<li><a href="{html.escape(hit.url)}">{html.escape(hit.title)}</a>{section}'
            f'<p class="snippet">{html.escape(snippet)}</p></li>'
        )
    if items:
        parts.append(f'<p role="status">{len(items)} articles for “{html.escape(query)}”</p>')
        parts.append(f'<ol class="results">{"".join(items)}</ol>')
    else:
        parts.append(f'<p role="status">Nothing found for “{html.escape(query)}”.</p>')
    return _page(f"Search: {query}", "\n".join(parts))


def _related(entries: list[Entry], article_id: str) -> list[Entry]:
    """Articles sharing the most tags, then the same category (no model: the page stays fast)."""
    me = next((e for e in entries if e.id == article_id), None)
    if me is None:
        return []
    scored = []
    for entry in entries:
        if entry.id == article_id:
            continue
        score = 2 * len(set(entry.tags) & set(me.tags) - {"test"}) + (entry.category == me.category)
        if score:
            scored.append((-score, entry.title, entry))
    return [entry for *_key, entry in sorted(scored, key=lambda s: (s[0], s[1]))[:RELATED]]


@routes.get("/help/{article_id}")
async def help_article(request: web.Request) -> web.StreamResponse:
    article_id = request.match_info["article_id"]
    article = find_article(request, article_id)
    await request.app[STORE].count_help_page(article.id, read=1)
    answered = request.query.get("helpful")
    if answered in ("yes", "no"):
        feedback = '<p class="feedback" role="status">Thanks for telling us.</p>'
    else:
        feedback = f"""<form class="feedback" method="post" action="/help/{quote(article.id)}/feedback">
<fieldset><legend>Was this helpful?</legend>
<button type="submit" name="helpful" value="yes">Yes</button>
<button type="submit" name="helpful" value="no">No</button></fieldset></form>"""
    related = _related(await _entries(request), article.id)
    related_html = ""
    if related:
        items = "".join(f"<li>{_link(e.id, e.title)}</li>" for e in related)
        related_html = f'<section class="related" aria-labelledby="related"><h2 id="related">Related articles</h2><ul>{items}</ul></section>'
    return web.Response(text=article_html(article, feedback + related_html), content_type="text/html")


@routes.post("/help/{article_id}/feedback")
async def help_feedback(request: web.Request) -> web.StreamResponse:
    """The page's "Was this helpful?" (a plain form: works without JavaScript); counted per
    article, shown in the studio next to the widget's answers."""
    article_id = request.match_info["article_id"]
    if not ARTICLE_ID.match(article_id) or not same_origin(request):
        raise web.HTTPForbidden(text="Answer from the article's page.")
    form = await request.post()
    helpful = form.get("helpful")
    if helpful not in ("yes", "no"):
        raise web.HTTPBadRequest(text="Answer yes or no.")
    find_article(request, article_id)  # 404 for an article that is not there
    await request.app[STORE].count_help_page(article_id, yes=int(helpful == "yes"), no=int(helpful == "no"))
    raise web.HTTPSeeOther(f"/help/{quote(article_id)}?helpful={helpful}")
