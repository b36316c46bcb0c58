"""action_handoff: the versioned payload for the hub and the agent's summary; secret masking.

Each test builds a real rasa-sdk Tracker by hand, runs the action with a CollectingDispatcher
and compares the exact events and the exact messages, payload and summary text included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.masking import mask_secrets

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"
DOMAIN: dict[str, Any] = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))

ASK_REF = (
    "Do you have the transaction reference? It starts with TX- (you'll find it under Payments > the payment > "
    "Details). Say 'skip' if you don't have it."
)
LONG_ANSWER = (
    "Standard delivery takes 5 to 7 business days after you order the card. Express delivery costs EUR 15 "
    "and arrives in 2 to 3 business days, and you can follow it in the app under Cards."
)
SHORTENED_ANSWER = LONG_ANSWER[:159].rstrip() + "…"
NEXT_STEPS = (
    "A person from our team will take it from here. They can see everything you've told me, "
    "so you won't need to repeat yourself."
)


def default_slots() -> dict[str, Any]:
    slots = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}
    slots["requested_slot"] = None
    return slots


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"text": text}, "metadata": {}}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {}}


def handoff_tracker(slots: dict[str, Any], turns: list[dict[str, Any]]) -> Tracker:
    """The tracker action_handoff sees when the qualifying form has just finished."""
    last_user = next((e for e in reversed(turns) if e["event"] == "user"), None)
    latest = {
        "text": last_user["text"] if last_user else None,
        "intent": {"name": "nlu_fallback", "confidence": 0.4},
        "entities": [],
        "metadata": {},
    }
    events = (
        [{"event": "action", "name": "action_listen"}]
        + turns
        + [
            {"event": "active_loop", "name": None},
            {"event": "slot", "name": "requested_slot", "value": None},
        ]
    )
    return Tracker(
        sender_id="conv-test",
        slots={**default_slots(), **slots},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="handoff_form",
    )


async def run_handoff(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def lines(*texts: str) -> str:
    return "\n".join(texts)


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


KNOWN_SLOTS = {
    "handoff_reason": "answer_rejected",
    "handoff_priority": "normal",
    "handoff_pending": True,
    "customer_name": "Ana Souza",
    "customer_email": "ana@example.com",
    "issue_category": "cards",
    "transaction_ref": "TX-12AB34CD",
    "issue_description": "I was charged twice for one coffee",
    "kb_articles_shown": ["card-delivery", "exchange-rates", "top-up-by-bank-transfer", "card-delivery"],
    "kb_feedback": [{"article": "card-delivery", "helpful": False}, {"article": "exchange-rates", "helpful": True}],
    "kb_last_query": "I was charged twice for one coffee",
    "kb_rejections": 2.0,
}
KNOWN_TURNS = [
    user("hi"),
    bot("Hi! I'm Kestrel's support assistant."),
    user("I was charged twice for one coffee"),
    bot(LONG_ANSWER),
    bot("Did that help?"),
    user("/feedback_not_helpful"),
    bot("Sorry about that. Maybe one of these is closer:"),
    user("no"),
    bot("Sorry that didn't help. I'll pass you to a person."),
    bot("Which area is this about?"),
    user("cards"),
    bot(ASK_REF),
    user("TX-12AB34CD"),
]


async def test_handoff_payload_and_summary_for_a_known_conversation() -> None:
    events, messages = await run_handoff(handoff_tracker(KNOWN_SLOTS, KNOWN_TURNS))
    summary = lines(
        "Customer rejected the bot's answers [answer_rejected], priority normal.",
        'Issue, in the customer\'s words: "I was charged twice for one coffee"',
        "Details: Name: Ana Souza; Email: ana@example.com; Category: cards; Transaction: TX-12AB34CD",
        "Bot tried: card-delivery (did not help), exchange-rates (helped), top-up-by-bank-transfer (no feedback).",
        "Sentiment: negative (-0.30).",
        "Last turns:",
        # the last six lines of the transcript; button payloads such as /feedback_not_helpful are left out
        "  customer: no",
        "  bot: Sorry that didn't help. I'll pass you to a person.",
        "  bot: Which area is this about?",
        "  customer: cards",
        f"  bot: {ASK_REF}",
        "  customer: TX-12AB34CD",
    )
    assert messages == [
        message(
            custom={
                "handoff": {
                    "version": 1,
                    "reason": "answer_rejected",
                    "priority": "normal",
                    "headline": "Customer rejected the bot's answers: I was charged twice for one coffee",
                    "summary": summary,
                    "details": {
                        "customer_name": "Ana Souza",
                        "customer_email": "ana@example.com",
                        "issue_category": "cards",
                        "transaction_ref": "TX-12AB34CD",
                        "issue_description": "I was charged twice for one coffee",
                    },
                    "articles": [
                        {"id": "card-delivery", "helpful": False},
                        {"id": "exchange-rates", "helpful": True},
                        {"id": "top-up-by-bank-transfer", "helpful": None},
                    ],
                    "sentiment": -0.296,
                }
            }
        ),
        message(f"Thanks, Ana Souza. {NEXT_STEPS}"),
    ]
    assert events == [SlotSet("handoff_pending", False), SlotSet("requested_slot", None)]


async def test_long_bot_lines_are_shortened_in_the_last_turns() -> None:
    turns = [user("When will my card arrive?"), bot(LONG_ANSWER)]
    _, messages = await run_handoff(handoff_tracker({"handoff_reason": "customer_request"}, turns))
    summary = messages[0]["custom"]["handoff"]["summary"]
    assert summary.splitlines()[-2:] == ["  customer: When will my card arrive?", f"  bot: {SHORTENED_ANSWER}"]
    assert len(SHORTENED_ANSWER) == 160


async def test_summary_with_nothing_collected_takes_the_issue_from_the_customers_words() -> None:
    turns = [
        user("hi"),
        bot("Hi! I'm Kestrel's support assistant."),
        user("my card was declined at the supermarket"),
        bot("Sure, I'll connect you with a person."),
        user("ok"),
    ]
    events, messages = await run_handoff(handoff_tracker({}, turns))
    assert messages == [
        message(
            custom={
                "handoff": {
                    "version": 1,
                    "reason": "customer_request",
                    "priority": "normal",
                    "headline": "Customer asked for a person: my card was declined at the supermarket",
                    "summary": lines(
                        "Customer asked for a person [customer_request], priority normal.",
                        'Issue, in the customer\'s words: "my card was declined at the supermarket"',
                        "Details: none collected.",
                        "Bot tried: no help-center article.",
                        "Sentiment: neutral (+0.00).",
                        "Last turns:",
                        "  customer: hi",
                        "  bot: Hi! I'm Kestrel's support assistant.",
                        "  customer: my card was declined at the supermarket",
                        "  bot: Sure, I'll connect you with a person.",
                        "  customer: ok",
                    ),
                    "details": {},
                    "articles": [],
                    "sentiment": 0.0,
                }
            }
        ),
        message(f"Thanks. {NEXT_STEPS}"),
    ]
    assert events == [SlotSet("handoff_pending", False), SlotSet("requested_slot", None)]


async def test_summary_of_an_empty_conversation_states_no_issue() -> None:
    _, messages = await run_handoff(handoff_tracker({"handoff_reason": "kb_unavailable"}, []))
    payload = messages[0]["custom"]["handoff"]
    assert payload["headline"] == "Help center unavailable"
    assert payload["summary"] == lines(
        "Help center unavailable [kb_unavailable], priority normal.",
        "Issue: not stated.",
        "Details: none collected.",
        "Bot tried: no help-center article.",
        "Sentiment: neutral (+0.00).",
        "Last turns:",
    )
    assert (payload["reason"], payload["priority"], payload["sentiment"]) == ("kb_unavailable", "normal", 0.0)


@pytest.mark.parametrize(
    ("reason", "priority", "label"),
    [
        ("frustration", "high", "Customer is frustrated"),
        ("sensitive_topic", "high", "Security matter (card, fraud, unrecognised payment)"),
        ("low_confidence", "normal", "Bot did not understand twice in a row"),
        ("complaint", "normal", "Customer wants to make a complaint"),
    ],
)
async def test_reason_and_priority_come_from_the_reason_code(reason: str, priority: str, label: str) -> None:
    tracker = handoff_tracker(
        {"handoff_reason": reason, "issue_description": "Charged twice for a coffee"},
        [user("Charged twice for a coffee")],
    )
    _, messages = await run_handoff(tracker)
    payload = messages[0]["custom"]["handoff"]
    assert (payload["reason"], payload["priority"]) == (reason, priority)
    assert payload["headline"] == f"{label}: Charged twice for a coffee"
    assert payload["summary"].splitlines()[0] == f"{label} [{reason}], priority {priority}."


async def test_skipped_name_is_not_used_in_the_thanks() -> None:
    tracker = handoff_tracker(
        {
            "customer_name": "not given",
            "customer_email": "not given",
            "issue_description": "not given",
            "handoff_reason": "customer_request",
        },
        [user("I need help with a refund please")],
    )
    _, messages = await run_handoff(tracker)
    assert messages[1] == message(f"Thanks. {NEXT_STEPS}")
    payload = messages[0]["custom"]["handoff"]
    assert payload["details"] == {
        "customer_name": "not given",
        "customer_email": "not given",
        "issue_description": "not given",
    }
    assert payload["summary"].splitlines()[1:3] == [
        'Issue, in the customer\'s words: "I need help with a refund please"',
        "Details: Name: not given; Email: not given",
    ]


async def test_skipped_issue_falls_back_to_the_first_real_sentence() -> None:
    turns = [
        user("hi"),
        bot("Hi! I'm Kestrel's support assistant."),
        user("my card was declined at the supermarket"),
        user("agent please"),
    ]
    _, messages = await run_handoff(handoff_tracker({"issue_description": "not given"}, turns))
    payload = messages[0]["custom"]["handoff"]
    assert payload["headline"] == "Customer asked for a person: my card was declined at the supermarket"


# --- masking in the summary -------------------------------------------------------------------


async def test_card_numbers_are_masked_everywhere_in_the_handoff() -> None:
    slots = {
        "handoff_reason": "sensitive_topic",
        "customer_name": "Ana Souza",
        "issue_description": "Someone used my card 4111 1111 1311 1234 without asking",
        "transaction_ref": "not given",
        "issue_category": "cards",
    }
    turns = [
        user("someone used my card 4111 1111 1311 1234, CVV: 123, I'm scared"),
        bot("This needs a person from our security team, and I'll connect you now."),
        user("Someone used my card 4111 1111 1311 1234 without asking"),
    ]
    _, messages = await run_handoff(handoff_tracker(slots, turns))
    payload = messages[0]["custom"]["handoff"]
    assert payload["headline"] == (
        "Security matter (card, fraud, unrecognised payment): Someone used my card [card ending 1234] without asking"
    )
    assert payload["details"]["issue_description"] == "Someone used my card [card ending 1234] without asking"
    lines = payload["summary"].splitlines()
    assert lines[1] == 'Issue, in the customer\'s words: "Someone used my card [card ending 1234] without asking"'
    assert lines[-3:] == [
        "  customer: someone used my card [card ending 1234], CVV [masked], I'm scared",
        "  bot: This needs a person from our security team, and I'll connect you now.",
        "  customer: Someone used my card [card ending 1234] without asking",
    ]
    everything = json.dumps(messages)
    assert "4111" not in everything and "1111" not in everything and "CVV: 123" not in everything


# --- mask_secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cards: Luhn-valid, however they are spaced
        ("my card 4111 1111 1311 1234 was charged", "my card [card ending 1234] was charged"),
        ("4111-1111-1311-1234", "[card ending 1234]"),
        ("card 4111111113111234.", "card [card ending 1234]."),
        ("4111  1111  1311  1234", "[card ending 1234]"),
        ("4111 - 1111 - 1311 - 1234", "[card ending 1234]"),
        ("Amex 3782 822463 10005", "Amex [card ending 0005]"),
        ("Diners 3056 930902 5904", "Diners [card ending 5904]"),
        # IBANs: the mod-97 check, any case, spaced or not
        ("IBAN DE89370400440532013000", "IBAN [IBAN ending 3000]"),
        ("to GB29 NWBK 6016 1331 9268 19 please", "to [IBAN ending 6819] please"),
        ("iban gb29nwbk60161331926819", "iban [IBAN ending 6819]"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [IBAN ending 3000]"),
        # words that announce a secret
        ("CVV: 123", "CVV [masked]"),
        ("my CVV is 123", "my CVV [masked]"),
        ("cvv2 123", "cvv2 [masked]"),
        ("cvc 4567 on the back", "cvc [masked] on the back"),
        ("the security code is 987", "the security code [masked]"),
        ("my password is hunter2 ok", "my password is [masked] ok"),
        ("my password is: hunter2", "my password is: [masked]"),
        ("Password: s3cret!", "Password: [masked]"),
        ("passcode = 0000", "passcode = [masked]"),
        ("my PIN is 1234", "my PIN is [masked]"),
        ("pin number is 1234", "pin number is [masked]"),
        ("PIN code: 998877", "PIN code: [masked]"),
    ],
)
def test_mask_secrets(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "My reference is TX-12AB34CD",
        "Express delivery costs EUR 15 and arrives in 2 to 3 business days",
        "call me on +44 20 7946 0958",
        "call me on +44 7700 900123 after 5",
        "order 1234 5678 9012 3456 never came",  # 16 digits, not a card number (Luhn)
        "transfer reference 20261130123456",
        "GB00 NWBK 6016 1331 9268 19 looks like an IBAN but fails its check",
        "I paid EUR 1,234,567.89",
        "I typed my pin wrong",
        "",
    ],
)
def test_mask_secrets_leaves_ordinary_text_alone(text: str) -> None:
    assert mask_secrets(text) == text
