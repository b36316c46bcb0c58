"""The real Rasa server starting after the hub (as at every `make run`, where Rasa loads its model
for tens of seconds while the hub already takes customers): the customer's first message is held,
they are told it takes longer, and the bot answers it; nobody is handed to a person."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from handoff.relay import WAIT_NOTICE
from tests.integration.customer import Customer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


async def _first_turn(stack: Stack) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        customer = await Customer(session, stack.hub_url).start()
        mark = await customer.say("How do I change my PIN?")
        await customer.wait_for(lambda f: f["type"] == "ack", mark)
        await customer.wait_for(
            lambda f: f["type"] == "message" and f["sender"] == "system" and WAIT_NOTICE in f["text"], mark
        )
        started = time.monotonic()
        stack.start_rasa(0)  # only now: Rasa is down for the notice's seconds, then loads its model
        answer = await customer.wait_for(
            lambda f: (
                (f["type"] == "message" and f["sender"] == "bot") or (f["type"] == "state" and f["state"] == "queued")
            ),
            mark,
            timeout=280,
        )
        answered = time.monotonic() - started
        assert answer["type"] == "message", answer
        assert answer["article"] and answer["article"]["id"], answer
        assert not any(f["type"] == "state" and f["state"] != "bot" for f in customer.frames)
        await customer.close()
    return {"answered_after_rasa_start_s": answered}


def test_a_rasa_that_starts_after_the_hub_answers_the_held_turn(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "stack", extra_env={"HUB_RASA_WAIT_SECONDS": "300", "HUB_RASA_NOTICE_SECONDS": "3"})
    stack.workdir.mkdir(parents=True)
    try:
        stack.start_actions()
        stack.start_hub()
        stack.wait({"actions": f"http://127.0.0.1:{stack.actions_port}/kb/health", "hub": f"{stack.hub_url}/health"})
        figures = asyncio.run(_first_turn(stack))
        print(f"the held turn was answered {figures['answered_after_rasa_start_s']:.0f} s after Rasa was started")
    finally:
        stack.stop()
