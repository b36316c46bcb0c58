"""`supportbot-gaps [--days 30] [--top 20]`: what customers asked that got no answer, or an answer
they marked not helpful, from the hub's store, clustered by meaning: what to write next.

A hub command (it reads the hub's `DATABASE_URL`); the clustering is the knowledge base's
(`knowledge_base.gaps`), the same as the dashboard's content gaps.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from handoff.settings import HubSettings
from handoff.store import Store
from knowledge_base.settings import KBSettings, SettingsError


async def _questions(since: float) -> list[str]:
    store = await Store.open(str(HubSettings.from_env().database_url))
    try:
        return await store.unanswered_questions(since=since)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportbot-gaps", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="how far back to look (default 30)")
    parser.add_argument("--top", type=int, default=20, help="how many topics to print (default 20)")
    args = parser.parse_args(argv)
    try:
        questions = asyncio.run(_questions(time.time() - args.days * 86400))
        model_path = KBSettings.from_env().model_path
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not questions:
        print(f"no unanswered or unhelpful questions in the last {args.days} days")
        return 0
    from knowledge_base.embedding import Embedder  # loads torch: only when there is something to cluster
    from knowledge_base.gaps import cluster_questions

    clusters = cluster_questions(questions, Embedder(model_path))
    print(f"{len(questions)} questions in the last {args.days} days, {len(clusters)} topics; most asked first:")
    for rank, cluster in enumerate(clusters[: args.top], start=1):
        print(f"{rank:>3}. ×{cluster.size:<4} {cluster.example}")
        for other in [q for q in cluster.questions if q != cluster.example][:3]:
            print(f"           · {other}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
