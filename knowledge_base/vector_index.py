"""FAISS indexes with stable int64 ids, so single vectors can be removed and replaced."""

from __future__ import annotations

from typing import Any

import faiss as faiss_bindings
import numpy as np

# faiss's SWIG bindings type every index as the base class (no nlist, id_map, ...): use them untyped.
faiss: Any = faiss_bindings


def new_id_index(dimension: int) -> faiss.Index:
    """Exact inner-product search (cosine on normalized vectors) with our own ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def replace_vectors(index: faiss.Index, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray) -> None:
    """Remove stale ids, then add new vectors under their ids (in place)."""
    if remove_ids:
        index.remove_ids(np.asarray(remove_ids, dtype=np.int64))
    if add_ids:
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(add_ids, dtype=np.int64))


def stored_ids(index: faiss.Index) -> set[int]:
    """The ids an index holds: the exact IndexIDMap2 of this module or an IVF index (ann_index)."""
    if index.ntotal == 0:
        return set()
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return set(faiss.vector_to_array(index.id_map).tolist())
    ids: set[int] = set()
    for list_no in range(ivf.nlist):
        size = ivf.invlists.list_size(list_no)
        if size:
            ids.update(faiss.rev_swig_ptr(ivf.invlists.get_ids(list_no), size).tolist())
    return ids


def search(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Top-k (id, score) for one normalized query vector."""
    if index.ntotal == 0:
        return []
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), min(k, index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
