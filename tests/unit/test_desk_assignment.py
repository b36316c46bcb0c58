"""Auto-assignment and transfer to a team (issue #15), through the real hub: real SQLite, agents
online by their own inbox WebSockets (each its own session), the relay's own enqueue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from handoff import contract
from handoff.app import create_app
from handoff.app_keys import RELAY, STORE
from handoff.assignment import ASSIGNER, Candidate, pick
from handoff.auth import hash_password
from handoff.store import Store
from handoff.store import schema as T
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, receive_until, run_cli, sign_in, start_conversation


def test_most_free_capacity_then_longest_idle() -> None:
    assert pick([Candidate(1, 1, None), Candidate(2, 3, 50.0)]) == 2
    assert pick([Candidate(1, 2, 90.0), Candidate(2, 2, 50.0)]) == 2  # idle since 50: longer
    assert pick([Candidate(1, 2, 10.0), Candidate(2, 2, None)]) == 2  # never claimed: idle longest
    assert pick([Candidate(1, 0, None), Candidate(2, -1, None)]) is None
    assert pick([]) is None


class Online:
    """Agents signed in on their own sessions, each with the inbox socket open."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.sessions: dict[str, tuple[aiohttp.ClientSession, Any]] = {}

    async def open(self, email: str) -> None:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        login = await session.post(
            self.client.make_url("/api/agent/login"), json={"email": email, "password": AGENT_PASSWORD}
        )
        assert login.status == 200, await login.text()
        ws = await session.ws_connect(self.client.make_url("/api/agent/ws"))
        await receive_until(ws, lambda f: f["type"] == "agents_online")
        self.sessions[email] = (session, ws)

    async def close(self, email: str) -> None:
        session, ws = self.sessions.pop(email)
        await ws.close()
        await session.close()

    async def close_all(self) -> None:
        for email in list(self.sessions):
            await self.close(email)


@pytest.fixture
async def desk(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Online, dict[str, int]]]:
    settings = hub_settings(
        tmp_path,
        auto_assign=True,
        team_routes=("category:cards=Cards",),
        claim_timeout_seconds=300.0,
        offline_grace_seconds=60.0,
    )
    client = await aiohttp_client(create_app(settings))
    store: Store = client.app[STORE]
    ids = {}
    for name in ("ana", "bo", "cy"):
        ids[name] = (
            await store.create_agent(f"{name}@kestrel.example", name.title(), hash_password(AGENT_PASSWORD))
        ).id
    cards = await store.create_team("Cards")
    await store.set_team_members(cards.id, {ids["ana"], ids["bo"]})
    ids["cards"] = cards.id
    online = Online(client)
    yield client, online, ids
    await online.close_all()


async def _handoff(client: TestClient, category: str | None) -> str:
    conversation = await start_conversation(client)
    details = {"issue_category": category} if category else {}
    payload = contract.HandoffPayload("customer_request", "normal", "Card question", "", details)
    await client.app[RELAY].enqueue(conversation["conversation_id"], payload)
    return conversation["conversation_id"]


async def _owner(store: Store, conversation_id: str) -> int | None:
    handoff = await store.open_handoff(conversation_id)
    assert handoff is not None
    return handoff.agent_id if handoff.status == "claimed" else None


async def test_new_handoffs_go_to_the_online_team_member_with_most_room(
    desk: tuple[TestClient, Online, dict[str, int]], tmp_path: Path
) -> None:
    client, online, ids = desk
    store: Store = client.app[STORE]
    made = run_cli("handoff.agents_cli", tmp_path, "capacity", "ana@kestrel.example", "1")
    assert made.returncode == 0 and "up to 1 open conversation" in made.stdout, made.stderr
    assert run_cli("handoff.agents_cli", tmp_path, "capacity", "ana@kestrel.example", "0").returncode == 2
    for email in ("ana@kestrel.example", "bo@kestrel.example", "cy@kestrel.example"):
        await online.open(email)

    owners = [await _owner(store, await _handoff(client, "cards")) for _ in range(5)]
    # Bo has 3 free and Ana 1: Bo, Bo; then 1 each, and Ana never claimed (idle longest): Ana;
    # then Bo; then nobody in Cards has room (Cy is not in Cards): it waits
    assert owners == [ids["bo"], ids["bo"], ids["ana"], ids["bo"], None]
    general = await _handoff(client, None)  # the general queue: any online agent with room
    assert await _owner(store, general) == ids["cy"]

    # assigned like a claim: the customer is told, and it is audited as auto-assignment
    entries = [e for e in await store.audit_entries("claim") if e.conversation_id == general]
    assert [(e.actor, e.agent_id) for e in entries] == [("auto-assignment", ids["cy"])]

    # claiming by hand still works
    waiting = (await store.queue_items())[0]
    assert waiting.state == "queued"
    await sign_in(client, "cy@kestrel.example")
    assert (await client.post(f"/api/agent/conversations/{waiting.conversation_id}/claim")).status == 200


