"""action_start_handoff and action_handoff_resolved: reason codes, priorities, prefilled details.

Each test builds a real rasa-sdk Tracker by hand, runs the action with a CollectingDispatcher
and compares the exact events (SlotSet dicts) and the exact messages. The security case
searches a small real index.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import kb_service
from actions.handoff import ActionHandoffResolved, ActionStartHandoff
from actions.settings import ActionSettings
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher
from knowledge_base.settings import KBSettings

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"
DOMAIN: dict[str, Any] = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))

CUSTOMER = {"name": "Ana Souza", "email": "ana@example.com"}
GENERIC_SAFETY_STEP = (
    "First, to keep your money safe: freeze your card now in the app (Cards > your card > Freeze). "
    "You can unfreeze it any time."
)
LOST_CARD_PASSAGES = {
    "Freeze your card now: Cards > your card > Freeze.",
    "Our security team cancels the card and orders a new one.",
}


def default_slots() -> dict[str, Any]:
    slots = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}
    slots["requested_slot"] = None
    return slots


def make_tracker(
    text: str,
    intent: str,
    slots: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": [], "metadata": metadata or {}}
    events = list(history or []) + [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": latest, "metadata": metadata or {}},
    ]
    return Tracker(
        sender_id="conv-test",
        slots={**default_slots(), **(slots or {})},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def message(text: str | None = None, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "text": text,
        "buttons": [],
        "elements": [],
        "custom": custom or {},
        "template": None,
        "response": None,
        "image": None,
        "attachment": None,
    }


async def run_start(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionStartHandoff().run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def action_settings(kb: KBSettings) -> ActionSettings:
    return ActionSettings(
        host="127.0.0.1", port=0, low_confidence_limit=2, rejection_limit=2, frustration_threshold=-0.6, kb=kb
    )


@pytest.fixture
def restore_kb_service(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kb_service, "_searcher", kb_service._searcher)
    monkeypatch.setattr(kb_service, "_settings", kb_service._settings)
    yield
    kb_service.configure(None)


@pytest.fixture
def kb(kb_settings: KBSettings, embedder, restore_kb_service) -> KBSettings:
    build_index(kb_settings, embedder)
    kb_service.configure(Searcher(kb_settings, embedder), action_settings(kb_settings))
    return kb_settings


@pytest.fixture
def kb_down(kb_settings: KBSettings, embedder, tmp_path: Path, restore_kb_service) -> KBSettings:
    empty = dataclasses.replace(kb_settings, index_dir=tmp_path / "no-index-here")
    empty.index_dir.mkdir()
    kb_service.configure(Searcher(empty, embedder), action_settings(empty))
    return empty


# --- action_start_handoff --------------------------------------------------------------------


async def test_request_human_prefills_the_logged_in_customer() -> None:
    tracker = make_tracker("I want to talk to a person", "request_human", metadata={"customer": CUSTOMER})
    events, messages = await run_start(tracker)
    assert messages == [message("Sure, I'll connect you with a person.")]
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "customer_request"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
    ]


@pytest.mark.parametrize("text", ["are you a bot?", "am I talking to a human", "is this a real person or a machine"])
async def test_a_bot_challenge_is_answered_and_hands_nothing_off(text: str) -> None:
    events, messages = await run_start(make_tracker(text, "bot_challenge"))
    assert [m["response"] for m in messages] == ["utter_iamabot"]
    assert events == [SlotSet("handoff_pending", False)]


@pytest.mark.parametrize(
    "text",
    [
        "are you a robot? get me someone real",
        "are you a bot? I want a real person",
        "are you a bot? find me someone real",
        "is this automated, can I speak to a human",
    ],
)
async def test_a_bot_challenge_that_asks_to_be_put_through_hands_off(text: str) -> None:
    events, messages = await run_start(make_tracker(text, "bot_challenge"))
    assert messages == [message("Sure, I'll connect you with a person.")]
    assert events[:3] == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "customer_request"),
        SlotSet("handoff_priority", "normal"),
    ]


async def test_request_human_takes_the_issue_from_the_last_question_not_from_the_request() -> None:
    tracker = make_tracker(
        "agent please", "request_human", slots={"kb_last_query": "When will my card arrive?", "kb_last_tier": "answer"}
    )
    events, messages = await run_start(tracker)
    assert messages == [message("Sure, I'll connect you with a person.")]
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "customer_request"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


async def test_an_angry_request_for_a_person_is_high_priority_frustration_in_the_customers_words() -> None:
    tracker = make_tracker("  get me a human, this bot is useless  ", "request_human", metadata={"customer": CUSTOMER})
    events, messages = await run_start(tracker)
    assert messages == [message("I'm sorry this has been frustrating. I'll get you to a person.")]
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "frustration"),
        SlotSet("handoff_priority", "high"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
        SlotSet("issue_description", "get me a human, this bot is useless"),
    ]


async def test_a_request_for_a_person_that_says_it_is_a_complaint_is_a_complaint() -> None:
    events, messages = await run_start(
        make_tracker("one of your advisors was rude to me, I want it on record", "request_human")
    )
    assert messages == [message("I'm sorry to hear that. I'll pass your complaint to a person.")]
    assert events[:3] == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "complaint"),
        SlotSet("handoff_priority", "normal"),
    ]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("When will my card arrive?", "request_human"),
        ("When will my card arrive?", "complain"),
    ],
)
async def test_an_act_the_words_do_not_back_is_answered_from_the_help_center(
    kb: KBSettings, text: str, intent: str
) -> None:
    events, messages = await run_start(make_tracker(text, intent))
    assert SlotSet("handoff_pending", False) in events
    assert SlotSet("kb_last_article", "card-delivery") in events
    assert messages[-1]["text"] == "Did that help?"


async def test_complaint_is_normal_priority_and_keeps_the_customers_words() -> None:
    tracker = make_tracker(
        "I want to complain about being charged twice", "complain", slots={"kb_last_query": "When will my card arrive?"}
    )
    events, messages = await run_start(tracker)
    assert messages == [message("I'm sorry to hear that. I'll pass your complaint to a person.")]
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "complaint"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("issue_description", "I want to complain about being charged twice"),
    ]


async def test_known_details_are_not_overwritten() -> None:
    tracker = make_tracker(
        "I want to complain",
        "complain",
        metadata={"customer": CUSTOMER},
        slots={
            "customer_name": "Ana",
            "customer_email": "ana.private@example.org",
            "issue_description": "Charged twice for one coffee",
        },
    )
    events, _ = await run_start(tracker)
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "complaint"),
        SlotSet("handoff_priority", "normal"),
    ]


async def test_customer_metadata_of_an_earlier_message_is_used() -> None:
    history = [
        {"event": "user", "text": "hi", "metadata": {"customer": {"name": "Bo Li", "email": "bo@example.com"}}},
        {"event": "bot", "text": "Hi! I'm Kestrel's support assistant."},
    ]
    tracker = make_tracker("human please", "request_human", history=history)
    events, _ = await run_start(tracker)
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "customer_request"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("customer_name", "Bo Li"),
        SlotSet("customer_email", "bo@example.com"),
    ]


async def test_unknown_intent_falls_back_to_a_customer_request() -> None:
    events, messages = await run_start(make_tracker("/handoff", "greet"))
    assert messages == [message("Sure, I'll connect you with a person.")]
    assert events == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "customer_request"),
        SlotSet("handoff_priority", "normal"),
    ]


# --- action_handoff_resolved -----------------------------------------------------------------


async def test_resolved_resets_the_handoff_and_keeps_name_and_email() -> None:
    tracker = make_tracker(
        "/handoff_resolved",
        "handoff_resolved",
        slots={
            "customer_name": "Ana Souza",
            "customer_email": "ana@example.com",
            "issue_category": "cards",
            "transaction_ref": "TX-12AB34CD",
            "issue_description": "Charged twice",
            "handoff_reason": "complaint",
            "handoff_priority": "normal",
            "handoff_pending": False,
            "kb_last_query": "charged twice",
            "kb_last_tier": "suggest",
            "kb_last_article": "card-delivery",
            "kb_articles_shown": ["card-delivery"],
            "kb_feedback": [{"article": "card-delivery", "helpful": False}],
            "kb_rejections": 2.0,
            "low_confidence_turns": 1.0,
        },
    )
    dispatcher = CollectingDispatcher()
    events = await ActionHandoffResolved().run(dispatcher, tracker, DOMAIN)
    assert dispatcher.messages == []
    assert events == [
        SlotSet("issue_category", None),
        SlotSet("transaction_ref", None),
        SlotSet("issue_description", None),
        SlotSet("handoff_reason", None),
        SlotSet("handoff_priority", None),
        SlotSet("kb_last_query", None),
        SlotSet("kb_last_tier", None),
        SlotSet("kb_last_article", None),
        SlotSet("handoff_pending", False),
        SlotSet("kb_rejections", 0),
        SlotSet("low_confidence_turns", 0),
        SlotSet("kb_articles_shown", []),
        SlotSet("kb_feedback", []),
    ]
