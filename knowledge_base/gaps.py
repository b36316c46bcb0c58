"""Content gaps: the questions customers asked that found no answer (tier "none") or whose answer
was marked not helpful, clustered by meaning, most frequent first: what to write next."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from knowledge_base.embedding import Embedder

SIMILAR = 0.6  # cosine above which two questions count as the same need (MiniLM paraphrases: 0.6 to 0.9)


@dataclass(frozen=True)
class GapCluster:
    size: int
    example: str  # the question closest to the cluster's centre
    questions: list[str]


def cluster_questions(questions: list[str], embedder: Embedder, similar: float = SIMILAR) -> list[GapCluster]:
    """Greedy single-pass clustering on normalized embeddings: a question joins the cluster holding
    its most similar earlier question when that similarity reaches `similar` (deterministic)."""
    texts = [q.strip() for q in questions if q.strip()]
    if not texts:
        return []
    vectors = embedder.encode(texts)
    cluster_of: list[int] = []
    members: list[list[int]] = []
    for i in range(len(texts)):
        if i:
            sims = vectors[:i] @ vectors[i]
            nearest = int(np.argmax(sims))
            if sims[nearest] >= similar:
                cluster_of.append(cluster_of[nearest])
                members[cluster_of[nearest]].append(i)
                continue
        cluster_of.append(len(members))
        members.append([i])
    clusters = []
    for indices in members:
        centre = vectors[indices].mean(axis=0)
        closest = max(indices, key=lambda i: float(vectors[i] @ centre))
        clusters.append(GapCluster(len(indices), texts[closest], [texts[i] for i in indices]))
    return sorted(clusters, key=lambda c: (-c.size, c.example))
