"""`kb check`: problems a content team can fix before customers see them."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge_base.articles import Article, ArticleError, article_files, load_articles, parse_article
from knowledge_base.settings import KBSettings

INTERNAL_LINK = re.compile(r"\]\((/help/([a-z0-9-]+))(#[^)]*)?\)")


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" stops a build; "warning" does not
    path: Path
    message: str

    def line(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def article_findings(article: Article, ids: Collection[str]) -> list[Finding]:
    """One article's problems that need no model: the file name, example questions, tags, and
    links to other articles (`ids`: every article id there is). The content studio shows these
    per article and at the field being edited."""
    findings = []
    if article.path.stem != article.id:
        findings.append(Finding("warning", article.path, f"file name differs from id '{article.id}'"))
    if not article.questions:
        findings.append(Finding("warning", article.path, "has no example questions (front matter 'questions')"))
    if not article.tags:
        findings.append(Finding("warning", article.path, "has no tags"))
    for target in internal_links(article.body):
        if target not in ids:
            findings.append(Finding("error", article.path, f"links to /help/{target}, which does not exist"))
    return findings


def internal_links(body: str) -> list[str]:
    """The article ids a body links to (`](/help/<id>...)`)."""
    return [match.group(2) for match in INTERNAL_LINK.finditer(body)]


def lint_articles(settings: KBSettings, duplicate_threshold: float = 0.92) -> list[Finding]:
    findings: list[Finding] = []
    paths = article_files(settings.articles_dir)
    parsed = []
    for path in paths:
        try:
            parsed.append(parse_article(path))
        except ArticleError as exc:
            findings.append(Finding("error", path, exc.problem))
    if any(f.severity == "error" for f in findings):
        return findings
    try:
        articles = load_articles(settings.articles_dir)
    except ArticleError as exc:
        return [Finding("error", exc.path, exc.problem)]
    ids = {a.id for a in articles}
    for article in articles:
        findings.extend(article_findings(article, ids))
    findings.extend(_near_duplicates(settings, articles, duplicate_threshold))
    return findings


def _near_duplicates(settings: KBSettings, articles: list, threshold: float) -> list[Finding]:
    from knowledge_base.embedding import Embedder

    embedder = Embedder(settings.model_path)
    vectors = embedder.encode([f"{a.title}\n{a.body}" for a in articles])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0)
    findings = []
    for i, j in zip(*np.nonzero(np.triu(sims) >= threshold), strict=True):
        findings.append(
            Finding(
                "warning",
                articles[i].path,
                f"is {sims[i, j]:.2f} similar to {articles[j].path.name}: merge or tell them apart",
            )
        )
    return findings
