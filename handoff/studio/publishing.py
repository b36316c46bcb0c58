"""Publishing from the studio: a revision, then the article file, then an incremental index build.

The file in the articles folder stays the source the index is built from (so `kb build`, the
articles API and git keep working); the revisions are its history. Files changed outside the
studio (an editor's git pull, the articles API) are recorded as a revision by "outside the
studio" the next time the studio reads the article, so their text is never lost either and a
studio save based on the older text is refused like any other concurrent edit.

Publishing is serialized per hub process (one lock) so each file write follows its own revision.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from handoff.app_keys import SETTINGS, STORE
from handoff.articles_api import REBUILDS
from handoff.pages import ARTICLE_PATHS
from handoff.store import Agent, EditConflict, Revision
from handoff.studio.activity import ACTIVITY
from handoff.studio.catalog import CATALOG

OUTSIDE = "outside the studio"
LOCK = web.AppKey("studio_publish_lock", asyncio.Lock)


@dataclass(frozen=True)
class Published:
    revision: Revision
    #: the build request that includes this change (IndexRebuilds.request)
    build: int


def author_of(agent: Agent) -> str:
    return f"{agent.name} <{agent.email}>"


def article_path(app: web.Application, article_id: str) -> Path:
    """Where the article's file is (articles may sit in subfolders), or where a new one goes."""
    articles_dir = app[SETTINGS].articles_dir
    found = app[ARTICLE_PATHS].find(articles_dir, article_id)
    return found if found is not None else articles_dir / f"{article_id}.md"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _changed(app: web.Application) -> None:
    """After a write: the studio's list and figures are read afresh."""
    app[CATALOG].forget()
    app[ACTIVITY].forget()


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


async def current_revision(app: web.Application, article_id: str) -> Revision | None:
    """The article's latest revision, after recording a change made outside the studio."""
    store = app[STORE]
    for _attempt in range(3):
        latest = await store.latest_revision(article_id)
        text = _read(article_path(app, article_id))
        base = latest.number if latest else 0
        try:
            if text is not None and (latest is None or latest.deleted or latest.markdown != text):
                message = "the text as first seen by the studio" if latest is None else "changed outside the studio"
                return await store.save_revision(article_id, text, base, OUTSIDE, message)
            if text is None and latest is not None and not latest.deleted:
                return await store.save_revision(
                    article_id, "", base, OUTSIDE, "deleted outside the studio", deleted=True
                )
            return latest
        except EditConflict:  # a studio save landed meanwhile: look again
            continue
    return await store.latest_revision(article_id)


async def publish(
    app: web.Application, agent: Agent, article_id: str, markdown: str, base: int, message: str, action: str = "publish"
) -> Published:
    """Record revision base + 1 (EditConflict when `base` is not the latest), write the file,
    audit it, and start the incremental build."""
    async with app[LOCK]:
        await current_revision(app, article_id)
        revision = await app[STORE].save_revision(article_id, markdown, base, author_of(agent), message, agent.id)
        await asyncio.to_thread(write_atomically, article_path(app, article_id), markdown)
        _changed(app)
    await app[STORE].audit(
        f"{agent.role} {agent.id} <{agent.email}>",
        action,
        detail={"article_id": article_id, "revision": revision.number, "message": message[:200]},
        agent_id=agent.id,
    )
    return Published(revision, app[REBUILDS].request(f"{action} {article_id} (revision {revision.number})"))


async def delete(app: web.Application, agent: Agent, article_id: str, base: int, message: str) -> Published:
    """Deletion as a revision (undone by restoring the one before), then the file goes."""
    async with app[LOCK]:
        await current_revision(app, article_id)
        revision = await app[STORE].save_revision(
            article_id, "", base, author_of(agent), message or "deleted", agent.id, deleted=True
        )
        path = article_path(app, article_id)
        await asyncio.to_thread(path.unlink, True)
        _changed(app)
    await app[STORE].audit(
        f"{agent.role} {agent.id} <{agent.email}>",
        "delete",
        detail={"article_id": article_id, "revision": revision.number},
        agent_id=agent.id,
    )
    return Published(revision, app[REBUILDS].request(f"deleted {article_id} (revision {revision.number})"))
