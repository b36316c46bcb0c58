"""The wire contracts (handoff/contract.py): each frame type's shape, the handoff payload's
round trip and coercions, and every frame a real hub sends checked against the contract."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff import contract
from tests.unit.hub_fixtures import hub, receive_until, sign_in, start_conversation

BUILT: dict[str, dict[str, Any]] = {
    "message": contract.message_frame(3, "bot", "Hi", 1.5, None, [{"title": "Yes", "payload": "/affirm"}]),
    "ready": contract.ready_frame("c1", "bot", 4000, ask_ces=True),
    "state": contract.state_frame("queued", "complaint", 2, 45, 1, None),
    "ack": contract.ack_frame("m1", 4),
    "typing": contract.typing_frame("agent"),
    "rating_saved": contract.rating_saved_frame(5, 4),
    "error": contract.error_frame("too_long", "Shorter, please.", "m2"),
    "queue_changed": contract.queue_changed_frame(),
    "conversation_state": contract.conversation_state_frame("c1", "agent"),
    "agents_online": contract.agents_online_frame(2),
    "pong": contract.pong_frame(),
    "transcript_sent": contract.transcript_sent_frame("ana@example.com"),
    "email_status": contract.email_status_frame("c1", {"emailed_at": 1.0, "read_at": None}),
}


@pytest.mark.parametrize("frame_type", sorted(contract.FRAME_FIELDS))
def test_each_frame_type_is_built_to_its_contract(frame_type: str) -> None:
    frame = BUILT[frame_type]
    assert frame["type"] == frame_type
    assert contract.follows_contract(frame)
    assert json.loads(json.dumps(frame)) == frame
    assert not contract.follows_contract({**frame, "unexpected": 1})


def test_the_handoff_payload_round_trips_and_coerces_what_it_cannot_trust() -> None:
    payload = contract.HandoffPayload(
        "complaint", "normal", "Complaint: fees", "summary", {"customer_name": "Ana"}, [{"id": "fees"}], -0.71234
    )
    assert contract.HandoffPayload.from_json(payload.to_json()) == contract.HandoffPayload(
        "complaint", "normal", "Complaint: fees", "summary", {"customer_name": "Ana"}, [{"id": "fees"}], -0.712
    )
    broken = contract.HandoffPayload.from_json(
        {
            "reason": "frustration",
            "priority": "urgent!!",
            "details": ["x"],
            "headline": None,
            "sentiment": "very",
            "articles": "no",
        }
    )
    assert broken.priority == "normal" and broken.details == {} and broken.articles == [] and broken.sentiment == 0.0
    assert broken.headline == "Customer is frustrated"
    assert contract.HandoffPayload.from_json("not a dict").reason == "customer_request"


async def test_every_frame_a_real_hub_sends_follows_the_contract(hub: TestClient) -> None:
    await sign_in(hub)
    agent_ws = await hub.ws_connect("/api/agent/ws")
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    customer_frames = await receive_until(ws, lambda f: f["type"] == "state")
    await ws.send_json({"type": "message", "client_id": "m1", "text": "hello"})  # Rasa is down: a handoff
    customer_frames += await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await ws.send_json({"type": "rating", "score": 4})
    await ws.send_json({"type": "nonsense"})
    customer_frames += await receive_until(ws, lambda f: f["type"] == "error" and "Unknown" in f["message"])
    await hub.post(f"/api/agent/conversations/{conversation['conversation_id']}/claim")
    await agent_ws.send_json({"type": "ping"})
    agent_frames = await receive_until(agent_ws, lambda f: f["type"] == "pong")
    seen = {f["type"] for f in customer_frames} | {f["type"] for f in agent_frames}
    assert {
        "ready",
        "state",
        "ack",
        "message",
        "typing",
        "error",
        "queue_changed",
        "conversation_state",
        "agents_online",
        "pong",
    } <= seen
    for frame in customer_frames + agent_frames:
        assert contract.follows_contract(frame), frame
    await ws.close()
    await agent_ws.close()
