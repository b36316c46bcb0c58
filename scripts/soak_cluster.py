"""`make soak`: several hubs under a steady load while hubs are killed (README, "Several hubs").

Starts its own cluster (tests/integration/cluster_stack.py: two hubs on one fresh PostgreSQL
database and Redis, Rasa on PostgreSQL with the Redis lock store, the action server, HAProxy),
then runs CONVERSATIONS customers over MINUTES through HAProxy, as the widget does: each asks the
bot a few questions, asks for a person, talks with the agent who claims it and is resolved. A
socket that drops reconnects through HAProxy with its last seq and resends what was not acked
(same client_id). Agents (signed in through HAProxy too) claim, reply and resolve. Every
KILL_EVERY seconds one hub is killed with -9 and started again.

At the end it compares what every customer received with what the database holds and prints:
lost (stored but never received, or sent and never stored), duplicated (a message stored twice,
or a turn answered twice), out of order (a customer's or agent's messages stored in another order
than sent), reconnects, and the bot turn's p50/p95 (sent to first answer, reconnects included).
Not part of `make test`: it takes MINUTES plus the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.cluster_stack import CLUSTER_QUESTIONS, ClusterStack
from tests.integration.stack_runs import create_agent

QUESTIONS = CLUSTER_QUESTIONS
AGENT_PASSWORD = "soak-agent-password"
RETRY = (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Figures:
    reconnects: int = 0
    turn_seconds: list[float] = field(default_factory=list)
    late_arrivals: int = 0  # a frame with a lower seq after a higher one on one socket (the widget sorts)
    unfinished: int = 0
    kills: int = 0


class SoakCustomer:
    """The widget's rules: ack per client_id, resend the unacked after a reconnect, replay after the last seq."""

    def __init__(self, session: aiohttp.ClientSession, url: str, figures: Figures) -> None:
        self.session, self.url, self.figures = session, url, figures
        self.frames: list[dict[str, Any]] = []
        self.seqs: dict[int, dict[str, Any]] = {}
        self.unacked: dict[str, str] = {}
        self.sent: list[str] = []  # client_ids in the order typed
        self.token = self.conversation_id = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.arrived = asyncio.Event()
        self.closing = False
        self.closed_at = float("inf")  # wall clock, as the store's created_at
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        body = await retry(lambda: self._post_json("/api/conversations", {"metadata": {}}))
        self.token, self.conversation_id = body["token"], body["conversation_id"]
        await self.connect()

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.url}{path}", json=body) as response:
            assert response.status == 201, response.status
            return dict(await response.json())

    async def connect(self) -> None:
        while True:
            try:
                self.ws = await self.session.ws_connect(f"{self.url}/ws", origin=self.url, heartbeat=20)
                await self.ws.send_json({"type": "hello", "token": self.token, "after_seq": max(self.seqs, default=0)})
                for client_id, text in list(self.unacked.items()):
                    await self.ws.send_json({"type": "message", "client_id": client_id, "text": text})
                break
            except RETRY:
                await asyncio.sleep(0.5)
        self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        highest = 0
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = message.json()
            self.frames.append(frame)
            if frame["type"] == "ack":
                self.unacked.pop(frame["client_id"], None)
            elif frame["type"] == "message":
                if frame["seq"] < highest and frame["seq"] not in self.seqs:
                    self.figures.late_arrivals += 1
                highest = max(highest, frame["seq"])
                self.seqs.setdefault(frame["seq"], frame)
            self.arrived.set()
        if not self.closing:  # the hub went away: back through HAProxy
            self.figures.reconnects += 1
            await self.connect()

    async def say(self, text: str) -> None:
        client_id = uuid.uuid4().hex
        self.unacked[client_id] = text
        self.sent.append(client_id)
        try:
            assert self.ws is not None
            await self.ws.send_json({"type": "message", "client_id": client_id, "text": text})
        except (*RETRY, RuntimeError):
            pass  # resent after the reconnect

    async def until(self, predicate: Any, timeout: float = 120) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if time.monotonic() > deadline:
                return None
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=1)

    def answered_after(self, seq: int) -> bool:
        return any(s > seq and f["sender"] in ("bot", "system") for s, f in self.seqs.items())

    async def ask_bot(self, text: str) -> None:
        started = time.monotonic()
        await self.say(text)
        client_id = self.sent[-1]
        ack = await self.until(lambda f: f["type"] == "ack" and f["client_id"] == client_id)
        if ack is None:
            self.figures.unfinished += 1
            return
        if await self.until(lambda f: self.answered_after(ack["seq"])) is None:
            self.figures.unfinished += 1
            return
        self.figures.turn_seconds.append(time.monotonic() - started)

    async def close(self) -> None:
        self.closing, self.closed_at = True, time.time()
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


