"""Several hubs, measured (part of `make bench`; README, "Several hubs" figures).

One cluster (tests/integration/cluster_stack.py) with three hubs and two Rasa processes on one
PostgreSQL and Redis, and two HAProxy front ends, so both shapes run side by side in one run:

- "1 + 1": HAProxy → hub 1 → Rasa 1 only;
- "2 + 2": HAProxy → hubs 2 and 3 → Rasa 1 and 2 (each conversation to one, by hash).

Rows: bot turns per second and p50/p95 per turn (sent to the bot's first message) at each
concurrency, and the ratio of the two shapes' throughput; then the relay latency of an agent's
message to the customer's socket when the agent's hub is the customer's, and when it is another
hub (the frame crosses Redis). JSON in var/bench/cluster-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.cluster_stack import CLUSTER_QUESTIONS, ClusterStack
from tests.integration.customer import Customer
from tests.integration.stack import free_port
from tests.integration.stack_runs import create_agent

QUESTIONS = [
    *CLUSTER_QUESTIONS,
    "How do I change my PIN?",
    "Can I get a virtual card?",
]
AGENT = ("bench-cluster@kestrel.example", "Bench", "bench-cluster-password")


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:,.0f}"


async def conversation(url: str, turns: int, samples: list[float], handoffs: list[str]) -> int:
    """One customer asking `turns` questions one after the other; the turns answered (a turn the
    hub hands to a person ends the conversation and is counted in `handoffs`). Each customer has
    connections of its own, as browsers do: HAProxy keeps a shared pool's requests on one hub."""
    async with aiohttp.ClientSession() as session:
        return await _conversation(session, url, turns, samples, handoffs)


async def _conversation(
    session: aiohttp.ClientSession, url: str, turns: int, samples: list[float], handoffs: list[str]
) -> int:
    customer = await Customer(session, url).start()
    answered = 0
    try:
        for question in random.sample(QUESTIONS, turns):
            started = time.perf_counter()
            mark = await customer.say(question)
            ack = await customer.wait_for(lambda f: f["type"] == "ack", mark, timeout=120)
            frame = await customer.wait_for(
                lambda f, seq=ack["seq"]: (
                    f["type"] == "message" and f["seq"] > seq and f["sender"] in ("bot", "system")
                ),
                mark,
                timeout=120,
            )
            samples.append(time.perf_counter() - started)
            answered += 1
            if frame["sender"] == "system":  # handed to a person: no more bot turns here
                handoffs.append(frame["text"][:40])
                break
    finally:
        await customer.close()
    return answered


async def load(url: str, concurrency: int, conversations: int, turns: int) -> dict[str, Any]:
    samples: list[float] = []
    handoffs: list[str] = []
    queue = list(range(conversations))

    async def worker() -> int:
        done = 0
        while queue:
            queue.pop()
            done += await conversation(url, turns, samples, handoffs)
        return done

    started = time.perf_counter()
    answered = sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
    elapsed = time.perf_counter() - started
    return {
        "concurrent": concurrency,
        "turns": answered,
        "turns_per_second": answered / elapsed,
        "p50_s": statistics.median(samples) if samples else None,
        "p95_s": pct(samples, 0.95),
        "handed_to_a_person": len(handoffs),
    }


