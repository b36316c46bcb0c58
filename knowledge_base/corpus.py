"""What an index is built from: the passages of the articles and their example questions (the
articles' own and a question bank's), and the links answers cite. Used by the build, the search
and the tuning alike, so none of them imports another for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.articles import Article
from knowledge_base.chunking import Passage, chunk_article, stable_id
from knowledge_base.settings import KBSettings


@dataclass(frozen=True)
class Question:
    question_id: int
    article_id: str
    text: str
    source: str  # "article" (front matter) or "bank" (a question bank file)


def article_url(settings: KBSettings, article_id: str, anchor: str = "") -> str:
    return f"{settings.article_base_url}/{article_id}" + (f"#{anchor}" if anchor else "")


def load_question_bank(path: Path | None, known_articles: set[str]) -> list[Question]:
    """Extra example questions from a JSONL file of {"article": id, "text": question}."""
    if path is None:
        return []
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            article_id, text = str(row["article"]), str(row["text"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f'{path}:{number}: expected {{"article": ..., "text": ...}} ({exc})') from None
        if article_id in known_articles and text:
            questions.append(Question(stable_id("question", article_id, text), article_id, text, "bank"))
    return questions


def with_question_bank(questions: list[Question], settings: KBSettings, known_articles: set[str]) -> list[Question]:
    """The articles' own example questions, then the bank's (KB_EXTRA_QUESTIONS) not already among them."""
    seen = {q.question_id for q in questions}
    merged = list(questions)
    for q in load_question_bank(settings.extra_questions, known_articles):
        if q.question_id not in seen:
            seen.add(q.question_id)
            merged.append(q)
    return merged


def collect(articles: list[Article], settings: KBSettings) -> tuple[list[Passage], list[Question]]:
    """Passages and example questions (articles' and the bank's) of parsed articles."""
    passages = [p for article in articles for p in chunk_article(article)]
    questions = [Question(stable_id("question", a.id, q), a.id, q, "article") for a in articles for q in a.questions]
    return passages, with_question_bank(questions, settings, {a.id for a in articles})
