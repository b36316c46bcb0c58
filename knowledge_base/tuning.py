"""Fine-tune the embedding model on the help center's own example questions.

Frozen all-MiniLM-L6-v2 puts "my transfer was declined" and "my transfer failed" almost on top of
each other; the example questions already say which article each phrasing belongs to. One short
contrastive pass over them (pairs of questions of the same article; the other pairs in the
batch, all of other articles, are the negatives: MultipleNegativesRankingLoss) pulls each article's
phrasings together and pushes neighbouring articles apart. `make eval-kb` measures what it is
worth (README, "Knowledge-base quality").

Where the tuned model lives and who uses it::

    var/kb-model/                      (KB_TUNED_MODEL_DIR)
      CURRENT                          one line: the live tuned model's folder name
      m000002/                         a sentence-transformers folder + tuning.json (what it learnt from)

`kb build` embeds with the model `model_for_build` names: the tuned one when KB_TUNE is on and one
exists, else KB_MODEL_PATH. With KB_TUNE=auto (the default) a build that finds enough example
questions and no tuned model tunes one first. A tuned model is kept when articles change (new
questions are embedded with it like any text); `kb tune` makes a new one on demand. The index
version's manifest names its model, and the search side embeds queries with that model, so a
new model goes live with the version built on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from knowledge_base.settings import KBSettings

CURRENT_FILE = "CURRENT"
#: Fewer example questions than this: tuning has too little to learn from (and `auto` skips it).
MIN_QUESTIONS = 500
#: Articles need at least two questions to form a pair.
MIN_QUESTIONS_PER_ARTICLE = 2
EPOCHS = 1
BATCH_SIZE = 64
LEARNING_RATE = 2e-5
WARMUP_STEPS = 10
#: Cosine similarities are multiplied by this before the softmax (sentence-transformers' default).
SCALE = 20.0
SEED = 1234

Progress = Callable[[str], None]


class TuningError(RuntimeError):
    """Tuning cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class TuneReport:
    model_dir: str
    base_model: str
    questions: int
    articles: int
    pairs: int
    steps: int
    epochs: int
    seconds: float
    first_loss: float
    last_loss: float
    #: what it learnt from: sha1 over the sorted (article, question) pairs and the hyperparameters
    fingerprint: str = ""

    def line(self) -> str:
        return (
            f"tuned model {Path(self.model_dir).name}: {self.questions} questions of {self.articles} articles, "
            f"{self.steps} steps in {self.seconds:.0f}s (loss {self.first_loss:.2f} → {self.last_loss:.2f})"
        )


