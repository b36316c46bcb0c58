"""Bot turns when Rasa fails, is slow, is busy or comes up late: the real hub (aiohttp test
server, real SQLite) against a small real HTTP server standing in for Rasa's REST channel,
which answers with an error, a malformed body, late, never, or not at all until it is started.
The real Rasa starting after the hub: tests/integration/test_rasa_late_start.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from handoff.app import create_app
from handoff.app_keys import RELAY, STORE
from handoff.relay import WAIT_NOTICE
from tests.unit.hub_fixtures import closed_port, hub_settings, receive_until, start_conversation


class FakeRasa:
    """Rasa's REST channel as the hub sees it; `mode` says how it answers: "answer", "error"
    (HTTP 500), "not_json", "not_a_list", or "hold" (answers once `release` is set)."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.received: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()
        #: answer this many requests first with 503 (a proxy in front while no Rasa is up)
        self.unavailable = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        return app

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.unavailable > 0:
                self.unavailable -= 1
                return web.Response(status=503, text="No server is available to handle this request.")
            if self.mode == "error":
                return web.Response(status=500, text="Internal Server Error")
            if self.mode == "not_json":
                return web.Response(text="<html>upstream says hello</html>", content_type="text/html")
            if self.mode == "not_a_list":
                return web.json_response({"text": "a dict, not Rasa's list"})
            if self.mode == "hold":
                await self.release.wait()
            return web.json_response([{"recipient_id": body["sender"], "text": f"You said: {body['message']}"}])
        finally:
            self.in_flight -= 1


@pytest.fixture
async def rasa() -> AsyncIterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.release.set()  # let held requests end, so the servers can close


async def serve(fake: FakeRasa, port: int | None = None) -> TestServer:
    server = TestServer(fake.app(), port=port)
    await server.start_server()
    return server


async def hub_for(aiohttp_client: Any, tmp_path: Path, rasa_url: str, **settings: Any) -> TestClient:
    return await aiohttp_client(create_app(hub_settings(tmp_path, rasa_urls=(rasa_url,), **settings)))


async def customer(client: TestClient) -> tuple[str, Any]:
    conversation = await start_conversation(client)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")
    return conversation["conversation_id"], ws


