"""Several hubs behind HAProxy, for real: two hubs on one PostgreSQL and one Redis, Rasa on
PostgreSQL with the Redis lock store, the action server, and HAProxy with deploy/haproxy.cfg."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.integration.cluster_stack import ClusterStack
from tests.integration.customer import Customer
from tests.integration.stack_runs import create_agent

pytestmark = pytest.mark.integration
AGENT = ("bea@kestrel.example", "Bea", "cluster-test-password")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    # a short lease: the turn a killed hub held is answered a few seconds later, not ten
    stack = ClusterStack(tmp_path_factory.mktemp("cluster"), extra_env={"HUB_TURN_LOCK_LEASE_SECONDS": "3"})
    try:
        stack.start()
        create_agent(stack.env(), *AGENT)
        yield stack
    finally:
        stack.stop()


async def _agent_on(session: aiohttp.ClientSession, hub_url: str) -> aiohttp.ClientWebSocketResponse:
    email, _name, password = AGENT
    async with session.post(f"{hub_url}/api/agent/login", json={"email": email, "password": password}) as response:
        assert response.status == 200, await response.text()
    return await session.ws_connect(f"{hub_url}/api/agent/ws", origin=hub_url)


async def _frames_until(ws: aiohttp.ClientWebSocketResponse, seen: list[dict[str, Any]], predicate: Any) -> None:
    while not any(predicate(frame) for frame in seen):
        message = await ws.receive(timeout=60)
        assert message.type == aiohttp.WSMsgType.TEXT, f"the inbox socket closed: {message}"
        seen.append(message.json())


async def _stored(cluster: ClusterStack, conversation_id: str) -> list[tuple[int, str, str, str | None, bool]]:
    """The conversation as the database holds it: (seq, sender, text, client_id, bot_pending)."""
    conn = await asyncpg.connect(cluster.env()["DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT seq, sender, text, client_id, bot_pending FROM messages WHERE conversation_id = $1 ORDER BY seq",
            conversation_id,
        )
    finally:
        await conn.close()
    return [(r["seq"], r["sender"], r["text"], r["client_id"], r["bot_pending"]) for r in rows]


def _messages(frames: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {f["seq"]: f for f in frames if f["type"] == "message"}


async def test_customer_on_one_hub_agent_on_the_other_and_a_hub_killed_mid_turn(cluster: ClusterStack) -> None:
    hub_a, hub_b = cluster.hub_url_of(0), cluster.hub_url_of(1)
    async with (
        aiohttp.ClientSession() as customer_session,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_session,
    ):
        # --- the customer on hub A, the agent on hub B: both ways, in order -----------------------
        customer = await Customer(customer_session, hub_a).start({"name": "Maria", "email": "maria@example.com"})
        cid = customer.conversation_id
        inbox = await _agent_on(agent_session, hub_b)
        inbox_frames: list[dict[str, Any]] = []
        mark = await customer.say("I want to talk to a person")
        await customer.wait_for(lambda f: f["type"] == "message" and f["sender"] == "bot", mark)
        mark = await customer.say("just get me a person")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued", mark)
        await _frames_until(
            inbox, inbox_frames, lambda f: f.get("conversation_id") == cid and f.get("text") == "just get me a person"
        )
        async with agent_session.post(f"{hub_b}/api/agent/conversations/{cid}/claim") as response:
            assert response.status == 200
        for text in ("Hi Maria, Bea here", "Which card is it?", "One moment"):
            async with agent_session.post(
                f"{hub_b}/api/agent/conversations/{cid}/messages", json={"text": text}
            ) as response:
                assert response.status == 201
        await customer.wait_for(lambda f: f["type"] == "message" and f["text"] == "One moment")
        from_agent = [f["text"] for f in customer.frames if f["type"] == "message" and f["sender"] == "agent"]
        assert from_agent == ["Hi Maria, Bea here", "Which card is it?", "One moment"]
        for text in ("the virtual one", "it was declined", "at a shop"):
            await customer.say(text)
        await _frames_until(inbox, inbox_frames, lambda f: f.get("text") == "at a shop")
        from_customer = [f["text"] for f in inbox_frames if f.get("conversation_id") == cid and f["type"] == "message"]
        assert from_customer[-3:] == ["the virtual one", "it was declined", "at a shop"]
        async with agent_session.post(f"{hub_b}/api/agent/conversations/{cid}/resolve") as response:
            assert response.status == 200
        await customer.wait_for(lambda f: f["type"] == "message" and f["sender"] == "bot" and "back" in f["text"])
        await inbox.close()

        # --- hub A killed with -9 mid-turn: the customer comes back through HAProxy (to hub B) ---
        killed_turn = None
        for attempt in range(5):  # until the kill lands while Rasa is still working on the turn
            mark = await customer.say("How long does card delivery take?", client_id=f"killed-{attempt}")
            ack = await customer.wait_for(lambda f: f["type"] == "ack", mark)
            cluster.kill_hub_number(0)
            pending = [row for row in await _stored(cluster, cid) if row[0] == ack["seq"]]
            if pending[0][4]:
                killed_turn = ack["seq"]
                break
            cluster.restart_hub_number(0)  # answered before the kill: try again
            await customer.close()
            await customer.connect(after_seq=max(_messages(customer.frames)))
        assert killed_turn is not None, "the kill never landed mid-turn"
        await customer.close()
        last_seen = max(_messages(customer.frames))
        customer.hub_url = cluster.lb_url
        await customer.connect(after_seq=last_seen)
        await customer.wait_for(
            lambda f: f["type"] == "message" and f["sender"] in ("bot", "system") and f["seq"] > killed_turn
        )
        await asyncio.sleep(2)  # anything a second answer would add

        stored = await _stored(cluster, cid)
        # nothing stored is lost: the customer has seen every message the database holds
        assert sorted(_messages(customer.frames)) == [seq for seq, *_ in stored]
        assert [seq for seq, *_ in stored] == list(range(1, len(stored) + 1))
        # each message the customer sent is stored once, and the killed turn is answered once
        sent = [client_id for _seq, sender, _t, client_id, _p in stored if sender == "customer"]
        assert len(sent) == len(set(sent))
        after = [row for row in stored if row[0] > killed_turn]
        answer = [text for _seq, sender, text, *_ in after if sender in ("bot", "system")]
        assert answer and len(answer) == len(set(answer)), answer
        assert not [row for row in stored if row[4]], "a turn is still pending"
        await customer.close()
    cluster.restart_hub_number(0)


def test_haproxy_sends_to_a_live_hub_only(cluster: ClusterStack, tmp_path: Path) -> None:
    """With one hub down, every request through HAProxy is still answered (redispatch and the
    health check)."""
    import urllib.request

    cluster.kill_hub_number(1)
    try:
        for _ in range(10):
            with urllib.request.urlopen(f"{cluster.lb_url}/health/hub", timeout=10) as response:
                assert response.status == 200
    finally:
        cluster.restart_hub_number(1)
