#!/usr/bin/env python
"""`make bench` row: the retention job emptying 100,000 old conversations on PostgreSQL inside
the hub while 10 customers chat, with their turn p50/p95 beside the same without the job, in one
run. Speed is measured, not asserted.

1. A scratch PostgreSQL database gets 100,000 conversations last active 400 days ago (4 messages
   and a knowledge-base question each; every tenth with a resolved handoff and a rating).
2. The real stack (Rasa, action server, hub on that database) with HUB_RETENTION_DAYS=0: 10
   customers ask help-center questions, turn after turn (baseline).
3. The hub restarted with HUB_RETENTION_DAYS=365: the job starts a second later; the same 10
   customers chat for as long as it runs. Prints both, their ratio, the job's time and rate;
   writes var/bench/retention.json.

    .venv/bin/python scripts/bench_retention.py [--conversations 100000] [--customers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import aiohttp
import asyncpg
import sqlalchemy as sa

from handoff.store import Store
from handoff.store import schema as T
from tests.integration.customer import Customer
from tests.integration.stack import Stack
from tests.integration.stack_runs import scratch_workdir

PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DAY = 86400.0
SEED_CHUNK = 5000
QUESTIONS = [
    "How long will it take for my new card to be delivered?",
    "what are the fees for exchanging currency?",
    "how do I top up with a bank transfer?",
    "How do I change my PIN?",
    "Which currencies can I hold in my account?",
    "Is there a fee for withdrawing cash at an ATM?",
]


def say(text: str = "") -> None:
    print(text, flush=True)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * int(q) // 100)) - 1]


async def create_database(name: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _hub_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def seed(dsn: str, count: int) -> float:
    """`count` conversations last active 400 days ago; seconds it took."""
    started = time.perf_counter()
    store = await Store.open(_hub_url(dsn))
    old = time.time() - 400 * DAY
    try:
        agent = await store.create_agent("bench-agent@kestrel.example", "Bench", "not-a-hash")
        for first in range(0, count, SEED_CHUNK):
            conversations, messages, questions, handoffs = [], [], [], []
            for n in range(first, min(count, first + SEED_CHUNK)):
                cid = uuid.uuid4().hex
                conversations.append(
                    {
                        "id": cid,
                        "token_hash": uuid.uuid4().hex,
                        "state": "resolved" if n % 10 == 0 else "bot",
                        "last_seq": 4,
                        "customer_name": f"Customer {n}",
                        "customer_email": f"customer{n}@example.com",
                        "metadata_json": {},
                        "created_at": old,
                        "updated_at": old + 60,
                    }
                )
                for seq in range(1, 5):
                    sender = "customer" if seq % 2 else "bot"
                    messages.append(
                        {
                            "conversation_id": cid,
                            "seq": seq,
                            "sender": sender,
                            "text": f"message {seq} of customer {n}",
                            "created_at": old + seq,
                            "bot_pending": False,
                        }
                    )
                questions.append(
                    {"conversation_id": cid, "question": f"question of customer {n}", "tier": "none", "created_at": old}
                )
                if n % 10 == 0:
                    handoffs.append(
                        {
                            "conversation_id": cid,
                            "status": "resolved",
                            "reason": "customer_request",
                            "priority": "normal",
                            "priority_rank": 1,
                            "headline": "Card",
                            "summary": f"Customer {n} asked about a card",
                            "details": {"customer_email": f"customer{n}@example.com"},
                            "agent_id": agent.id,
                            "queued_at": old + 10,
                            "claimed_at": old + 20,
                            "resolved_at": old + 50,
                        }
                    )
            async with store.write() as conn:
                await conn.execute(T.conversations.insert(), conversations)
                await conn.execute(T.messages.insert(), messages)
                await conn.execute(T.kb_queries.insert(), questions)
                await conn.execute(T.handoffs.insert(), handoffs)
            print(f"\r  seeded {min(count, first + SEED_CHUNK):,}/{count:,}", end="", flush=True)
        print()
    finally:
        await store.close()
    return time.perf_counter() - started


async def still_to_empty(dsn: str) -> int:
    store = await Store.open(_hub_url(dsn))
    try:
        async with store.read() as conn:
            query = (
                sa.select(sa.func.count())
                .select_from(T.conversations)
                .where(
                    T.conversations.c.anonymised_at.is_(None), T.conversations.c.updated_at < time.time() - 365 * DAY
                )
            )
            return int((await conn.execute(query)).scalar_one())
    finally:
        await store.close()


async def chat(hub_url: str, customers: int, keep_going: Any, min_turns: int) -> list[float]:
    """Each customer asks a question and waits for the bot's answer, turn after turn, until
    `keep_going()` says stop (and each has had `min_turns`); every turn's seconds."""
    turns: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def one(index: int) -> None:
            customer = await Customer(session, hub_url).start()
            n = 0
            while n < min_turns or await keep_going():
                started = time.perf_counter()
                mark = await customer.say(QUESTIONS[(index + n) % len(QUESTIONS)])
                await customer.bot_reply(mark, timeout=120)
                turns.append(time.perf_counter() - started - 0.3)  # bot_reply waits 0.3 s for stragglers
                n += 1
            await customer.close()

        await asyncio.gather(*(one(i) for i in range(customers)))
    return turns


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--turns", type=int, default=6, help="turns per customer in the baseline")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    args = parser.parse_args()

    name = f"supportbot_bench_retention_{uuid.uuid4().hex[:8]}"
    dsn = await create_database(name)
    say(f"retention bench: {args.conversations:,} old conversations on PostgreSQL ({name}), {args.customers} customers")
    try:
        seed_seconds = await seed(dsn, args.conversations)
        say(f"  seeded in {seed_seconds:.0f} s")
        with scratch_workdir(ROOT / "var" / "bench", "retention-", args.keep) as workdir:
            stack = Stack(workdir / "stack", extra_env={"DATABASE_URL": dsn, "HUB_RETENTION_DAYS": "0"})
            say("starting the stack (Rasa server, action server, hub on PostgreSQL)…")
            stack.start()
            try:

                async def never() -> bool:
                    return False

                say(f"baseline: {args.customers} customers × {args.turns} turns, no retention job…")
                baseline = await chat(stack.hub_url, args.customers, never, args.turns)

                say("the hub restarted with HUB_RETENTION_DAYS=365; the job starts a second later…")
                stack.stop_hub()
                stack.restart_hub({"HUB_RETENTION_DAYS": "365", "HUB_RETENTION_CHECK_SECONDS": "1"})
                job_started = time.perf_counter()
                finished: list[float] = []

                async def job_running() -> bool:
                    if finished:
                        return False
                    left = await still_to_empty(dsn)
                    print(f"\r  {args.conversations - left:,}/{args.conversations:,} emptied", end="", flush=True)
                    if left == 0:
                        finished.append(time.perf_counter() - job_started)
                    return left > 0

                during = await chat(stack.hub_url, args.customers, job_running, 1)
                print()
            finally:
                stack.stop()
    finally:
        await drop_database(name)

    job_seconds = finished[0] if finished else None
    result = {
        "conversations": args.conversations,
        "customers": args.customers,
        "baseline": {"turns": len(baseline), "p50_ms": _ms(pct(baseline, 50)), "p95_ms": _ms(pct(baseline, 95))},
        "during_job": {"turns": len(during), "p50_ms": _ms(pct(during, 50)), "p95_ms": _ms(pct(during, 95))},
        "p95_ratio": round(pct(during, 95) / pct(baseline, 95), 2) if baseline and during else None,  # type: ignore[operator]
        "job_seconds": round(job_seconds, 1) if job_seconds else None,
        "conversations_per_second": round(args.conversations / job_seconds) if job_seconds else None,
    }
    say("")
    say("| customers' turns | turns | p50 | p95 |")
    say("| --- | --- | --- | --- |")
    for label, key in (("without the job", "baseline"), ("while the job runs", "during_job")):
        row = result[key]
        say(f"| {label} | {row['turns']} | {row['p50_ms']} ms | {row['p95_ms']} ms |")
    say(f"p95 while the job runs / without it: {result['p95_ratio']}× (aim: within 1.2×)")
    say(
        f"the job emptied {args.conversations:,} conversations in {result['job_seconds']} s "
        f"({result['conversations_per_second']} a second)"
    )
    out = ROOT / "var" / "bench" / "retention.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {out.relative_to(ROOT)}")
    return 0


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
