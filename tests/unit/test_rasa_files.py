"""Rasa's files in bot/: nothing Rasa writes by accident is left there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from actions.slots import ALL_SLOTS, Slot

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_is_named_after_an_unexpanded_variable() -> None:
    """`make test` runs Rasa's conversation tests before pytest: with the tracker store of
    bot/endpoints.yml and no RASA_TRACKER_DB they wrote a database named "${RASA_TRACKER_DB}"."""
    assert [p.name for p in (ROOT / "bot").iterdir() if "${" in p.name] == []
    tracked = subprocess.run(["git", "ls-files", "bot"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    assert "${" not in tracked


def test_the_slot_constants_are_the_domains_slots() -> None:
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())
    assert set(ALL_SLOTS) - {Slot.REQUESTED_SLOT} == set(domain["slots"])
