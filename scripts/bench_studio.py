#!/usr/bin/env python
"""`make bench` row: the content studio's article list and the help center's search with 10,000
generated articles, over HTTP on a real hub (aiohttp server, SQLite), p50/p95. Speed is measured,
not asserted (aim: p95 under 300 ms each).

1. 10,000 generated articles in 20 categories (knowledge_base.eval.bench.write_corpus), indexed
   with synthetic vectors (embedding ~60k texts takes too long here; searching costs the same),
   and 50,000 bot answers and 10,000 "Did that help?" answers in the hub's database.
2. The hub on that folder and index, an editor signed in. Timed, after one warm-up request each:
   `GET /api/studio/articles` (the first page, as the studio opens), the same with a search
   (`?q=`), the list again more than 2 s after the last (when the folder is walked again, a stat
   per file), and `GET /help/search?q=` with a question (the real embedding model and the bot's
   search on the 10k-article index). The first list parses every file unless the hub's warm-up
   at start got there first; its time is printed as "first".

    .venv/bin/python scripts/bench_studio.py [--articles 10000] [--requests 60] [--output FILE]

Prints a table; writes var/bench/studio.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.articles_api import IndexRebuilds
from handoff.auth import hash_password
from handoff.settings import HubSettings, sqlite_url
from handoff.store import schema as T
from knowledge_base.builder import build_index
from knowledge_base.eval.bench import SyntheticEmbedder, percentiles, write_corpus
from knowledge_base.settings import KBSettings

OUTPUT = ROOT / "var" / "bench" / "studio.json"
PASSWORD = "bench-studio-password"
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


def generate(folder: Path, n: int) -> None:
    write_corpus(folder, n)
    for i, path in enumerate(sorted(folder.glob("*.md"))):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("category: bench", f"category: topic-{i % 20:02d}", 1), encoding="utf-8")


async def seed(client: TestClient, n_articles: int) -> None:
    store = client.app[STORE]
    await store.create_agent("editor@bench.example", "Editor", hash_password(PASSWORD), "editor")
    conversation, _ = await store.create_conversation({})
    rng, now = random.Random(3), time.time()
    answers = [
        {
            "conversation_id": conversation.id,
            "question": "bench question",
            "tier": "answer",
            "article_id": f"bench-{rng.randrange(n_articles):05d}",
            "score": 0.8,
            "created_at": now - rng.random() * 40 * 86400,
        }
        for _ in range(50_000)
    ]
    feedback = [
        {
            "conversation_id": conversation.id,
            "article_id": f"bench-{rng.randrange(n_articles):05d}",
            "helpful": rng.random() < 0.7,
            "created_at": now,
        }
        for _ in range(10_000)
    ]
    async with store.write() as conn:
        await conn.execute(sa.insert(T.kb_queries), answers)
        await conn.execute(sa.insert(T.article_feedback), feedback)


async def timed(client: TestClient, paths: list[str]) -> list[float]:
    samples = []
    for path in paths:
        started = time.perf_counter()
        response = await client.get(path)
        await response.read()
        assert response.status == 200, (path, response.status)
        samples.append(1000 * (time.perf_counter() - started))
    return samples


async def run(n_articles: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as scratch:
        work = Path(scratch)
        kb = dataclasses.replace(
            KBSettings.from_env(),
            articles_dir=work / "articles",
            index_dir=work / "index",
            extra_questions=None,
            tune="off",
        )
        say(f"generating {n_articles:,} articles…")
        generate(kb.articles_dir, n_articles)
        started = time.perf_counter()
        report = build_index(kb, SyntheticEmbedder(384))  # type: ignore[arg-type]  # Embedder's interface
        say(f"indexed with synthetic vectors in {time.perf_counter() - started:.0f} s: {report.line()}")
        settings = HubSettings(
            database_url=sqlite_url(work / "hub.sqlite3"),  # type: ignore[arg-type]
            articles_dir=kb.articles_dir,
            rasa_urls=("http://127.0.0.1:9",),
        )
        client = TestClient(TestServer(create_app(settings, rebuilds=IndexRebuilds(lambda: kb))))
        await client.start_server()
        try:
            await seed(client, n_articles)
            signed = await client.post("/api/agent/login", json={"email": "editor@bench.example", "password": PASSWORD})
            assert signed.status == 200
            rng = random.Random(5)
            results: dict[str, Any] = {"articles": n_articles, "requests": requests}
            cases = {
                "studio_list": ["/api/studio/articles"] * requests,
                "studio_list_search": [
                    f"/api/studio/articles?q=topic-{rng.randrange(20):02d}" for _ in range(requests)
                ],
                "help_search": [f"/help/search?q={rng.choice(QUESTIONS)}" for _ in range(requests)],
            }
            for name, paths in cases.items():
                # the first list parses every file (unless the hub's warm-up did); the first search loads the model
                warm = await timed(client, paths[:1])
                results[name] = {**percentiles(await timed(client, paths)), "first_ms": round(warm[0], 1)}
            # the folder is walked again (a stat per file) when the last walk is over 2 s old
            rewalks = []
            for _ in range(max(3, requests // 6)):
                await asyncio.sleep(2.1)
                rewalks += await timed(client, ["/api/studio/articles"])
            results["studio_list_rewalk"] = {**percentiles(rewalks), "first_ms": round(rewalks[0], 1)}
            return results
        finally:
            await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the JSON goes")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.articles, args.requests))
    say(f"\nContent studio and help center, {args.articles:,} articles, {args.requests} requests each (ms):")
    say(f"{'request':<28}{'first':>10}{'p50':>10}{'p95':>10}")
    for name in ("studio_list", "studio_list_search", "studio_list_rewalk", "help_search"):
        row = results[name]
        say(f"{name:<28}{row['first_ms']:>10.1f}{row['p50']:>10.1f}{row['p95']:>10.1f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2), encoding="utf-8")
    say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
