"""The studio's editor form: front-matter fields and a Markdown body, to and from an article file.

Validation names the field and what to do. It checks each field first (so the message sits at
the field), then runs the knowledge base's own parser and per-article lint on the composed file
(knowledge_base.articles.parse_article, knowledge_base.lint.article_findings), so the studio
accepts exactly what `kb build` accepts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.articles import ARTICLE_ID, Article, ArticleError, parse_article
from knowledge_base.lint import article_findings

#: the Markdown of one article (front matter included), as the content API limits it
MAX_ARTICLE_BYTES = 200_000
MAX_TITLE = 200
MAX_CATEGORY = 60
MAX_TAG = 40
MAX_QUESTION = 300
MAX_LIST = 200
FIELDS = ("id", "title", "category", "tags", "questions", "needs_person", "body")


@dataclass(frozen=True)
class ArticleForm:
    """What the editor form holds. `extra` keeps front-matter keys the form does not show."""

    id: str
    title: str
    category: str
    body: str
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    needs_person: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "tags": list(self.tags),
            "questions": list(self.questions),
            "needs_person": self.needs_person,
            "body": self.body,
        }

    def markdown(self, updated: dt.date | None = None) -> str:
        """The article file: YAML front matter (dumped safely, so a title with a colon or quotes
        stays a title), then the body."""
        meta: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "tags": list(self.tags),
            "updated": (updated or dt.datetime.now(dt.UTC).date()).isoformat(),
            "questions": list(self.questions),
        }
        if self.needs_person:
            meta["needs_person"] = True
        meta.update({k: v for k, v in self.extra.items() if k not in meta and k != "needs_person"})
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
        return f"---\n{front}---\n{self.body.strip()}\n"


class FormError(ValueError):
    """The form is not a valid article: `fields` maps each field to what to do about it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in fields.items()))
        self.fields = fields


def form_from_article(article: Article) -> ArticleForm:
    return ArticleForm(
        id=article.id,
        title=article.title,
        category=article.category,
        body=article.body,
        tags=article.tags,
        questions=article.questions,
        needs_person=article.needs_person,
        extra=dict(article.extra),
    )


def _lines(value: Any, name: str, problems: dict[str, str], limit: int) -> tuple[str, ...]:
    """A list field from JSON (a list of strings) or a form (text, one per line or comma-separated)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        separator = "\n" if name == "questions" else ","
        items = [part.strip() for part in value.replace("\r", "").split(separator)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        problems[name] = "Give a list of texts."
        return ()
    items = [item for item in items if item]
    if len(items) > MAX_LIST:
        problems[name] = f"Keep it to {MAX_LIST} entries."
    elif any(len(item) > limit for item in items):
        problems[name] = f"Each entry can be up to {limit} characters; shorten the long one."
    return tuple(dict.fromkeys(items))  # duplicates dropped, order kept


def _text(value: Any, name: str, problems: dict[str, str], limit: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        problems[name] = f"Write {what}."
        return ""
    if "\n" in value.strip() and name != "body":
        problems[name] = "Keep it on one line."
    if len(value) > limit:
        problems[name] = f"Keep it to {limit} characters (it has {len(value)})."
    return value.strip()


def _checked(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("on", "true", "1", "yes"))


def form_from_input(data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> ArticleForm:
    """Read the form's fields (JSON or form-encoded); FormError names each field that is wrong."""
    problems: dict[str, str] = {}
    article_id = data.get("id")
    if not isinstance(article_id, str) or not article_id.strip():
        problems["id"] = "Give the article an id: lowercase letters, digits and dashes, e.g. savings-pots."
        article_id = ""
    elif not ARTICLE_ID.match(article_id.strip()):
        problems["id"] = "Use lowercase letters, digits and dashes only (2 to 81 characters), e.g. savings-pots."
    title = _text(data.get("title"), "title", problems, MAX_TITLE, "a title customers will recognise")
    category = _text(data.get("category"), "category", problems, MAX_CATEGORY, "a category, e.g. cards")
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        problems["body"] = "Write the article's text in Markdown."
        body = ""
    elif len(body.encode()) > MAX_ARTICLE_BYTES:
        problems["body"] = f"Articles can be up to {MAX_ARTICLE_BYTES // 1000} kB; split this one in two."
    tags = _lines(data.get("tags"), "tags", problems, MAX_TAG)
    questions = _lines(data.get("questions"), "questions", problems, MAX_QUESTION)
    if problems:
        raise FormError(problems)
    return ArticleForm(
        id=str(article_id).strip(),
        title=title,
        category=category,
        body=str(body).strip(),
        tags=tags,
        questions=questions,
        needs_person=_checked(data.get("needs_person")),
        extra=dict(extra or {}),
    )


def check_article(form: ArticleForm, other_ids: Collection[str]) -> tuple[str, list[str]]:
    """The composed Markdown and its warnings; FormError for what would break the build (the
    knowledge base's parser and lint decide, with their words, at the field they concern)."""
    markdown = form.markdown()
    path = Path(f"{form.id}.md")
    try:
        article = parse_article(path, text=markdown)
    except ArticleError as exc:
        raise FormError({"body": f"{exc.problem[:1].upper()}{exc.problem[1:]}."}) from None
    errors: list[str] = []
    warnings: list[str] = []
    for finding in article_findings(article, {*other_ids, form.id}):
        (errors if finding.severity == "error" else warnings).append(finding.message)
    if errors:
        raise FormError({"body": "This article " + "; ".join(errors) + ": fix or remove the link."})
    return markdown, warnings
