"""Property-based tests of the customer frames (hypothesis): whatever a customer's socket sends,
the hub answers it, never hangs, keeps the socket usable and logs no unhandled exception.

Real hub (aiohttp test server, real SQLite; Rasa down, so a valid message ends in a handoff).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handoff.app import create_app
from tests.unit.hub_fixtures import hub_settings, receive_until, start_conversation

ANSWERS = {"ack", "error", "rating_saved"}
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=300)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
client_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True), values)
small = st.one_of(st.integers(-1, 7), values)
# Each frame type with its own fields filled in, so most frames get past the type check and reach
# the code that reads the fields; plus frames of any type with any fields.
frames = st.one_of(
    st.fixed_dictionaries({"type": st.just("message"), "client_id": client_ids}, optional={"text": values}),
    st.fixed_dictionaries(
        {"type": st.just("button"), "client_id": client_ids}, optional={"payload": values, "title": values}
    ),
    st.fixed_dictionaries({"type": st.just("rating"), "score": small, "comment": values}, optional={"ces": small}),
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["hello", "typing", "bogus", ""]), values)},
        optional={"text": values, "client_id": values, "token": values, "after_seq": values},
    ),
)
raw_text = st.one_of(frames.map(json.dumps), values.map(json.dumps), st.text(max_size=200))


@pytest.fixture
async def open_hub(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await aiohttp_client(
        create_app(
            hub_settings(
                tmp_path,
                address_conversations_per_hour=10**6,
                address_messages_per_minute=10**6,
                socket_opens_per_minute=10**6,
                rate_limit_messages=10**6,
            )
        )
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=raw_text)
# Always tried, besides the generated ones: a field of the wrong type behind a valid score or client_id.
@example(sent='{"type": "rating", "score": 3, "comment": 5}')
@example(sent='{"type": "rating", "score": 3, "ces": "4"}')
@example(sent='{"type": "message", "client_id": "m1", "text": ["hello"]}')
@example(sent='{"type": "button", "client_id": "b1", "payload": {"x": 1}, "title": 2}')
async def test_every_frame_gets_an_answer_and_the_socket_stays_usable(
    open_hub: TestClient, caplog: pytest.LogCaptureFixture, sent: str
) -> None:
    caplog.set_level(logging.ERROR)
    conversation = await start_conversation(open_hub)
    ws = await open_hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")
    await ws.send_str(sent)
    # 3 s of silence fails an example fast, so shrinking a failure takes seconds, not minutes.
    assert (await receive_until(ws, lambda f: f["type"] in ANSWERS, timeout=3))[-1]["type"] in ANSWERS
    await ws.send_json({"type": "message", "client_id": "after-the-fuzz", "text": "still there?"})
    after = await receive_until(
        ws, lambda f: f["type"] in ANSWERS and f.get("client_id") == "after-the-fuzz", timeout=3
    )
    assert after[-1]["type"] == "ack", after[-1]
    await ws.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
