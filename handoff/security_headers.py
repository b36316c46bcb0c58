"""Security headers on every response, errors included: a strict CSP (no inline scripts), no
sniffing, no framing.

They are added when a response is prepared (aiohttp's on_response_prepare signal), not by a
middleware: a middleware never sees the 404 of an unknown path, the 405 of a wrong method or the
413 of an oversized body, which aiohttp answers on its own.
"""

from __future__ import annotations

from aiohttp import web

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path == "/static/widget.js":
        # The widget is embedded by other sites.
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
