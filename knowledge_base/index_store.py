"""Index versions on disk: each build writes a new folder; `CURRENT` names the live one.

Layout::

    index_dir/
      CURRENT                  # one line: the live version's folder name, swapped with os.replace
      article-cache.json       # each article file's passages and questions by stat identity (source_cache)
      versions/v000007/
        passages.faiss         # IndexIDMap2 over inner product: passage vectors, ids = Passage.passage_id
        questions.faiss        # the same for example questions, ids = Question.question_id
        manifest.json          # articles, passages, questions, build facts
        build-state.npz        # passage ids and content hashes, question ids, build facts: what the
                               # next incremental build compares against (ms to read, not the manifest's
                               # hundreds of ms at 10k articles)

A reader resolves `CURRENT` once and then only reads an immutable folder, so it never sees
half an index; old versions are pruned after the swap, keeping the last few.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import orjson

CURRENT_FILE = "CURRENT"
VERSIONS_DIR = "versions"
KEEP_VERSIONS = 3


class IndexNotBuilt(RuntimeError):
    """No index version exists yet; run `kb build` (make run does it for you)."""


@dataclass(frozen=True)
class IndexVersion:
    name: str
    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        return orjson.loads(self.manifest_path.read_bytes())

    def read_faiss(self, name: str) -> faiss.Index:
        return faiss.read_index(str(self.path / f"{name}.faiss"))


def current_version(index_dir: Path) -> IndexVersion | None:
    pointer = index_dir / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = index_dir / VERSIONS_DIR / name
    return IndexVersion(name, path) if name and path.is_dir() else None


def require_current_version(index_dir: Path) -> IndexVersion:
    version = current_version(index_dir)
    if version is None:
        raise IndexNotBuilt(f"no knowledge-base index in {index_dir}; run `make index` (or `kb build`)")
    return version


def pointer_signature(index_dir: Path) -> tuple[int, int] | None:
    """A cheap fingerprint of `CURRENT` (mtime, size) for hot-reload polling."""
    try:
        stat = (index_dir / CURRENT_FILE).stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_ino)


def new_version_dir(index_dir: Path) -> IndexVersion:
    versions = index_dir / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name[1:]) for p in versions.glob("v[0-9]*") if p.name[1:].isdigit()]
    name = f"v{(max(existing) + 1) if existing else 1:06d}"
    path = versions / f".{name}.partial-{os.getpid()}-{time.time_ns()}"
    path.mkdir()
    return IndexVersion(name, path)


def publish(index_dir: Path, staged: IndexVersion) -> IndexVersion:
    """Move a fully written staging folder into place, then swap `CURRENT` atomically."""
    final = index_dir / VERSIONS_DIR / staged.name
    os.replace(staged.path, final)
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(staged.name + "\n", encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)
    _prune(index_dir, keep=staged.name)
    return IndexVersion(staged.name, final)


def _prune(index_dir: Path, keep: str) -> None:
    versions = sorted((p for p in (index_dir / VERSIONS_DIR).glob("v[0-9]*") if p.is_dir()), key=lambda p: p.name)
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in (index_dir / VERSIONS_DIR).glob(".v*.partial-*"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)


def write_faiss(version: IndexVersion, name: str, index: faiss.Index) -> None:
    faiss.write_index(index, str(version.path / f"{name}.faiss"))


BUILD_STATE_FILE = "build-state.npz"


@dataclass(frozen=True)
class BuildState:
    facts: dict[str, Any]
    passage_hashes: dict[int, str]
    question_ids: set[int]


def write_build_state(version: IndexVersion, state: BuildState) -> None:
    ids = np.fromiter(state.passage_hashes, dtype=np.int64, count=len(state.passage_hashes))
    hashes = np.array(list(state.passage_hashes.values()), dtype="S64")
    questions = np.fromiter(state.question_ids, dtype=np.int64, count=len(state.question_ids))
    with open(version.path / BUILD_STATE_FILE, "wb") as handle:
        np.savez(
            handle,
            passage_ids=ids,
            passage_hashes=hashes,
            question_ids=questions,
            facts=np.frombuffer(dumps(state.facts), dtype=np.uint8),
        )


def read_build_state(version: IndexVersion) -> BuildState | None:
    """None for versions written before build states existed (the caller reads the manifest)."""
    try:
        with np.load(version.path / BUILD_STATE_FILE, allow_pickle=False) as data:
            hashes = [h.decode() for h in data["passage_hashes"].tolist()]
            return BuildState(
                orjson.loads(data["facts"].tobytes()),
                dict(zip(data["passage_ids"].tolist(), hashes, strict=True)),
                set(data["question_ids"].tolist()),
            )
    except FileNotFoundError:
        return None


def dumps(value: Any) -> bytes:
    """JSON with sorted keys (orjson: the manifest of a 10k-article help center is ~20 MB, which
    the standard library takes most of a second to write)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def write_manifest(version: IndexVersion, manifest: dict[str, Any]) -> None:
    version.manifest_path.write_bytes(dumps(manifest))


def link_faiss(source: IndexVersion, target: IndexVersion, name: str) -> None:
    """Reuse an unchanged index file of the previous version: a hard link (versions are immutable),
    or a copy where links are not possible."""
    src, dst = source.path / f"{name}.faiss", target.path / f"{name}.faiss"
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a build holds hundreds of thousands of young objects
    (cached records, manifest dicts): each full collection would walk all of them, ~0.3 s at 10k
    articles. A build makes no reference cycles to collect; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
