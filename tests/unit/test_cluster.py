"""Several hubs on the real Redis and PostgreSQL of this machine: the bus, presence, shared rate
limits and the turn lock, each alone and through two real hubs (aiohttp test servers) that share
one database and one Redis. Every test has its own Redis prefix and PostgreSQL database.

A Redis that cannot be reached fails the test (CI has one), like PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from redis.exceptions import RedisError

from handoff.app import create_app
from handoff.app_keys import FANOUT, RELAY, STORE
from handoff.auth import hash_password
from handoff.bus import RedisBus
from handoff.presence import RedisPresence
from handoff.rate_limit import RedisLimiter
from handoff.settings import HubSettings
from handoff.store import Store
from handoff.turn_lock import RedisTurnLocks
from tests.unit.db_fixtures import create_pg_database, drop_pg_database, pg_url
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, receive_until, sign_in, start_conversation

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    name = await create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


def cluster_settings(tmp_path: Path, database_url: str, prefix: str, **overrides: Any) -> HubSettings:
    return hub_settings(
        tmp_path, **{"database_url": database_url, "redis_url": REDIS_URL, "redis_prefix": prefix, **overrides}
    )


@pytest.fixture
async def two_hubs(pg_database: str, redis_prefix: str, aiohttp_client: Any, tmp_path: Path) -> list[TestClient]:
    """Hubs A and B on one PostgreSQL and one Redis, with the agents Alex and Bea."""
    settings = cluster_settings(tmp_path, pg_database, redis_prefix)
    hub_a = await aiohttp_client(create_app(settings))
    hub_b = await aiohttp_client(create_app(settings))
    await hub_a.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    return [hub_a, hub_b]


async def _hello(client: TestClient, token: str, after_seq: int = 0) -> Any:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": token, "after_seq": after_seq})
    await receive_until(ws, lambda f: f["type"] == "state")
    return ws


# --- through two hubs ---------------------------------------------------------------------------


async def test_a_customer_on_one_hub_and_an_agent_on_another_hear_each_other_in_order(
    two_hubs: list[TestClient],
) -> None:
    hub_a, hub_b = two_hubs
    conversation = await start_conversation(hub_a)
    cid = conversation["conversation_id"]
    customer = await _hello(hub_a, conversation["token"])
    await sign_in(hub_b)
    inbox = await hub_b.ws_connect("/api/agent/ws")
    online = await receive_until(inbox, lambda f: f["type"] == "agents_online")
    assert online[-1]["count"] == 1

    await customer.send_json({"type": "message", "client_id": "m1", "text": "my card is stuck"})
    # on hub B's inbox: the customer's message, stored and sent on by hub A
    seen = await receive_until(inbox, lambda f: f["type"] == "message" and f["sender"] == "customer")
    assert seen[-1]["text"] == "my card is stuck" and seen[-1]["conversation_id"] == cid
    # Rasa is down: queued, and hub A counts Alex, online on hub B
    queued = await receive_until(customer, lambda f: f["type"] == "state" and f["state"] == "queued")
    assert queued[-1]["agents_online"] == 1

    assert (await hub_b.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    for text in ("Hello, I'm Alex", "Let me look", "Unfrozen now"):
        reply = await hub_b.post(f"/api/agent/conversations/{cid}/messages", json={"text": text})
        assert reply.status == 201
    frames = await receive_until(customer, lambda f: f.get("text") == "Unfrozen now")
    agent_frames = [f for f in frames if f["type"] == "message" and f["sender"] == "agent"]
    assert [f["text"] for f in agent_frames] == ["Hello, I'm Alex", "Let me look", "Unfrozen now"]
    seqs = [f["seq"] for f in frames if f["type"] == "message"]
    assert seqs == sorted(set(seqs))

    await customer.send_json({"type": "message", "client_id": "m2", "text": "thank you"})
    seen = await receive_until(inbox, lambda f: f["type"] == "message" and f["text"] == "thank you")
    assert seen[-1]["sender"] == "customer"
    await customer.close()
    await inbox.close()


async def test_a_customer_reconnecting_to_the_other_hub_gets_everything_after_their_seq(
    two_hubs: list[TestClient],
) -> None:
    hub_a, hub_b = two_hubs
    conversation = await start_conversation(hub_a)
    customer = await _hello(hub_a, conversation["token"])
    await customer.send_json({"type": "message", "client_id": "m1", "text": "hello?"})
    frames = await receive_until(customer, lambda f: f["type"] == "state" and f["state"] == "queued")
    last = max(f["seq"] for f in frames if f["type"] == "message")
    await customer.close()
    await sign_in(hub_a)
    cid = conversation["conversation_id"]
    assert (await hub_a.post(f"/api/agent/conversations/{cid}/claim")).status == 200
    assert (await hub_a.post(f"/api/agent/conversations/{cid}/messages", json={"text": "Here now"})).status == 201

    again = await hub_b.ws_connect("/ws")
    await again.send_json({"type": "hello", "token": conversation["token"], "after_seq": last})
    frames = await receive_until(again, lambda f: f["type"] == "state")
    replayed = [f for f in frames if f["type"] == "message"]
    assert [f["seq"] for f in replayed] == list(range(last + 1, last + 1 + len(replayed)))
    assert [f["text"] for f in replayed if f["sender"] == "agent"] == ["Here now"]
    await again.close()


async def test_the_message_limit_of_a_conversation_is_shared_by_the_hubs(
    pg_database: str, redis_prefix: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    """Five messages per window (hub_settings): three on each hub make six, and the sixth is refused
    (each hub alone would allow it)."""
    settings = cluster_settings(tmp_path, pg_database, redis_prefix)
    hubs = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    conversation = await start_conversation(hubs[0])
    sockets = [await _hello(hub, conversation["token"]) for hub in hubs]
    answers = []
    for n in range(6):
        ws = sockets[n % 2]
        await ws.send_json({"type": "message", "client_id": f"m{n}", "text": f"message {n}"})
        frames = await receive_until(ws, lambda f: f["type"] in ("ack", "error"))
        answers.append(frames[-1]["type"] if frames[-1]["type"] == "ack" else frames[-1]["code"])
    assert answers == ["ack"] * 5 + ["rate_limited"]
    for ws in sockets:
        await ws.close()


async def test_a_pending_turn_resumed_by_two_hubs_at_once_is_sent_to_rasa_once(
    pg_database: str, redis_prefix: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    """Both hubs start with the same pending turn (a third hub was killed mid-turn) and a Rasa
    that accepts the connection and never answers: only one of them may send it. Without the
    shared turn lock both do, and the customer is told twice that the bot has trouble."""
    with socket.socket() as silent_rasa:
        silent_rasa.bind(("127.0.0.1", 0))
        silent_rasa.listen(16)
        rasa = f"http://127.0.0.1:{silent_rasa.getsockname()[1]}"
        settings = cluster_settings(tmp_path, pg_database, redis_prefix, rasa_urls=(rasa,), rasa_timeout_seconds=3.0)
        store = await Store.open(str(settings.database_url))
        conversation, _token = await store.create_conversation({})
        await store.append_message(conversation.id, "customer", "hello", client_id="c1", bot_text="hello")
        await store.close()
        # one after the other (Alembic's context is one per process), the second while the first
        # still waits for Rasa's answer
        hubs = [await aiohttp_client(create_app(settings)) for _ in range(2)]
        await asyncio.gather(*(hub.app[RELAY].drain() for hub in hubs))
    messages = await hubs[0].app[STORE].messages_after(conversation.id)
    assert [m.sender for m in messages] == ["customer", "system", "system"]  # sorry, passed on; nobody online
    assert await hubs[0].app[STORE].pending_bot_turns() == {}


async def test_a_turn_left_by_a_killed_hub_is_answered_when_the_customer_reconnects(
    pg_database: str, redis_prefix: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    """The turn was stored and acked by a hub that died holding its lock: the lease runs out, and
    the hub the customer reconnects to answers it, once (its sweep would too, two leases after the
    turn was stored). Rasa is down here: the answer is the bot_unavailable handoff."""
    settings = cluster_settings(tmp_path, pg_database, redis_prefix, turn_lock_lease_seconds=1.0)
    hub = await aiohttp_client(create_app(settings))
    conversation = await start_conversation(hub)
    cid = conversation["conversation_id"]
    await hub.app[STORE].append_message(cid, "customer", "anyone?", client_id="c1", bot_text="anyone?")
    dead_hub = RedisTurnLocks(aioredis.from_url(REDIS_URL), redis_prefix, 1.0)
    await dead_hub.acquire(cid)  # and never renewed: the hub was killed
    ws = await _hello(hub, conversation["token"])
    frames = await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    assert [f["text"] for f in frames if f["type"] == "message" and "trouble" in f["text"]]
    await hub.app[RELAY].drain()
    assert await hub.app[STORE].pending_bot_turns() == {}
    await ws.close()
    await dead_hub.client.aclose()


# --- the parts alone ----------------------------------------------------------------------------


async def test_the_bus_delivers_to_subscribers_of_other_hubs_only(redis: aioredis.Redis, redis_prefix: str) -> None:
    got: dict[str, list[tuple[str, dict[str, Any]]]] = {"a": [], "b": []}

    async def nothing() -> None:
        return None

    buses = {name: RedisBus(redis, redis_prefix, name) for name in got}
    for name, bus in buses.items():

        async def handler(channel: str, message: dict[str, Any], name: str = name) -> None:
            got[name].append((channel, message["frame"]))

        await bus.start(handler, nothing)
    channel = buses["a"].conversation_channel("c1")
    await buses["a"].subscribe(channel)
    await buses["a"].subscribe(channel)  # a second socket of the conversation on hub A
    await buses["b"].publish(channel, {"frame": {"n": 1}})
    await buses["a"].publish(channel, {"frame": {"n": 2}})  # hub A delivered it itself
    await buses["b"].publish(buses["b"].agents_channel, {"frame": {"n": 3}})
    await _until(lambda: len(got["a"]) == 2)
    assert got["a"] == [(channel, {"n": 1}), (buses["a"].agents_channel, {"n": 3})]
    assert got["b"] == []  # its own frames, and no conversation channel
    await buses["a"].unsubscribe(channel)
    assert (await redis.pubsub_numsub(channel))[0][1] == 1  # one socket left
    await buses["a"].unsubscribe(channel)
    await _until_async(lambda: _subscribers(redis, channel), 0)
    for bus in buses.values():
        await bus.close()


async def test_presence_counts_every_hub_and_forgets_a_killed_one(redis: aioredis.Redis, redis_prefix: str) -> None:
    hub_a = RedisPresence(redis, redis_prefix, "hub-a", ttl_seconds=1.0)
    hub_b = RedisPresence(redis, redis_prefix, "hub-b", ttl_seconds=1.0)
    await hub_a.start()
    await hub_b.start()
    await hub_a.agent_connected(7, 1)
    await hub_a.customer_connected("c1", 2)
    await hub_b.customer_connected("c1", 1)
    await hub_b.refresh()
    assert hub_b.online_agent_ids() == {7}
    assert await hub_b.customer_sockets("c1") == 2
    await hub_b.customer_left("c1", 1)
    assert await hub_a.customer_sockets("c1") == 1
    assert hub_a._beat is not None
    hub_a._beat.cancel()  # killed with -9: no heartbeat, nothing removed
    await _until_async(lambda: _online(hub_b), set())
    assert await hub_b.customer_sockets("c1") == 0
    await hub_b.close()


async def test_a_heartbeat_keeps_a_live_hub_present(redis: aioredis.Redis, redis_prefix: str) -> None:
    hub_a = RedisPresence(redis, redis_prefix, "hub-a", ttl_seconds=1.0)
    hub_b = RedisPresence(redis, redis_prefix, "hub-b", ttl_seconds=1.0)
    await hub_a.start()
    await hub_a.agent_connected(3, 1)
    for _ in range(4):  # four lifetimes of one heartbeat
        await asyncio.sleep(1.0)
        await hub_b.refresh()
        assert hub_b.online_agent_ids() == {3}
    await hub_a.agent_left(3, 1)
    await hub_b.refresh()
    assert hub_b.online_agent_ids() == set()
    await hub_a.close()


async def test_shared_rate_limits_count_hits_from_every_hub(redis: aioredis.Redis, redis_prefix: str) -> None:
    hub_a, hub_b = (RedisLimiter(redis, f"{redis_prefix}:rate:x", limit=3, window_seconds=60) for _ in range(2))
    assert [await hub_a.allow("k"), await hub_b.allow("k"), await hub_a.allow("k")] == [True] * 3
    assert not await hub_b.allow("k")
    assert await hub_a.full("k") and not await hub_a.full("other")
    assert 1 <= await hub_b.retry_after("k") <= 60
    await hub_b.hit("other")
    assert await hub_a.retry_after("other") == 0
    assert not [key async for key in redis.scan_iter(match=f"{redis_prefix}:*k*") if b"rate:x:k" in key]  # hashed


async def test_the_turn_lock_excludes_other_hubs_and_outlives_no_holder(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    hub_a = RedisTurnLocks(redis, redis_prefix, lease_seconds=1.0)
    hub_b = RedisTurnLocks(redis, redis_prefix, lease_seconds=1.0)
    order: list[str] = []

    async def turn(locks: RedisTurnLocks, name: str, seconds: float) -> None:
        async with locks.hold("c1"):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    first = asyncio.create_task(turn(hub_a, "a", 2.5))  # longer than a lease: renewed while held
    await _until(lambda: order == ["a in"])
    await turn(hub_b, "b", 0)
    await first
    assert order == ["a in", "a out", "b in", "b out"]

    await hub_a.acquire("c2")  # and the holder dies: nobody renews it
    assert not await redis.set(hub_b.key("c2"), "x", nx=True)  # held
    token = await hub_b.acquire("c2")  # once the lease has run out
    await hub_a.release("c2", "not-the-token")  # only the holder releases it
    assert await redis.get(hub_b.key("c2")) == token.encode()
    await hub_b.release("c2", token)
    assert await redis.get(hub_b.key("c2")) is None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, Any]]:
    """A redis-server of this test's own (it is stopped and started again), on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is not installed (apt-get install redis-server)"
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL)]

    def restart() -> None:
        processes[-1].kill()
        processes[-1].wait()
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))

    yield port, restart
    for process in processes:
        process.kill()
        process.wait()