async def retry(call: Any, attempts: int = 60) -> Any:
    for _ in range(attempts - 1):
        try:
            return await call()
        except (*RETRY, AssertionError):
            await asyncio.sleep(0.5)
    return await call()


async def customer_life(url: str, figures: Figures, turns: int) -> SoakCustomer:
    """One customer in a browser of their own: a session (and connections) of its own, so HAProxy
    spreads them as it spreads browsers (a shared pool would keep them on the hub its
    connections were opened to)."""
    async with aiohttp.ClientSession() as session:
        return await _customer_life(session, url, figures, turns)


async def _customer_life(session: aiohttp.ClientSession, url: str, figures: Figures, turns: int) -> SoakCustomer:
    customer = SoakCustomer(session, url, figures)
    await customer.start()
    for question in random.sample(QUESTIONS, turns):
        await customer.ask_bot(question)
        await asyncio.sleep(random.uniform(1, 4))
    await customer.ask_bot("I want to talk to a person")
    await customer.say("just get me a person")
    if await customer.until(lambda f: f["type"] == "state" and f["state"] == "agent", timeout=240) is None:
        figures.unfinished += 1
    elif await customer.until(lambda f: f.get("sender") == "agent" and f.get("text", "").startswith("2/"), 120):
        await customer.say("thanks, that's all")
        resolved = await customer.until(lambda f: f["type"] == "state" and f["state"] == "resolved", timeout=120)
        if resolved is not None:  # the bot's welcome back comes after the resolve
            mark = max(customer.seqs)
            await customer.until(lambda f: f.get("sender") == "bot" and f.get("seq", 0) > mark, timeout=60)
    await customer.close()
    return customer


async def agent_life(url: str, email: str, stop: asyncio.Event) -> int:
    """Claim what waits, reply twice, resolve after the customer's answer; every call retried
    through HAProxy while a hub is down. Returns how many it resolved."""
    resolved = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with session.request(method, f"{url}{path}", json=body) as response:
                return response.status, await response.json(content_type=None)

        async def serve(cid: str) -> None:
            for n in (1, 2):
                await retry(
                    lambda n=n: call(
                        "POST", f"/api/agent/conversations/{cid}/messages", {"text": f"{n}/2 from {email}"}
                    )
                )
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                _status, detail = await retry(lambda: call("GET", f"/api/agent/conversations/{cid}"))
                senders = [m["sender"] for m in detail.get("messages", [])]
                if senders and senders[-1] == "customer":
                    break
                await asyncio.sleep(1)
            await retry(lambda: call("POST", f"/api/agent/conversations/{cid}/resolve"))

        await retry(lambda: call("POST", "/api/agent/login", {"email": email, "password": AGENT_PASSWORD}))
        while not stop.is_set():
            try:
                _status, queue = await call("GET", "/api/agent/queue")
                waiting = [i for i in queue.get("items", []) if i.get("state") == "queued"]
                if not waiting:
                    await asyncio.sleep(1)
                    continue
                cid = random.choice(waiting)["conversation_id"]
                status, _ = await call("POST", f"/api/agent/conversations/{cid}/claim")
                if status == 200:
                    await serve(cid)
                    resolved += 1
            except RETRY:
                await asyncio.sleep(0.5)
    return resolved


def customer_sockets(hub_url: str) -> int | str:
    try:
        with urllib.request.urlopen(f"{hub_url}/health", timeout=5) as response:
            return int(json.load(response)["customer_connections"])
    except OSError:
        return "?"


async def chaos(stack: ClusterStack, every: float, stop: asyncio.Event, figures: Figures) -> None:
    index = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        except TimeoutError:
            pass
        sockets = await asyncio.to_thread(customer_sockets, stack.hub_url_of(index))
        print(f"[soak] kill -9 hub{index + 1} ({sockets} customer sockets open on it), then start it again", flush=True)
        await asyncio.to_thread(stack.kill_hub_number, index)
        figures.kills += 1
        await asyncio.to_thread(stack.restart_hub_number, index)
        index = (index + 1) % len(stack.hub_ports)


