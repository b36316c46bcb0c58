"""action_answer_from_kb and action_record_feedback, against a small real index.

Each test builds a real rasa-sdk Tracker by hand, runs the action with a CollectingDispatcher
and compares the exact events (SlotSet dicts) and the exact messages.
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
from actions.answers import ActionAnswerFromKB, ActionRecordFeedback
from actions.settings import ActionSettings
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher
from knowledge_base.settings import KBSettings
from tests.conftest import write_article

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"
DOMAIN: dict[str, Any] = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))

CUSTOMER = {"name": "Ana Souza", "email": "ana@example.com"}
FEEDBACK_BUTTONS = [
    {"title": "Yes, thanks", "payload": "/feedback_helpful"},
    {"title": "No", "payload": "/feedback_not_helpful"},
]
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}
SUGGESTION_BUTTONS = [
    {"title": "Yes", "payload": "/feedback_helpful"},
    {"title": "No, none of these", "payload": "/feedback_not_helpful"},
    PERSON_BUTTON,
]
# The passages of the fixture article `lost-or-stolen-card` (tests/conftest.py).
FREEZE_STEP = "Freeze your card now: Cards > your card > Freeze."
LOST_CARD_PASSAGES = {FREEZE_STEP, "Our security team cancels the card and orders a new one."}


def default_slots() -> dict[str, Any]:
    """Every domain slot at its initial value, as Rasa sends them to the action server."""
    slots = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}
    slots["requested_slot"] = None
    return slots


def make_tracker(
    text: str,
    intent: str = "ask_question",
    slots: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    confidence: float = 0.93,
) -> Tracker:
    """A tracker whose latest event is the customer's message `text`."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "metadata": metadata or {},
    }
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


def message(
    text: str | None = None,
    buttons: list[dict[str, Any]] | None = None,
    custom: dict[str, Any] | None = None,
    response: str | None = None,
) -> dict[str, Any]:
    """A message exactly as CollectingDispatcher.utter_message records it."""
    return {
        "text": text,
        "buttons": buttons or [],
        "elements": [],
        "custom": custom or {},
        "template": response,
        "response": response,
        "image": None,
        "attachment": None,
    }


def article(article_id: str, title: str, url: str) -> dict[str, Any]:
    return {"article": {"id": article_id, "title": title, "url": url}}


