"""Articles → passages: one passage per `##` section, each carrying its article's title."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge_base.articles import Article

HEADING = re.compile(r"^(#{2,3})\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Passage:
    passage_id: int
    article_id: str
    title: str
    section: str
    anchor: str
    category: str
    updated: str
    text: str
    content_hash: str

    def embedding_text(self) -> str:
        return embedding_text(self.title, self.section, self.text)

    def to_json(self) -> dict[str, object]:
        return dict(vars(self))  # dataclasses.asdict deep-copies: 10× slower on 40k passages


def embedding_text(title: str, section: str, text: str) -> str:
    """What gets embedded for a passage: title and section give a short passage its context."""
    heading = f"{title} — {section}" if section else title
    return f"{heading}\n{text}"


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "section"


def stable_id(*parts: str) -> int:
    """A 63-bit id that stays the same for the same key across builds (FAISS ids are int64)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def chunk_article(article: Article) -> list[Passage]:
    """Split an article at `##`/`###` headings; the text before the first heading is the intro."""
    sections: list[tuple[str, str]] = []
    matches = list(HEADING.finditer(article.body))
    intro = article.body[: matches[0].start()] if matches else article.body
    if intro.strip():
        sections.append(("", intro.strip()))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(article.body)
        text = article.body[match.end() : end].strip()
        if text:
            sections.append((match.group(2).strip(), text))
    passages: list[Passage] = []
    seen_anchors: set[str] = set()
    for section, text in sections:
        anchor = slugify(section) if section else ""
        while anchor and anchor in seen_anchors:
            anchor += "-2"
        seen_anchors.add(anchor)
        key_text = f"{article.title}\n{section}\n{text}"
        passages.append(
            Passage(
                passage_id=stable_id("passage", article.id, anchor),
                article_id=article.id,
                title=article.title,
                section=section,
                anchor=anchor,
                category=article.category,
                updated=article.updated,
                text=text,
                content_hash=content_hash(key_text),
            )
        )
    return passages