async def verify(database_url: str, customers: list[SoakCustomer]) -> dict[str, int]:
    lost = duplicated = out_of_order = 0
    conn = await asyncpg.connect(database_url)
    try:
        for customer in customers:
            rows = await conn.fetch(
                "SELECT seq, sender, text, client_id, created_at FROM messages "
                "WHERE conversation_id = $1 AND sender <> 'note' ORDER BY seq",
                customer.conversation_id,
            )
            # stored while the customer was there (a second's grace for the frame on its way), never received
            stored = {r["seq"] for r in rows if r["created_at"] < customer.closed_at - 1.0}
            lost += len(stored - set(customer.seqs))
            client_ids = [r["client_id"] for r in rows if r["sender"] == "customer"]
            lost += len(set(customer.sent) - set(client_ids))  # typed, never stored
            duplicated += len(client_ids) - len(set(client_ids))
            # a turn answered twice: the same bot text twice between two customer messages
            turn: list[str] = []
            for r in rows:
                if r["sender"] == "customer":
                    turn = []
                elif r["sender"] == "bot":
                    duplicated += r["text"] in turn
                    turn.append(r["text"])
            typed = [c for c in customer.sent if c in client_ids]
            out_of_order += sum(1 for a, b in zip(client_ids, typed, strict=False) if a != b)
            agent = [r["text"] for r in rows if r["sender"] == "agent"]
            out_of_order += agent != sorted(agent, key=lambda t: t.split("/", 1)[0])
    finally:
        await conn.close()
    return {"lost": lost, "duplicated": duplicated, "out_of_order": out_of_order}


async def soak(stack: ClusterStack, args: argparse.Namespace) -> dict[str, Any]:
    figures = Figures()
    stop = asyncio.Event()
    agents = [
        asyncio.create_task(agent_life(stack.lb_url, f"soak{n}@kestrel.example", stop)) for n in range(args.agents)
    ]
    chaos_task = asyncio.create_task(chaos(stack, args.kill_every, stop, figures))
    # starts spread so that the last conversation (about a minute long) ends when the time is up
    spacing = max(0.0, args.minutes * 60 - 60) / args.conversations
    started = time.monotonic()
    lives = []
    for n in range(args.conversations):
        lives.append(asyncio.create_task(customer_life(stack.lb_url, figures, args.turns)))
        if n % 25 == 0:
            print(f"[soak] {n} conversations started, {time.monotonic() - started:.0f} s", flush=True)
        await asyncio.sleep(spacing)
    outcomes = await asyncio.gather(*lives, return_exceptions=True)
    customers = [c for c in outcomes if isinstance(c, SoakCustomer)]
    for failure in [o for o in outcomes if isinstance(o, BaseException)][:3]:
        print(f"[soak] a customer failed: {failure!r}", flush=True)
    elapsed = time.monotonic() - started
    stop.set()
    await chaos_task
    resolved = sum(await asyncio.gather(*agents))
    checked = await verify(stack.env()["DATABASE_URL"], customers)
    return {
        "conversations": args.conversations,
        "completed": len(customers),
        "minutes": round(elapsed / 60, 1),
        **checked,
        "reconnects": figures.reconnects,
        "hub_kills": figures.kills,
        "resolved_by_agents": resolved,
        "bot_turns": len(figures.turn_seconds),
        "turn_p50_ms": round(statistics.median(figures.turn_seconds) * 1000) if figures.turn_seconds else None,
        "turn_p95_ms": round(pct(figures.turn_seconds, 0.95) * 1000) if figures.turn_seconds else None,
        "unfinished_waits": figures.unfinished,
        "late_arrivals_rendered_in_place": figures.late_arrivals,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--kill-every", type=float, default=120, help="seconds between hub kills (default 120)")
    parser.add_argument("--turns", type=int, default=2, help="bot questions per conversation before the person")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--rasa", type=int, default=2, help="Rasa processes (default 2)")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "var"))
    print(f"[soak] starting the cluster in {workdir} (2 hubs, {args.rasa} Rasa, HAProxy)…", flush=True)
    stack = ClusterStack(workdir, rasa_processes=args.rasa)
    try:
        stack.start()
        for n in range(args.agents):
            create_agent(stack.env(), f"soak{n}@kestrel.example", f"Soak {n}", AGENT_PASSWORD)
        print(
            f"[soak] up; {args.conversations} conversations over {args.minutes} min through {stack.lb_url}", flush=True
        )
        result = asyncio.run(soak(stack, args))
    finally:
        stack.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    width = max(map(len, result))
    for key, value in result.items():
        print(f"[soak] {key.ljust(width)}  {value}")
    ok = result["lost"] == result["duplicated"] == result["out_of_order"] == 0
    print("[soak] " + ("PASS: nothing lost, duplicated or out of order" if ok else "FAIL"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
