#!/usr/bin/env python
"""`make bench` row: the agent desk's conversation search (`GET /api/agent/search`) on 100,000
conversations, on SQLite and on PostgreSQL, over HTTP on a real hub, p50/p95. Speed is measured,
not asserted (aim: under 200 ms).

1. Each store gets 100,000 generated conversations (a customer name and email, five messages:
   three of the customer's with a transaction reference `TX-…` and words from a 2,000-word
   vocabulary plus common support words, a bot answer, an agent reply), every fifth handed off
   (a reason, a team, a state), spread over the last 180 days; inserted in bulk through the
   store's own tables, so the full-text index is filled by the store's triggers (SQLite) or
   generated column (PostgreSQL) exactly as in use.
2. A hub on that database, an agent signed in; each search is asked once to warm up, then
   `--requests` times: an email, a name, a transaction reference, a rare word, a common word, a
   common word with a state filter, a word prefix as typed, filters only (state and team), and a
   date range with a reason.

    .venv/bin/python scripts/bench_search.py [--conversations 100000] [--requests 40]
        [--stores sqlite,postgresql] [--postgres-dsn postgresql://postgres@127.0.0.1:5432/postgres]

Prints a table; writes var/bench/search.json. The PostgreSQL database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.auth import hash_password
from handoff.settings import HubSettings, sqlite_url
from handoff.store import Store
from handoff.store import schema as T
from knowledge_base.eval.bench import percentiles

OUTPUT = ROOT / "var" / "bench" / "search.json"
PASSWORD = "bench-search-password"
BATCH = 2000
FIRST = ["ana", "bo", "chen", "dara", "eli", "femi", "gus", "hana", "ivo", "jun", "kim", "lee", "mia", "noor"]
LAST = ["smith", "garcia", "okafor", "novak", "tanaka", "silva", "larsen", "haddad", "kowalski", "moreau"]
COMMON = ["card", "transfer", "money", "account", "payment", "help", "refund", "blocked", "please", "fee"]
REASONS = ["customer_request", "low_confidence", "complaint", "frustration", "sensitive_topic"]
STATES = ["queued", "agent", "resolved"]


def say(text: str = "") -> None:
    print(text, flush=True)


def vocabulary(rng: random.Random, size: int = 2000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(size)})


async def seed(store: Store, n: int, team_ids: list[int], agent_id: int) -> dict[str, Any]:
    """n conversations in bulk; returns examples to search for."""
    rng, now = random.Random(15), time.time()
    words = vocabulary(rng)
    examples: dict[str, Any] = {}
    for start in range(0, n, BATCH):
        conversations, messages, handoffs = [], [], []
        for i in range(start, min(n, start + BATCH)):
            cid = uuid.uuid4().hex
            created = now - rng.uniform(0, 180 * 86400)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{i}@example.com"
            ref = f"TX-{i:08d}"
            texts = [
                f"{rng.choice(COMMON)} {' '.join(rng.sample(words, 6))} {rng.choice(COMMON)}",
                f"the reference is {ref} {' '.join(rng.sample(words, 4))}",
                f"{' '.join(rng.sample(words, 8))} {rng.choice(COMMON)}",
            ]
            handed_off = i % 5 == 0
            state = STATES[i % 3] if handed_off else "bot"
            conversations.append(
                {
                    "id": cid,
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "state": state,
                    "last_seq": 5,
                    "customer_name": f"{first.title()} {last.title()}",
                    "customer_email": email,
                    "metadata_json": {},
                    "created_at": created,
                    "updated_at": created + 600,
                }
            )
            senders = ["customer", "bot", "customer", "agent" if handed_off else "bot", "customer"]
            bodies = [texts[0], "Here is what the help center says about that.", texts[1], "Let me check.", texts[2]]
            for seq, (sender, text) in enumerate(zip(senders, bodies, strict=True), start=1):
                messages.append(
                    {
                        "conversation_id": cid,
                        "seq": seq,
                        "sender": sender,
                        "text": text,
                        "created_at": created + seq,
                        "agent_id": agent_id if sender == "agent" else None,
                    }
                )
            if handed_off:
                handoffs.append(
                    {
                        "conversation_id": cid,
                        "status": {"queued": "queued", "agent": "claimed", "resolved": "resolved"}[state],
                        "reason": REASONS[(i // 5) % len(REASONS)],
                        "priority": "normal",
                        "priority_rank": 1,
                        "headline": "",
                        "summary": "",
                        "details": {},
                        "queued_at": created + 100,
                        "agent_id": agent_id if state != "queued" else None,
                        "team_id": team_ids[i % len(team_ids)],
                    }
                )
            if i == n // 2:
                examples.update(email=email, name=f"{first} {last}", ref=ref, rare=texts[2].split()[3])
        async with store.write() as conn:
            await conn.execute(T.conversations.insert(), conversations)
            await conn.execute(T.messages.insert(), messages)
            if handoffs:
                await conn.execute(T.handoffs.insert(), handoffs)
        if (start // BATCH) % 10 == 0:
            say(f"  seeded {min(n, start + BATCH):,} / {n:,}")
    examples["prefix"] = examples["rare"][:4]
    return examples


def searches(examples: dict[str, Any], team_id: int) -> list[tuple[str, str]]:
    ninety_days_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 90 * 86400))
    sixty_days_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 60 * 86400))
    return [
        ("customer email", f"q={examples['email']}"),
        ("customer name", f"q={examples['name'].replace(' ', '+')}"),
        ("transaction reference", f"q={examples['ref']}"),
        ("a rare word", f"q={examples['rare']}"),
        ("a common word (refund)", "q=refund"),
        ("a common word, state resolved", "q=refund&state=resolved"),
        ("a word prefix, as typed", f"q={examples['prefix']}"),
        ("filters only: queued, one team", f"state=queued&team={team_id}"),
        ("a date range and a reason", f"from={ninety_days_ago}&to={sixty_days_ago}&reason=complaint"),
    ]


async def bench_store(name: str, database_url: str, n: int, requests: int) -> dict[str, Any]:
    say(f"\n{name}: seeding {n:,} conversations…")
    store = await Store.open(database_url)
    agent = await store.create_agent("agent@bench.example", "Agent", hash_password(PASSWORD), "agent")
    teams = [await store.create_team(team) for team in ("Cards", "Payments", "Security")]
    started = time.perf_counter()
    examples = await seed(store, n, [t.id for t in teams], agent.id)
    seeded_s = round(time.perf_counter() - started, 1)
    await store.close()
    say(f"  seeded in {seeded_s} s")
    settings = HubSettings(
        database_url=database_url,  # type: ignore[arg-type]
        rasa_urls=("http://127.0.0.1:9",),
        retention_days=0,
        allowed_origins=("http://127.0.0.1",),
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    rows: dict[str, Any] = {"seed_seconds": seeded_s, "searches": {}}
    try:
        if name == "postgresql":
            async with client.app[STORE].write() as conn:
                await conn.exec_driver_sql("ANALYZE")
        login = await client.post("/api/agent/login", json={"email": "agent@bench.example", "password": PASSWORD})
        assert login.status == 200, await login.text()
        for label, query in searches(examples, teams[0].id):
            samples, found = [], 0
            for attempt in range(requests + 1):
                began = time.perf_counter()
                response = await client.get(f"/api/agent/search?{query}")
                body = await response.json()
                elapsed = 1000 * (time.perf_counter() - began)
                assert response.status == 200, body
                found = len(body["results"])
                if attempt:  # the first is the warm-up
                    samples.append(elapsed)
            rows["searches"][label] = {**percentiles(samples), "results": found}
            figures = rows["searches"][label]
            say(f"  {label:34} p50 {figures['p50']:7.1f} ms  p95 {figures['p95']:7.1f} ms  ({found} results)")
    finally:
        await client.close()
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"conversations": args.conversations, "requests": args.requests, "stores": {}}
    for name in args.stores.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                url = sqlite_url(Path(folder) / "hub.sqlite3")
                results["stores"][name] = await bench_store(name, url, args.conversations, args.requests)
        elif name == "postgresql":
            database = f"bench_search_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(args.postgres_dsn)
            await admin.execute(f'CREATE DATABASE "{database}"')
            try:
                base = args.postgres_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
                results["stores"][name] = await bench_store(
                    name, f"{base}/{database}", args.conversations, args.requests
                )
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await admin.close()
        else:
            raise SystemExit(f"unknown store {name!r}: sqlite or postgresql")
    return results


def table(results: dict[str, Any]) -> str:
    stores = list(results["stores"])
    head = "| search | " + " | ".join(f"{s} p50 / p95 ms (results)" for s in stores) + " |"
    lines = [head, "|" + " --- |" * (len(stores) + 1)]
    labels = list(next(iter(results["stores"].values()))["searches"]) if stores else []
    for label in labels:
        cells = []
        for store in stores:
            row = results["stores"][store]["searches"][label]
            cells.append(f"{row['p50']:.1f} / {row['p95']:.1f} ({row['results']})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-dsn", default=os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    say("\n" + table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2), encoding="utf-8")
    say(f"\nJSON: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
