"""One customer conversation through the real hub, Rasa server and action server."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.integration.customer import Customer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def demo_agent_password(stack) -> str:
    return "integration-test-password"


async def agent_session(session: aiohttp.ClientSession, stack) -> None:
    from handoff.auth import hash_password
    from handoff.settings import sqlite_url
    from handoff.store import Store

    store = await Store.open(sqlite_url(stack.workdir / "hub.sqlite3"))
    try:
        await store.set_agent_password("alex@kestrel.example", "Alex", hash_password("integration-test-password"))
    finally:
        await store.close()
    async with session.post(
        f"{stack.hub_url}/api/agent/login",
        json={"email": "alex@kestrel.example", "password": "integration-test-password"},
    ) as response:
        assert response.status == 200


async def test_question_gets_a_cited_answer_and_asking_for_a_person_reaches_the_inbox(stack) -> None:
    topics = json.loads((ROOT / "data" / "eval" / "banking77_topics.json").read_text())
    delivery_article = topics["card_delivery_estimate"]["article"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        customer = await Customer(session, stack.hub_url).start()
        mark = await customer.say("How long will it take for my new card to be delivered?")
        reply = await customer.bot_reply(mark)
        cited = [f for f in reply if f["article"]]
        assert cited and cited[0]["article"]["id"] == delivery_article
        assert cited[0]["article"]["url"].startswith(f"/help/{delivery_article}")
        assert any(b["payload"] == "/feedback_helpful" for f in reply for b in f["buttons"])

        mark = await customer.say("I want to talk to a person")
        await customer.wait_for(lambda f: f["type"] == "message" and "name" in f["text"].lower(), mark)
        mark = await customer.say("Maria Lopez")
        await customer.wait_for(lambda f: f["type"] == "message" and "email" in f["text"].lower(), mark)
        mark = await customer.say("maria.lopez@example.com")
        category = await customer.wait_for(lambda f: f["type"] == "message" and f["buttons"], mark)
        assert "Cards" in [b["title"] for b in category["buttons"]]
        mark = await customer.press("Cards", "cards")
        await customer.wait_for(lambda f: f["type"] == "message" and "TX-" in f["text"], mark)
        mark = await customer.say("skip")
        state = await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued", mark)
        assert state["reason"] == "customer_request" and state["position"] >= 1 and state["eta_seconds"] > 0

        await agent_session(session, stack)
        async with session.get(f"{stack.hub_url}/api/agent/queue") as response:
            queue = await response.json()
        item = next(i for i in queue["items"] if i["conversation_id"] == customer.conversation_id)
        assert item["reason"] == "customer_request" and item["customer"]["email"] == "maria.lopez@example.com"
        async with session.get(f"{stack.hub_url}/api/agent/conversations/{customer.conversation_id}") as response:
            detail = await response.json()
        handoff = detail["handoff"]
        assert handoff["details"]["customer_name"] == "Maria Lopez"
        assert handoff["details"]["issue_category"] == "cards"
        assert "How long will it take for my new card to be delivered?" in handoff["summary"]
        assert delivery_article in handoff["summary"]

        # While a person owns the conversation, the bot stays quiet.
        async with session.post(
            f"{stack.hub_url}/api/agent/conversations/{customer.conversation_id}/claim"
        ) as response:
            assert response.status == 200
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "agent")
        mark = await customer.say("are you a real person?")
        async with session.post(
            f"{stack.hub_url}/api/agent/conversations/{customer.conversation_id}/messages",
            json={"text": "Yes, I'm Alex. Let me check your card."},
        ) as response:
            assert response.status == 201
        agent_frame = await customer.wait_for(lambda f: f["type"] == "message" and f["sender"] == "agent", mark)
        assert agent_frame["agent"] == {"name": "Alex"}
        assert not [f for f in customer.frames[mark:] if f["type"] == "message" and f["sender"] == "bot"]

        # Resolved: the bot resets, says it is back, and answers again.
        async with session.post(
            f"{stack.hub_url}/api/agent/conversations/{customer.conversation_id}/resolve"
        ) as response:
            assert response.status == 200
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "resolved")
        await customer.wait_for(lambda f: f["type"] == "message" and f["sender"] == "bot" and "back" in f["text"])
        mark = await customer.say("what are the fees for exchanging currency?")
        again = await customer.bot_reply(mark)
        assert any(f["article"] for f in again)
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "bot", mark)
        await customer.close()


async def test_hub_killed_mid_conversation_loses_nothing_and_the_customer_resumes(stack) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        customer = await Customer(session, stack.hub_url).start()
        mark = await customer.say("how do I top up with a bank transfer?", client_id="before-kill")
        await customer.bot_reply(mark)
        stored = [f["seq"] for f in customer.frames if f["type"] == "message"]
        await customer.close()
        stack.kill_hub()
        stack.restart_hub()
        resumed = Customer(session, stack.hub_url)
        resumed.token, resumed.conversation_id = customer.token, customer.conversation_id
        await resumed.connect(after_seq=0)
        replayed = [f["seq"] for f in resumed.frames if f["type"] == "message"]
        assert replayed[: len(stored)] == stored
        mark = await resumed.say("how do I top up with a bank transfer?", client_id="before-kill")
        ack = await resumed.wait_for(lambda f: f["type"] == "ack", mark)
        assert ack["seq"] == stored[0]  # the resend is recognised, not stored twice
        mark = await resumed.say("and is there a fee for that?")
        assert await resumed.bot_reply(mark)
        await resumed.close()


async def test_a_button_the_bot_did_not_offer_is_read_as_its_title(stack) -> None:
    """Nothing a customer sends is an intent: a forged button payload ('/request_human' before the
    bot offered it) is not obeyed, its title is the message; a button the bot offered still works."""
    topics = json.loads((ROOT / "data" / "eval" / "banking77_topics.json").read_text())
    delivery_article = topics["card_delivery_estimate"]["article"]
    async with aiohttp.ClientSession() as session:
        customer = await Customer(session, stack.hub_url).start()
        mark = await customer.press("How long will it take for my new card to be delivered?", "/request_human")
        reply = await customer.bot_reply(mark)
        cited = [f for f in reply if f["article"]]
        assert cited and cited[0]["article"]["id"] == delivery_article
        assert not [f for f in reply if "name" in f["text"].lower() and "team" in f["text"].lower()]
        assert not [f for f in customer.frames[mark:] if f["type"] == "state" and f["state"] == "queued"]

        mark = await customer.press("Yes, thanks", "/feedback_helpful")
        reply = await customer.bot_reply(mark)
        assert any("Glad that helped" in f["text"] for f in reply)
        await customer.close()
