"""The hub through its real HTTP and WebSocket API (real SQLite; Rasa is down on purpose)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff import identity
from handoff.app import create_app
from handoff.app_keys import RELAY, STORE
from handoff.rasa_client import BotTurn
from handoff.store import Store, schema
from tests.unit.hub_fixtures import hub, hub_settings, receive_until, sign_in, start_conversation


async def _hello(client: TestClient, token: str, after_seq: int = 0) -> Any:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": token, "after_seq": after_seq})
    await receive_until(ws, lambda f: f["type"] == "state")
    return ws


async def test_rasa_down_queues_the_conversation_as_bot_unavailable(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    await ws.send_json({"type": "message", "client_id": "m1", "text": "how do I top up?"})
    frames = await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack == {"type": "ack", "client_id": "m1", "seq": 1}
    texts = [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "system"]
    assert any("having trouble" in t for t in texts)
    assert frames[-1]["reason"] == "bot_unavailable" and frames[-1]["position"] == 1
    await sign_in(hub)
    queue = await (await hub.get("/api/agent/queue")).json()
    assert [(i["conversation_id"], i["reason"]) for i in queue["items"]] == [
        (conversation["conversation_id"], "bot_unavailable")
    ]
    await ws.close()


async def test_reconnect_replays_what_was_missed_without_duplicates(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    await ws.send_json({"type": "message", "client_id": "m1", "text": "first"})
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await ws.close()
    await hub.app[RELAY].drain()
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 1})
    frames = await receive_until(ws, lambda f: f["type"] == "state")
    seqs = [f["seq"] for f in frames if f["type"] == "message"]
    assert seqs and seqs[0] == 2 and seqs == sorted(set(seqs))
    await ws.send_json({"type": "message", "client_id": "m1", "text": "first"})  # a resend after reconnect
    ack = (await receive_until(ws, lambda f: f["type"] == "ack"))[-1]
    assert ack["seq"] == 1
    await ws.close()


async def test_a_customer_reads_only_their_own_conversation(hub: TestClient) -> None:
    await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": "not-a-token"})
    frame = await ws.receive_json()
    assert frame["type"] == "error" and frame["code"] == "unauthorized"
    closing = await ws.receive()
    assert ws.close_code == 4401 or closing.data == 4401


async def test_refused_input_gets_clear_errors_and_the_socket_stays_usable(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    await ws.send_str("this is not json")
    assert (await ws.receive_json())["code"] == "malformed"
    await ws.send_json({"type": "message", "client_id": "x", "text": "a" * 101})
    too_long = await ws.receive_json()
    assert too_long["code"] == "too_long" and "100 characters" in too_long["message"]
    await ws.send_json({"type": "message", "text": "no client id"})
    assert (await ws.receive_json())["code"] == "malformed"
    await ws.send_json({"type": "rating", "score": 9})
    assert (await ws.receive_json())["code"] == "malformed"
    await ws.send_json({"type": "button", "client_id": "b", "payload": "/handoff_resolved", "title": "x"})
    assert (await ws.receive_json())["code"] == "malformed"
    await ws.send_json({"type": "rating", "score": 5, "comment": "great"})  # no person handled it yet
    assert (await ws.receive_json())["code"] == "rating_refused"
    await ws.send_json({"type": "message", "client_id": "still-usable", "text": "hello"})
    assert (await receive_until(ws, lambda f: f["type"] == "ack"))[-1]["client_id"] == "still-usable"
    await ws.close()


async def test_rate_limit(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    codes = []
    for i in range(7):
        await ws.send_json({"type": "message", "client_id": f"r{i}", "text": f"message {i}"})
        frames = await receive_until(ws, lambda f: f["type"] in ("ack", "error"))
        codes.append(frames[-1].get("code", "ack"))
    assert codes[:5] == ["ack"] * 5 and codes[5:] == ["rate_limited"] * 2
    await ws.close()


async def test_conversation_creation_checks_origin_and_body(hub: TestClient) -> None:
    refused = await hub.post("/api/conversations", json={}, headers={"Origin": "http://evil.example"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "origin_not_allowed"
    allowed = await hub.post("/api/conversations", json={}, headers={"Origin": "http://shop.example"})
    assert allowed.status == 201 and allowed.headers["Access-Control-Allow-Origin"] == "http://shop.example"
    malformed = await hub.post("/api/conversations", data="{nope", headers={"Content-Type": "application/json"})
    assert malformed.status == 400 and (await malformed.json())["error"]["code"] == "malformed"
    bad_email = await hub.post("/api/conversations", json={"metadata": {"email": "not an email"}})
    assert bad_email.status == 400
    ws_refused = await hub.get("/ws", headers={"Origin": "http://evil.example"})
    assert ws_refused.status == 403


async def test_agent_endpoints_require_a_session(hub: TestClient) -> None:
    for method, path in [
        ("GET", "/api/agent/queue"),
        ("GET", "/api/agent/me"),
        ("POST", "/api/agent/conversations/x/claim"),
        ("GET", "/api/agent/ws"),
    ]:
        response = await hub.request(method, path)
        assert response.status == 401, path
    wrong = await hub.post("/api/agent/login", json={"email": "alex@kestrel.example", "password": "wrong"})
    assert wrong.status == 401
    unknown = await hub.post("/api/agent/login", json={"email": "nobody@kestrel.example", "password": "wrong"})
    assert unknown.status == 401
    await sign_in(hub)
    cross_site = await hub.post("/api/agent/conversations/x/claim", headers={"Origin": "http://evil.example"})
    assert cross_site.status == 403
    assert (await hub.get("/api/agent/me")).status == 200
    await hub.post("/api/agent/logout")
    assert (await hub.get("/api/agent/me")).status == 401


async def test_claim_reply_resolve_with_live_frames(hub: TestClient) -> None:
    conversation = await start_conversation(hub, {"name": "Ana", "email": "ana@example.com"})
    ws = await _hello(hub, conversation["token"])
    await ws.send_json({"type": "message", "client_id": "m1", "text": "help please"})
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await sign_in(hub)
    cid = conversation["conversation_id"]
    claims = await asyncio.gather(*(hub.post(f"/api/agent/conversations/{cid}/claim") for _ in range(5)))
    assert sorted(r.status for r in claims) == [200, 409, 409, 409, 409]
    frames = await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "agent")
    assert frames[-1]["agent"] == {"name": "Alex"}
    reply = await hub.post(
        f"/api/agent/conversations/{cid}/messages", json={"text": "<img src=x onerror=alert(1)> Hi Ana"}
    )
    assert reply.status == 201
    frame = (await receive_until(ws, lambda f: f["type"] == "message" and f["sender"] == "agent"))[-1]
    assert frame["text"] == "<img src=x onerror=alert(1)> Hi Ana" and frame["agent"] == {"name": "Alex"}
    await ws.send_json({"type": "message", "client_id": "m2", "text": "thanks!"})
    await receive_until(ws, lambda f: f["type"] == "ack")
    detail = await (await hub.get(f"/api/agent/conversations/{cid}")).json()
    assert [m["sender"] for m in detail["messages"]][-2:] == ["agent", "customer"]
    assert detail["conversation"]["customer"] == {"name": "Ana", "email": "ana@example.com", "verified": False}
    resolved = await hub.post(f"/api/agent/conversations/{cid}/resolve")
    assert resolved.status == 200
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "resolved")
    await ws.close()


async def test_openapi_and_security_headers(hub: TestClient) -> None:
    spec = await (await hub.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.") and "/api/agent/conversations/{conversation_id}/claim" in spec["paths"]
    # Every route the hub serves under /api is described.
    served = {r.resource.canonical for r in hub.server.app.router.routes() if r.resource is not None}
    assert {path for path in served if path.startswith("/api/")} <= set(spec["paths"])
    page = await hub.get("/inbox")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def test_new_conversations_are_limited_per_address(aiohttp_client, tmp_path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, address_conversations_per_hour=3)))
    statuses = [(await client.post("/api/conversations", json={})).status for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]


def test_typed_text_never_reaches_rasa_as_an_intent() -> None:
    """Rasa reads a message as an intent when its *stripped* text starts with '/': whatever
    whitespace str.strip removes (tabs, no-break spaces, …) must not smuggle one through."""
    from handoff.gateway import typed_text_for_rasa

    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    for prefix in ["", " ", *spaces, " / ", "//"]:
        for command in ("/handoff_resolved", '/provide_reference{"transaction_ref": "TX-AAAAAAAA"}', "/restart"):
            sent = typed_text_for_rasa(prefix + command)
            assert sent is not None and not sent.strip().startswith("/"), repr(prefix + command)
    assert typed_text_for_rasa("how do I top up?") is None
    assert typed_text_for_rasa("/") == "?"


async def test_a_customer_cannot_stuff_ratings(hub: TestClient) -> None:
    """Before: 500 ratings on a conversation no person handled were saved and CSAT read 1.0."""
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    for _ in range(20):
        await ws.send_json({"type": "rating", "score": 1})
    refusals = [await ws.receive_json(timeout=10) for _ in range(20)]
    assert {frame["code"] for frame in refusals} == {"rating_refused"}
    assert "nothing to rate" in refusals[0]["message"]
    await sign_in(hub)
    detail = await (await hub.get(f"/api/agent/conversations/{conversation['conversation_id']}")).json()
    assert detail["ratings"] == []


async def test_per_address_limits_read_forwarded_for_only_from_a_trusted_proxy(aiohttp_client, tmp_path) -> None:
    async def created(client: TestClient, forwarded_for: str) -> int:
        response = await client.post("/api/conversations", json={}, headers={"X-Forwarded-For": forwarded_for})
        return response.status

    direct = await aiohttp_client(create_app(hub_settings(tmp_path, address_conversations_per_hour=2)))
    # Not behind a trusted proxy: a forged X-Forwarded-For does not dodge the limit.
    assert [await created(direct, f"198.51.100.{n}") for n in range(3)] == [201, 201, 429]
    proxied = await aiohttp_client(
        create_app(hub_settings(tmp_path / "p", address_conversations_per_hour=2, trusted_proxies=("127.0.0.1",)))
    )
    # Behind the proxy: each client has its own limit; what the client itself prepends is ignored.
    assert [await created(proxied, "203.0.113.7") for _ in range(3)] == [201, 201, 429]
    assert await created(proxied, "203.0.113.7, 203.0.113.8") == 201
    assert await created(proxied, "10.9.9.9, 203.0.113.7") == 429


async def test_questions_kept_for_content_gaps_are_masked(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    turn = BotTurn(kb_results=[{"tier": "none", "score": 0.1}])
    question = "my card 4111 1111 1311 1234 and password: hunter2 fail, ref 1234 5678 9012 3456"
    await hub.app[RELAY]._deliver(conversation["conversation_id"], turn, question=question)
    assert await hub.app[STORE].unanswered_questions() == [
        "my card [card ending 1234] and password: [masked] fail, ref 1234 5678 9012 3456"
    ]


async def test_a_turn_stored_before_a_crash_is_answered_at_start(aiohttp_client, tmp_path) -> None:
    """A hub killed after storing and acking a message, before Rasa answered: the next start
    sends it on (here Rasa is down, so the answer is the bot_unavailable handoff), once."""
    settings = hub_settings(tmp_path)
    store = await Store.open(str(settings.database_url))
    conversation, _token = await store.create_conversation({})
    await store.append_message(
        conversation.id, "customer", "/restart please", client_id="c1", bot_text="restart please"
    )
    assert await store.pending_bot_turns() == {conversation.id: [1]}
    await store.close()

    client = await aiohttp_client(create_app(settings))
    await client.app[RELAY].drain()
    store = client.app[STORE]
    assert await store.pending_bot_turns() == {}
    handoff = await store.latest_handoff(conversation.id)
    assert handoff is not None and handoff.reason == "bot_unavailable"
    messages = await store.messages_after(conversation.id)
    assert [m.sender for m in messages] == ["customer", "system", "system"]  # sorry, passed on; nobody online
    assert "having trouble" in messages[1].text
    assert len(client.app[RELAY]._locks) == 0  # no lock is kept for a conversation nobody is using


async def test_sockets_are_limited_per_conversation_and_per_address(aiohttp_client, tmp_path) -> None:
    client = await aiohttp_client(
        create_app(hub_settings(tmp_path, sockets_per_conversation=2, socket_opens_per_minute=4))
    )
    conversation = await start_conversation(client)
    tabs = [await _hello(client, conversation["token"]) for _ in range(2)]
    third = await client.ws_connect("/ws")
    await third.send_json({"type": "hello", "token": conversation["token"]})
    refused = await third.receive_json(timeout=5)
    assert refused["code"] == "too_many_connections" and "too many tabs" in refused["message"]
    await third.receive(timeout=5)
    assert third.close_code == 4429
    fourth = await client.ws_connect("/ws")  # the address's fourth socket this minute
    await fourth.close()
    flood = await client.get(
        "/ws",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert flood.status == 429 and "connections from your network" in (await flood.json())["error"]["message"]
    for tab in tabs:
        await tab.close()


async def test_long_conversations_are_paged_not_cut(hub: TestClient) -> None:
    """Before: the inbox silently showed the first 1,000 messages, and one hello loaded them all."""
    conversation = await start_conversation(hub)
    cid, store = conversation["conversation_id"], hub.app[STORE]
    async with store.write() as conn:
        await conn.execute(
            schema.messages.insert(),
            [
                {"conversation_id": cid, "seq": seq, "sender": "customer", "text": f"message {seq}", "created_at": 0.0}
                for seq in range(1, 1201)
            ],
        )
        await conn.execute(schema.conversations.update().where(schema.conversations.c.id == cid).values(last_seq=1200))
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    frames = await receive_until(ws, lambda f: f["type"] == "state", limit=1300)
    assert [f["seq"] for f in frames if f["type"] == "message"] == list(range(1, 1201))
    await ws.close()

    await sign_in(hub)
    latest = await (await hub.get(f"/api/agent/conversations/{cid}")).json()
    seqs, earlier = [m["seq"] for m in latest["messages"]], latest["earlier"]
    while earlier:
        page = await (await hub.get(f"/api/agent/conversations/{cid}/messages?before_seq={seqs[0]}")).json()
        seqs, earlier = [m["seq"] for m in page["messages"]] + seqs, page["earlier"]
    assert seqs == list(range(1, 1201))
    assert len(latest["messages"]) == 500 and latest["messages"][-1]["text"] == "message 1200"
    assert (await hub.get(f"/api/agent/conversations/{cid}/messages?before_seq=x")).status == 400


async def test_only_a_signed_identity_is_verified_and_it_is_never_overwritten(aiohttp_client, tmp_path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, identity_secret="shop-secret-0123456789")))
    store = client.app[STORE]
    signed = await start_conversation(
        client,
        {
            "name": "Ana",
            "email": "Ana@Example.com",
            "signature": identity.sign("shop-secret-0123456789", "ana@example.com"),
        },
    )
    forged = await start_conversation(client, {"name": "Ana", "email": "ana@example.com", "signature": "0" * 64})
    unsigned = await start_conversation(client, {"name": "Bo", "email": "bo@example.com"})
    typed_later = {"customer_name": "Mallory", "customer_email": "mallory@example.com"}
    for conversation in (signed, forged, unsigned):
        await store.enqueue_handoff(
            conversation["conversation_id"], "customer_request", "normal", "h", "s", typed_later
        )
    customers = {item.conversation_id: item.to_json()["customer"] for item in await store.queue_items()}
    assert customers[signed["conversation_id"]] == {"name": "Ana", "email": "Ana@Example.com", "verified": True}
    assert customers[forged["conversation_id"]] == {
        "name": "Mallory",
        "email": "mallory@example.com",
        "verified": False,
    }
    assert customers[unsigned["conversation_id"]]["verified"] is False


@pytest.mark.parametrize("path", ["/api/conversations", "/api/conversations/delete", "/api/conversations/resume"])
async def test_the_widgets_cross_site_posts_are_preflighted_for_allowed_sites_only(hub: TestClient, path: str) -> None:
    allowed = await hub.options(path, headers={"Origin": "http://shop.example"})
    assert allowed.status == 204 and allowed.headers["Access-Control-Allow-Origin"] == "http://shop.example"
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    refused = await hub.options(path, headers={"Origin": "http://evil.example"})
    assert refused.status == 403 and "HUB_ALLOWED_ORIGINS" in (await refused.json())["error"]["message"]
