"""Fine-tuning the embedding model on example questions (knowledge_base/tuning.py), for real on a
tiny corpus: the tuned model is saved, becomes the build's model, and the searcher switches to it."""

from __future__ import annotations

import dataclasses
import json

from knowledge_base import index_store, tuning
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher
from knowledge_base.settings import KBSettings


def test_training_batches_pair_questions_of_one_article_and_never_repeat_an_article_in_a_batch() -> None:
    questions = [(f"article-{a}", f"question {a}.{q}") for a in range(10) for q in range(7)]
    questions += [("lonely", "the only question of its article")]
    batches = tuning.training_batches(questions, epochs=2, batch_size=4)
    article_of = {text: article for article, text in questions}
    for batch in batches:
        articles = [article_of[anchor] for anchor, _ in batch]
        assert len(articles) == len(set(articles)) and 2 <= len(batch) <= 4
        assert all(article_of[anchor] == article_of[positive] and anchor != positive for anchor, positive in batch)
    # Every question of an article with two or more is used each epoch; the lonely one never.
    used = {text for batch in batches for pair in batch for text in pair}
    assert used == {text for article, text in questions if article != "lonely"}
    assert tuning.training_batches(questions, epochs=2, batch_size=4) == batches  # deterministic


def test_tuned_model_is_used_by_the_build_and_by_the_searcher(kb_settings: KBSettings, embedder, tmp_path) -> None:
    settings = dataclasses.replace(kb_settings, tune="auto", tuned_model_dir=tmp_path / "models")
    first = build_index(settings, embedder)  # 8 questions: too few for auto tuning, base model
    assert tuning.model_for_build(settings) == settings.model_path and first.embedded > 0
    searcher = Searcher(settings, embedder)
    assert searcher.search("When will my card arrive?").best.article_id == "card-delivery"

    report = tuning.tune_and_publish(settings, tuning.example_questions(settings))
    assert report.steps == 1 and report.questions == 8
    tuned = tuning.current_tuned_model(settings)
    assert (
        tuned is not None and tuned.name == "m000001" and json.loads((tuned / "tuning.json").read_text())["fingerprint"]
    )
    assert tuning.model_for_build(settings) == tuned
    assert tuning.model_for_build(dataclasses.replace(settings, tune="off")) == settings.model_path

    second = build_index(settings, embedder)  # another model: every vector is embedded again
    assert second.embedded == first.embedded and second.reused == 0
    manifest = index_store.require_current_version(settings.index_dir).read_manifest()
    assert manifest["model"] == str(tuned)
    assert searcher.reload_if_changed()
    assert str(searcher.embedder.model_path) == str(tuned)
    assert searcher.search("When will my card arrive?").best.article_id == "card-delivery"
