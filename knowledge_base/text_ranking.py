"""Lexical scoring of articles, the word-level signal fused with the dense one in search.

A multinomial naive-Bayes model over TF-IDF features: words and word pairs, plus character
2–5-grams inside words (robust to typos and inflections: "transfered", "top-up" vs "topup").
Each document (search.py passes every example question and every passage's title + section
heading) trains its article's model; fitting is counting, so it is rebuilt with each loaded index
version (about 2 s for the 7,400 questions of the BANKING77 bank on two busy cores). On the
BANKING77 evaluation (knowledge_base/eval/evaluate.py) it replaced BM25: BM25 added nothing to the
dense vote, this model adds 1.2–1.5 points of top-1 accuracy.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse

WORD = re.compile(r"(?u)\b\w\w+\b")


def word_features(text: str) -> Counter[str]:
    """Lowercased words of two or more characters and adjacent word pairs."""
    tokens = WORD.findall(text.lower())
    features = Counter(tokens)
    features.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
    return features


def char_features(text: str, low: int = 2, high: int = 5) -> Counter[str]:
    """Character n-grams inside each space-padded word (like scikit-learn's `char_wb`)."""
    return Counter(itertools.chain.from_iterable(_word_char_grams(word, low, high) for word in text.lower().split()))


@functools.lru_cache(maxsize=65536)
def _word_char_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    """One word's n-grams, remembered: queries reuse a small vocabulary, and cutting n-grams is
    most of what vectorizing a query costs."""
    padded = f" {word} "
    size = len(padded)
    return tuple(padded[i : i + n] for n in range(low, min(high, size) + 1) for i in range(size - n + 1))


class _TfidfBlock:
    """One feature family: vocabulary, smooth idf, sublinear tf, l2-normalised rows."""

    def __init__(self, texts: Sequence[str], featurize: Callable[[str], Counter[str]], min_df: int) -> None:
        # Each document becomes two small arrays (feature ids, counts) at once: no per-document
        # Counter is kept, which is what would dominate memory on a large help center.
        self._featurize = featurize
        every: dict[str, int] = {}
        ids, counts = [], []
        for text in texts:
            features = featurize(text)
            ids.append(
                np.fromiter((every.setdefault(t, len(every)) for t in features), dtype=np.int64, count=len(features))
            )
            counts.append(np.fromiter(features.values(), dtype=np.float64, count=len(features)))
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        all_counts = np.concatenate(counts) if counts else np.zeros(0)
        df = np.bincount(all_ids, minlength=len(every))
        keep = df >= min_df
        column = np.cumsum(keep) - 1
        self.vocabulary = {t: int(column[i]) for t, i in every.items() if keep[i]}
        n_docs = len(ids)
        self.idf = np.log((1 + n_docs) / (1 + df[keep].astype(np.float64))) + 1.0
        mask = keep[all_ids]
        self.doc_of = np.repeat(np.arange(n_docs), lengths)[mask]
        self.columns = column[all_ids[mask]]
        values = (1.0 + np.log(all_counts[mask])) * self.idf[self.columns]
        norms = np.sqrt(np.bincount(self.doc_of, weights=values * values, minlength=n_docs))
        self.values = values / norms[self.doc_of]

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(self.vocabulary[t], c) for t, c in self._featurize(text).items() if t in self.vocabulary]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
        tf = np.fromiter((c for _, c in pairs), dtype=np.float64, count=len(pairs))
        values = (1.0 + np.log(tf)) * self.idf[idx]
        return idx, values / np.linalg.norm(values)

    def __len__(self) -> int:
        return len(self.vocabulary)


class NaiveBayesRanking:
    """Multinomial naive Bayes (no class prior) over TF-IDF word and character features.

    `scores(query, articles)` returns the log-likelihood of the query under each given article's
    model (positions in `self.articles`), up to a constant shared by all articles.
    """

    def __init__(self, docs: Sequence[tuple[str, str]], alpha: float = 0.02, char_min_df: int = 2) -> None:
        self.articles: list[str] = sorted({article for article, _ in docs})
        position = {a: i for i, a in enumerate(self.articles)}
        labels = np.array([position[a] for a, _ in docs], dtype=np.int64)
        texts = [text for _, text in docs]
        self._words = _TfidfBlock(texts, word_features, min_df=1)
        self._chars = _TfidfBlock(texts, char_features, min_df=char_min_df)
        self._n_words = len(self._words)
        n_features = max(len(self._words) + len(self._chars), 1)
        counts = sparse.csr_matrix(
            (
                np.concatenate([self._words.values, self._chars.values]),
                (
                    np.concatenate([labels[self._words.doc_of], labels[self._chars.doc_of]]),
                    np.concatenate([self._words.columns, self._chars.columns + self._n_words]),
                ),
            ),
            shape=(len(self.articles), n_features),
        )  # duplicates (same article, same feature) are summed
        for block in (self._words, self._chars):  # only needed to build `counts`
            del block.doc_of, block.columns, block.values
        # log P(f | article) = log(N_af + alpha) - log(N_a + alpha * F)
        #                   = log(alpha) + log1p(N_af / alpha) - log(N_a + alpha * F)
        # log(alpha) is the same for every article and is dropped; the middle term is sparse.
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self._base = -np.log(totals + alpha * n_features)
        counts.data = np.log1p(counts.data / alpha)
        # Both orientations: per article rows (score a few candidate articles) and per feature rows
        # (score every article a query's features occur in); `scores` takes the cheaper one.
        self._by_article = counts.tocsr()
        self._by_feature = counts.T.tocsr()
        self._local = threading.local()

    def _dense_query(self) -> np.ndarray:
        """This thread's dense query buffer (all zeros between calls): a gather from it matches
        the candidates' features against the query's in O(their size)."""
        buffer = getattr(self._local, "query", None)
        if buffer is None:
            buffer = self._local.query = np.zeros(self._by_article.shape[1])
        return buffer

    def vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        wi, wv = self._words.row(text)
        ci, cv = self._chars.row(text)
        return np.concatenate([wi, ci + self._n_words]), np.concatenate([wv, cv])

    def scores(self, query: str, articles: np.ndarray | None = None) -> np.ndarray:
        """Log-likelihood of `query` per article (positions in `self.articles`; all when None),
        up to a constant shared by all articles."""
        rows = np.arange(len(self.articles)) if articles is None else np.asarray(articles, dtype=np.int64)
        idx, values = self.vectorize(query)
        if not len(idx) or not len(rows):
            return np.zeros(len(rows))
        feature_ptr, article_ptr = self._by_feature.indptr, self._by_article.indptr
        via_features = int((feature_ptr[idx + 1] - feature_ptr[idx]).sum())
        via_articles = int((article_ptr[rows + 1] - article_ptr[rows]).sum())
        if via_features <= via_articles:
            dot = (self._by_feature[idx].T @ values)[rows]
        else:
            # The candidate articles' rows gathered with numpy (scipy's fancy row indexing costs
            # more than the arithmetic at this size), then matched against the sorted query features.
            starts, lengths = article_ptr[rows], article_ptr[rows + 1] - article_ptr[rows]
            owner = np.repeat(np.arange(len(rows)), lengths)
            positions = np.arange(int(lengths.sum())) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            columns, data = self._by_article.indices[positions], self._by_article.data[positions]
            dense = self._dense_query()  # zeros, one slot per feature; only idx is set, then reset
            dense[idx] = values
            try:
                dot = np.bincount(owner, weights=data * dense[columns], minlength=len(rows))
            finally:
                dense[idx] = 0.0
        return dot + values.sum() * self._base[rows]
