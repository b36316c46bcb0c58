"""Reading a rasa-sdk Tracker: the customer's turns, metadata and what the bot tried."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.handoff_reasons import reason

#: slots cleared when a person resolves a conversation (name and email are kept)
HANDOFF_SLOTS = (
    "issue_category", "transaction_ref", "issue_description", "handoff_reason",
    "handoff_priority", "kb_last_query", "kb_last_tier", "kb_last_article",
)


def latest_intent(tracker: Tracker) -> str:
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "").strip()


def customer_metadata(tracker: Tracker) -> dict[str, Any]:
    """The website's metadata for a logged-in customer, passed by the hub with each message."""
    candidates = [tracker.latest_message.get("metadata")]
    candidates += [e.get("metadata") for e in reversed(tracker.events) if e.get("event") == "user"]
    for metadata in candidates:
        if isinstance(metadata, dict) and isinstance(metadata.get("customer"), dict):
            return metadata["customer"]
    return {}


def customer_turns(tracker: Tracker) -> list[str]:
    """The customer's typed messages (button payloads and system intents excluded)."""
    texts = []
    for event in tracker.events:
        if event.get("event") != "user":
            continue
        text = str(event.get("text") or "").strip()
        if text and not text.startswith("/") and not text.startswith("[system]"):
            texts.append(text)
    return texts


def transcript(tracker: Tracker, turns: int) -> list[tuple[str, str]]:
    """The last `turns` lines as (speaker, text)."""
    lines: list[tuple[str, str]] = []
    for event in tracker.events:
        kind = event.get("event")
        text = str(event.get("text") or "").strip()
        if not text:
            continue
        if kind == "user" and not text.startswith("/"):
            lines.append(("customer", text))
        elif kind == "bot":
            lines.append(("bot", text))
    return lines[-turns:]


def handoff_events(tracker: Tracker, code: str, issue: str | None = None) -> list[dict[str, Any]]:
    """Slot events that start a handoff: the reason, its priority and what is already known
    (the website's customer metadata; the issue in the customer's own words)."""
    why = reason(code)
    events = [
        SlotSet("handoff_pending", True),
        SlotSet("handoff_reason", why.code),
        SlotSet("handoff_priority", why.priority),
    ]
    customer = customer_metadata(tracker)
    if customer.get("name") and not tracker.get_slot("customer_name"):
        events.append(SlotSet("customer_name", str(customer["name"])[:80]))
    if customer.get("email") and not tracker.get_slot("customer_email"):
        events.append(SlotSet("customer_email", str(customer["email"])[:254]))
    query = issue or tracker.get_slot("kb_last_query")
    if query and not tracker.get_slot("issue_description"):
        events.append(SlotSet("issue_description", str(query)[:300]))
    return events
