"""Run the rasa-sdk action server on 127.0.0.1 with the knowledge base warmed up.

rasa-sdk's own CLI binds 0.0.0.0 and allows CORS `*`; its /webhook has no auth, so this
entry point listens on loopback only and loads the index before the first customer asks.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions import kb_service

log = logging.getLogger("actions.server")


def build_app() -> Sanic:
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])

    @app.before_server_start
    async def warm_knowledge_base(_app: Sanic) -> None:
        try:
            searcher = await asyncio.to_thread(kb_service.get_searcher)
            log.info("knowledge base ready: index %s", searcher.version)
        except Exception as exc:  # the server still runs; answers hand off as kb_unavailable
            log.error("knowledge base not loaded (%s); run `make index`", exc)

    @app.get("/kb/health")
    async def kb_health(_request: Request) -> HTTPResponse:
        try:
            version = kb_service.get_searcher().version
        except Exception as exc:
            return json({"status": "unavailable", "error": str(exc)}, status=503)
        return json({"status": "ok" if version else "no_index", "version": version}, status=200 if version else 503)

    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # rasa-sdk 3.21 serves Rasa 3.6.21 correctly but warns about the version gap at start.
    warnings.filterwarnings("ignore", message=".*rasa.*version.*", category=UserWarning)
    settings = kb_service.settings()
    app = build_app()
    app.run(host=settings.host, port=settings.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
