"""Starting a handoff, completing it with the payload for the hub, and resuming afterwards."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.acts import anger_words, asks_for_a_person, is_a_complaint, wants_to_reach_a_person
from actions.answers import ActionAnswerFromKB
from actions.conversation import HANDOFF_SLOTS, handoff_events, latest_intent, latest_text
from actions.slots import Slot
from actions.summary import build_summary
from handoff.contract import HandoffPayload, reason

log = logging.getLogger(__name__)

OPENERS = {
    "customer_request": "Sure, I'll connect you with a person.",
    "frustration": "I'm sorry this has been frustrating. I'll get you to a person.",
    "complaint": "I'm sorry to hear that. I'll pass your complaint to a person.",
}


class ActionStartHandoff(Action):
    """NLU heard a request for a person, a complaint or a bot challenge: hand off when the wording
    backs it.

    Reason: a complaint when the message says so, frustration when it is angry, else the
    customer's request. A message with neither a person nor a complaint in it ("none of it looks
    right to me anymore") is a question: the help center answers it (actions/acts.py). A bot
    challenge is answered ("I'm Kestrel's support bot…") unless it also asks to be put through
    ("are you a robot? get me someone real").
    """

    def name(self) -> str:
        return "action_start_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = latest_text(tracker)
        intent = latest_intent(tracker)
        if intent == "bot_challenge" and not wants_to_reach_a_person(text):
            dispatcher.utter_message(response="utter_iamabot")
            return [SlotSet(Slot.HANDOFF_PENDING, False)]
        code = handoff_reason_of(intent, text)
        if code is None:
            return await ActionAnswerFromKB().run(dispatcher, tracker, domain)
        dispatcher.utter_message(text=OPENERS[code])
        # Unless they only asked for a person, what they just wrote is the issue in their words.
        issue = text if code != "customer_request" else None
        return handoff_events(tracker, code, issue)


def handoff_reason_of(intent: str, text: str) -> str | None:
    """The reason code for a request_human or complain message, or None when its words show
    neither. A message whose text is an intent (the offered "Talk to a person" button sends
    "/request_human"; the hub never lets typed text start with "/") counts as asking."""
    if text.startswith("/") or intent not in ("request_human", "complain"):
        return "customer_request"
    if is_a_complaint(text):
        return "complaint"
    if not asks_for_a_person(text):
        return None
    return "frustration" if anger_words(text) else "customer_request"


class ActionHandoff(Action):
    """Send the versioned handoff payload to the hub (in-band) and tell the customer what's next."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        why = reason(str(tracker.get_slot(Slot.HANDOFF_REASON) or "customer_request"))
        summary = build_summary(tracker)
        log.info("handoff reason=%s priority=%s", why.code, why.priority)
        payload = HandoffPayload(
            reason=why.code,
            priority=why.priority,
            headline=summary.headline,
            summary=summary.text,
            details=summary.details,
            articles=summary.articles,
            sentiment=summary.sentiment,
        )
        dispatcher.utter_message(json_message={"handoff": payload.to_json()})
        name = summary.details.get(Slot.CUSTOMER_NAME, "")
        thanks = f"Thanks, {name}." if name and name != "not given" else "Thanks."
        dispatcher.utter_message(
            text=f"{thanks} A person from our team will take it from here. They can see everything "
            "you've told me, so you won't need to repeat yourself."
        )
        return [SlotSet(Slot.HANDOFF_PENDING, False), SlotSet(Slot.REQUESTED_SLOT, None)]


class ActionHandoffResolved(Action):
    """The hub says a person resolved the conversation: the bot owns it again, fresh."""

    def name(self) -> str:
        return "action_handoff_resolved"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        return [SlotSet(slot, None) for slot in HANDOFF_SLOTS] + [
            SlotSet(Slot.HANDOFF_PENDING, False),
            SlotSet(Slot.KB_REJECTIONS, 0),
            SlotSet(Slot.LOW_CONFIDENCE_TURNS, 0),
            SlotSet(Slot.KB_ARTICLES_SHOWN, []),
            SlotSet(Slot.KB_FEEDBACK, []),
        ]