async def run_answer(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events and the messages the customer sees (the hub-only kb_result record is checked apart)."""
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFromKB().run(dispatcher, tracker, DOMAIN)
    return events, [m for m in dispatcher.messages if "kb_result" not in (m.get("custom") or {})]


async def test_every_search_leaves_a_record_for_the_hub(kb: KBSettings) -> None:
    dispatcher = CollectingDispatcher()
    await ActionAnswerFromKB().run(dispatcher, make_tracker("When will my card arrive?"), DOMAIN)
    records = [m["custom"]["kb_result"] for m in dispatcher.messages if "kb_result" in (m.get("custom") or {})]
    assert len(records) == 1 and records[0]["tier"] == "answer" and records[0]["article_id"] == "card-delivery"
    assert 0.62 <= records[0]["score"] <= 1.0


async def run_feedback(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionRecordFeedback().run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def action_settings(kb: KBSettings) -> ActionSettings:
    return ActionSettings(
        host="127.0.0.1", port=0, low_confidence_limit=2, rejection_limit=2, frustration_threshold=-0.6, kb=kb
    )


@pytest.fixture
def restore_kb_service(monkeypatch: pytest.MonkeyPatch):
    """Put the process-wide searcher and settings back as they were after the test."""
    monkeypatch.setattr(kb_service, "_searcher", kb_service._searcher)
    monkeypatch.setattr(kb_service, "_settings", kb_service._settings)
    yield
    kb_service.configure(None)


@pytest.fixture
def kb(kb_settings: KBSettings, embedder, restore_kb_service) -> KBSettings:
    """The fixture corpus, indexed for real and installed for the actions."""
    build_index(kb_settings, embedder)
    kb_service.configure(Searcher(kb_settings, embedder), action_settings(kb_settings))
    return kb_settings


@pytest.fixture
def kb_down(kb_settings: KBSettings, embedder, tmp_path: Path, restore_kb_service) -> KBSettings:
    """A searcher whose index folder holds no build: every search fails."""
    empty = dataclasses.replace(kb_settings, index_dir=tmp_path / "no-index-here")
    empty.index_dir.mkdir()
    kb_service.configure(Searcher(empty, embedder), action_settings(empty))
    return empty


# --- action_answer_from_kb -------------------------------------------------------------------


async def test_answer_tier_sends_passage_citation_and_feedback_buttons(kb: KBSettings) -> None:
    tracker = make_tracker(
        "When will my card arrive?", slots={"kb_articles_shown": ["exchange-rates"], "low_confidence_turns": 1.0}
    )
    events, messages = await run_answer(tracker)
    assert messages == [
        message("Standard delivery takes 5 to 7 business days after you order the card."),
        message(custom=article("card-delivery", "How long does card delivery take?", "/help/card-delivery")),
        message("Did that help?", buttons=FEEDBACK_BUTTONS),
    ]
    assert events == [
        SlotSet("kb_last_query", "When will my card arrive?"),
        SlotSet("kb_last_tier", "answer"),
        SlotSet("kb_last_article", "card-delivery"),
        SlotSet("kb_articles_shown", ["exchange-rates", "card-delivery"]),
        SlotSet("low_confidence_turns", 0),
        SlotSet("handoff_pending", False),
    ]


async def test_answer_tier_from_an_nlu_fallback_answers_the_same_way(kb: KBSettings) -> None:
    tracker = make_tracker("exchange fee on weekends", intent="nlu_fallback", confidence=0.31)
    events, messages = await run_answer(tracker)
    assert messages == [
        message("On weekends we add 1 % to cover market moves while markets are closed."),
        message(custom=article("exchange-rates", "Exchange rates and fees", "/help/exchange-rates#weekend-markup")),
        message("Did that help?", buttons=FEEDBACK_BUTTONS),
    ]
    assert events == [
        SlotSet("kb_last_query", "exchange fee on weekends"),
        SlotSet("kb_last_tier", "answer"),
        SlotSet("kb_last_article", "exchange-rates"),
        SlotSet("kb_articles_shown", ["exchange-rates"]),
        SlotSet("low_confidence_turns", 0),
        SlotSet("handoff_pending", False),
    ]


async def test_suggest_tier_lists_articles_with_citations(kb: KBSettings) -> None:
    events, messages = await run_answer(make_tracker("how long does it take"))
    assert messages == [
        message("I'm not completely sure, but one of these articles may help:"),
        message("How long does card delivery take?"),
        message(custom=article("card-delivery", "How long does card delivery take?", "/help/card-delivery")),
        # The other hits score below KB_SUGGEST_THRESHOLD and are not offered.
        message("Did one of these answer it?", buttons=SUGGESTION_BUTTONS),
    ]
    assert events == [
        SlotSet("kb_last_query", "how long does it take"),
        SlotSet("kb_last_tier", "suggest"),
        SlotSet("kb_last_article", "card-delivery"),
        SlotSet("kb_articles_shown", ["card-delivery"]),
        SlotSet("low_confidence_turns", 0),
        SlotSet("handoff_pending", False),
    ]


REPHRASE = message(
    "Sorry, I couldn't find an answer to that in our help center. Could you say it another way? "
    "Or I can pass you to a person.",
    buttons=[PERSON_BUTTON],
)
# Off-topic by NLU and by the help center: say what the bot is for; still a turn without an answer.
OFF_TOPIC = message(response="utter_out_of_scope", buttons=[PERSON_BUTTON])


@pytest.mark.parametrize(("intent", "reply"), [("ask_question", REPHRASE), ("out_of_scope", OFF_TOPIC)])
async def test_first_none_offers_a_person_and_counts_as_a_turn_without_an_answer(
    kb: KBSettings, intent: str, reply: dict[str, Any]
) -> None:
    events, messages = await run_answer(make_tracker("what's a good recipe for lasagne", intent=intent))
    assert messages == [reply]
    assert events == [
        SlotSet("kb_last_query", "what's a good recipe for lasagne"),
        SlotSet("kb_last_tier", "none"),
        SlotSet("low_confidence_turns", 1),
        SlotSet("kb_last_article", None),
        SlotSet("handoff_pending", False),
    ]


async def test_a_real_question_that_nlu_called_off_topic_is_answered(kb: KBSettings) -> None:
    events, messages = await run_answer(make_tracker("When will my card arrive?", intent="out_of_scope"))
    assert messages[-1] == message("Did that help?", buttons=FEEDBACK_BUTTONS)
    assert SlotSet("kb_last_article", "card-delivery") in events


async def test_second_none_in_a_row_hands_off_for_low_confidence(kb: KBSettings) -> None:
    history = [
        {"event": "user", "text": "what's a good recipe for lasagne", "metadata": {"customer": CUSTOMER}},
        {"event": "bot", "text": "Sorry, I couldn't find an answer to that in our help center."},
    ]
    tracker = make_tracker(
        "tell me about the weather on mars",
        history=history,
        metadata={"customer": CUSTOMER},
        slots={
            "low_confidence_turns": 1.0,
            "kb_last_query": "what's a good recipe for lasagne",
            "kb_last_tier": "none",
        },
    )
    events, messages = await run_answer(tracker)
    assert messages == [
        message("I'm still not finding an answer, so I'll pass you to a person who can help."),
    ]
    assert events == [
        SlotSet("kb_last_query", "tell me about the weather on mars"),
        SlotSet("kb_last_tier", "none"),
        SlotSet("low_confidence_turns", 0),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "low_confidence"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
        SlotSet("issue_description", "what's a good recipe for lasagne"),
    ]


async def test_needs_person_article_shows_its_passage_then_hands_off_with_high_priority(kb: KBSettings) -> None:
    tracker = make_tracker("my card was stolen", metadata={"customer": CUSTOMER})
    events, messages = await run_answer(tracker)
    assert messages[0]["text"] in LOST_CARD_PASSAGES
    assert messages[0]["custom"] == {} and messages[0]["buttons"] == []
    assert messages[1]["custom"]["article"]["id"] == "lost-or-stolen-card"
    assert messages[1]["custom"]["article"]["title"] == "My card was lost or stolen"
    assert messages[1]["custom"]["article"]["url"].startswith("/help/lost-or-stolen-card")
    assert messages[2:] == [message("This needs a person from our security team. I'll connect you now.")]
    assert len(messages) == 3
    assert events[:9] == [
        SlotSet("kb_last_query", "my card was stolen"),
        SlotSet("kb_last_tier", "answer"),
        SlotSet("kb_last_article", "lost-or-stolen-card"),
        SlotSet("kb_articles_shown", ["lost-or-stolen-card"]),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "sensitive_topic"),
        SlotSet("handoff_priority", "high"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
    ]
    assert events[9:] in ([], [SlotSet("issue_description", "my card was stolen")])


async def test_needs_person_article_shows_the_safety_step_first(kb: KBSettings) -> None:
    _, messages = await run_answer(make_tracker("my card was stolen"))
    assert messages[0] == message(FREEZE_STEP)


async def test_needs_person_handoff_records_the_message_that_raised_it_as_the_issue(kb: KBSettings) -> None:
    tracker = make_tracker(
        "my card was stolen",
        slots={
            "kb_last_query": "When will my card arrive?",
            "kb_last_tier": "answer",
            "kb_articles_shown": ["card-delivery"],
        },
    )
    events, _ = await run_answer(tracker)
    assert events == [
        SlotSet("kb_last_query", "my card was stolen"),
        SlotSet("kb_last_tier", "answer"),
        SlotSet("kb_last_article", "lost-or-stolen-card"),
        SlotSet("kb_articles_shown", ["card-delivery", "lost-or-stolen-card"]),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "sensitive_topic"),
        SlotSet("handoff_priority", "high"),
        SlotSet("issue_description", "my card was stolen"),
    ]


async def test_very_negative_message_hands_off_for_frustration(kb: KBSettings) -> None:
    tracker = make_tracker(
        "This is absolutely terrible, I hate this useless awful bank",
        slots={
            "kb_last_query": "When will my card arrive?",
            "kb_last_tier": "answer",
            "kb_articles_shown": ["card-delivery"],
        },
    )
    events, messages = await run_answer(tracker)
    assert messages == [message("I'm sorry this has been frustrating. Let me get you to a person.")]
    assert events == [
        SlotSet("kb_last_query", "This is absolutely terrible, I hate this useless awful bank"),
        SlotSet("kb_last_tier", "none"),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "frustration"),
        SlotSet("handoff_priority", "high"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


async def test_knowledge_base_unavailable_tells_the_customer_and_hands_off(kb_down: KBSettings) -> None:
    tracker = make_tracker("When will my card arrive?", metadata={"customer": CUSTOMER})
    events, messages = await run_answer(tracker)
    assert messages == [
        message("Sorry, I can't reach our help center right now. I'll pass you to a person instead."),
    ]
    assert events == [
        SlotSet("kb_last_query", "When will my card arrive?"),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "kb_unavailable"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


# --- action_record_feedback ------------------------------------------------------------------


async def test_helpful_feedback_is_recorded_and_resets_rejections(kb: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_helpful",
        intent="feedback_helpful",
        slots={
            "kb_last_article": "card-delivery",
            "kb_last_tier": "answer",
            "kb_rejections": 1.0,
            "kb_feedback": [{"article": "exchange-rates", "helpful": False}],
            "kb_articles_shown": ["exchange-rates", "card-delivery"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "card-delivery", "helpful": True}}),
        message(response="utter_glad_it_helped"),
    ]
    assert events == [
        SlotSet(
            "kb_feedback",
            [{"article": "exchange-rates", "helpful": False}, {"article": "card-delivery", "helpful": True}],
        ),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 0),
        SlotSet("handoff_pending", False),
    ]


async def test_affirm_counts_as_helpful(kb: KBSettings) -> None:
    tracker = make_tracker("yes thanks", intent="affirm", slots={"kb_last_article": "card-delivery"})
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "card-delivery", "helpful": True}}),
        message(response="utter_glad_it_helped"),
    ]
    assert events == [
        SlotSet("kb_feedback", [{"article": "card-delivery", "helpful": True}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 0),
        SlotSet("handoff_pending", False),
    ]


@pytest.mark.parametrize(("text", "intent"), [("/feedback_not_helpful", "feedback_not_helpful"), ("no", "deny")])
async def test_not_helpful_once_suggests_other_articles(kb: KBSettings, text: str, intent: str) -> None:
    tracker = make_tracker(
        text,
        intent=intent,
        slots={
            "kb_last_article": "top-up-by-bank-transfer",
            "kb_last_tier": "answer",
            "kb_last_query": "Is there a fee for changing currency at the weekend?",
            "kb_articles_shown": ["top-up-by-bank-transfer"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "top-up-by-bank-transfer", "helpful": False}}),
        message("Sorry about that. Maybe one of these is closer:"),
        message("Exchange rates and fees"),
        message(custom=article("exchange-rates", "Exchange rates and fees", "/help/exchange-rates#weekend-markup")),
        message("Did one of these answer it?", buttons=SUGGESTION_BUTTONS),
    ]
    assert events == [
        SlotSet("kb_feedback", [{"article": "top-up-by-bank-transfer", "helpful": False}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 1),
        SlotSet("kb_last_tier", "suggest"),
        SlotSet("kb_last_article", "exchange-rates"),
        SlotSet("kb_articles_shown", ["top-up-by-bank-transfer", "exchange-rates"]),
        SlotSet("handoff_pending", False),
    ]


async def test_not_helpful_with_no_other_close_article_hands_off(kb: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_not_helpful",
        intent="feedback_not_helpful",
        slots={
            "kb_last_article": "card-delivery",
            "kb_last_tier": "answer",
            "kb_last_query": "When will my card arrive?",
            "kb_articles_shown": ["card-delivery", "lost-or-stolen-card"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "card-delivery", "helpful": False}}),
        message("Sorry that didn't help. I'll pass you to a person."),
    ]
    assert events[:3] == [
        SlotSet("kb_feedback", [{"article": "card-delivery", "helpful": False}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 1),
    ]
    assert SlotSet("handoff_reason", "answer_rejected") in events


async def test_not_helpful_after_a_suggestion_hands_off_as_answer_rejected(kb: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_not_helpful",
        intent="feedback_not_helpful",
        metadata={"customer": CUSTOMER},
        slots={
            "kb_last_article": "lost-or-stolen-card",
            "kb_last_tier": "suggest",
            "kb_last_query": "When will my card arrive?",
            "kb_rejections": 0.0,
            "kb_feedback": [{"article": "card-delivery", "helpful": False}],
            "kb_articles_shown": ["card-delivery", "lost-or-stolen-card"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "lost-or-stolen-card", "helpful": False}}),
        message("Sorry that didn't help. I'll pass you to a person."),
    ]
    assert events == [
        SlotSet(
            "kb_feedback",
            [{"article": "card-delivery", "helpful": False}, {"article": "lost-or-stolen-card", "helpful": False}],
        ),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 1),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "answer_rejected"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("customer_name", "Ana Souza"),
        SlotSet("customer_email", "ana@example.com"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


async def test_rejection_limit_hands_off_even_after_a_direct_answer(kb: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_not_helpful",
        intent="feedback_not_helpful",
        slots={
            "kb_last_article": "exchange-rates",
            "kb_last_tier": "answer",
            "kb_rejections": 1.0,
            "kb_last_query": "exchange fee on weekends",
            "kb_articles_shown": ["exchange-rates"],
            "issue_description": "weekend fees on exchange",
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "exchange-rates", "helpful": False}}),
        message("Sorry that didn't help. I'll pass you to a person."),
    ]
    assert events == [
        SlotSet("kb_feedback", [{"article": "exchange-rates", "helpful": False}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 2),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "answer_rejected"),
        SlotSet("handoff_priority", "normal"),
    ]


async def test_not_helpful_with_no_other_article_left_hands_off(kb: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_not_helpful",
        intent="feedback_not_helpful",
        slots={
            "kb_last_article": "card-delivery",
            "kb_last_tier": "answer",
            "kb_last_query": "When will my card arrive?",
            "kb_articles_shown": ["card-delivery", "lost-or-stolen-card", "top-up-by-bank-transfer", "exchange-rates"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "card-delivery", "helpful": False}}),
        message("Sorry that didn't help. I'll pass you to a person."),
    ]
    assert events == [
        SlotSet("kb_feedback", [{"article": "card-delivery", "helpful": False}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 1),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "answer_rejected"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


async def test_not_helpful_while_the_knowledge_base_is_down_hands_off(kb_down: KBSettings) -> None:
    tracker = make_tracker(
        "/feedback_not_helpful",
        intent="feedback_not_helpful",
        slots={
            "kb_last_article": "card-delivery",
            "kb_last_tier": "answer",
            "kb_last_query": "When will my card arrive?",
            "kb_articles_shown": ["card-delivery"],
        },
    )
    events, messages = await run_feedback(tracker)
    assert messages == [
        message(custom={"feedback": {"article_id": "card-delivery", "helpful": False}}),
        message("Sorry, I can't reach our help center right now. I'll pass you to a person instead."),
    ]
    assert events == [
        SlotSet("kb_feedback", [{"article": "card-delivery", "helpful": False}]),
        SlotSet("kb_last_article", None),
        SlotSet("kb_rejections", 1),
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "kb_unavailable"),
        SlotSet("handoff_priority", "normal"),
        SlotSet("issue_description", "When will my card arrive?"),
    ]


@pytest.mark.parametrize(("text", "intent"), [("/feedback_helpful", "feedback_helpful"), ("no", "deny")])
async def test_feedback_with_no_article_shown_asks_for_anything_else(kb: KBSettings, text: str, intent: str) -> None:
    events, messages = await run_feedback(make_tracker(text, intent=intent))
    assert messages == [message(response="utter_anything_else")]
    assert events == [SlotSet("handoff_pending", False)]


# --- follow-up questions, frustration and security decided with the search -----------------------


def after_a_question(question: str, article_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """History and slots of a conversation whose previous turn was `question`, answered from the
    help center with `article_id`."""
    history = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": question, "parse_data": {"intent": {"name": "ask_question"}}},
        {"event": "action", "name": "action_answer_from_kb"},
        {"event": "bot", "text": "…"},
    ]
    slots = {
        "kb_last_query": question,
        "kb_last_tier": "answer",
        "kb_last_article": article_id,
        "kb_articles_shown": [article_id],
    }
    return history, slots


async def test_an_elliptical_follow_up_is_searched_with_the_question_before_it(kb: KBSettings) -> None:
    history, slots = after_a_question("How long does card delivery take?", "card-delivery")
    events, messages = await run_answer(make_tracker("and express?", history=history, slots=slots))
    assert messages[0] == message("Express delivery costs EUR 15 and arrives in 2 to 3 business days.")
    assert messages[1]["custom"]["article"]["id"] == "card-delivery"
    assert events[:2] == [
        SlotSet("kb_last_query", "How long does card delivery take? and express?"),
        SlotSet("kb_last_tier", "answer"),
    ]


async def test_an_elliptical_follow_up_without_a_recent_question_is_searched_alone(kb: KBSettings) -> None:
    history, slots = after_a_question("How long does card delivery take?", "card-delivery")
    history += [
        {"event": "user", "text": "thanks"},
        {"event": "user", "text": "hello"},
        {"event": "user", "text": "hi again"},
    ]
    events, _ = await run_answer(make_tracker("and express?", history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", "and express?")


async def test_a_complete_question_on_another_topic_ignores_the_previous_one(kb: KBSettings) -> None:
    history, slots = after_a_question("How long does card delivery take?", "card-delivery")
    events, messages = await run_answer(make_tracker("What exchange rate do you use?", history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", "What exchange rate do you use?")
    assert messages[1]["custom"]["article"]["id"] == "exchange-rates"


@pytest.mark.parametrize(
    "text",
    ["separately, what does it cost to change currency?", "btw what does it cost to change currency?"],
)
async def test_a_message_that_says_it_changes_the_topic_is_searched_alone(kb: KBSettings, text: str) -> None:
    history, slots = after_a_question("How long does card delivery take?", "card-delivery")
    events, messages = await run_answer(make_tracker(text, history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", text)
    assert messages[1]["custom"]["article"]["id"] == "exchange-rates"


async def test_frustration_with_a_confident_answer_gets_the_answer_with_an_apology(kb: KBSettings) -> None:
    tracker = make_tracker("I ordered a card weeks ago and it has not arrived. Help please!", intent="frustration")
    events, messages = await run_answer(tracker)
    assert messages[0] == message("I'm sorry about the trouble. Here's what should sort it out:")
    assert messages[2]["custom"]["article"]["id"] == "card-delivery"
    assert messages[-1] == message("Did that help?", buttons=FEEDBACK_BUTTONS)
    assert SlotSet("handoff_pending", False) in events and SlotSet("handoff_pending", True) not in events


async def test_frustration_without_an_answer_hands_off_with_high_priority(kb: KBSettings) -> None:
    events, messages = await run_answer(make_tracker("this is disgraceful and I'm livid", intent="frustration"))
    assert messages == [message("I'm sorry this has been frustrating. Let me get you to a person.")]
    assert events[2:5] == [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", "frustration"),
        SlotSet("handoff_priority", "high"),
    ]


@pytest.mark.parametrize(("min_score", "hands_off"), [(0.3, True), (1.01, False)])
async def test_a_security_article_winning_at_the_suggest_tier_hands_off_above_the_score_floor(
    kb: KBSettings, min_score: float, hands_off: bool
) -> None:
    # Raise the answer bar above every score so the winner (lost-or-stolen-card, a needs_person
    # article) only reaches the suggest tier; HANDOFF_SECURITY_MIN_SCORE decides.
    strict = dataclasses.replace(kb, answer_threshold=1.01, suggest_threshold=0.3)
    settings = dataclasses.replace(action_settings(strict), security_min_score=min_score)
    kb_service.configure(Searcher(strict, kb_service.get_searcher().embedder), settings)
    events, messages = await run_answer(make_tracker("my card was stolen"))
    assert SlotSet("kb_last_tier", "suggest") in events
    assert (SlotSet("handoff_reason", "sensitive_topic") in events) is hands_off
    assert (SlotSet("handoff_pending", True) in events) is hands_off
    if hands_off:
        assert messages[-1] == message("This needs a person from our security team. I'll connect you now.")
    else:
        assert messages[0] == message("I'm not completely sure, but one of these articles may help:")


async def test_a_security_article_that_is_only_a_runner_up_raises_no_alarm(kb: KBSettings) -> None:
    events, _ = await run_answer(make_tracker("When will my card arrive?"))
    assert SlotSet("handoff_pending", True) not in events
    assert SlotSet("kb_last_article", "card-delivery") in events


@pytest.mark.parametrize(
    ("text", "refers", "short"),
    [
        ("and express?", True, True),
        ("what about the virtual one?", True, True),
        ("how much does that cost?", True, True),
        ("can I cancel it?", True, True),
        ("same for transfers?", True, True),
        ("top up limits", False, True),
        ("How do I change the PIN on my card?", False, True),
        ("Why was I charged a fee when I exchanged money on Saturday at the airport?", False, False),
        ("do i have to stop using it when the new one comes?", True, False),
        ("would it help if i delete him and add him again", True, False),
        ("I ordered a card three weeks ago and it still has not come through my letterbox", False, False),
    ],
)
def test_follow_up_wording(text: str, refers: bool, short: bool) -> None:
    from actions.followup import is_short, refers_back

    assert (refers_back(text), is_short(text)) == (refers, short)


async def test_a_sentence_taken_for_feedback_with_nothing_to_rate_is_a_question(kb: KBSettings) -> None:
    events, messages = await run_feedback(
        make_tracker("so when will my card arrive then", intent="feedback_not_helpful")
    )
    assert SlotSet("kb_last_article", "card-delivery") in events
    assert messages[-1] == message("Did that help?", buttons=FEEDBACK_BUTTONS)


async def test_a_bare_no_with_nothing_to_rate_asks_what_else(kb: KBSettings) -> None:
    events, messages = await run_feedback(make_tracker("no", intent="deny"))
    assert messages == [message(response="utter_anything_else")]
    assert events == [SlotSet("handoff_pending", False)]


async def test_a_question_the_help_center_could_not_place_is_no_context(kb: KBSettings) -> None:
    history, slots = after_a_question("the thing I mentioned earlier", "card-delivery")
    slots.update({"kb_last_tier": "none", "kb_last_article": None})
    events, _ = await run_answer(make_tracker("and express?", history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", "and express?")


async def test_a_long_follow_up_that_refers_back_is_still_searched_in_context(kb: KBSettings) -> None:
    history, slots = after_a_question("How long does card delivery take?", "card-delivery")
    text = "and what if I would like it to come a lot faster than that, is there some option for it?"
    events, messages = await run_answer(make_tracker(text, history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", f"How long does card delivery take? {text}")
    assert messages[1]["custom"]["article"]["id"] == "card-delivery"


@pytest.mark.parametrize(
    ("previous", "text", "searched"),
    [
        ("is there a max amount I can top up with a card", "and by bank transfer?", "and by bank transfer? limit"),
        ("do you take a cut if I load money from my card", "and by bank transfer?", "and by bank transfer? fees"),
        (
            "sending euros to Germany, when will it arrive",
            "and to another kestrel user?",
            "and to another kestrel user? how long",
        ),
        # the follow-up names its own aspect: nothing is carried
        ("what does a top-up by card cost", "and how long does it take?", "and how long does it take?"),
        # nothing to carry
        ("how do I order a physical card", "and a virtual one?", "and a virtual one?"),
        # not worded as a follow-up: searched as it is
        ("what is the fee for transfers", "How do I close my account?", "How do I close my account?"),
    ],
)
def test_an_elliptical_follow_up_keeps_the_aspect_of_the_question_before_it(
    previous: str, text: str, searched: str
) -> None:
    from actions.followup import as_follow_up

    assert as_follow_up(previous, text) == searched


@pytest.fixture
def kb_with_limits(kb_settings: KBSettings, embedder, restore_kb_service) -> KBSettings:
    """The fixture corpus plus an article about top-up limits, next to the one about topping up by
    bank transfer: "and by bank transfer?" after a question about limits is about the limit."""
    write_article(
        kb_settings.articles_dir,
        "top-up-limits",
        "Top-up limits",
        """
        You can add at most EUR 10,000 a month to your account, whichever way you add it.
        """,
        ["What is the most I can top up?", "Is there a maximum top-up amount?"],
    )
    build_index(kb_settings, embedder)
    kb_service.configure(Searcher(kb_settings, embedder), action_settings(kb_settings))
    return kb_settings


async def test_an_elliptical_follow_up_about_another_object_stays_on_the_aspect(kb_with_limits: KBSettings) -> None:
    history, slots = after_a_question("is there a max amount i can top up with a card", "top-up-limits")
    events, messages = await run_answer(make_tracker("and by bank transfer?", history=history, slots=slots))
    assert events[0] == SlotSet("kb_last_query", "is there a max amount i can top up with a card and by bank transfer?")
    cited = [m["custom"]["article"]["id"] for m in messages if "article" in m.get("custom", {})]
    assert cited[0] == "top-up-limits"
