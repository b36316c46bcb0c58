"""Help-center articles: Markdown files with YAML front matter, loaded and validated."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import frontmatter
import yaml

REQUIRED_FIELDS = ("id", "title", "category", "updated")
ARTICLE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,80}$")


class ArticleError(ValueError):
    """One article is broken; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    category: str
    updated: str
    body: str
    path: Path
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    needs_person: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _as_str_list(path: Path, name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ArticleError(path, f"front matter field '{name}' must be a list of strings")
    return tuple(str(v).strip() for v in value if str(v).strip())


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: "*name" repeats an anchored value, and nested repeats expand to
    gigabytes from a few lines ("billion laughs"). Front matter never needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "uses a YAML alias (*name); write the value out instead", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


class _FrontMatterWithoutAliases(frontmatter.YAMLHandler):
    def load(self, fm: str, **kwargs: Any) -> Any:
        return yaml.load(fm, Loader=_NoAliasLoader)  # a SafeLoader subclass


def parse_article(path: Path, text: str | None = None) -> Article:
    """Parse one article file; raise ArticleError naming the file on any problem."""
    try:
        raw = path.read_text(encoding="utf-8") if text is None else text
    except UnicodeDecodeError:
        raise ArticleError(path, "is not UTF-8 text") from None
    if not raw.lstrip().startswith("---"):
        raise ArticleError(path, "has no front matter; start the file with a '---' block")
    try:
        post = frontmatter.loads(raw, handler=_FrontMatterWithoutAliases())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ArticleError(path, f"front matter is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    meta = post.metadata
    missing = [name for name in REQUIRED_FIELDS if not str(meta.get(name, "") or "").strip()]
    if missing:
        raise ArticleError(path, f"front matter lacks {', '.join(missing)}")
    article_id = str(meta["id"]).strip()
    if not ARTICLE_ID.match(article_id):
        raise ArticleError(path, f"id '{article_id}' must be lowercase letters, digits and dashes")
    updated = meta["updated"]
    if isinstance(updated, (dt.date, dt.datetime)):
        updated = updated.isoformat()[:10]
    else:
        try:
            dt.date.fromisoformat(str(updated))
        except ValueError:
            raise ArticleError(path, f"updated '{updated}' is not a date (YYYY-MM-DD)") from None
    body = post.content.strip()
    if not body:
        raise ArticleError(path, "has an empty body")
    known = {"id", "title", "category", "updated", "tags", "questions", "needs_person"}
    return Article(
        id=article_id,
        title=str(meta["title"]).strip(),
        category=str(meta["category"]).strip(),
        updated=str(updated),
        body=body,
        path=path,
        tags=_as_str_list(path, "tags", meta.get("tags")),
        questions=_as_str_list(path, "questions", meta.get("questions")),
        needs_person=bool(meta.get("needs_person", False)),
        extra={k: v for k, v in meta.items() if k not in known},
    )


@overload
def article_files(articles_dir: Path, as_str: Literal[False] = False) -> list[Path]: ...
@overload
def article_files(articles_dir: Path, as_str: Literal[True]) -> list[str]: ...


def article_files(articles_dir: Path, as_str: bool = False) -> list[Path] | list[str]:
    """Every `*.md` under a folder (hidden files and folders skipped), in path order. os.walk and
    plain strings: pathlib's rglob, Path sorting and formatting cost half a second at 10k files."""
    found: list[str] = []
    for root, dirs, files in os.walk(articles_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(root, name) for name in files if name.endswith(".md") and not name.startswith("."))
    found.sort()
    return found if as_str else [Path(name) for name in found]


T = TypeVar("T")


def unique_by_id(
    articles_dir: Path, items: Iterable[T], id_of: Callable[[T], str], path_of: Callable[[T], Path]
) -> dict[str, T]:
    """Items (parsed from the files under `articles_dir`) by article id. Raises ArticleError for a
    missing folder, a second item with the same id (naming both files), or no articles at all."""
    if not articles_dir.is_dir():
        raise ArticleError(articles_dir, "articles folder does not exist; set KB_ARTICLES_DIR")
    by_id: dict[str, T] = {}
    for item in items:
        article_id = id_of(item)
        if article_id in by_id:
            raise ArticleError(path_of(item), f"duplicate id '{article_id}' (also in {path_of(by_id[article_id])})")
        by_id[article_id] = item
    if not by_id:
        raise ArticleError(articles_dir, "holds no *.md articles")
    return by_id


def load_articles(articles_dir: Path) -> list[Article]:
    """Load every `*.md` under a folder, sorted by id; raise on the first broken article
    and on duplicate ids (naming both files)."""
    by_id = unique_by_id(
        articles_dir, (parse_article(path) for path in article_files(articles_dir)), lambda a: a.id, lambda a: a.path
    )
    return [by_id[key] for key in sorted(by_id)]
