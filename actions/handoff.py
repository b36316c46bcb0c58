"""Starting a handoff, completing it with the payload for the hub, and resuming afterwards."""

from __future__ import annotations

import logging
from typing import Any

from knowledge_base.search import Tier
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import kb_service
from actions.answers import citation, trim_passage
from actions.conversation import HANDOFF_SLOTS, handoff_events, latest_intent, latest_text
from actions.handoff_reasons import INTENT_REASONS, reason
from actions.summary import build_summary

log = logging.getLogger(__name__)

HANDOFF_PAYLOAD_VERSION = 1
GENERIC_SAFETY_STEP = (
    "First, to keep your money safe: freeze your card now in the app (Cards > your card > Freeze). "
    "You can unfreeze it any time."
)
OPENERS = {
    "customer_request": "Sure, I'll connect you with a person.",
    "frustration": "I'm sorry this has been frustrating. I'll get you to a person.",
    "complaint": "I'm sorry to hear that. I'll pass your complaint to a person.",
    "sensitive_topic": "This needs a person from our security team, and I'll connect you now.",
}


class ActionStartHandoff(Action):
    """The customer asked for a person, is frustrated, complains or raises a security matter."""

    def name(self) -> str:
        return "action_start_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        code = INTENT_REASONS.get(latest_intent(tracker), "customer_request")
        events: list[dict[str, Any]] = []
        if code == "sensitive_topic":
            events += await self._safety_step(dispatcher, tracker)
        dispatcher.utter_message(text=OPENERS.get(code, OPENERS["customer_request"]))
        # Unless they only asked for a person, what they just wrote is the issue in their words.
        issue = latest_text(tracker) if code != "customer_request" else None
        return events + handoff_events(tracker, code, issue)

    async def _safety_step(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        """Show the security article's first step (freeze the card…) before the person joins."""
        try:
            result = await kb_service.search(latest_text(tracker), k=3)
        except kb_service.KnowledgeBaseUnavailable:
            dispatcher.utter_message(text=GENERIC_SAFETY_STEP)
            return []
        hit = next((h for h in result.hits if h.needs_person), None)
        if hit is None or result.tier == Tier.NONE:
            dispatcher.utter_message(text=GENERIC_SAFETY_STEP)
            return []
        dispatcher.utter_message(text=trim_passage(hit.lead or hit.passage))
        dispatcher.utter_message(json_message=citation(hit))
        shown = list(tracker.get_slot("kb_articles_shown") or []) + [hit.article_id]
        return [SlotSet("kb_articles_shown", shown)]


class ActionHandoff(Action):
    """Send the versioned handoff payload to the hub (in-band) and tell the customer what's next."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        why = reason(str(tracker.get_slot("handoff_reason") or "customer_request"))
        summary = build_summary(tracker)
        log.info("handoff reason=%s priority=%s", why.code, why.priority)
        dispatcher.utter_message(json_message={"handoff": {
            "version": HANDOFF_PAYLOAD_VERSION,
            "reason": why.code,
            "priority": why.priority,
            "headline": summary.headline,
            "summary": summary.text,
            "details": summary.details,
            "articles": summary.articles,
            "sentiment": round(summary.sentiment, 3),
        }})
        name = summary.details.get("customer_name", "")
        thanks = f"Thanks, {name}." if name and name != "not given" else "Thanks."
        dispatcher.utter_message(
            text=f"{thanks} A person from our team will take it from here. They can see everything "
            "you've told me, so you won't need to repeat yourself."
        )
        return [SlotSet("handoff_pending", False), SlotSet("requested_slot", None)]


class ActionHandoffResolved(Action):
    """The hub says a person resolved the conversation: the bot owns it again, fresh."""

    def name(self) -> str:
        return "action_handoff_resolved"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        return [SlotSet(slot, None) for slot in HANDOFF_SLOTS] + [
            SlotSet("handoff_pending", False),
            SlotSet("kb_rejections", 0),
            SlotSet("low_confidence_turns", 0),
            SlotSet("kb_articles_shown", []),
            SlotSet("kb_feedback", []),
        ]
