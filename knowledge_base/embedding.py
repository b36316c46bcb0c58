"""Sentence embeddings from a local sentence-transformers model, normalized for cosine search."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from knowledge_base.settings import QUERY_CACHE_SIZE

# The model ships on disk; never let a library try a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ProgressCallback = Callable[[int, int], None]


class Embedder:
    """Loads the model once; encodes text to L2-normalized float32 vectors."""

    def __init__(self, model_path: Path, batch_size: int = 64, query_cache_size: int = QUERY_CACHE_SIZE) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_path = model_path
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(model_path), device="cpu")
        dimension_of = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension_of() or 384)
        self.query_cache_size = query_cache_size
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_lock = threading.Lock()

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Vectors in the order of `texts`. Texts are encoded longest first, in batches of similar
        length (as one `SentenceTransformer.encode` call would), so little padding is computed;
        batching here is what lets `progress` report as it goes."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._model.encode(
                [texts[i] for i in rows],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(min(start + self.batch_size, len(texts)), len(texts))
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector (read-only), from a small LRU cache when this text was seen lately."""
        with self._query_cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        vector = self.encode([text])[0]
        vector.flags.writeable = False
        with self._query_cache_lock:
            self._query_cache[text] = vector
            while len(self._query_cache) > self.query_cache_size:
                self._query_cache.popitem(last=False)
        return vector
