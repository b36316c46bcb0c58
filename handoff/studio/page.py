"""/studio (the content team's page, a static shell whose script calls the studio API) and
/studio/preview (a draft rendered exactly as /help/<id> renders it, for the editor's preview
frame).

The preview is a plain form post into a sandboxed same-origin frame: the server renders the
Markdown (html=False) and the page's script never inserts HTML. That one response may be framed
by the hub's own pages (frame-ancestors 'self'); everything else keeps frame-ancestors 'none'.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from aiohttp import web

from handoff import auth
from handoff.pages import STATIC_DIR, article_html
from handoff.security_headers import CSP
from handoff.studio.drafts import MAX_ARTICLE_BYTES, FormError, form_from_input
from knowledge_base.articles import ArticleError, parse_article

routes = web.RouteTableDef()
PREVIEW_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@routes.get("/studio")
async def studio(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "studio.html")


def _message_page(text: str) -> str:
    from html import escape

    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="stylesheet" href="/static/help.css">'
        f'</head><body><main class="article"><p class="preview-note">{escape(text)}</p></main></body></html>'
    )


@routes.post("/studio/preview")
@auth.role_required("agent")
async def preview(request: web.Request) -> web.StreamResponse:
    raw = await request.content.read(MAX_ARTICLE_BYTES * 4 + 8192)
    fields = {key: values[-1] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}
    fields.setdefault("id", "preview")
    fields.setdefault("title", "(no title yet)")
    fields.setdefault("category", "(no category yet)")
    if not fields.get("body", "").strip():
        page = _message_page("Write the article's text to see it here.")
    else:
        try:
            form = form_from_input(fields)
            page = article_html(parse_article(Path(f"{form.id}.md"), text=form.markdown()), widget=False)
        except FormError as exc:
            page = _message_page("The preview shows once these are fixed: " + str(exc))
        except ArticleError as exc:
            page = _message_page("The preview shows once this is fixed: " + exc.problem)
    return web.Response(text=page, content_type="text/html", headers={"Content-Security-Policy": PREVIEW_CSP})