async def test_unanswered_conversations_return_when_offline_or_timed_out(
    desk: tuple[TestClient, Online, dict[str, int]],
) -> None:
    client, online, ids = desk
    store: Store = client.app[STORE]
    assigner = client.app[ASSIGNER]
    await online.open("bo@kestrel.example")
    first, second = await _handoff(client, "cards"), await _handoff(client, "cards")
    assert [await _owner(store, first), await _owner(store, second)] == [ids["bo"], ids["bo"]]
    await store.note_agent_reply(second, ids["bo"])  # answered: stays Bo's whatever happens

    # Bo's tab closes: a reload is not going offline, so nothing moves within the grace
    await online.close("bo@kestrel.example")
    now = time.time()
    assigner.clock = lambda: now
    await assigner.sweep()
    assert await _owner(store, first) == ids["bo"]
    assigner.clock = lambda: now + 61
    await online.open("ana@kestrel.example")
    await assigner.sweep()  # past the grace: back in the queue, and on to Ana (online, in Cards)
    assert [await _owner(store, first), await _owner(store, second)] == [ids["ana"], ids["bo"]]
    released = [e for e in await store.audit_entries("release") if e.conversation_id == first]
    assert [(e.actor, e.detail) for e in released] == [("auto-assignment", {"why": "offline"})]

    # Ana does not answer within the claim timeout: back to the queue, and not straight back to her
    async with store.write() as conn:
        await conn.execute(
            T.handoffs.update().where(T.handoffs.c.conversation_id == first).values(claimed_at=now + 61 - 301)
        )
    await assigner.sweep()
    assert await _owner(store, first) is None
    assert (await store.get_conversation(first)).state.value == "queued"
    # the next sweep assigns it by the rule again: Ana has the most room (Bo holds the answered one)
    await online.open("bo@kestrel.example")
    assigner.clock = lambda: now + 400
    await assigner.sweep()
    assert await _owner(store, first) == ids["ana"]


async def test_transfer_to_a_team_with_a_note_for_its_next_owner(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path)))
    store: Store = client.app[STORE]
    kim = await store.create_agent("kim@kestrel.example", "Kim", hash_password(AGENT_PASSWORD))
    lee = await store.create_agent("lee@kestrel.example", "Lee", hash_password(AGENT_PASSWORD))
    payments = await store.create_team("Payments")
    await store.set_team_members(payments.id, {lee.id})
    conversation = await start_conversation(client)
    cid = conversation["conversation_id"]
    customer = await client.ws_connect("/ws")
    await customer.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(customer, lambda f: f["type"] == "state")
    await client.app[RELAY].enqueue(cid, contract.HandoffPayload("customer_request", "normal", "h", "", {}))
    await sign_in(client, "kim@kestrel.example")
    assert (await client.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    path = f"/api/agent/conversations/{cid}/transfer"
    assert (await client.post(path, json={"team_id": 999})).status == 404
    moved = await client.post(path, json={"team_id": payments.id, "note": "Refund of TX-1, checked"})
    assert moved.status == 200, await moved.text()
    frames = await receive_until(customer, lambda f: f["type"] == "message" and "Payments" in f["text"])
    assert "Kim passed your conversation to our Payments team" in frames[-1]["text"]
    item = next(i for i in await store.queue_items() if i.conversation_id == cid)
    assert (item.state, item.team_name, item.agent_id) == ("queued", "Payments", None)
    assert (await client.post(path, json={"team_id": payments.id})).status == 409  # not claimed any more

    await sign_in(client, "lee@kestrel.example")
    assert (await client.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    detail = await (await client.get(f"/api/agent/conversations/{cid}")).json()
    assert detail["transfer"]["note"] == "Refund of TX-1, checked"
    assert detail["transfer"]["team"] == {"id": payments.id, "name": "Payments"}
    assert detail["transfer"]["from"] == {"id": kim.id, "name": "Kim"}
    entries = await store.audit_entries("transfer")
    assert [e.detail for e in entries] == [{"to_team_id": payments.id}]
    async with store.read() as conn:
        notes = (await conn.execute(sa.select(T.messages.c.text).where(T.messages.c.sender == "note"))).scalars()
        assert list(notes) == ["Refund of TX-1, checked"]
    await customer.close()
