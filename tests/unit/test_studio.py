"""The content studio's API and the browsable help center on a real hub: real SQLite, real article
files, real incremental index builds and the real embedding model."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.articles_api import REBUILDS, IndexRebuilds
from handoff.auth import hash_password
from handoff.studio.activity import ACTIVITY
from handoff.studio.catalog import CATALOG
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher
from knowledge_base.settings import KBSettings
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, sign_in

POTS = {
    "id": "savings-pots",
    "title": "Savings pots",
    "category": "account",
    "tags": "savings, pots",
    "questions": "How do I put money aside in a pot?\nCan I save money in a separate pot?",
    "needs_person": False,
    "body": "Pots let you set money aside inside your Kestrel account.\n\n## Create a pot\nOpen the app > Accounts > Pots > New pot.",
}


@pytest.fixture
async def studio(aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings, embedder: Any) -> TestClient:
    build_index(kb_settings, embedder)
    settings = replace(hub_settings(tmp_path), articles_dir=kb_settings.articles_dir)
    client = await aiohttp_client(create_app(settings, rebuilds=IndexRebuilds(lambda: kb_settings)))
    store = client.app[STORE]
    await store.create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "editor")
    await store.create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    await store.create_agent("cleo@kestrel.example", "Cleo", hash_password(AGENT_PASSWORD), "editor")
    return client


async def publish(client: TestClient, form: dict[str, Any], base: int, message: str = "") -> Any:
    return await client.post(
        f"/api/studio/articles/{form['id']}/publish", json={"form": form, "base": base, "message": message}
    )


async def built(client: TestClient, response: Any) -> dict[str, Any]:
    """The publish's reply, once the build that includes it is done."""
    data = await response.json()
    assert response.status == 200, data
    await client.app[REBUILDS].wait()
    last = client.app[REBUILDS].last
    assert last["status"] == "done" and last["covers"] >= data["build"]["request"], last
    return dict(data)


