"""Reply suggestions and "insert the article" (issue #15): the real hub on a real index of a small
help center (the embedding model the bot uses), through the agent API."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.articles_api import IndexRebuilds
from handoff.auth import hash_password
from knowledge_base.builder import build_index
from knowledge_base.settings import KBSettings
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, sign_in, start_conversation


async def _hub(aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings) -> TestClient:
    settings = replace(hub_settings(tmp_path), articles_dir=kb_settings.articles_dir)
    client = await aiohttp_client(create_app(settings, rebuilds=IndexRebuilds(lambda: kb_settings)))
    await client.app[STORE].create_agent("kim@kestrel.example", "Kim", hash_password(AGENT_PASSWORD))
    return client


@pytest.fixture
async def desk(aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings, embedder: Any) -> TestClient:
    build_index(kb_settings, embedder)
    return await _hub(aiohttp_client, tmp_path, kb_settings)


async def test_suggestions_are_the_passages_for_the_customers_last_messages(desk: TestClient) -> None:
    store = desk.app[STORE]
    cid = (await start_conversation(desk))["conversation_id"]
    path = f"/api/agent/conversations/{cid}/suggestions"
    assert (await desk.get(path)).status == 401
    await sign_in(desk, "kim@kestrel.example")
    assert await (await desk.get(path)).json() == {"status": "nothing_to_search", "suggestions": []}

    await store.append_message(cid, "customer", "hello")
    await store.append_message(cid, "bot", "We use the interbank rate on weekdays.")  # not the customer's words
    await store.append_message(cid, "customer", "I ordered a new card last week")
    await store.append_message(cid, "customer", "when will it arrive? can I get it faster?")
    body = await (await desk.get(path)).json()
    assert body["status"] == "ok" and 1 <= len(body["suggestions"]) <= 3
    best = body["suggestions"][0]
    assert best["article_id"] == "card-delivery"
    assert best["url"].startswith("http://127.0.0.1:8000/help/card-delivery")  # a link the customer can open
    assert best["passage"] in (
        "Standard delivery takes 5 to 7 business days after you order the card.",
        "Express delivery costs EUR 15 and arrives in 2 to 3 business days.",
    )
    assert len({s["article_id"] for s in body["suggestions"]}) == len(body["suggestions"])  # one per article

    # the customer's latest words decide: a new question brings its own article first
    await store.append_message(cid, "customer", "what exchange rate do you use for currency?")
    await store.append_message(cid, "customer", "is there a weekend fee?")
    await store.append_message(cid, "customer", "for changing money")
    again = await (await desk.get(path)).json()
    assert again["suggestions"][0]["article_id"] == "exchange-rates"
    assert (await desk.get("/api/agent/conversations/nope/suggestions")).status == 404


async def test_without_an_index_the_inbox_is_told_so(
    aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings
) -> None:
    client = await _hub(aiohttp_client, tmp_path, replace(kb_settings, index_dir=tmp_path / "never-built"))
    cid = (await start_conversation(client))["conversation_id"]
    await client.app[STORE].append_message(cid, "customer", "where is my card")
    await sign_in(client, "kim@kestrel.example")
    response = await client.get(f"/api/agent/conversations/{cid}/suggestions")
    assert response.status == 200
    assert await response.json() == {"status": "no_index", "suggestions": []}


async def test_any_article_by_its_title_with_its_link_and_first_passage(desk: TestClient) -> None:
    assert (await desk.get("/api/agent/articles?q=exchange")).status == 401
    await sign_in(desk, "kim@kestrel.example")
    found = await (await desk.get("/api/agent/articles?q=Exchange")).json()
    assert found == {
        "articles": [
            {
                "id": "exchange-rates",
                "title": "Exchange rates and fees",
                "url": "http://127.0.0.1:8000/help/exchange-rates",
                "passage": "We use the interbank rate on weekdays.",
            }
        ]
    }
    several = await (await desk.get("/api/agent/articles?q=card")).json()
    # every test article is in the category "cards": those with the word in their title come first
    assert [a["id"] for a in several["articles"]] == [
        "card-delivery",
        "lost-or-stolen-card",
        "exchange-rates",
        "top-up-by-bank-transfer",
    ]
    assert (await (await desk.get("/api/agent/articles?q=nothing-like-it")).json())["articles"] == []
    for bad in ("", "?q=", "?q=%20", "?q=" + "x" * 101):
        assert (await desk.get(f"/api/agent/articles{bad}")).status == 400, bad