def current_tuned_model(settings: KBSettings) -> Path | None:
    """The live tuned model folder, or None."""
    try:
        name = (settings.tuned_model_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = settings.tuned_model_dir / name
    return path if name and (path / "tuning.json").is_file() else None


def tuned_from(model_dir: Path) -> str:
    """The base model a tuned model was made from."""
    return str(json.loads((model_dir / "tuning.json").read_text(encoding="utf-8"))["base_model"])


def model_for_build(settings: KBSettings) -> Path:
    """The model a build embeds with: the live tuned model (made from KB_MODEL_PATH) when KB_TUNE
    is not off, else KB_MODEL_PATH itself."""
    if settings.tune != "off":
        tuned = current_tuned_model(settings)
        if tuned is not None and tuned_from(tuned) == str(settings.model_path):
            return tuned
    return settings.model_path


def should_tune_before_build(settings: KBSettings, question_count: int) -> bool:
    """KB_TUNE=auto: tune when there is enough to learn from and no tuned model for this base model."""
    if settings.tune != "auto" or question_count < MIN_QUESTIONS:
        return False
    return model_for_build(settings) == settings.model_path


def example_questions(settings: KBSettings) -> list[tuple[str, str]]:
    """(article id, question) of every example question a build indexes: the articles' front
    matter and the question bank (KB_EXTRA_QUESTIONS). What `kb tune` and `make eval-kb` tune on."""
    from knowledge_base.articles import load_articles
    from knowledge_base.corpus import collect

    _, questions = collect(load_articles(settings.articles_dir), settings)
    return [(q.article_id, q.text) for q in questions]


def training_fingerprint(base_model: Path, questions: Sequence[tuple[str, str]], epochs: int = EPOCHS) -> str:
    digest = hashlib.sha1(f"{base_model}|{epochs}|{BATCH_SIZE}|{LEARNING_RATE}|{SEED}".encode())
    for article_id, text in sorted(set(questions)):
        digest.update(f"{article_id}\x1f{text}\x1e".encode())
    return digest.hexdigest()


def tuned_fingerprint(model_dir: Path) -> str:
    try:
        return str(json.loads((model_dir / "tuning.json").read_text(encoding="utf-8")).get("fingerprint", ""))
    except (OSError, ValueError):
        return ""


def training_batches(
    questions: Sequence[tuple[str, str]], epochs: int = EPOCHS, batch_size: int = BATCH_SIZE, seed: int = SEED
) -> list[list[tuple[str, str]]]:
    """Batches of (anchor, positive) question pairs of the same article, no article twice in a
    batch (a second pair of the same article would be a false negative for the first).

    Each epoch pairs every article's questions anew in a shuffled order; batches are drawn
    round-robin over the articles that still have pairs, so big articles do not crowd out small ones.
    """
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = {}
    for article_id, text in questions:
        by_article.setdefault(article_id, []).append(text)
    by_article = {
        a: sorted(set(qs)) for a, qs in sorted(by_article.items()) if len(set(qs)) >= MIN_QUESTIONS_PER_ARTICLE
    }
    batches: list[list[tuple[str, str]]] = []
    for _ in range(epochs):
        pairs: dict[str, list[tuple[str, str]]] = {}
        for article_id, texts in by_article.items():
            shuffled = texts[:]
            rng.shuffle(shuffled)
            if len(shuffled) % 2:  # the odd one out pairs with a random other question of its article
                shuffled.append(rng.choice(shuffled[:-1]))
            pairs[article_id] = [(shuffled[i], shuffled[i + 1]) for i in range(0, len(shuffled), 2)]
        while any(pairs.values()):
            open_articles = [a for a, left in pairs.items() if left]
            rng.shuffle(open_articles)
            batch = [pairs[a].pop() for a in open_articles[:batch_size]]
            if len(batch) >= 2:  # one pair alone has no negatives
                batches.append(batch)
    return batches


def tune_model(
    base_model: Path,
    questions: Sequence[tuple[str, str]],
    out_dir: Path,
    epochs: int = EPOCHS,
    say: Progress | None = None,
) -> TuneReport:
    """Fine-tune `base_model` on (article id, question) pairs and save it in `out_dir`."""
    import torch
    from sentence_transformers import SentenceTransformer

    say = say or (lambda _m: None)
    batches = training_batches(questions, epochs)
    if not batches:
        raise TuningError("no article has two example questions; add `questions:` to articles or a question bank")
    torch.manual_seed(SEED)
    model = SentenceTransformer(str(base_model), device="cpu")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    steps = len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS) * max(0.0, 1.0 - step / steps)
    )

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.tokenize(texts)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    started = time.perf_counter()
    losses: list[float] = []
    last_report = started
    for step, batch in enumerate(batches, start=1):
        anchors, positives = embed([a for a, _ in batch]), embed([p for _, p in batch])
        scores = anchors @ positives.T * SCALE
        labels = torch.arange(len(batch))
        loss = (
            torch.nn.functional.cross_entropy(scores, labels) + torch.nn.functional.cross_entropy(scores.T, labels)
        ) / 2
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        now = time.perf_counter()
        if now - last_report > 5 or step == steps:
            last_report = now
            say(f"  tuning step {step}/{steps} ({100 * step // steps}%), loss {losses[-1]:.3f}, {now - started:.0f}s")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    articles = {a for a, _ in questions}
    report = TuneReport(
        model_dir=str(out_dir),
        base_model=str(base_model),
        questions=len(questions),
        articles=len(articles),
        pairs=sum(len(b) for b in batches),
        steps=steps,
        epochs=epochs,
        seconds=round(time.perf_counter() - started, 1),
        first_loss=round(sum(losses[:5]) / len(losses[:5]), 4),
        last_loss=round(sum(losses[-5:]) / len(losses[-5:]), 4),
        fingerprint=training_fingerprint(base_model, questions, epochs),
    )
    (out_dir / "tuning.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return report


def tune_and_publish(
    settings: KBSettings, questions: Sequence[tuple[str, str]], say: Progress | None = None, epochs: int = EPOCHS
) -> TuneReport:
    """Tune into a new folder under KB_TUNED_MODEL_DIR and make it the live tuned model; older
    ones are removed once no index version can still name them (the last two are kept)."""
    root = settings.tuned_model_dir
    root.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name[1:]) for p in root.glob("m[0-9]*") if p.name[1:].isdigit()]
    name = f"m{(max(existing) + 1) if existing else 1:06d}"
    staging = root / f".{name}.partial-{os.getpid()}"
    report = tune_model(settings.model_path, questions, staging, epochs, say)
    final = root / name
    os.replace(staging, final)
    tmp = root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, root / CURRENT_FILE)
    for old in sorted(p for p in root.glob("m[0-9]*") if p.is_dir())[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    report = TuneReport(**{**asdict(report), "model_dir": str(final)})
    (final / "tuning.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return report
