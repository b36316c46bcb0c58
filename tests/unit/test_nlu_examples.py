"""bot/data/nlu_generated.yml is what scripts/nlu_examples.py makes of the project's data, and the
held-out dialogue-act phrasings that `make eval` measures on are never in the NLU data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "nlu_examples.py"


def nlu_examples(pattern: str = "nlu*.yml") -> set[str]:
    texts: set[str] = set()
    for path in (ROOT / "bot" / "data").glob(pattern):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            for line in str(block.get("examples") or "").splitlines():
                texts.add(" ".join(line.strip().removeprefix("- ").lower().split()))
    return texts


def test_the_generated_nlu_file_is_up_to_date() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_held_out_phrasings_and_evaluation_turns_are_not_trained_on() -> None:
    sys.path.insert(0, str(ROOT))
    from scripts.nlu_examples import is_training_act

    trained = nlu_examples()
    acts = [json.loads(line) for line in (ROOT / "data" / "eval" / "dialogue_acts.jsonl").read_text().splitlines()]
    held_out = [a["text"] for a in acts if not is_training_act(a["text"])]
    assert len(held_out) > 200
    assert not [t for t in held_out if " ".join(t.lower().split()) in trained]
    # The generator leaves out every customer turn of the evaluation conversations (nlu.yml is
    # written by hand and holds greetings such as "hi" that a scripted conversation may use too).
    generated = nlu_examples("nlu_generated.yml")
    for name in (
        "handoff_conversations.jsonl",
        "followup_conversations.jsonl",
        "followup_conversations_heldout.jsonl",
    ):
        for line in (ROOT / "data" / "eval" / name).read_text().splitlines():
            turns = [t for t in json.loads(line)["turns"] if isinstance(t, str)]
            assert not [t for t in turns if " ".join(t.lower().split()) in generated], name


def test_every_intent_of_the_generated_file_is_in_the_domain() -> None:
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    generated = yaml.safe_load((ROOT / "bot" / "data" / "nlu_generated.yml").read_text(encoding="utf-8"))
    assert {block["intent"] for block in generated["nlu"]} <= set(domain["intents"])
