"""Pages the hub serves: the demo site with the widget, the agent inbox, and the rendering of
help-center articles (the help center's routes are in handoff/help_center.py)."""

from __future__ import annotations

import html
import time
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from markdown_it import MarkdownIt

from handoff.app_keys import SETTINGS
from knowledge_base.articles import Article, ArticleError, parse_article
from knowledge_base.chunking import slugify

STATIC_DIR = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()
# html=False: raw HTML in an article is shown as text, never rendered.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
_default_link_validator = _markdown.validateLink


def _safe_link(url: str) -> bool:
    return url.startswith(("http://", "https://", "/", "#")) and bool(_default_link_validator(url))


_markdown.validateLink = _safe_link  # type: ignore[method-assign]  # markdown-it's documented hook


@routes.get("/")
async def demo_site(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


@routes.get("/inbox")
async def inbox(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "inbox.html")


class ArticlePaths:
    """Where each article file is (articles may sit in subfolders). The folder is walked at most
    once per `REFRESH_SECONDS`, not per request: before, every miss ran a recursive glob, so a
    flood of /help/<random> requests walked the disk at the flood's rate."""

    REFRESH_SECONDS = 10.0

    def __init__(self) -> None:
        self._paths: dict[str, Path] = {}
        self._walked_at = float("-inf")
        self.walks = 0

    def find(self, articles_dir: Path, article_id: str) -> Path | None:
        if not article_id.replace("-", "").isalnum():
            return None
        direct = articles_dir / f"{article_id}.md"
        if direct.is_file():
            return direct
        now = time.monotonic()
        if now - self._walked_at >= self.REFRESH_SECONDS:
            self._paths = {path.stem: path for path in articles_dir.rglob("*.md")}
            self._walked_at, self.walks = now, self.walks + 1
        found = self._paths.get(article_id)
        return found if found is not None and found.is_file() else None


ARTICLE_PATHS = web.AppKey("article_paths", ArticlePaths)


def render_body(body: str) -> str:
    """An article's Markdown as HTML: raw HTML shown as text (html=False), only http(s), relative
    and anchor links, and section anchors that match the bot's citation links. The help center
    and the studio's preview both render with this, so a preview is what customers will see."""
    tokens = _markdown.parse(body)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and index + 1 < len(tokens):
            token.attrSet("id", slugify(tokens[index + 1].content))
    return str(_markdown.renderer.render(tokens, _markdown.options, {}))


def article_html(article: Article, after: str = "", widget: bool = True) -> str:
    """The whole help-center page of one article (`after`: HTML already escaped, e.g. the
    helpfulness form and related articles)."""
    script = '<script src="/static/widget.js" defer></script>' if widget else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(article.title)} · Kestrel Help</title>
<link rel="stylesheet" href="/static/help.css"></head>
<body><main class="article"><p class="crumbs"><a href="/">Kestrel</a> › <a href="/help">Help center</a> › \
<a href="/help?category={quote(article.category)}">{html.escape(article.category)}</a></p>
<h1>{html.escape(article.title)}</h1>
<p class="updated">Updated {html.escape(article.updated)}</p>
{render_body(article.body)}
{after}
</main>{script}</body></html>"""


def find_article(request: web.Request, article_id: str) -> Article:
    """The published article, or 404 (a file being rewritten, or broken, is a 404 that says so)."""
    path = request.app[ARTICLE_PATHS].find(request.app[SETTINGS].articles_dir, article_id)
    if path is None:
        raise web.HTTPNotFound(text="No such help-center article.")
    try:
        return parse_article(path)
    except ArticleError:
        raise web.HTTPNotFound(text="This article is being updated; please try again shortly.") from None
