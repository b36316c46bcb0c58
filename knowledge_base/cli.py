"""`kb`: the content team's command line.

kb build [--force]        validate articles and build the index incrementally
kb search "a question"    show the tier and the best passages
kb check                  lint: fields, example questions, links, near-duplicates
kb stats                  articles, passages, questions per category
kb tune [--epochs 1]      fine-tune the embedding model on the example questions, then rebuild
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from knowledge_base.articles import ArticleError, load_articles
from knowledge_base.index_store import IndexNotBuilt, require_current_version
from knowledge_base.settings import KBSettings, SettingsError
from knowledge_base.tuning import TuningError


def _say(message: str) -> None:
    print(f"[kb] {message}", flush=True)


def cmd_build(settings: KBSettings, args: argparse.Namespace) -> int:
    from knowledge_base.builder import build_index

    report = build_index(settings, report=_say, force=args.force)
    _say(report.line())
    return 0


def cmd_search(settings: KBSettings, args: argparse.Namespace) -> int:
    from knowledge_base.search import Searcher

    searcher = Searcher(settings)
    result = searcher.search(args.query, k=args.k)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(f"tier: {result.tier.value}   (index {result.version}, {result.timings_ms})")
    for rank, hit in enumerate(result.hits, start=1):
        section = f" › {hit.section}" if hit.section else ""
        print(f"{rank}. {hit.score:.3f}  {hit.title}{section}  [{hit.url}]")
        print("   " + hit.passage[:200].replace("\n", " ") + ("…" if len(hit.passage) > 200 else ""))
    return 0


def cmd_check(settings: KBSettings, args: argparse.Namespace) -> int:
    from knowledge_base.lint import lint_articles

    problems = lint_articles(settings, duplicate_threshold=args.duplicate_threshold)
    for problem in problems:
        print(problem.line())
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"{len(problems)} finding(s), {errors} error(s)")
    return 1 if errors else 0


def cmd_stats(settings: KBSettings, args: argparse.Namespace) -> int:
    articles = load_articles(settings.articles_dir)
    by_category = Counter(a.category for a in articles)
    print(f"articles: {len(articles)}   example questions: {sum(len(a.questions) for a in articles)}")
    for category, count in sorted(by_category.items()):
        print(f"  {category:<12} {count}")
    try:
        version = require_current_version(settings.index_dir)
        manifest = version.read_manifest()
        kinds = manifest.get("index_kinds", {})
        print(
            f"index {version.name}: {len(manifest['passages'])} passages ({kinds.get('passages', 'exact')}), "
            f"{len(manifest['questions'])} questions ({kinds.get('questions', 'exact')})"
        )
        print(f"model: {manifest.get('model')}")
    except IndexNotBuilt as exc:
        print(str(exc))
    return 0


def cmd_tune(settings: KBSettings, args: argparse.Namespace) -> int:
    """A new tuned model from today's example questions (articles + question bank), then a full
    rebuild with it; the action server switches to both when the new version is published."""
    from knowledge_base import tuning
    from knowledge_base.builder import build_index

    if settings.tune == "off":
        _say("KB_TUNE=off: builds use KB_MODEL_PATH as it is; set KB_TUNE=auto in .env to use a tuned model")
        return 2
    questions = tuning.example_questions(settings)
    _say(f"tuning on {len(questions)} example questions ({args.epochs} epoch(s))…")
    _say(tuning.tune_and_publish(settings, questions, _say, args.epochs).line())
    _say(build_index(settings, report=_say).line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb", description="Help-center knowledge base")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="validate articles and build the index (incremental)")
    build.add_argument("--force", action="store_true", help="embed everything again")
    build.set_defaults(func=cmd_build)
    search = sub.add_parser("search", help="search the index")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=3)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)
    check = sub.add_parser("check", help="lint the articles")
    check.add_argument("--duplicate-threshold", type=float, default=0.92)
    check.set_defaults(func=cmd_check)
    stats = sub.add_parser("stats", help="counts of articles, passages and questions")
    stats.set_defaults(func=cmd_stats)
    tune = sub.add_parser("tune", help="fine-tune the embedding model on the example questions, then rebuild")
    tune.add_argument("--epochs", type=int, default=1)
    tune.set_defaults(func=cmd_tune)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = KBSettings.from_env()
        return int(args.func(settings, args))
    except (ArticleError, SettingsError, IndexNotBuilt, TuningError) as exc:
        print(f"[kb] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
