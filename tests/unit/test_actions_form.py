"""validate_handoff_form: which slots the form asks for, and each slot's validation.

Trackers are built by hand the way Rasa's FormAction hands them to the validation action:
the conversation so far, then `requested_slot`, the form's ActionExecuted and the slot
candidates as trailing SlotSet events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff_form import ValidateHandoffForm

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"
DOMAIN: dict[str, Any] = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
FORM_SLOTS = ["customer_name", "customer_email", "issue_category", "transaction_ref", "issue_description"]

NAME_HINT = "Just your name is fine, or say 'skip'."
EMAIL_HINT = "That doesn't look like an email address (like name@example.com). Try again, or say 'skip'."
REF_HINT = "References look like TX-12345678. Try again, or say 'skip' if you don't have it."


def default_slots() -> dict[str, Any]:
    slots = {name: spec.get("initial_value") for name, spec in DOMAIN["slots"].items()}
    slots["requested_slot"] = None
    return slots


def form_tracker(
    text: str,
    intent: str = "nlu_fallback",
    requested_slot: str | None = None,
    candidates: dict[str, Any] | None = None,
    slots: dict[str, Any] | None = None,
    active: bool = True,
) -> Tracker:
    """The tracker the form's validation action receives for the customer's message `text`."""
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.88}, "entities": [], "metadata": {}}
    candidates = candidates or {}
    events: list[dict[str, Any]] = []
    if active:
        events += [
            {"event": "action", "name": "handoff_form"},
            {"event": "active_loop", "name": "handoff_form"},
            {"event": "slot", "name": "requested_slot", "value": requested_slot},
        ]
    events += [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": latest, "metadata": {}},
        {"event": "slot", "name": "requested_slot", "value": requested_slot},
        {"event": "action", "name": "handoff_form"},
    ] + [{"event": "slot", "name": name, "value": value} for name, value in candidates.items()]
    return Tracker(
        sender_id="conv-test",
        slots={**default_slots(), **(slots or {}), "requested_slot": requested_slot, **candidates},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "handoff_form"} if active else {},
        latest_action_name="handoff_form",
    )


def message(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "buttons": [],
        "elements": [],
        "custom": {},
        "template": None,
        "response": None,
        "image": None,
        "attachment": None,
    }


async def run_form(tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ValidateHandoffForm().run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


async def required(tracker: Tracker) -> list[str]:
    form = ValidateHandoffForm()
    return await form.required_slots(form.domain_slots(DOMAIN), CollectingDispatcher(), tracker, DOMAIN)


def validate(
    slot: str, value: Any, text: str | None = None, intent: str = "nlu_fallback"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tracker = form_tracker(
        value if text is None else text, intent=intent, requested_slot=slot, candidates={slot: value}
    )
    dispatcher = CollectingDispatcher()
    result = getattr(ValidateHandoffForm(), f"validate_{slot}")(value, dispatcher, tracker, DOMAIN)
    return result, dispatcher.messages


# --- required_slots ---------------------------------------------------------------------------


def test_the_form_asks_for_the_domains_slots_in_order() -> None:
    assert ValidateHandoffForm().domain_slots(DOMAIN) == FORM_SLOTS


@pytest.mark.parametrize("category", [None, "cards", "top-ups", "transfers", "exchange"])
async def test_transactional_or_unknown_category_keeps_the_transaction_ref(category: str | None) -> None:
    tracker = form_tracker("hello", requested_slot="issue_category", slots={"issue_category": category})
    assert await required(tracker) == FORM_SLOTS


@pytest.mark.parametrize("category", ["identity", "account", "other"])
async def test_non_transactional_category_drops_the_transaction_ref(category: str) -> None:
    tracker = form_tracker(category, requested_slot="issue_category", slots={"issue_category": category})
    assert await required(tracker) == ["customer_name", "customer_email", "issue_category", "issue_description"]


async def test_security_matter_keeps_the_transaction_ref_whatever_the_category() -> None:
    tracker = form_tracker(
        "other", requested_slot="issue_category", slots={"issue_category": "other", "handoff_reason": "sensitive_topic"}
    )
    assert await required(tracker) == FORM_SLOTS


async def test_just_get_me_a_person_while_asking_requires_nothing() -> None:
    tracker = form_tracker(
        "just get me a person",
        intent="request_human",
        requested_slot="customer_email",
        candidates={"customer_email": "just get me a person"},
    )
    assert await required(tracker) == []


async def test_request_human_when_the_form_is_not_asking_yet_keeps_all_slots() -> None:
    tracker = form_tracker("I want to talk to a person", intent="request_human", requested_slot=None, active=False)
    assert await required(tracker) == FORM_SLOTS


# --- the whole validation action --------------------------------------------------------------


async def test_just_get_me_a_person_ends_the_form_without_storing_the_text() -> None:
    tracker = form_tracker(
        "just get me a person",
        intent="request_human",
        requested_slot="customer_email",
        candidates={"customer_email": "just get me a person"},
        slots={"customer_name": "Ana Souza"},
    )
    events, messages = await run_form(tracker)
    assert messages == []
    assert events == [SlotSet("requested_slot", None)]


async def test_invalid_email_is_rejected_with_a_hint_and_asked_again() -> None:
    tracker = form_tracker(
        "ana at example dot com",
        requested_slot="customer_email",
        candidates={"customer_email": "ana at example dot com"},
        slots={"customer_name": "Ana Souza"},
    )
    events, messages = await run_form(tracker)
    assert messages == [message(EMAIL_HINT)]
    assert events == [SlotSet("customer_email", None)]


async def test_non_transactional_category_goes_straight_to_the_issue() -> None:
    tracker = form_tracker(
        "account",
        requested_slot="issue_category",
        candidates={"issue_category": "account"},
        slots={"customer_name": "Ana Souza", "customer_email": "ana@example.com"},
    )
    events, messages = await run_form(tracker)
    assert messages == []
    assert events == [SlotSet("issue_category", "account"), SlotSet("requested_slot", "issue_description")]


async def test_transactional_category_leaves_the_next_question_to_rasa() -> None:
    tracker = form_tracker(
        "Something with my card",
        requested_slot="issue_category",
        candidates={"issue_category": "Something with my card"},
        slots={"customer_name": "Ana Souza", "customer_email": "ana@example.com"},
    )
    events, messages = await run_form(tracker)
    assert messages == []
    assert events == [SlotSet("issue_category", "cards")]


async def test_last_slot_of_a_non_transactional_form_ends_it() -> None:
    tracker = form_tracker(
        "I can't update my address",
        requested_slot="issue_description",
        candidates={"issue_description": "I can't update my address"},
        slots={"customer_name": "Ana Souza", "customer_email": "ana@example.com", "issue_category": "account"},
    )
    events, messages = await run_form(tracker)
    assert messages == []
    assert events == [SlotSet("issue_description", "I can't update my address"), SlotSet("requested_slot", None)]


PREFILLED = {
    "customer_name": "Ana Souza",
    "customer_email": "ana@example.com",
    "issue_description": "When will my card arrive?",
}


async def test_prefilled_details_survive_validation_at_activation() -> None:
    tracker = form_tracker(
        "I want to talk to a person",
        intent="request_human",
        requested_slot=None,
        candidates=PREFILLED,
        slots={"handoff_reason": "customer_request"},
        active=False,
    )
    events, messages = await run_form(tracker)
    assert messages == []
    assert events == [SlotSet(name, value) for name, value in PREFILLED.items()]


async def test_prefilled_details_survive_a_plain_no_at_activation() -> None:
    tracker = form_tracker(
        "no",
        intent="deny",
        requested_slot=None,
        candidates=PREFILLED,
        slots={"handoff_reason": "answer_rejected"},
        active=False,
    )
    events, _ = await run_form(tracker)
    assert events == [SlotSet(name, value) for name, value in PREFILLED.items()]


# --- validate_customer_name -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ana Souza", "Ana Souza"),
        ("  Ana    Souza ", "Ana Souza"),
        ("My name is Ana Souza", "Ana Souza"),
        ("I'm Ana", "Ana"),
        ("it's Bo", "Bo"),
        ("A" * 100, "A" * 80),
    ],
)
def test_name_is_cleaned_up(text: str, expected: str) -> None:
    assert validate("customer_name", text) == ({"customer_name": expected}, [])


@pytest.mark.parametrize("text", ["skip", "Skip.", "I don't know", "rather not say"])
def test_name_can_be_skipped(text: str) -> None:
    assert validate("customer_name", text) == ({"customer_name": "not given"}, [])


def test_a_name_that_nlu_reads_as_skip_is_kept() -> None:
    # NLU classifies many plain names as "skip"; for the name only the words decide.
    assert validate("customer_name", "Priya Shah", intent="skip") == ({"customer_name": "Priya Shah"}, [])


@pytest.mark.parametrize("text", ["ana@example.com", "my name is ana@example.com", "  "])
def test_name_that_is_not_a_name_gets_a_hint(text: str) -> None:
    assert validate("customer_name", text) == ({"customer_name": None}, [message(NAME_HINT)])


# --- validate_customer_email ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("it's Ana.Souza+help@mail.example.org.", "Ana.Souza+help@mail.example.org"),
        ("my email is bo_li@example.co.uk thanks", "bo_li@example.co.uk"),
    ],
)
def test_valid_email_is_kept(text: str, expected: str) -> None:
    assert validate("customer_email", text) == ({"customer_email": expected}, [])


@pytest.mark.parametrize("text", ["skip", "I don't know", "n/a", "I don't have it"])
def test_email_can_be_skipped(text: str) -> None:
    assert validate("customer_email", text) == ({"customer_email": "not given"}, [])


@pytest.mark.parametrize("text", ["ana at example dot com", "ana@example", "@example.com", "ana@.c"])
def test_invalid_email_gets_a_hint(text: str) -> None:
    assert validate("customer_email", text) == ({"customer_email": None}, [message(EMAIL_HINT)])


# --- validate_issue_category ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cards", "cards"),
        ("Top-ups", "top-ups"),
        ("transfers", "transfers"),
        ("exchange", "exchange"),
        ("identity", "identity"),
        ("account", "account"),
        ("other", "other"),
        ("my card was declined", "cards"),
        ("I want to add money", "top-ups"),
        ("a payment to my landlord", "transfers"),
        ("the currency conversion", "exchange"),
        ("verifying my passport", "identity"),
        ("I want to close my account", "account"),
        ("something about my cat", "other"),
    ],
)
def test_category_from_a_button_or_free_text(text: str, expected: str) -> None:
    assert validate("issue_category", text) == ({"issue_category": expected}, [])


@pytest.mark.parametrize("text", ["skip", "I don't know", "not sure", "dunno"])
def test_skipped_category_is_other(text: str) -> None:
    assert validate("issue_category", text) == ({"issue_category": "other"}, [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my bank transfer keeps stopping", "transfers"),
        ("the exchange was wrong when I went shopping", "exchange"),
    ],
)
def test_category_keywords_match_whole_words_only(text: str, expected: str) -> None:
    assert validate("issue_category", text) == ({"issue_category": expected}, [])


# --- validate_transaction_ref -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TX-12AB34CD", "TX-12AB34CD"),
        ("tx-12ab34cd", "TX-12AB34CD"),
        ("it's Tx-9k2m4p7q I think", "TX-9K2M4P7Q"),
    ],
)
def test_transaction_ref_is_found_and_upper_cased(text: str, expected: str) -> None:
    assert validate("transaction_ref", text) == ({"transaction_ref": expected}, [])


@pytest.mark.parametrize("text", ["skip", "I don't have it", "no", "no idea"])
def test_transaction_ref_can_be_skipped(text: str) -> None:
    assert validate("transaction_ref", text) == ({"transaction_ref": "not given"}, [])


@pytest.mark.parametrize("text", ["12345678", "TX-123", "TX-12AB34CD9", "the one from Tuesday"])
def test_invalid_transaction_ref_gets_a_hint(text: str) -> None:
    assert validate("transaction_ref", text) == ({"transaction_ref": None}, [message(REF_HINT)])


# --- validate_issue_description ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  My card   was declined\n at the shop ", "My card was declined at the shop"),
        ("x" * 400, "x" * 300),
    ],
)
def test_issue_is_kept_in_the_customers_words(text: str, expected: str) -> None:
    assert validate("issue_description", text) == ({"issue_description": expected}, [])


@pytest.mark.parametrize("text", ["skip", "I don't know", "pass"])
def test_issue_can_be_skipped(text: str) -> None:
    assert validate("issue_description", text) == ({"issue_description": "not given"}, [])
