"""Validation of the qualifying form: name, email, category, transaction reference, issue.

Anything already known is skipped (the form only asks for empty slots); "skip" or "I don't
know" is accepted as "not given"; "just get me a person" ends the form at once.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import latest_intent, latest_text
from actions.slots import Slot
from actions.summary import NOT_GIVEN

EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
TRANSACTION_REF = re.compile(r"\bTX-[A-Z0-9]{8}\b", re.IGNORECASE)
SKIP_WORDS = {
    "skip",
    "pass",
    "n/a",
    "na",
    "no",
    "none",
    "dont know",
    "don't know",
    "i don't know",
    "i dont know",
    "no idea",
    "not sure",
    "nope",
    "nah",
    "rather not say",
    "i don't have it",
    "i dont have it",
    "dunno",
}
CATEGORIES = {
    "cards": ("card", "pin", "atm", "contactless", "declined"),
    "top-ups": ("top-up", "top up", "topup", "add money"),
    "transfers": ("transfer", "send money", "payment", "beneficiary"),
    "exchange": ("exchange", "currency", "rate"),
    "identity": ("identity", "verify", "verification", "kyc", "passport"),
    "account": ("account", "close", "details", "data", "privacy"),
    "other": ("other", "something else"),
}
TRANSACTIONAL = {"cards", "top-ups", "transfers", "exchange"}
# NLU alone is not trusted to end the form: a name like "Robin Customer" can look like a request.
ASKS_FOR_PERSON = re.compile(
    r"\b(person|human|agent|someone|somebody|operator|representative|people|staff|real)\b", re.IGNORECASE
)


def wants_a_person_now(tracker: Tracker) -> bool:
    """'Just get me a person' while the form is asking: stop asking."""
    return latest_intent(tracker) == "request_human" and bool(ASKS_FOR_PERSON.search(latest_text(tracker)))


def wants_to_skip(tracker: Tracker, slot: str) -> bool:
    """Whether the customer declined to give `slot`. Only an answer to that very question counts:
    when the form starts, Rasa validates pre-filled slots against the message that started it."""
    if tracker.get_slot(Slot.REQUESTED_SLOT) != slot:
        return False
    if wants_a_person_now(tracker):  # "just get me a person" is not the detail asked for
        return True
    text = re.sub(r"[^\w/' ]", "", latest_text(tracker).lower()).strip()
    if slot == Slot.CUSTOMER_NAME:  # NLU reads many plain names as "skip": trust only the words
        return text in SKIP_WORDS
    return latest_intent(tracker) == "skip" or text in SKIP_WORDS


def category_of(text: str) -> str:
    lowered = text.lower().strip()
    if lowered in CATEGORIES:
        return lowered
    for category, words in CATEGORIES.items():
        if any(re.search(rf"\b{re.escape(word)}s?\b", lowered) for word in words):
            return category
    return "other"


class ValidateHandoffForm(FormValidationAction):
    def name(self) -> str:
        return "validate_handoff_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # "Just get me a person" while the form is asking: stop asking, hand off now.
        if tracker.get_slot(Slot.REQUESTED_SLOT) and wants_a_person_now(tracker):
            return []
        slots = list(domain_slots)
        category = tracker.get_slot(Slot.ISSUE_CATEGORY)
        if category and category not in TRANSACTIONAL and tracker.get_slot(Slot.HANDOFF_REASON) != "sensitive_topic":
            slots.remove(Slot.TRANSACTION_REF)
        return slots

    def validate_customer_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if wants_to_skip(tracker, Slot.CUSTOMER_NAME):
            return {Slot.CUSTOMER_NAME: NOT_GIVEN}
        name = " ".join(str(value or "").split())
        name = re.sub(r"^(my name is|i am|i'm|it's|this is)\s+", "", name, flags=re.IGNORECASE)
        if not name or EMAIL_IN_TEXT.search(name):
            dispatcher.utter_message(text="Just your name is fine, or say 'skip'.")
            return {Slot.CUSTOMER_NAME: None}
        return {Slot.CUSTOMER_NAME: name[:80]}

    def validate_customer_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if wants_to_skip(tracker, Slot.CUSTOMER_EMAIL):
            return {Slot.CUSTOMER_EMAIL: NOT_GIVEN}
        found = EMAIL_IN_TEXT.search(str(value or ""))
        if found and EMAIL.match(found.group(0)):
            return {Slot.CUSTOMER_EMAIL: found.group(0)[:254]}
        dispatcher.utter_message(
            text="That doesn't look like an email address (like name@example.com). Try again, or say 'skip'."
        )
        return {Slot.CUSTOMER_EMAIL: None}

    def validate_issue_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if wants_to_skip(tracker, Slot.ISSUE_CATEGORY):
            return {Slot.ISSUE_CATEGORY: "other"}
        return {Slot.ISSUE_CATEGORY: category_of(str(value or ""))}

    def validate_transaction_ref(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if wants_to_skip(tracker, Slot.TRANSACTION_REF):
            return {Slot.TRANSACTION_REF: NOT_GIVEN}
        found = TRANSACTION_REF.search(str(value or ""))
        if found:
            return {Slot.TRANSACTION_REF: found.group(0).upper()}
        dispatcher.utter_message(
            text="References look like TX-12345678. Try again, or say 'skip' if you don't have it."
        )
        return {Slot.TRANSACTION_REF: None}

    def validate_issue_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if wants_to_skip(tracker, Slot.ISSUE_DESCRIPTION):
            return {Slot.ISSUE_DESCRIPTION: NOT_GIVEN}
        return {Slot.ISSUE_DESCRIPTION: " ".join(str(value or "").split())[:300] or NOT_GIVEN}
