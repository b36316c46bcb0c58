from pathlib import Path

import pytest

from knowledge_base.articles import ArticleError, load_articles, parse_article
from knowledge_base.chunking import chunk_article
from tests.conftest import write_article


def test_parses_front_matter_and_body(tmp_path: Path) -> None:
    path = write_article(tmp_path, "card-delivery", "Card delivery", "Intro.\n\n## Express\nFast.", ["When?"])
    article = parse_article(path)
    assert (article.id, article.title, article.category, article.updated) == (
        "card-delivery",
        "Card delivery",
        "cards",
        "2026-10-01",
    )
    assert article.questions == ("When?",)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter here", "has no front matter"),
        ("---\nid: [unclosed\n---\nbody", "front matter is not valid YAML"),
        ("---\nid: a-b\ntitle: T\ncategory: cards\n---\nbody", "front matter lacks updated"),
        ("---\nid: a-b\ntitle: T\ncategory: cards\nupdated: 2026-01-01\n---\n   \n", "has an empty body"),
        ("---\nid: Bad Id\ntitle: T\ncategory: cards\nupdated: 2026-01-01\n---\nbody", "must be lowercase"),
        ("---\nid: a-b\ntitle: T\ncategory: cards\nupdated: someday\n---\nbody", "is not a date"),
        # "billion laughs": nine levels of nine aliases would expand to 9^9 strings
        (
            "---\nid: a-b\ntitle: T\ncategory: cards\nupdated: 2026-01-01\na: &a [lol, lol, lol]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n---\nbody",
            "uses a YAML alias (*name); write the value out instead",
        ),
    ],
)
def test_broken_articles_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.md"
    path.write_text(text)
    with pytest.raises(ArticleError) as caught:
        parse_article(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    write_article(tmp_path, "same-id", "One", "Body one.")
    (tmp_path / "other.md").write_text((tmp_path / "same-id.md").read_text())
    with pytest.raises(ArticleError, match="duplicate id 'same-id'") as caught:
        load_articles(tmp_path)
    assert "same-id.md" in str(caught.value) and "other.md" in str(caught.value)


def test_chunks_by_heading_with_title_and_anchor(tmp_path: Path) -> None:
    path = write_article(tmp_path, "fees", "Fees", "Intro text.\n\n## ATM fees\nTwo percent.\n\n## Card fees\nNone.")
    passages = chunk_article(parse_article(path))
    assert [(p.section, p.anchor, p.text) for p in passages] == [
        ("", "", "Intro text."),
        ("ATM fees", "atm-fees", "Two percent."),
        ("Card fees", "card-fees", "None."),
    ]
    assert passages[1].embedding_text().startswith("Fees — ATM fees\n")
    assert len({p.passage_id for p in passages}) == 3