async def relay_latency(stack: ClusterStack, samples: int) -> dict[str, dict[str, float | None]]:
    """A customer on hub 2; the agent posts alternately on hub 2 (same hub) and hub 3 (across)."""
    customer_hub, other_hub = stack.hub_url_of(1), stack.hub_url_of(2)
    email, _name, password = AGENT
    timings: dict[str, list[float]] = {"same hub": [], "across hubs": []}
    async with (
        aiohttp.ClientSession() as customer_session,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent,
    ):
        customer = await Customer(customer_session, customer_hub).start()
        mark = await customer.say("I want to talk to a person")
        await customer.wait_for(lambda f: f["type"] == "message" and f["sender"] == "bot", mark, timeout=120)
        mark = await customer.say("just get me a person")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued", mark, timeout=120)
        async with agent.post(f"{customer_hub}/api/agent/login", json={"email": email, "password": password}) as r:
            assert r.status == 200
        cid = customer.conversation_id
        async with agent.post(f"{customer_hub}/api/agent/conversations/{cid}/claim") as r:
            assert r.status == 200
        for n in range(samples * 2):
            where, hub = ("same hub", customer_hub) if n % 2 == 0 else ("across hubs", other_hub)
            text = f"relay {n} {uuid.uuid4().hex[:6]}"
            mark = len(customer.frames)
            started = time.perf_counter()
            async with agent.post(f"{hub}/api/agent/conversations/{cid}/messages", json={"text": text}) as r:
                assert r.status == 201
            await customer.wait_for(lambda f, text=text: f.get("text") == text, mark, timeout=30)
            timings[where].append(time.perf_counter() - started)
        await customer.close()
    return {where: {"p50_s": statistics.median(v), "p95_s": pct(v, 0.95)} for where, v in timings.items()}


async def measure(stack: ClusterStack, single: str, pair: str, args: argparse.Namespace) -> dict[str, Any]:
    levels = []
    for concurrency in args.concurrency:
        conversations = max(concurrency * 2, args.conversations)
        one = await load(single, concurrency, conversations, args.turns)
        two = await load(pair, concurrency, conversations, args.turns)
        levels.append(
            {
                "concurrent": concurrency,
                "1+1": one,
                "2+2": two,
                "ratio": two["turns_per_second"] / one["turns_per_second"],
            }
        )
        print(
            f"[bench-cluster] {concurrency} concurrent: 1+1 {one['turns_per_second']:.1f}/s, "
            f"2+2 {two['turns_per_second']:.1f}/s",
            flush=True,
        )
    return {"levels": levels, "relay": await relay_latency(stack, args.relay_samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--conversations", type=int, default=60, help="per level and shape (at least 2 × concurrent)")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--relay-samples", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=ROOT / "var"))
    print(f"[bench-cluster] starting 3 hubs, 2 Rasa, 2 HAProxy in {workdir}…", flush=True)
    stack = ClusterStack(workdir, hubs=3, rasa_processes=2)
    stack.hub_env = {0: {"RASA_URLS": stack.rasa_url}}  # hub 1: Rasa 1 only (the 1 + 1 shape)
    stack.balancer_ports = [free_port(), free_port()]
    try:
        stack.start()
        create_agent(stack.env(), *AGENT)
        single = stack.start_balancer("haproxy-1", stack.balancer_ports[0], [0])
        pair = stack.start_balancer("haproxy-2", stack.balancer_ports[1], [1, 2])
        result = asyncio.run(measure(stack, single, pair, args))
    finally:
        stack.stop()
    rows = [
        "| concurrent | 1 + 1 turns/s | 1 + 1 p50 / p95 ms | 2 + 2 turns/s | 2 + 2 p50 / p95 ms | 2 + 2 / 1 + 1 | handoffs 1+1 / 2+2 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in result["levels"]:
        one, two = level["1+1"], level["2+2"]
        rows.append(
            f"| {level['concurrent']} | {one['turns_per_second']:.1f} | {ms(one['p50_s'])} / {ms(one['p95_s'])} | "
            f"{two['turns_per_second']:.1f} | {ms(two['p50_s'])} / {ms(two['p95_s'])} | {level['ratio']:.2f}× | "
            f"{one['handed_to_a_person']} / {two['handed_to_a_person']} |"
        )
    rows += ["", "| agent's message to the customer's socket | p50 ms | p95 ms |", "| --- | --- | --- |"]
    for where, figures in result["relay"].items():
        rows.append(f"| {where} | {figures['p50_s'] * 1000:.1f} | {figures['p95_s'] * 1000:.1f} |")
    print("\n".join(rows), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"[bench-cluster] JSON: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
