"""The content studio, registered with one call: `setup(app)` (handoff/app.py calls it).

- `drafts`: the editor form to and from an article file, validated per field;
- `activity`: helpfulness, reads and the bot's answers per article, recounted at most every 30 s;
- `catalog`: every article with its lint warnings, cached by file stat (also read by the help center);
- `publishing`: revision, file and incremental build, audited; edits made outside the studio recorded;
- `try_it`: what the bot would do with a question, on the saved index or with a draft;
- `api`: /api/studio/...; `page`: /studio and its preview.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from handoff.app_keys import SETTINGS
from handoff.studio import api, page, publishing
from handoff.studio.activity import ACTIVITY, ActivityFigures
from handoff.studio.catalog import CATALOG, ArticleCatalog

log = logging.getLogger(__name__)


async def _warm_catalog(app: web.Application) -> AsyncIterator[None]:
    """Parse every article once in the background at start (about 10 s at 10,000 articles), so
    the first visit to the studio or the help center does not pay for it."""
    warming = asyncio.create_task(asyncio.to_thread(app[CATALOG].entries, app[SETTINGS].articles_dir))
    yield
    if not warming.done():
        warming.cancel()  # the thread finishes its walk on its own; nothing waits for it
    elif not warming.cancelled() and warming.exception() is not None:
        log.warning("could not read the articles folder at start: %s", warming.exception())


def setup(app: web.Application) -> None:
    """Needs the app's LIVE_SEARCH and REBUILDS (set by create_app before it is called)."""
    app[CATALOG] = ArticleCatalog()
    app.cleanup_ctx.append(_warm_catalog)
    app[ACTIVITY] = ActivityFigures()
    app[publishing.LOCK] = asyncio.Lock()
    api.setup_api(app)
    app.router.add_routes(page.routes)
