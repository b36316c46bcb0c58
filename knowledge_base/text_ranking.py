"""Lexical (BM25) ranking of articles, one of the signals fused in search."""

from __future__ import annotations

import bm25s


class BM25Ranking:
    """BM25 over passages and example questions; ranks the articles they belong to."""

    def __init__(self, docs: list[tuple[str, str]]) -> None:
        self._articles = [article for article, _ in docs]
        self._retriever = bm25s.BM25()
        tokens = bm25s.tokenize([text for _, text in docs], stopwords="en", show_progress=False)
        self._retriever.index(tokens, show_progress=False)

    def rank(self, query: str, k: int) -> list[str]:
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        k = min(k, len(self._articles))
        docs, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        ranked: list[str] = []
        for doc, score in zip(docs[0], scores[0], strict=True):
            article = self._articles[int(doc)]
            if score > 0 and article not in ranked:
                ranked.append(article)
        return ranked
