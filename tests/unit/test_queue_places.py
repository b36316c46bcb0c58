"""Waiting customers' places in the queue (handoff/queue_places.py), through the real hub:
real WebSockets, the agent API, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from handoff import contract
from handoff.app import create_app
from handoff.app_keys import RELAY, STORE
from handoff.auth import hash_password
from handoff.store import Store
from tests.unit.db_fixtures import database_url
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, receive_until, sign_in, start_conversation


async def _waiting_customer(client: TestClient, priority: str) -> tuple[str, Any]:
    """A customer with the widget open, queued with `priority`."""
    conversation = await start_conversation(client)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")
    await client.app[RELAY].enqueue(
        conversation["conversation_id"],
        contract.HandoffPayload(reason="customer_request", priority=priority, headline="h", summary="s"),
    )
    return conversation["conversation_id"], ws


async def _last_state(ws: Any, before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The newest state frame this socket has been sent (`before` when none came since): everything
    the hub published before now arrives before the answer to a frame sent now (one socket keeps
    its order)."""
    await ws.send_json({"type": "no such frame"})
    frames = await receive_until(ws, lambda f: f["type"] == "error", limit=500)
    states = [f for f in frames if f["type"] == "state"] or ([before] if before else [])
    assert states, frames
    return states[-1]


async def test_each_waiting_customer_is_told_their_place_after_every_claim(
    aiohttp_client: Any,
    tmp_path: Path,
    database_url: str,
) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, database_url=database_url)))
    store: Store = client.app[STORE]
    await store.create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    await sign_in(client)
    priorities = ["normal", "normal", "high", "normal", "normal", "high", "normal", "normal"]
    customers = [await _waiting_customer(client, p) for p in priorities]
    # The queue: high priority first, then by age.
    order = [c for (c, _), p in zip(customers, priorities, strict=True) if p == "high"] + [
        c for (c, _), p in zip(customers, priorities, strict=True) if p == "normal"
    ]
    sockets = dict(customers)
    last: dict[str, dict[str, Any]] = {}

    async def check(waiting: list[str]) -> None:
        await client.app[RELAY].drain()
        for cid, ws in sockets.items():
            state = last[cid] = await _last_state(ws, last.get(cid))
            if cid in waiting:
                assert (state["state"], state["position"]) == ("queued", waiting.index(cid) + 1), cid
            else:
                assert (state["state"], state["position"]) == ("agent", None), cid

    await check(order)
    # Claims from the middle, the front and the back, several at once.
    claimed = [order[3], order[0], order[-1]]
    responses = await asyncio.gather(*(client.post(f"/api/agent/conversations/{c}/claim") for c in claimed))
    assert [r.status for r in responses] == [200, 200, 200]
    waiting = [c for c in order if c not in claimed]
    await check(waiting)
    # A release goes back to its first place; everyone behind it moves down one.
    assert (await client.post(f"/api/agent/conversations/{order[0]}/release")).status == 200
    waiting = [c for c in order if c not in claimed or c == order[0]]
    await check(waiting)
    for ws in sockets.values():
        await ws.close()


async def test_places_go_only_to_open_sockets(aiohttp_client: Any, tmp_path: Path) -> None:
    """A waiting customer who has closed the widget costs a change nothing: their place is not
    even looked up (a spy around the real store method), and they get the right one when they
    come back."""
    client = await aiohttp_client(create_app(hub_settings(tmp_path)))
    store: Store = client.app[STORE]
    agent = await store.create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    first, first_ws = await _waiting_customer(client, "normal")
    second, second_ws = await _waiting_customer(client, "normal")
    await second_ws.close()
    asked: list[set[str]] = []
    original = store.queue_places

    async def spy(conversation_ids: Any) -> Any:
        asked.append(set(conversation_ids))
        return await original(conversation_ids)

    store.queue_places = spy  # type: ignore[method-assign]
    await client.app[RELAY].claim(first, agent)
    await client.app[RELAY].drain()
    assert asked and all(second not in ids for ids in asked), asked
    store.queue_places = original  # type: ignore[method-assign]
    assert (await _last_state(first_ws))["state"] == "agent"
    await first_ws.close()
    back = await client.ws_connect("/ws")
    token = await store.add_conversation_token(second)
    await back.send_json({"type": "hello", "token": token})
    state = (await receive_until(back, lambda f: f["type"] == "state"))[-1]
    assert (state["state"], state["position"]) == ("queued", 1)
    await back.close()
