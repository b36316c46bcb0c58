""" "Try it": what the bot would do with a customer's question, on the saved index or with a draft.

The saved index is searched by the same `Searcher` the action server uses (handoff.kb_access).
A draft is tried by building a scratch index: the articles folder is mirrored with symbolic links
(the draft's own file replaces its article), the live version's files are linked into a scratch
index folder, and the real incremental build runs there, so only the draft's passages and
questions are embedded (a second or two) and the ranking is exactly the one a publish would give.
Nothing of the live help center or index is written.

What the bot would do follows actions/answers.py: the security rule (`is_security_matter`) and
the tiers, with HANDOFF_SECURITY_MIN_SCORE and HANDOFF_LOW_CONFIDENCE_TURNS read by the action
server's own settings (actions.settings).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson

from actions.answers import is_security_matter, trim_passage
from actions.settings import ActionSettings
from handoff.kb_access import LiveSearch
from knowledge_base import index_store
from knowledge_base.articles import article_files
from knowledge_base.builder import SOURCE_CACHE_FILE, build_index
from knowledge_base.search import Searcher, SearchResult, Tier
from knowledge_base.settings import KBSettings

TOP = 3


@functools.cache
def _action_settings() -> tuple[float, int]:
    settings = ActionSettings.from_env()
    return settings.security_min_score, settings.low_confidence_limit


def outcome(result: SearchResult) -> dict[str, Any]:
    """The search result as the editor sees it: tier, top articles, the quote, and the handoff."""
    min_score, low_turns = _action_settings()
    best = result.best
    security = is_security_matter(result, min_score)
    if security and best is not None:
        quote, does = trim_passage(best.lead or best.passage), "shows the safety step, then hands off to a person"
        handoff = {"would": True, "why": "the winning article needs a person (needs_person), a security matter"}
    elif result.tier == Tier.ANSWER and best is not None:
        quote, does = trim_passage(best.passage), "answers with this passage and asks “Did that help?”"
        handoff = {"would": False, "why": "answered; a person only if the customer says it did not help"}
    elif result.tier == Tier.SUGGEST:
        quote, does = "", "suggests up to three articles and offers a person"
        handoff = {"would": False, "why": "suggested; a person if the customer asks"}
    else:
        quote, does = "", "says it found no answer and asks to rephrase, offering a person"
        handoff = {
            "would": low_turns <= 1,
            "why": f"no answer: it hands off after {low_turns} such turns in a row",
        }
    return {
        "tier": result.tier.value,
        "does": does,
        "quote": quote,
        "handoff": handoff,
        "version": result.version,
        "articles": [
            {
                "id": hit.article_id,
                "title": hit.title,
                "section": hit.section,
                "score": round(hit.score, 3),
                "passage": trim_passage(hit.passage, 300),
            }
            for hit in result.hits
        ],
    }


def _mirror_articles(source: Path, target: Path, draft_id: str, draft: str | None, cache: Path | None) -> None:
    """`target` holds a link to each article under `source`, the draft replacing its own article
    (None: the article is left out, as a deletion would). The build cache is copied with its paths
    moved, so linked files (same stat) are not parsed again."""
    replaced = False
    for name in article_files(source, as_str=True):
        relative = os.path.relpath(name, source)
        if Path(name).stem == draft_id:
            replaced = True
            if draft is None:
                continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if Path(name).stem == draft_id:
            destination.write_text(draft or "", encoding="utf-8")
        else:
            os.symlink(os.path.abspath(name), destination)
    if not replaced and draft is not None:
        (target / f"{draft_id}.md").write_text(draft, encoding="utf-8")
    if cache is not None and cache.is_file():
        try:
            data = orjson.loads(cache.read_bytes())
            prefix, moved = os.path.join(str(source), ""), {}
            for path, record in data.get("files", {}).items():
                if path.startswith(prefix):
                    moved[os.path.join(str(target), path[len(prefix) :])] = record
            data["files"] = moved
            (target.parent / "index" / SOURCE_CACHE_FILE).write_bytes(orjson.dumps(data))
        except (OSError, ValueError, AttributeError):
            pass  # no cache: every article is parsed, which only costs time


def _link_live_version(kb: KBSettings, index_dir: Path) -> None:
    live = index_store.current_version(kb.index_dir)
    if live is None:
        return
    version_dir = index_dir / index_store.VERSIONS_DIR / live.name
    version_dir.mkdir(parents=True)
    for item in live.path.iterdir():
        os.symlink(item.resolve(), version_dir / item.name)
    (index_dir / index_store.CURRENT_FILE).write_text(live.name + "\n", encoding="utf-8")


def try_draft_now(kb: KBSettings, searcher: Searcher, draft_id: str, draft: str | None, question: str) -> SearchResult:
    """The question searched on the live index with the draft in place (blocking)."""
    with tempfile.TemporaryDirectory(prefix="studio-try-") as scratch:
        root = Path(scratch)
        articles, index_dir = root / "articles", root / "index"
        articles.mkdir()
        index_dir.mkdir()
        _link_live_version(kb, index_dir)
        _mirror_articles(kb.articles_dir, articles, draft_id, draft, kb.index_dir / SOURCE_CACHE_FILE)
        scratch_kb = dataclasses.replace(kb, articles_dir=articles, index_dir=index_dir, tune="off")
        build_index(scratch_kb, searcher.embedder)
        result = Searcher(scratch_kb, searcher.embedder).search(question, TOP)
        shutil.rmtree(index_dir, ignore_errors=True)
        return result


class TryIt:
    """One draft build at a time (each embeds and writes a scratch index)."""

    def __init__(self, live: LiveSearch) -> None:
        self._live = live
        self._draft_lock = asyncio.Lock()

    async def saved(self, question: str) -> dict[str, Any]:
        return outcome(await self._live.search(question, TOP))

    async def with_draft(self, draft_id: str, draft: str | None, question: str) -> dict[str, Any]:
        async with self._draft_lock:
            searcher = await asyncio.to_thread(self._live.searcher)
            result = await asyncio.to_thread(try_draft_now, self._live.settings, searcher, draft_id, draft, question)
        return outcome(result)