async def test_everyone_signed_in_reads_agents_suggest_editors_publish(studio: TestClient) -> None:
    assert (await studio.get("/api/studio/articles")).status == 401
    await sign_in(studio, "bea@kestrel.example")  # an agent
    listed = await studio.get("/api/studio/articles")
    assert listed.status == 200 and (await listed.json())["total"] == 4
    assert (await publish(studio, POTS, 0)).status == 403
    assert (await studio.post("/api/studio/articles/card-delivery/delete", json={"base": 1})).status == 403
    suggested = await studio.post(
        "/api/studio/articles/savings-pots/suggestions", json={"form": POTS, "base": 0, "message": "new topic"}
    )
    assert suggested.status == 201
    suggestion = await suggested.json()
    assert (await studio.post(f"/api/studio/suggestions/{suggestion['id']}/publish", json={})).status == 403
    # state-changing requests from another origin are refused before anything else
    foreign = await studio.post(
        "/api/studio/articles/savings-pots/suggestions",
        json={"form": POTS, "base": 0},
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status == 403

    await sign_in(studio, "alex@kestrel.example")  # an editor publishes the suggestion
    result = await built(studio, await studio.post(f"/api/studio/suggestions/{suggestion['id']}/publish", json={}))
    assert result["revision"]["number"] == 1 and "suggested by Bea" in result["revision"]["message"]
    assert (await studio.get("/api/studio/suggestions")).status == 200
    assert (await (await studio.get("/api/studio/suggestions")).json())["suggestions"] == []
    page = await studio.get("/help/savings-pots")
    assert page.status == 200 and "Pots let you set money aside" in await page.text()


async def test_validation_errors_name_the_field(studio: TestClient, kb_settings: KBSettings) -> None:
    await sign_in(studio)
    bad = {**POTS, "id": "Savings Pots!", "title": "  ", "body": "", "questions": ["x" * 400]}
    refused = await studio.post("/api/studio/articles/savings-pots/publish", json={"form": bad, "base": 0})
    assert refused.status == 422
    fields = (await refused.json())["error"]["fields"]
    assert set(fields) == {"id", "title", "body", "questions"}
    assert "lowercase letters" in fields["id"] and "title" in fields["title"]
    broken_link = {**POTS, "body": "See [this](/help/no-such-article)."}
    refused = await publish(studio, broken_link, 0)
    assert refused.status == 422
    assert "/help/no-such-article, which does not exist" in (await refused.json())["error"]["fields"]["body"]
    taken = await publish(studio, {**POTS, "id": "card-delivery"}, 0)
    assert taken.status == 422 and "already exists" in (await taken.json())["error"]["fields"]["id"]
    assert not (kb_settings.articles_dir / "savings-pots.md").exists()


async def test_publish_keeps_history_reaches_the_index_and_is_audited(
    studio: TestClient, kb_settings: KBSettings, embedder: Any
) -> None:
    await sign_in(studio)
    first = await built(studio, await publish(studio, POTS, 0, "new article"))
    assert first["revision"]["number"] == 1
    assert first["build"]["request"] >= 1
    searcher = Searcher(kb_settings, embedder)
    assert searcher.search("How do I put money aside in a pot?").best.article_id == "savings-pots"  # type: ignore[union-attr]
    changed = {**POTS, "body": POTS["body"] + "\n\nPots earn no interest."}
    second = await built(studio, await publish(studio, changed, 1, "interest"))
    assert second["revision"]["number"] == 2
    assert "Pots earn no interest." in (kb_settings.articles_dir / "savings-pots.md").read_text()
    history = await (await studio.get("/api/studio/articles/savings-pots/revisions")).json()
    assert [(r["number"], r["author"], r["message"]) for r in history["revisions"]] == [
        (2, "Alex <alex@kestrel.example>", "interest"),
        (1, "Alex <alex@kestrel.example>", "new article"),
    ]
    diff = await (await studio.get("/api/studio/articles/savings-pots/diff?from=1&to=2")).json()
    assert {"kind": "+", "text": "Pots earn no interest."} in diff["lines"]
    audit = await studio.app[STORE].audit_entries(action="publish")
    assert [e.detail["revision"] for e in audit] == [2, 1] and audit[0].detail["article_id"] == "savings-pots"
    article = await (await studio.get("/api/studio/articles/savings-pots")).json()
    assert article["revision"] == 2 and article["form"]["tags"] == ["savings", "pots"]


async def test_a_second_save_of_the_same_base_is_refused_with_the_other_change(
    studio: TestClient, kb_settings: KBSettings
) -> None:
    await sign_in(studio)
    opened = await (await studio.get("/api/studio/articles/card-delivery")).json()
    assert opened["revision"] == 1 and opened["author"] == "outside the studio"  # the file as first seen
    base, form = opened["revision"], opened["form"]
    await sign_in(studio, "cleo@kestrel.example")
    await built(studio, await publish(studio, {**form, "title": "Card delivery times"}, base, "Cleo's title"))
    await sign_in(studio, "alex@kestrel.example")
    refused = await publish(studio, {**form, "body": form["body"] + "\n\nAlex's line."}, base, "Alex's line")
    assert refused.status == 409
    data = await refused.json()
    assert data["error"]["code"] == "edit_conflict" and "Cleo" in data["error"]["message"]
    assert data["theirs"]["number"] == 2 and data["theirs"]["message"] == "Cleo's title"
    assert {"kind": "+", "text": "title: Card delivery times"} in data["diff"]
    text = (kb_settings.articles_dir / "card-delivery.md").read_text()
    assert "Card delivery times" in text and "Alex's line" not in text  # never silently overwritten


async def test_a_change_made_outside_the_studio_is_kept_and_refuses_a_stale_save(
    studio: TestClient, kb_settings: KBSettings
) -> None:
    await sign_in(studio)
    opened = await (await studio.get("/api/studio/articles/exchange-rates")).json()
    path = kb_settings.articles_dir / "exchange-rates.md"
    path.write_text(path.read_text().replace("interbank rate", "interbank rate (edited in git)"))
    refused = await publish(studio, opened["form"], opened["revision"])
    assert refused.status == 409 and (await refused.json())["theirs"]["author"] == "outside the studio"
    history = await (await studio.get("/api/studio/articles/exchange-rates/revisions")).json()
    assert [r["number"] for r in history["revisions"]] == [2, 1]


async def test_delete_is_a_revision_and_restore_undoes_it(studio: TestClient, kb_settings: KBSettings) -> None:
    await sign_in(studio)
    first_text = (kb_settings.articles_dir / "exchange-rates.md").read_text()
    opened = await (await studio.get("/api/studio/articles/exchange-rates")).json()
    deleted = await built(
        studio, await studio.post("/api/studio/articles/exchange-rates/delete", json={"base": opened["revision"]})
    )
    assert deleted["revision"]["deleted"] is True
    assert not (kb_settings.articles_dir / "exchange-rates.md").exists()
    assert (await studio.get("/api/studio/articles/exchange-rates")).status == 404
    listed = await (await studio.get("/api/studio/articles")).json()
    assert [d["article_id"] for d in listed["deleted"]] == ["exchange-rates"]
    restored = await built(
        studio, await studio.post("/api/studio/articles/exchange-rates/restore", json={"number": 1, "base": 2})
    )
    assert restored["revision"]["number"] == 3 and restored["revision"]["message"] == "restored revision 1"
    assert (kb_settings.articles_dir / "exchange-rates.md").read_text() == first_text
    assert [e.action for e in await studio.app[STORE].audit_entries()][:2] == ["restore", "delete"]
    refused = await studio.post("/api/studio/articles/exchange-rates/restore", json={"number": 2, "base": 3})
    assert refused.status == 422  # the deletion itself is not a text to restore
    stale = await studio.post("/api/studio/articles/exchange-rates/restore", json={"number": 1, "base": 2})
    assert stale.status == 409


async def test_a_gap_question_becomes_an_example_question(studio: TestClient, kb_settings: KBSettings) -> None:
    await sign_in(studio)
    added = await built(
        studio,
        await studio.post(
            "/api/studio/articles/exchange-rates/questions", json={"question": "is the rate worse on sunday"}
        ),
    )
    assert added["revision"]["message"] == "example question: is the rate worse on sunday"
    assert "is the rate worse on sunday" in (kb_settings.articles_dir / "exchange-rates.md").read_text()
    again = await studio.post(
        "/api/studio/articles/exchange-rates/questions", json={"question": "is the rate worse on sunday"}
    )
    assert (await again.json())["unchanged"] is True
    assert (await studio.post("/api/studio/articles/exchange-rates/questions", json={"question": ""})).status == 400


async def test_the_list_shows_helpfulness_answers_and_warnings(studio: TestClient, kb_settings: KBSettings) -> None:
    store = studio.app[STORE]
    conversation, _ = await store.create_conversation({})
    await store.add_article_feedback(conversation.id, "card-delivery", True)
    await store.add_article_feedback(conversation.id, "card-delivery", False)
    await store.add_kb_query(conversation.id, "when does my card come", "answer", "card-delivery", 0.9)
    path = kb_settings.articles_dir / "exchange-rates.md"
    path.write_text(path.read_text().replace("tags: [test]", "tags: []") + "\nSee [fees](/help/gone).\n")
    studio.app[CATALOG].forget()  # a change outside the studio shows within 2 s; now, for the test
    await sign_in(studio, "bea@kestrel.example")
    data = await (await studio.get("/api/studio/articles?sort=answers")).json()
    first = data["articles"][0]
    assert (first["id"], first["helpful_yes"], first["helpful_no"], first["answers_30d"]) == ("card-delivery", 1, 1, 1)
    rates = next(a for a in data["articles"] if a["id"] == "exchange-rates")
    assert rates["warnings"] == ["has no tags", "links to /help/gone, which does not exist"]
    only = await (await studio.get("/api/studio/articles?warnings=1")).json()
    assert [a["id"] for a in only["articles"]] == ["exchange-rates"]
    found = await (await studio.get("/api/studio/articles?q=stolen")).json()
    assert [a["id"] for a in found["articles"]] == ["lost-or-stolen-card"]
    assert data["categories"] == ["cards"]
    assert (await studio.get("/api/studio/articles?sort=nope")).status == 400


async def test_the_preview_renders_like_the_help_page_with_html_as_text(studio: TestClient) -> None:
    await sign_in(studio, "bea@kestrel.example")
    body = "Hello <script>alert(1)</script>\n\n## Fees\n[x](javascript:alert(1))"
    response = await studio.post("/studio/preview", data={**POTS, "body": body})
    assert response.status == 200
    page = await response.text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert 'id="fees"' in page and 'href="javascript' not in page
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in (await studio.get("/studio")).headers["Content-Security-Policy"]


async def test_try_it_on_the_saved_index_and_with_a_draft(studio: TestClient, kb_settings: KBSettings) -> None:
    await sign_in(studio, "bea@kestrel.example")
    question = "How do I put money aside in a pot?"
    data = await (await studio.post("/api/studio/try", json={"question": question, "form": POTS})).json()
    assert data["saved"]["articles"][0]["id"] != "savings-pots"
    draft = data["draft"]
    assert draft["tier"] == "answer" and draft["articles"][0]["id"] == "savings-pots"
    assert draft["articles"][0]["score"] > data["saved"]["articles"][0]["score"]
    assert "Pots let you set money aside" in draft["quote"] and draft["handoff"]["would"] is False
    stolen = await (await studio.post("/api/studio/try", json={"question": "My card was stolen"})).json()
    assert stolen["saved"]["handoff"]["would"] is True and "Freeze your card" in stolen["saved"]["quote"]
    assert stolen["draft"] is None
    assert not (kb_settings.articles_dir / "savings-pots.md").exists()  # the draft stayed a draft
    assert (await studio.post("/api/studio/try", json={"question": ""})).status == 400


async def test_the_help_center_home_search_article_and_feedback(studio: TestClient) -> None:
    home = await studio.get("/help")
    text = await home.text()
    assert home.status == 200 and 'action="/help/search"' in text and "Exchange rates and fees" in text
    assert "<script" not in text.replace('<script src="/static/widget.js" defer></script>', "")
    found = await studio.get("/help/search", params={"q": "when will my card arrive"})
    results = await found.text()
    assert results.index("How long does card delivery take?") < results.index("</ol>")
    assert "/help/card-delivery" in results.split('<ol class="results">')[1].split("</li>")[0]
    page = await (await studio.get("/help/card-delivery")).text()
    assert "Was this helpful?" in page and "Related articles" in page
    answered = await studio.post("/help/card-delivery/feedback", data={"helpful": "no"}, allow_redirects=False)
    assert answered.status == 303 and answered.headers["Location"] == "/help/card-delivery?helpful=no"
    assert (await studio.post("/help/card-delivery/feedback", data={"helpful": "maybe"})).status == 400
    stats = await studio.app[STORE].article_activity(time.time() - 86400)
    assert stats["card-delivery"] == {"yes": 0, "no": 1, "answers": 0, "reads": 1}
    studio.app[ACTIVITY].forget()  # the figures are recounted every 30 s; now, for the test
    home = await (await studio.get("/help")).text()
    assert "Most read" in home and home.index("Most read") < home.index("How long does card delivery take?")


async def test_without_an_index_try_it_and_search_say_so(
    aiohttp_client: Any, tmp_path: Path, kb_settings: KBSettings
) -> None:
    settings = replace(hub_settings(tmp_path), articles_dir=kb_settings.articles_dir)
    client = await aiohttp_client(create_app(settings, rebuilds=IndexRebuilds(lambda: kb_settings)))
    await client.app[STORE].create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    await sign_in(client, "bea@kestrel.example")
    refused = await client.post("/api/studio/try", json={"question": "when will my card arrive"})
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "no_index"
    page = await client.get("/help/search", params={"q": "when will my card arrive"})
    assert page.status == 200 and "Search is not available yet" in await page.text()
