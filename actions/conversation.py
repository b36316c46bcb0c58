"""Reading a rasa-sdk Tracker: the customer's turns, metadata and what the bot tried."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.slots import Slot
from handoff.contract import reason

#: slots cleared when a person resolves a conversation (name and email are kept)
HANDOFF_SLOTS = (
    Slot.ISSUE_CATEGORY,
    Slot.TRANSACTION_REF,
    Slot.ISSUE_DESCRIPTION,
    Slot.HANDOFF_REASON,
    Slot.HANDOFF_PRIORITY,
    Slot.KB_LAST_QUERY,
    Slot.KB_LAST_TIER,
    Slot.KB_LAST_ARTICLE,
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
        SlotSet(Slot.HANDOFF_PENDING, True),
        SlotSet(Slot.HANDOFF_REASON, why.code),
        SlotSet(Slot.HANDOFF_PRIORITY, why.priority),
    ]
    customer = customer_metadata(tracker)
    if customer.get("name") and not tracker.get_slot(Slot.CUSTOMER_NAME):
        events.append(SlotSet(Slot.CUSTOMER_NAME, str(customer["name"])[:80]))
    if customer.get("email") and not tracker.get_slot(Slot.CUSTOMER_EMAIL):
        events.append(SlotSet(Slot.CUSTOMER_EMAIL, str(customer["email"])[:254]))
    query = issue or tracker.get_slot(Slot.KB_LAST_QUERY)
    if query and not tracker.get_slot(Slot.ISSUE_DESCRIPTION):
        events.append(SlotSet(Slot.ISSUE_DESCRIPTION, str(query)[:300]))
    return events
