"""The content API on a real hub: auth, validation errors, and a write that reaches the index."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.articles_api import REBUILDS, IndexRebuilds
from handoff.auth import hash_password
from handoff.pages import ARTICLE_PATHS
from knowledge_base import index_store
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher
from knowledge_base.settings import KBSettings
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, sign_in

TOKEN = "content-tool-token-for-tests-0123456789"
NEW_ARTICLE = """---
id: savings-pots
title: Savings pots
category: account
tags: [savings]
updated: 2026-11-01
questions:
  - How do I put money aside in a pot?
---
Pots let you set money aside inside your Kestrel account.

## Create a pot
Open the app > Accounts > Pots > New pot, name it and move money in.
"""


@pytest.fixture
async def content_hub(aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings, embedder) -> TestClient:
    build_index(kb_settings, embedder)
    settings = replace(hub_settings(tmp_path), articles_dir=kb_settings.articles_dir, content_api_token=TOKEN)  # type: ignore[arg-type]
    client = await aiohttp_client(create_app(settings, rebuilds=IndexRebuilds(lambda: kb_settings)))
    await client.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "editor")
    await client.app[STORE].create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    return client


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_content_api_needs_a_token_or_an_agent(content_hub: TestClient) -> None:
    assert (await content_hub.get("/api/articles")).status == 401
    assert (await content_hub.get("/api/articles", headers=bearer("wrong"))).status == 401
    listed = await content_hub.get("/api/articles", headers=bearer())
    assert listed.status == 200
    assert {a["id"] for a in (await listed.json())["articles"]} >= {"card-delivery", "exchange-rates"}
    await sign_in(content_hub)
    assert (await content_hub.get("/api/articles/card-delivery")).status == 200


async def test_invalid_articles_are_refused_with_the_problem(content_hub: TestClient) -> None:
    broken = await content_hub.post("/api/articles", json={"markdown": "---\nid: x-y\n---\nbody"}, headers=bearer())
    assert broken.status == 422 and "lacks title, category, updated" in (await broken.json())["error"]["message"]
    mismatch = await content_hub.put("/api/articles/card-delivery", json={"markdown": NEW_ARTICLE}, headers=bearer())
    assert mismatch.status == 422 and "differs" in (await mismatch.json())["error"]["message"]
    missing = await content_hub.put("/api/articles/savings-pots", json={"markdown": NEW_ARTICLE}, headers=bearer())
    assert missing.status == 404
    not_json = await content_hub.post("/api/articles", data="nope", headers=bearer())
    assert not_json.status == 400


async def test_create_update_delete_reach_the_index(content_hub: TestClient, kb_settings: KBSettings, embedder) -> None:
    searcher = Searcher(kb_settings, embedder)
    created = await content_hub.post("/api/articles", json={"markdown": NEW_ARTICLE}, headers=bearer())
    assert created.status == 201 and (await created.json())["build"] == "started"
    assert (await content_hub.post("/api/articles", json={"markdown": NEW_ARTICLE}, headers=bearer())).status == 409
    await content_hub.app[REBUILDS].wait()
    assert content_hub.app[REBUILDS].last["status"] == "done"
    assert searcher.search("how do I set money aside in a pot").best.article_id == "savings-pots"

    updated_text = NEW_ARTICLE.replace("move money in", "move money in; pots earn no interest")
    updated = await content_hub.put("/api/articles/savings-pots", json={"markdown": updated_text}, headers=bearer())
    assert updated.status == 200
    await content_hub.app[REBUILDS].wait()
    read = await (await content_hub.get("/api/articles/savings-pots", headers=bearer())).json()
    assert "earn no interest" in read["markdown"]

    deleted = await content_hub.delete("/api/articles/savings-pots", headers=bearer())
    assert deleted.status == 200
    await content_hub.app[REBUILDS].wait()
    manifest = index_store.require_current_version(kb_settings.index_dir).read_manifest()
    assert "savings-pots" not in manifest["articles"]


async def test_articles_up_to_the_documented_200_kb_are_accepted(content_hub: TestClient) -> None:
    """The hub's 64 KiB body limit made the documented 200 kB article limit unreachable."""
    section = "\n\n## More\nPots let you set money aside, and you can rename a pot whenever you like."
    large = NEW_ARTICLE + section * (150_000 // len(section))
    assert 150_000 < len(large.encode()) < 200_000
    created = await content_hub.post("/api/articles", json={"markdown": large}, headers=bearer())
    assert created.status == 201, await created.text()
    too_large = NEW_ARTICLE.replace("savings-pots", "big-pots") + section * (210_000 // len(section))
    refused = await content_hub.post("/api/articles", json={"markdown": too_large}, headers=bearer())
    assert refused.status == 413 and "up to 200 kB" in (await refused.json())["error"]["message"]
    # Error replies carry the security headers too (a 404 aiohttp answers on its own, a 413).
    for response in (refused, await content_hub.get("/no-such-page")):
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_help_page_misses_do_not_walk_the_folder_each_time(content_hub: TestClient) -> None:
    assert (await content_hub.get("/help/card-delivery")).status == 200
    for n in range(30):
        assert (await content_hub.get(f"/help/no-such-article-{n}")).status == 404
    assert content_hub.app[ARTICLE_PATHS].walks == 1