def bot_answer(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["sender"] == "bot"


def queued(frame: dict[str, Any]) -> bool:
    return frame["type"] == "state" and frame["state"] == "queued"


def notice(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["sender"] == "system" and WAIT_NOTICE in frame["text"]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition the test drives (a failure, not a slow machine, leaves it false)."""
    for _ in range(1500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def handoff_code(client: TestClient, conversation_id: str) -> str:
    handoff = await client.app[STORE].latest_handoff(conversation_id)
    assert handoff is not None and handoff.reason == "bot_unavailable"
    return handoff.summary.split("[", 1)[1].split("]", 1)[0]


@pytest.mark.parametrize(
    ("mode", "code"), [("error", "rasa_error"), ("not_json", "rasa_error"), ("not_a_list", "rasa_error")]
)
async def test_an_erroring_rasa_hands_off_at_once_without_sending_twice(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa, mode: str, code: str
) -> None:
    """Rasa took the request and failed (HTTP 500, a body that is not its JSON list): it may have
    acted on the message, so it is not sent again; the customer gets a person now, not after
    the wait bound."""
    rasa.mode = mode
    server = await serve(rasa)
    client = await hub_for(aiohttp_client, tmp_path, str(server.make_url("")).rstrip("/"), rasa_wait_seconds=60)
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "how do I top up?"})
    frames = await receive_until(ws, queued)
    assert frames[-1]["reason"] == "bot_unavailable"
    assert any(f["type"] == "typing" for f in frames) and not any(bot_answer(f) for f in frames)
    assert await handoff_code(client, cid) == code
    assert len(rasa.received) == 1
    await ws.close()
    await server.close()


async def test_a_slow_answer_keeps_typing_tells_the_customer_and_is_delivered(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    rasa.mode = "hold"
    server = await serve(rasa)
    client = await hub_for(
        aiohttp_client, tmp_path, str(server.make_url("")).rstrip("/"), rasa_notice_seconds=0.2, rasa_timeout_seconds=60
    )
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "how do I top up?"})
    waiting = await receive_until(ws, notice)
    assert {"ack", "message"} <= {f["type"] for f in waiting[:2]}  # stored (acked, echoed) first
    assert any(f["type"] == "typing" and f["sender"] == "bot" for f in waiting)
    rasa.release.set()
    answered = await receive_until(ws, lambda f: bot_answer(f) or queued(f))
    assert bot_answer(answered[-1]) and answered[-1]["text"] == "You said: how do I top up?"
    assert not any(notice(f) for f in answered)  # said once
    assert (await client.app[STORE].get_conversation(cid)).state.value == "bot"
    await ws.close()
    await server.close()


async def test_no_answer_hands_off_after_the_timeout(aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa) -> None:
    """Rasa took the request and hangs: HUB_RASA_TIMEOUT_SECONDS after sending, a person; sent once."""
    rasa.mode = "hold"
    server = await serve(rasa)
    client = await hub_for(
        aiohttp_client, tmp_path, str(server.make_url("")).rstrip("/"), rasa_timeout_seconds=0.5, rasa_wait_seconds=60
    )
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "hello?"})
    assert (await receive_until(ws, queued))[-1]["reason"] == "bot_unavailable"
    assert await handoff_code(client, cid) == "rasa_timeout"
    assert len(rasa.received) == 1
    await ws.close()
    await server.close()


async def test_a_rasa_that_comes_up_late_answers_the_turn_instead_of_a_person(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    """Nothing listens at Rasa's address (it is loading its model): the turn is held, tried again
    with backoff, the customer is told it takes longer, and Rasa answers once it is up."""
    port = closed_port()
    client = await hub_for(
        aiohttp_client, tmp_path, f"http://127.0.0.1:{port}", rasa_wait_seconds=120, rasa_notice_seconds=0.2
    )
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "are you there?"})
    await receive_until(ws, notice)
    server = await serve(rasa, port)
    answered = await receive_until(ws, lambda f: bot_answer(f) or queued(f))
    assert bot_answer(answered[-1]) and answered[-1]["text"] == "You said: are you there?"
    assert len(rasa.received) == 1
    assert await client.app[STORE].latest_handoff(cid) is None
    await ws.close()
    await server.close()


async def test_a_rasa_that_stays_down_hands_off_after_the_wait(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await hub_for(aiohttp_client, tmp_path, f"http://127.0.0.1:{closed_port()}", rasa_wait_seconds=0.5)
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "anyone?"})
    assert (await receive_until(ws, queued))[-1]["reason"] == "bot_unavailable"
    assert await handoff_code(client, cid) == "rasa_unreachable"
    await ws.close()


async def test_turns_over_the_in_flight_limit_wait_in_the_hub_and_are_all_answered(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    rasa.mode = "hold"
    server = await serve(rasa)
    client = await hub_for(
        aiohttp_client, tmp_path, str(server.make_url("")).rstrip("/"), rasa_max_in_flight=2, rasa_wait_seconds=60
    )
    customers = [await customer(client) for _ in range(5)]
    for n, (_cid, ws) in enumerate(customers):
        await ws.send_json({"type": "message", "client_id": "m1", "text": f"question {n}"})

    load: dict[str, Any] = {}

    async def hub_load() -> dict[str, Any]:
        return dict((await (await client.get("/health")).json())["rasa_load"])

    for _ in range(1500):
        load = await hub_load()
        if list(load.values()) == [{"in_flight": 2, "waiting": 3}]:
            break
        await asyncio.sleep(0.02)
    assert list(load.values()) == [{"in_flight": 2, "waiting": 3}], load
    assert len(rasa.received) == 2
    for _cid, ws in customers:  # every waiting customer sees the bot typing
        await receive_until(ws, lambda f: f["type"] == "typing")
    rasa.release.set()
    for n, (_cid, ws) in enumerate(customers):
        answered = await receive_until(ws, lambda f: bot_answer(f) or queued(f))
        assert answered[-1]["text"] == f"You said: question {n}"
    assert rasa.peak == 2 and len(rasa.received) == 5
    for _cid, ws in customers:
        await ws.close()
    await server.close()


async def test_a_turn_that_waits_for_a_slot_past_the_bound_goes_to_a_person(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    rasa.mode = "hold"
    server = await serve(rasa)
    client = await hub_for(
        aiohttp_client,
        tmp_path,
        str(server.make_url("")).rstrip("/"),
        rasa_max_in_flight=1,
        rasa_wait_seconds=0.5,
        rasa_timeout_seconds=60,
    )
    (_, first_ws), (second, second_ws) = await customer(client), await customer(client)
    await first_ws.send_json({"type": "message", "client_id": "m1", "text": "first"})
    await until(lambda: len(rasa.received) == 1, "the first turn reached Rasa")
    await second_ws.send_json({"type": "message", "client_id": "m1", "text": "second"})
    assert (await receive_until(second_ws, queued))[-1]["reason"] == "bot_unavailable"
    assert await handoff_code(client, second) == "rasa_busy"
    rasa.release.set()
    answered = await receive_until(first_ws, lambda f: bot_answer(f) or queued(f))
    assert answered[-1]["text"] == "You said: first"
    assert len(rasa.received) == 1
    await first_ws.close()
    await second_ws.close()
    await server.close()


async def test_an_answered_turn_costs_two_commits_and_is_never_asked_again(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    """The customer's message (stored, then acked) and the bot's answer with the turn's mark:
    one transaction each (handoff/store/bot_turns.py). A hub started again later on the same
    database does not send the answered turn to Rasa again."""
    server = await serve(rasa)
    url = str(server.make_url("")).rstrip("/")
    client = await hub_for(aiohttp_client, tmp_path, url)
    commits = []
    event.listen(client.app[STORE].engine.sync_engine, "commit", lambda _conn: commits.append(1))
    _, ws = await customer(client)
    commits.clear()
    await ws.send_json({"type": "message", "client_id": "m1", "text": "how do I top up?"})
    answered = await receive_until(ws, bot_answer)
    assert answered[-1]["text"] == "You said: how do I top up?"
    await client.app[RELAY].drain()
    assert len(commits) == 2
    assert await client.app[STORE].pending_bot_turns() == {}
    await ws.close()
    await client.close()
    again = await hub_for(aiohttp_client, tmp_path, url)
    await again.app[RELAY].drain()
    assert len(rasa.received) == 1
    await server.close()


async def test_a_hub_stopping_while_turns_wait_for_rasa_keeps_them_for_its_next_start(
    aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa
) -> None:
    """A turn waiting for a Rasa that is down does not hold a stopping hub for the wait bound: it
    is left pending, and the next start sends it on, once Rasa is there."""
    port = closed_port()
    client = await hub_for(aiohttp_client, tmp_path, f"http://127.0.0.1:{port}", rasa_wait_seconds=3600)
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "still there?"})
    await receive_until(ws, lambda f: f["type"] == "typing")
    await ws.close()
    await client.close()  # the app's shutdown: would wait an hour for the turn before Relay.close
    server = await serve(rasa, port)
    again = await hub_for(aiohttp_client, tmp_path, f"http://127.0.0.1:{port}")
    await again.app[RELAY].drain()
    assert [m["message"] for m in rasa.received] == ["still there?"]
    assert [m.sender for m in await again.app[STORE].messages_after(cid)] == ["customer", "bot"]
    await server.close()


async def test_a_proxy_saying_no_rasa_is_up_is_tried_again(aiohttp_client: Any, tmp_path: Path, rasa: FakeRasa) -> None:
    """A 503 from a proxy in front of Rasa (HAProxy with no server up) means the message was not
    taken: it is sent again after a backoff, and answered."""
    rasa.unavailable = 2
    server = await serve(rasa)
    client = await hub_for(aiohttp_client, tmp_path, str(server.make_url("")).rstrip("/"), rasa_wait_seconds=60)
    cid, ws = await customer(client)
    await ws.send_json({"type": "message", "client_id": "m1", "text": "hi"})
    answered = await receive_until(ws, lambda f: bot_answer(f) or queued(f))
    assert answered[-1]["text"] == "You said: hi"
    assert len(rasa.received) == 3 and await client.app[STORE].latest_handoff(cid) is None
    await ws.close()
    await server.close()
