"""Approximate vector search for large indexes: FAISS IVF with our own stable int64 ids.

Below `KB_IVF_MIN_PASSAGES` vectors the exact `IndexIDMap2(IndexFlatIP)` of vector_index is the
right index (exact, no training, ~1 ms at 10k vectors). Above it an inverted-file index
(`IndexIVFFlat`, inner product) scans only `nprobe` of `nlist` clusters: at 100k vectors it
answers in a fraction of a millisecond instead of ~10 ms, at a recall@10 that
`python -m knowledge_base.eval.bench` measures against exact search.

The IVF index keeps what the builder and the searcher rely on:
- add and remove single vectors by id (incremental builds): `add_with_ids` / `remove_ids`;
- `reconstruct(id)` (search.LoadedIndex.passage_vector): the direct map is a hash table;
- it is written and read with `faiss.write_index` / `faiss.read_index` like the exact one
  (nprobe is stored in the file, and `prepare_for_search` sets it again after loading).

builder.py calls `fit_kind` on both indexes after replacing vectors, before writing a version:
it converts exact → IVF when an index reaches `KB_IVF_MIN_PASSAGES`, IVF → exact when it shrinks
below half of it, and retrains an IVF index whose size has drifted 4× from the size it was
trained at (clusters go stale as vectors are added and removed); otherwise it returns the index
unchanged. search.py searches whatever kind it loads (`index.search`) and calls
`prepare_for_search` on load. Where the switch sits and why: README, "Index type".
"""

from __future__ import annotations

import math
from typing import Any

import faiss as faiss_bindings
import numpy as np

from knowledge_base import vector_index

# faiss's SWIG bindings type every index as the base class (no nlist, id_map, ...): use them untyped.
faiss: Any = faiss_bindings

#: Clusters scanned per query, as a share of nlist (with a floor). The bench's sweep at 100k
#: clustered synthetic vectors (nlist 1264): recall@10 0.9965 at nprobe 8, 0.9975 at 16, 0.998 at
#: 32, FAISS p50 0.13–0.27 ms; 2 % (nprobe 25 there) leaves a margin for real data.
NPROBE_SHARE = 0.02
MIN_NPROBE = 16
#: nlist ≈ 4·sqrt(n): the usual FAISS rule of thumb for 10^4–10^6 vectors.
NLIST_PER_SQRT = 4
#: k-means trains on at most this many points per centroid (a random sample): keeps a 100k build
#: to a few seconds on two cores.
TRAIN_POINTS_PER_CENTROID = 64
#: Retrain when the index holds this many times more (or fewer) vectors than it was trained on.
RETRAIN_DRIFT = 4.0


def nlist_for(n: int) -> int:
    return int(min(max(16, NLIST_PER_SQRT * math.sqrt(max(n, 1))), 65536))


def nprobe_for(nlist: int) -> int:
    return int(min(nlist, max(MIN_NPROBE, round(NPROBE_SHARE * nlist))))


def is_ivf(index: faiss.Index) -> bool:
    return isinstance(faiss.try_extract_index_ivf(index), faiss.IndexIVF) if index is not None else False


def describe(index: faiss.Index) -> str:
    """Return 'exact' or 'ivf nlist=… nprobe=…' (for the manifest and `kb stats`)."""
    if not is_ivf(index):
        return "exact"
    ivf = _ivf(index)
    return f"ivf nlist={ivf.nlist} nprobe={ivf.nprobe}"


def _ivf(index: faiss.Index) -> faiss.IndexIVF:
    return faiss.extract_index_ivf(index)


def all_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every vector an exact IndexIDMap2 or an IVF index holds."""
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, index.d), dtype=np.float32)
    if is_ivf(index):
        ivf = _ivf(index)
        invlists = ivf.invlists
        ids, vectors = [], []
        for list_no in range(ivf.nlist):
            size = invlists.list_size(list_no)
            if not size:
                continue
            ids.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy())
            codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * invlists.code_size)
            vectors.append(np.frombuffer(codes.tobytes(), dtype=np.float32).reshape(size, ivf.d))
        return np.concatenate(ids).astype(np.int64), np.ascontiguousarray(np.vstack(vectors))
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, index.ntotal)
    return ids, np.ascontiguousarray(vectors, dtype=np.float32)


def new_ivf_index(vectors: np.ndarray, ids: np.ndarray, nlist: int | None = None, seed: int = 1234) -> faiss.Index:
    """Train an IVF index (inner product) on `vectors` and add them under `ids`."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dimension = vectors.shape
    nlist = nlist or nlist_for(n)
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_CENTROID
    index.cp.min_points_per_centroid = 8  # fewer is fine for our purpose; silences the FAISS warning
    index.cp.seed = seed
    index.train(vectors)
    index.own_fields = True
    quantizer.this.disown()
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    index.nprobe = nprobe_for(nlist)
    return index


def new_exact_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """vector_index's exact index, holding `vectors` under `ids`."""
    index = vector_index.new_id_index(vectors.shape[1])
    vector_index.replace_vectors(index, [], list(ids), vectors)
    return index


def fit_kind(index: faiss.Index, min_vectors: int) -> faiss.Index:
    """The index to write: exact below `min_vectors`, IVF from it on (see the module docstring)."""
    n = index.ntotal
    if is_ivf(index):
        nlist = _ivf(index).nlist
        if n < min_vectors // 2:
            ids, vectors = all_vectors(index)
            return new_exact_index(vectors, ids)
        trained_for = (nlist / NLIST_PER_SQRT) ** 2
        if n > trained_for * RETRAIN_DRIFT or n < trained_for / RETRAIN_DRIFT:
            ids, vectors = all_vectors(index)
            return new_ivf_index(vectors, ids)
        return index
    if min_vectors > 0 and n >= min_vectors:
        ids, vectors = all_vectors(index)
        return new_ivf_index(vectors, ids)
    return index


def prepare_for_search(index: faiss.Index, nprobe: int | None = None) -> faiss.Index:
    """Set nprobe on an IVF index (no-op for the exact one); returns the index."""
    if is_ivf(index):
        ivf = _ivf(index)
        ivf.nprobe = nprobe or nprobe_for(ivf.nlist)
    return index
