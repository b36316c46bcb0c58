"""The agent desk (issue #15): private notes and transfers, through the hub's real HTTP and
WebSocket API (real SQLite; Rasa is down on purpose, so a note that reached the bot would queue
the conversation as bot_unavailable), the store on SQLite and PostgreSQL, and real SMTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from handoff import contract, routing
from handoff.app import create_app
from handoff.app_keys import FANOUT, RELAY, STORE
from handoff.auth import hash_password
from handoff.settings import HubSettings, SettingsError
from handoff.store import Store, migrate
from tests.unit.db_fixtures import database_url, store
from tests.unit.hub_fixtures import (
    AGENT_PASSWORD,
    hub,
    hub_settings,
    receive_until,
    run_cli,
    sign_in,
    start_conversation,
)
from tests.unit.mail_fixtures import SmtpSink, agent_answers, mail_hub, mail_settings, queued_customer_gone, smtp_sink

__all__ = ["database_url", "hub", "smtp_sink", "store"]  # fixtures

NOTE = "Private: she called yesterday about the same card, ticket 4411"


async def _customer(client: TestClient, token: str, after_seq: int = 0) -> Any:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": token, "after_seq": after_seq})
    await receive_until(ws, lambda f: f["type"] == "state")
    return ws


async def _queued(client: TestClient) -> tuple[dict[str, str], Any]:
    conversation = await start_conversation(client, {"name": "Ana", "email": "ana@example.com"})
    ws = await _customer(client, conversation["token"])
    await ws.send_json({"type": "message", "client_id": "m1", "text": "my card is blocked"})
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    return conversation, ws


def _texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f.get("text", "") for f in frames if f["type"] == "message"]


# --- private notes -----------------------------------------------------------------------------


async def test_a_note_reaches_agents_and_never_the_customer_nor_the_bot(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    cid = conversation["conversation_id"]
    customer = await _customer(hub, conversation["token"])
    await sign_in(hub, "bea@kestrel.example")  # an agent who owns nothing may still write a note
    inbox = await hub.ws_connect("/api/agent/ws")
    await receive_until(inbox, lambda f: f["type"] == "agents_online")

    response = await hub.post(f"/api/agent/conversations/{cid}/notes", json={"text": f"  {NOTE}  "})
    assert response.status == 201, await response.text()
    seq = (await response.json())["seq"]
    live = (await receive_until(inbox, lambda f: f["type"] == "message"))[-1]
    assert contract.follows_contract(live)
    assert (live["sender"], live["text"], live["seq"], live["agent"]) == ("note", NOTE, seq, {"name": "Bea"})

    # the customer's socket: the next frame after the note is the system message sent after it
    await hub.app[RELAY].system_message(cid, "after the note")
    frames = await receive_until(customer, lambda f: f["type"] == "message")
    assert _texts(frames) == ["after the note"]
    # a reconnect replays everything but the note
    await customer.close()
    replayed = await hub.ws_connect("/ws")
    await replayed.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    frames = await receive_until(replayed, lambda f: f["type"] == "state")
    assert NOTE not in _texts(frames) and all(f.get("sender") != "note" for f in frames)
    await replayed.close()

    # the bot never got it: Rasa is down, yet the conversation is still the bot's and unqueued
    await hub.app[RELAY].drain()
    assert await hub.app[STORE].pending_bot_turns() == {}
    detail = await (await hub.get(f"/api/agent/conversations/{cid}")).json()
    assert detail["conversation"]["state"] == "bot" and detail["handoff"] is None
    notes = [m for m in detail["messages"] if m["sender"] == "note"]
    assert [(n["text"], n["agent"], n["transfer"]) for n in notes] == [(NOTE, {"name": "Bea"}, None)]
    await inbox.close()


async def test_the_fanout_refuses_to_send_a_note_to_a_customer(hub: TestClient) -> None:
    """The last guard: even a caller that hands a note to the customers' fan-out sends nothing."""
    conversation, customer = await _queued(hub)
    cid = conversation["conversation_id"]
    note_frame = contract.message_frame(99, contract.NOTE_SENDER, NOTE, 0.0, agent_name="Alex")
    await hub.app[FANOUT].to_conversation(cid, note_frame)
    await hub.app[RELAY].system_message(cid, "sentinel")
    frames = await receive_until(customer, lambda f: f["type"] == "message")
    assert _texts(frames) == ["sentinel"]
    await customer.close()


