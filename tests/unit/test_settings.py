"""The one settings reader (knowledge_base/environment.py) as the three packages use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.settings import ActionSettings
from handoff.settings import HubSettings
from knowledge_base.environment import PROJECT_ROOT, SettingsError
from knowledge_base.settings import KBSettings


def test_a_relative_articles_folder_is_the_same_folder_for_the_hub_and_the_index() -> None:
    """Before: the hub kept 'my-articles' relative to where it was started, the build read it
    relative to the project, so a hub started elsewhere wrote articles the rebuild never saw."""
    env = {"KB_ARTICLES_DIR": "my-articles"}
    assert (
        HubSettings.from_env(env).articles_dir == KBSettings.from_env(env).articles_dir == PROJECT_ROOT / "my-articles"
    )


def test_defaults_come_from_the_settings_classes() -> None:
    hub = HubSettings.from_env({})
    assert (hub.max_message_chars, hub.sockets_per_conversation, hub.ask_ces) == (4000, 5, False)
    assert hub.allowed_origins == ("http://127.0.0.1:8000", "http://localhost:8000", "http://127.0.0.1:8000")
    assert ActionSettings.from_env({}).low_confidence_limit == 2


@pytest.mark.parametrize(
    ("reader", "key", "value", "words"),
    [
        (HubSettings.from_env, "HUB_MAX_MESSAGE_CHARS", "lots", "is not a whole number"),
        (HubSettings.from_env, "HUB_ASK_CES", "maybe", "is not true or false"),
        (HubSettings.from_env, "HUB_RASA_TIMEOUT_SECONDS", "soon", "is not a number"),
        (ActionSettings.from_env, "HANDOFF_REJECTED_ANSWERS", "2.5", "is not a whole number"),
        (KBSettings.from_env, "KB_ANSWER_THRESHOLD", "high", "is not a number"),
    ],
)
def test_a_bad_value_names_its_key_and_where_to_fix_it(reader, key: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        reader({key: value})
    assert f"{key}={value!r} {words}" in str(caught.value) and ".env" in str(caught.value)


def test_every_setting_is_documented_in_the_readme_and_env_example() -> None:
    """A setting a reader reads but neither the README's table nor .env.example names is one no
    operator can find."""
    root = Path(__file__).resolve().parents[2]
    readme, example = (root / "README.md").read_text(), (root / ".env.example").read_text()
    names = set()
    for module in ("handoff/settings.py", "actions/settings.py", "knowledge_base/settings.py"):
        names |= set(re.findall(r'read\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', (root / module).read_text()))
    assert len(names) > 20
    assert sorted(name for name in names if name not in readme) == []
    assert sorted(name for name in names if name not in example) == []