async def test_a_hub_that_lost_redis_sends_its_sockets_to_replay_once_it_is_back(
    pg_database: str, private_redis: tuple[int, Any], aiohttp_client: Any, tmp_path: Path
) -> None:
    """Frames published while Redis was away are lost on the bus; the widget replays from its
    last seq when its socket closes, so the hub closes them (1012) once Redis is back."""
    port, restart = private_redis
    settings = cluster_settings(tmp_path, pg_database, "p", redis_url=f"redis://127.0.0.1:{port}/0")
    await _until_async(lambda: _pings(settings.redis_url), True)
    hub = await aiohttp_client(create_app(settings))
    conversation = await start_conversation(hub)
    ws = await _hello(hub, conversation["token"])
    assert (await (await hub.get("/health")).json())["bus"] is True
    restart()
    closed = await ws.receive(timeout=10)  # under the 25 s heartbeat, whose pings restart the wait
    assert closed.type.name == "CLOSE" and closed.data == 1012
    assert hub.app[FANOUT].bus is not None and hub.app[FANOUT].bus.connected


# --- helpers ------------------------------------------------------------------------------------


async def _until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def _until_async(read: Any, wanted: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (value := await read()) != wanted:
        assert time.monotonic() < deadline, f"still {value!r}, not {wanted!r}"
        await asyncio.sleep(0.1)


async def _subscribers(redis: aioredis.Redis, channel: str) -> int:
    return int((await redis.pubsub_numsub(channel))[0][1])


async def _online(presence: RedisPresence) -> set[int]:
    await presence.refresh()
    return presence.online_agent_ids()


async def _pings(url: str) -> bool:
    client = aioredis.from_url(url)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def test_hubs_starting_at_once_on_a_fresh_database_migrate_it_once(pg_database: str) -> None:
    """Each hub migrates the store at start; four starting together on a fresh PostgreSQL database
    take turns (an advisory lock), where before two of them raced to create the same tables."""
    opener = (
        "import asyncio, sys\n"
        "from handoff.store import Store\n"
        "async def main():\n"
        "    await (await Store.open(sys.argv[1])).close()\n"
        "asyncio.run(main())\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", opener, pg_database, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        for _ in range(4)
    ]
    outputs = [(await process.communicate())[0].decode()[-400:] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs


async def test_a_later_turn_never_overtakes_an_earlier_pending_one(aiohttp_client: Any, tmp_path: Path) -> None:
    """Turn 1 was stored by another hub that has not sent it yet; this hub's turn 2 takes the
    conversation's lock first: it answers turn 1, then its own (Rasa is down: turn 1 hands off,
    and turn 2, with a person's conversation now, is not for Rasa)."""
    hub = await aiohttp_client(create_app(hub_settings(tmp_path)))
    store = hub.app[STORE]
    conversation, _token = await store.create_conversation({})
    for n in (1, 2):
        await store.append_message(conversation.id, "customer", f"q{n}", client_id=f"c{n}", bot_text=f"q{n}")
    await hub.app[RELAY]._bot_turn(conversation.id, 2)
    assert await store.pending_bot_turns() == {}
    senders = [m.sender for m in await store.messages_after(conversation.id)]
    assert senders[:3] == ["customer", "customer", "system"]  # turn 1's answer: the bot is unavailable