async def test_notes_are_refused_without_a_session_or_with_bad_input(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    path = f"/api/agent/conversations/{conversation['conversation_id']}/notes"
    assert (await hub.post(path, json={"text": "x"})).status == 401
    await sign_in(hub)
    assert (await hub.post(path, json={"text": "   "})).status == 400
    assert (await hub.post(path, json={"note": "x"})).status == 400
    assert (await hub.post(path, data=b"not json")).status == 400
    assert (await hub.post(path, json={"text": "x" * 101})).status == 413
    assert (await hub.post("/api/agent/conversations/nope/notes", json={"text": "x"})).status == 404


async def test_stored_notes_are_left_out_of_every_customer_read(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    await store.append_message(conversation.id, "customer", "hello", client_id="c1")
    await store.append_message(conversation.id, contract.NOTE_SENDER, NOTE)
    await store.append_message(conversation.id, "system", "bye")
    assert [m.sender for m in await store.messages_after(conversation.id)] == ["customer", "system"]
    assert [m.sender for m in await store.messages_before(conversation.id, None, 10)] == ["customer", "system"]
    inbox = await store.messages_before(conversation.id, None, 10, include_notes=True)
    assert [m.sender for m in inbox] == ["customer", "note", "system"]
    assert [m.seq for m in await store.messages_after(conversation.id, 0, include_notes=True)] == [1, 2, 3]


async def test_a_note_is_never_in_the_transcript_email(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    client = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port, email_after_seconds=3600.0))
    conversation = await queued_customer_gone(client, {"email": "ana@example.com"})
    cid = conversation["conversation_id"]
    await agent_answers(client, cid, "Done: your card is unblocked.")
    assert (await client.post(f"/api/agent/conversations/{cid}/notes", json={"text": NOTE})).status == 201
    assert (await client.post(f"/api/agent/conversations/{cid}/resolve")).status == 200
    _envelope, message = await smtp_sink.message()
    plain, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
    assert "Done: your card is unblocked." in plain
    assert "ticket 4411" not in plain and "ticket 4411" not in html


# --- transfer ----------------------------------------------------------------------------------


async def test_transfer_with_a_note_the_receiver_sees_first(hub: TestClient) -> None:
    conversation, customer = await _queued(hub)
    cid = conversation["conversation_id"]
    store = hub.app[STORE]
    bea = await store.agent_by_email("bea@kestrel.example")
    assert bea is not None
    await sign_in(hub)  # Alex
    assert (await hub.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    colleagues = (await (await hub.get("/api/agent/agents")).json())["agents"]
    assert {a["name"] for a in colleagues} == {"Alex", "Bea"}

    handover = "Card blocked after 3 PIN tries; identity checked. Please unblock."
    response = await hub.post(f"/api/agent/conversations/{cid}/transfer", json={"agent_id": bea.id, "note": handover})
    assert response.status == 200, await response.text()
    frames = await receive_until(customer, lambda f: f["type"] == "state" and f["agent"] == {"name": "Bea"})
    assert "Alex passed your conversation to Bea." in _texts(frames)
    assert handover not in _texts(frames)
    entries = await store.audit_entries(action="transfer")
    assert [(e.conversation_id, e.detail) for e in entries] == [(cid, {"to_agent_id": bea.id})]

    # Alex no longer owns it; Bea does, and sees the note first
    assert (await hub.post(f"/api/agent/conversations/{cid}/messages", json={"text": "hi"})).status == 403
    await sign_in(hub, "bea@kestrel.example")
    detail = await (await hub.get(f"/api/agent/conversations/{cid}")).json()
    assert detail["handoff"]["agent"]["name"] == "Bea"
    assert detail["transfer"]["note"] == handover and detail["transfer"]["from"]["name"] == "Alex"
    note = [m for m in detail["messages"] if m["sender"] == "note"][-1]
    assert note["transfer"]["to"] == {"id": bea.id, "name": "Bea"}
    assert (await hub.post(f"/api/agent/conversations/{cid}/messages", json={"text": "Hi, Bea here"})).status == 201
    await customer.close()


async def test_transfer_refusals(hub: TestClient) -> None:
    conversation, customer = await _queued(hub)
    cid = conversation["conversation_id"]
    store = hub.app[STORE]
    alex, bea = await store.agent_by_email("alex@kestrel.example"), await store.agent_by_email("bea@kestrel.example")
    assert alex is not None and bea is not None
    path = f"/api/agent/conversations/{cid}/transfer"
    assert (await hub.post(path, json={"agent_id": bea.id})).status == 401
    await sign_in(hub)
    assert (await hub.post(path, json={"agent_id": bea.id})).status == 409  # not claimed yet
    assert (await hub.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    assert (await hub.post(path, json={"agent_id": "2"})).status == 400
    assert (await hub.post(path, json={"agent_id": True})).status == 400
    assert (await hub.post(path, json={"agent_id": alex.id})).status == 400  # myself
    assert (await hub.post(path, json={"agent_id": 10**30})).status == 404
    assert (await hub.post(path, json={"agent_id": 9999})).status == 404
    assert (await hub.post(path, json={"agent_id": bea.id, "note": 7})).status == 400
    assert (await hub.post(path, json={"agent_id": bea.id, "note": "x" * 101})).status == 413
    await store.set_agent_disabled("bea@kestrel.example", True)
    assert (await hub.post(path, json={"agent_id": bea.id})).status == 404
    await store.set_agent_disabled("bea@kestrel.example", False)
    assert (await hub.post("/api/agent/conversations/nope/transfer", json={"agent_id": bea.id})).status == 404
    # a transfer without a note still leaves one, and only the owner may transfer
    assert (await hub.post(path, json={"agent_id": bea.id})).status == 200
    assert (await hub.post(path, json={"agent_id": bea.id})).status == 403
    assert await store.audit_entries(action="transfer", agent_id=alex.id)
    await customer.close()


async def test_store_transfer_keeps_the_first_claim_time(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    await store.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {})
    first = await store.create_agent("a@example.com", "A", "x")
    second = await store.create_agent("b@example.com", "B", "x")
    claimed = await store.claim(conversation.id, first.id)
    moved = await store.transfer(conversation.id, first.id, second.id)
    assert (moved.agent_id, moved.status, moved.claimed_at) == (second.id, "claimed", claimed.claimed_at)
    assert (await store.get_conversation(conversation.id)).state.value == "agent"


# --- saved replies -----------------------------------------------------------------------------

REPLY = {"shortcut": "card-delivery", "title": "Card delivery", "body": "Hi {customer_name}, {agent_name} here."}


async def test_saved_replies_shared_and_personal(hub: TestClient) -> None:
    await sign_in(hub, "bea@kestrel.example")  # an agent
    mine = await hub.post("/api/agent/replies", json={**REPLY, "shortcut": "/Card-Delivery"})
    assert mine.status == 201, await mine.text()
    mine_json = await mine.json()
    assert (mine_json["shortcut"], mine_json["shared"]) == ("card-delivery", False)
    assert (await hub.post("/api/agent/replies", json=REPLY)).status == 409  # my shortcut, taken
    assert (await hub.post("/api/agent/replies", json={**REPLY, "shared": True})).status == 403  # not an editor

    await sign_in(hub)  # Alex, an admin: a shared reply with the same shortcut is allowed
    shared = await hub.post("/api/agent/replies", json={**REPLY, "shared": True, "body": "Shared {agent_name}"})
    assert shared.status == 201
    shared_id = (await shared.json())["id"]
    listed = (await (await hub.get("/api/agent/replies")).json())["replies"]
    assert [(r["shortcut"], r["shared"]) for r in listed] == [("card-delivery", True)]  # not Bea's
    assert (await hub.put(f"/api/agent/replies/{mine_json['id']}", json=REPLY)).status == 404  # Bea's own
    assert (await hub.delete(f"/api/agent/replies/{mine_json['id']}")).status == 404

    await sign_in(hub, "bea@kestrel.example")
    listed = (await (await hub.get("/api/agent/replies")).json())["replies"]
    assert [(r["shortcut"], r["shared"]) for r in listed] == [("card-delivery", False), ("card-delivery", True)]
    assert (await hub.put(f"/api/agent/replies/{shared_id}", json=REPLY)).status == 403
    assert (await hub.delete(f"/api/agent/replies/{shared_id}")).status == 403
    changed = await hub.put(f"/api/agent/replies/{mine_json['id']}", json={**REPLY, "title": "Where is my card"})
    assert changed.status == 200 and (await changed.json())["title"] == "Where is my card"
    assert (await hub.delete(f"/api/agent/replies/{mine_json['id']}")).status == 204
    assert (await hub.delete(f"/api/agent/replies/{mine_json['id']}")).status == 404


async def test_saved_replies_refuse_bad_input(hub: TestClient) -> None:
    assert (await hub.get("/api/agent/replies")).status == 401
    assert (await hub.post("/api/agent/replies", json=REPLY)).status == 401
    await sign_in(hub, "bea@kestrel.example")
    for bad in (
        {**REPLY, "shortcut": "card delivery"},
        {**REPLY, "shortcut": ""},
        {**REPLY, "shortcut": 3},
        {**REPLY, "title": ""},
        {**REPLY, "title": "x" * 121},
        {**REPLY, "body": "  "},
        {**REPLY, "shared": "yes"},
        ["not", "an", "object"],
    ):
        assert (await hub.post("/api/agent/replies", json=bad)).status == 400, bad
    assert (await hub.post("/api/agent/replies", json={**REPLY, "body": "x" * 101})).status == 413
    assert (await hub.put("/api/agent/replies/abc", json=REPLY)).status == 404
    assert (await hub.put("/api/agent/replies/99", json=REPLY)).status == 404
    assert (await hub.delete("/api/agent/replies/99999999999999")).status == 404


async def test_store_saved_replies(store: Store) -> None:
    agent = await store.create_agent("c@example.com", "C", "x")
    other = await store.create_agent("d@example.com", "D", "x")
    shared = await store.save_reply("refund", "Refunds", "Refunds take 5 days.", None)
    mine = await store.save_reply("refund", "My refunds", "Mine", agent.id)
    await store.save_reply("zeta", "Other's", "Not yours", other.id)
    assert [r.id for r in await store.saved_replies(agent.id)] == [mine.id, shared.id]
    moved = await store.save_reply("refunds", "Refunds", "Refunds take 5 working days.", None, shared.id)
    assert (moved.shortcut, moved.body, moved.shared) == ("refunds", "Refunds take 5 working days.", True)
    await store.delete_reply(mine.id)
    assert [r.shortcut for r in await store.saved_replies(agent.id)] == ["refunds"]


async def test_revision_0010_upgrades_a_database_from_before_it_and_keeps_its_data(database_url: str) -> None:
    opened = await Store.open(database_url)
    conversation, token = await opened.create_conversation({"email": "ivy@example.com"})
    await opened.append_message(conversation.id, "customer", "hello", client_id="c1")
    async with opened.write() as conn:
        await conn.execute(sa.text("DROP TABLE saved_replies"))
        await conn.execute(sa.text("DROP TABLE team_members"))
        await conn.execute(sa.text("DROP TABLE teams"))
        await conn.execute(sa.text("ALTER TABLE handoffs DROP COLUMN team_id"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0009_studio'"))
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        assert (await upgraded.conversation_by_token(token)) is not None
        assert [m.text for m in await upgraded.messages_after(conversation.id)] == ["hello"]
        saved = await upgraded.save_reply("hi", "Hi", "Hello {customer_name}", None)
        team = await upgraded.create_team("Cards")
        assert await upgraded.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {}, team.id)
        assert [i.team_name for i in await upgraded.queue_items()] == ["Cards"]
        assert [r.id for r in await upgraded.saved_replies(1)] == [saved.id]
        async with upgraded.read() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == migrate.head()
    finally:
        await upgraded.close()


# --- teams and routing -------------------------------------------------------------------------


def test_the_routing_table() -> None:
    routes = routing.parse_routes(["category:cards=Cards", "reason:complaint=Care", "category:transfers=Payments"])
    assert routing.team_for(routes, "customer_request", {"issue_category": "cards"}) == "Cards"
    assert routing.team_for(routes, "complaint", {"issue_category": "cards"}) == "Care"  # the reason first
    assert routing.team_for(routes, "customer_request", {}) is None
    # a security matter goes to Security, whatever the table says
    assert routing.team_for({"reason:sensitive_topic": "Cards"}, "sensitive_topic", {}) == "Security"
    for bad in ("cards=Cards", "category:=Cards", "category:cards=", "team:x=Y"):
        with pytest.raises(routing.RouteError):
            routing.parse_routes([bad])
    with pytest.raises(SettingsError, match="HUB_TEAM_ROUTES"):
        HubSettings.from_env({"HUB_TEAM_ROUTES": "cards-to-Cards"})
    assert HubSettings.from_env({"HUB_TEAM_ROUTES": "category:cards=Cards"}).team_routes == ("category:cards=Cards",)


async def test_handoffs_are_routed_to_teams_and_agents_filter_the_queue(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(
        create_app(hub_settings(tmp_path, team_routes=("category:cards=Cards", "reason:bot_unavailable=Cards")))
    )
    store = client.app[STORE]
    await store.create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    bea = await store.create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    await sign_in(client, "bea@kestrel.example")
    assert (await client.post("/api/admin/teams", json={"name": "Cards"})).status == 403  # admins only
    await sign_in(client)
    cards = await client.post("/api/admin/teams", json={"name": "Cards"})
    assert cards.status == 201
    cards_id = (await cards.json())["id"]
    security_id = (await (await client.post("/api/admin/teams", json={"name": "Security"})).json())["id"]
    assert (await client.post("/api/admin/teams", json={"name": "cards "})).status == 409
    assert (await client.post("/api/admin/teams", json={"name": "Cards"})).status == 409
    members = await client.put(f"/api/admin/teams/{cards_id}/members", json={"agent_ids": [bea.id]})
    assert members.status == 200 and (await members.json())["member_ids"] == [bea.id]
    assert (await client.put(f"/api/admin/teams/{cards_id}/members", json={"agent_ids": [9999]})).status == 404
    assert (await client.put(f"/api/admin/teams/{cards_id}/members", json={"agent_ids": ["1"]})).status == 400
    assert (await client.put("/api/admin/teams/999/members", json={"agent_ids": []})).status == 404

    # Rasa is down: a customer's message queues as bot_unavailable, routed to Cards by the table;
    # a security matter goes to Security through the relay's own enqueue
    routed, ws = await _queued(client)
    security = await start_conversation(client)
    await client.app[RELAY].enqueue(
        security["conversation_id"],
        contract.HandoffPayload("sensitive_topic", "high", "Card stolen", "", {"issue_category": "cards"}),
    )
    everything = (await (await client.get("/api/agent/queue")).json())["items"]
    teams = {i["conversation_id"]: (i["team"] or {}).get("name") for i in everything}
    assert teams == {routed["conversation_id"]: "Cards", security["conversation_id"]: "Security"}

    await sign_in(client, "bea@kestrel.example")  # in Cards only
    mine = await (await client.get("/api/agent/queue?team=mine")).json()
    assert [i["conversation_id"] for i in mine["items"]] == [routed["conversation_id"]]
    assert mine["my_teams"] == [{"id": cards_id, "name": "Cards"}]
    by_id = await (await client.get(f"/api/agent/queue?team={security_id}")).json()
    assert [i["conversation_id"] for i in by_id["items"]] == [security["conversation_id"]]
    assert (await (await client.get("/api/agent/queue?team=none")).json())["items"] == []
    assert (await client.get("/api/agent/queue?team=everyone")).status == 400

    await sign_in(client)
    assert (await client.delete(f"/api/admin/teams/{security_id}")).status == 204
    assert (await client.delete(f"/api/admin/teams/{security_id}")).status == 404
    general = await (await client.get("/api/agent/queue?team=none")).json()
    assert [i["conversation_id"] for i in general["items"]] == [security["conversation_id"]]
    await ws.close()


async def test_store_teams(store: Store) -> None:
    agent = await store.create_agent("e@example.com", "E", "x")
    team = await store.create_team("Payments")
    assert (await store.team_by_name("payments")) == team
    await store.set_team_members(team.id, {agent.id})
    assert await store.team_ids_of(agent.id) == {team.id}
    await store.set_team_members(team.id, set())
    assert await store.team_ids_of(agent.id) == set()


async def test_teams_from_the_command_line(hub: TestClient, tmp_path: Path) -> None:
    made = run_cli("handoff.agents_cli", tmp_path, "team", "Cards", "bea@kestrel.example", "alex@kestrel.example")
    assert made.returncode == 0, made.stderr
    assert "team Cards" in made.stdout and "2 member(s)" in made.stdout
    again = run_cli("handoff.agents_cli", tmp_path, "team", "cards", "bea@kestrel.example")
    assert again.returncode == 0 and "1 member(s)" in again.stdout  # the same team, its members set
    listed = run_cli("handoff.agents_cli", tmp_path, "teams")
    assert "Cards" in listed.stdout and "bea@kestrel.example" in listed.stdout and "alex@" not in listed.stdout
    missing = run_cli("handoff.agents_cli", tmp_path, "team", "Cards", "nobody@kestrel.example")
    assert missing.returncode == 1 and "nobody@kestrel.example" in missing.stderr
    assert [t.name for t in await hub.app[STORE].teams()] == ["Cards"]


async def test_ids_that_are_digits_only_in_unicode_get_a_4xx(hub: TestClient) -> None:
    """'²' and '٣' are digits to str.isdigit but not to int(): found by the API fuzzer as a 500."""
    await sign_in(hub)
    for odd in ("²", "٣"):
        assert (await hub.get(f"/api/agent/queue?team={odd}")).status == 400
        assert (await hub.delete(f"/api/agent/replies/{odd}")).status == 404
        assert (await hub.put(f"/api/agent/replies/{odd}", json=REPLY)).status == 404
        assert (await hub.delete(f"/api/admin/teams/{odd}")).status == 404
        assert (await hub.put(f"/api/admin/teams/{odd}/members", json={"agent_ids": []})).status == 404
