"""HTTP error replies: one JSON shape, `{"error": {"code", "message"}}`, and no echo of input.
(The WebSocket error frame is `contract.error_frame`.)"""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
