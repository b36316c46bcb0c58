"""Answering from the help center by confidence tier, and recording the customer's feedback."""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import kb_service
from actions.acts import is_frustrated
from actions.conversation import handoff_events, latest_intent, latest_text
from actions.followup import (
    as_follow_up,
    in_context,
    is_short,
    previous_question,
    refers_back,
    starts_new_topic,
    words,
)
from actions.sentiment import compound_score
from actions.slots import Slot
from knowledge_base.search import Hit, SearchResult, Tier

log = logging.getLogger(__name__)

FEEDBACK_BUTTONS = [
    {"title": "Yes, thanks", "payload": "/feedback_helpful"},
    {"title": "No", "payload": "/feedback_not_helpful"},
]
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}
MAX_ANSWER_CHARS = 700
#: "no", "not really", "yes thanks": a reply this short with nothing to rate gets "anything else?"
MAX_BARE_FEEDBACK_WORDS = 3


def trim_passage(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Keep whole paragraphs (or sentences) up to `limit` characters; drop Markdown emphasis."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text).strip()
    text = re.sub(r"\[([^\]]+)\]\((?:/help/)?[^)]+\)", r"\1", text)
    if len(text) <= limit:
        return text
    kept = ""
    for paragraph in text.split("\n\n"):
        if len(kept) + len(paragraph) + 2 > limit:
            break
        kept = f"{kept}\n\n{paragraph}" if kept else paragraph
    if not kept:
        sentences = re.split(r"(?<=[.!?])\s+", text)
        for sentence in sentences:
            if len(kept) + len(sentence) + 1 > limit:
                break
            kept = f"{kept} {sentence}".strip()
    return (kept or text[:limit]).rstrip() + " …"


def citation(hit: Hit) -> dict[str, Any]:
    """The custom payload that travels next to an answer's text (handoff/contract.py and the README's wire contract)."""
    return {"article": {"id": hit.article_id, "title": hit.title, "url": hit.url}}


def search_outcome(result: SearchResult) -> dict[str, Any]:
    """What the hub records for metrics and content gaps (never shown to the customer)."""
    best = result.best
    return {
        "kb_result": {
            "tier": result.tier.value,
            "article_id": best.article_id if best else None,
            "score": round(best.score, 4) if best else None,
        }
    }


def shown(tracker: Tracker, *article_ids: str) -> list[str]:
    return list(tracker.get_slot(Slot.KB_ARTICLES_SHOWN) or []) + list(article_ids)


def kb_unavailable(
    dispatcher: CollectingDispatcher, tracker: Tracker, error: Exception, issue: str | None = None
) -> list[dict[str, Any]]:
    log.warning("kb unavailable: %s", type(error).__name__)
    dispatcher.utter_message(text="Sorry, I can't reach our help center right now. I'll pass you to a person instead.")
    return handoff_events(tracker, "kb_unavailable", issue=issue)


def is_security_matter(result: SearchResult, min_score: float) -> bool:
    """The search's winning article needs a person (lost, stolen or compromised card, payments
    not recognised…) and matched with at least `min_score` (HANDOFF_SECURITY_MIN_SCORE), at the
    suggest tier or above. Only the winner counts, never a runner-up: "my card still hasn't
    come" is about delivery even when a lost-card article is third."""
    best = result.best
    return best is not None and best.needs_person and result.tier != Tier.NONE and best.score >= min_score


async def search_with_context(text: str, previous: str | None) -> tuple[str, SearchResult]:
    """Search `text`, or `text` in the context of the previous question when it is a follow-up
    (actions/followup.py). Wording that refers back ("and express?", "can I cancel it?") is
    always searched in context. Another short message right after a question is searched both
    ways: alone when alone it is answered confidently and the context agrees on the article (a
    direct answer, its own passage), otherwise in context ("when do I get the money back?" after
    a failed transfer is about the transfer). Returns the query to remember and the result."""
    if previous and starts_new_topic(text):
        previous = None
    if previous and refers_back(text):
        # It leans on the previous question: what it asks about too, unless it says (follow-up docs).
        return in_context(previous, text), await kb_service.search_in_context(
            previous, as_follow_up(previous, text), k=3
        )
    alone = await kb_service.search(text, k=3)
    if not previous or not is_short(text):
        return text, alone
    # Which article the context picks is all this first look needs (no tier rescue, no extra
    # embedding: both vectors are cached); the full search follows only if the context is used.
    glance = await kb_service.search_in_context(previous, text, k=3, rescue_tier=False)
    agree = alone.best is not None and glance.best is not None and alone.best.article_id == glance.best.article_id
    if alone.tier == Tier.ANSWER and agree:
        return text, alone
    together = await kb_service.search_in_context(previous, text, k=3)
    if together.tier == Tier.NONE and alone.tier != Tier.NONE:
        return text, alone
    return in_context(previous, text), together


class ActionAnswerFromKB(Action):
    """Answer the latest message from the help center: answer / suggest / none."""

    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        config = kb_service.settings()
        text = latest_text(tracker)
        previous = previous_question(tracker)
        try:
            query, result = await search_with_context(text, previous)
        except kb_service.KnowledgeBaseUnavailable as exc:
            return [SlotSet(Slot.KB_LAST_QUERY, text[:300])] + kb_unavailable(dispatcher, tracker, exc, issue=text)
        log.info(
            "kb tier=%s article=%s score=%.3f context=%s",
            result.tier.value,
            result.best.article_id if result.best else "-",
            result.best.score if result.best else 0,
            query != text,
        )
        dispatcher.utter_message(json_message=search_outcome(result))
        events: list[dict[str, Any]] = [
            SlotSet(Slot.KB_LAST_QUERY, query[:300]),
            SlotSet(Slot.KB_LAST_TIER, result.tier.value),
        ]

        best = result.best
        if best is not None and is_security_matter(result, config.security_min_score):
            # The winning article is a security matter (needs_person): the safety step first, then
            # a person with high priority (README, "Answers and handoffs", for the figures).
            dispatcher.utter_message(text=trim_passage(best.lead or best.passage))
            dispatcher.utter_message(json_message=citation(best))
            dispatcher.utter_message(text="This needs a person from our security team. I'll connect you now.")
            return (
                events
                + [
                    SlotSet(Slot.KB_LAST_ARTICLE, best.article_id),
                    SlotSet(Slot.KB_ARTICLES_SHOWN, shown(tracker, best.article_id)),
                ]
                + handoff_events(tracker, "sensitive_topic", issue=text)
            )

        if is_frustrated(latest_intent(tracker), text, compound_score(text), result.tier, config.frustration_threshold):
            dispatcher.utter_message(text="I'm sorry this has been frustrating. Let me get you to a person.")
            return events + handoff_events(tracker, "frustration")

        if result.tier == Tier.ANSWER and best is not None:
            if query != text and previous:  # a follow-up: quote the winning article's passage closest to it
                try:
                    best = await kb_service.passage_for(best.article_id, as_follow_up(previous, text)) or best
                except kb_service.KnowledgeBaseUnavailable as exc:
                    return events + kb_unavailable(dispatcher, tracker, exc, issue=query)
            if latest_intent(tracker) == "frustration":
                dispatcher.utter_message(text="I'm sorry about the trouble. Here's what should sort it out:")
            return events + self._answer(dispatcher, tracker, best)
        if result.tier == Tier.SUGGEST:
            return events + self._suggest(dispatcher, tracker, result)
        return events + self._no_answer(dispatcher, tracker)

    def _answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, hit: Hit) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=trim_passage(hit.passage))
        dispatcher.utter_message(json_message=citation(hit))
        dispatcher.utter_message(text="Did that help?", buttons=FEEDBACK_BUTTONS)
        return [
            SlotSet(Slot.KB_LAST_ARTICLE, hit.article_id),
            SlotSet(Slot.KB_ARTICLES_SHOWN, shown(tracker, hit.article_id)),
            SlotSet(Slot.LOW_CONFIDENCE_TURNS, 0),
            SlotSet(Slot.HANDOFF_PENDING, False),
        ]

    def _suggest(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, result: SearchResult
    ) -> list[dict[str, Any]]:
        floor = kb_service.settings().kb.suggest_threshold
        hits = [h for h in result.hits[:3] if h.score >= floor] or result.hits[:1]
        suggest_articles(dispatcher, hits, "I'm not completely sure, but one of these articles may help:")
        return [
            SlotSet(Slot.KB_LAST_ARTICLE, hits[0].article_id if hits else None),
            SlotSet(Slot.KB_ARTICLES_SHOWN, shown(tracker, *[h.article_id for h in hits])),
            SlotSet(Slot.LOW_CONFIDENCE_TURNS, 0),
            SlotSet(Slot.HANDOFF_PENDING, False),
        ]

    def _no_answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        config = kb_service.settings()
        turns = int(tracker.get_slot(Slot.LOW_CONFIDENCE_TURNS) or 0) + 1
        if turns >= config.low_confidence_limit:
            dispatcher.utter_message(text="I'm still not finding an answer, so I'll pass you to a person who can help.")
            return [SlotSet(Slot.LOW_CONFIDENCE_TURNS, 0)] + handoff_events(tracker, "low_confidence")
        if latest_intent(tracker) == "frustration":
            # NLU heard frustration that the wording does not back (actions/acts.py): offer a person
            # rather than send one unasked; the turn counts toward a low-confidence handoff.
            dispatcher.utter_message(
                text="I'm sorry I haven't been more help. Tell me a bit more about what's wrong, "
                "or I can pass you to a person.",
                buttons=[PERSON_BUTTON],
            )
        elif latest_intent(tracker) == "out_of_scope":
            # NLU called it off-topic and the help center agrees: say what the bot is for. It still
            # counts as a turn without an answer, so a customer stuck in vague or off-topic
            # messages reaches a person after HANDOFF_LOW_CONFIDENCE_TURNS of them.
            dispatcher.utter_message(response="utter_out_of_scope", buttons=[PERSON_BUTTON])
        else:
            dispatcher.utter_message(
                text="Sorry, I couldn't find an answer to that in our help center. Could you say it another way? "
                "Or I can pass you to a person.",
                buttons=[PERSON_BUTTON],
            )
        return [
            SlotSet(Slot.LOW_CONFIDENCE_TURNS, turns),
            SlotSet(Slot.KB_LAST_ARTICLE, None),
            SlotSet(Slot.HANDOFF_PENDING, False),
        ]


def suggest_articles(dispatcher: CollectingDispatcher, hits: list[Hit], intro: str) -> None:
    """One line of intro, one message per article (each with its citation), then the options."""
    dispatcher.utter_message(text=intro)
    for hit in hits:
        dispatcher.utter_message(text=hit.title)
        dispatcher.utter_message(json_message=citation(hit))
    dispatcher.utter_message(
        text="Did one of these answer it?",
        buttons=[
            {"title": "Yes", "payload": "/feedback_helpful"},
            {"title": "No, none of these", "payload": "/feedback_not_helpful"},
            PERSON_BUTTON,
        ],
    )


class ActionRecordFeedback(Action):
    """Record "did that help?"; after too many "no"s, hand off (answer_rejected)."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        article = tracker.get_slot(Slot.KB_LAST_ARTICLE)
        helpful = latest_intent(tracker) in ("feedback_helpful", "affirm")
        if not article:
            if len(words(latest_text(tracker))) > MAX_BARE_FEEDBACK_WORDS:
                # Nothing was offered to be helpful or not: a sentence NLU took for feedback
                # ("my partner says there's a problem") is a question for the help center.
                return await ActionAnswerFromKB().run(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet(Slot.HANDOFF_PENDING, False)]
        feedback = list(tracker.get_slot(Slot.KB_FEEDBACK) or []) + [{"article": article, "helpful": helpful}]
        dispatcher.utter_message(json_message={"feedback": {"article_id": article, "helpful": helpful}})
        events: list[dict[str, Any]] = [SlotSet(Slot.KB_FEEDBACK, feedback), SlotSet(Slot.KB_LAST_ARTICLE, None)]
        if helpful:
            dispatcher.utter_message(response="utter_glad_it_helped")
            return events + [SlotSet(Slot.KB_REJECTIONS, 0), SlotSet(Slot.HANDOFF_PENDING, False)]

        rejections = int(tracker.get_slot(Slot.KB_REJECTIONS) or 0) + 1
        events.append(SlotSet(Slot.KB_REJECTIONS, rejections))
        if (
            rejections >= kb_service.settings().rejection_limit
            or tracker.get_slot(Slot.KB_LAST_TIER) == Tier.SUGGEST.value
        ):
            dispatcher.utter_message(text="Sorry that didn't help. I'll pass you to a person.")
            return events + handoff_events(tracker, "answer_rejected")

        query = tracker.get_slot(Slot.KB_LAST_QUERY) or ""
        try:
            result = await kb_service.search(query, k=4) if query else None
        except kb_service.KnowledgeBaseUnavailable as exc:
            return events + kb_unavailable(dispatcher, tracker, exc)
        already = set(tracker.get_slot(Slot.KB_ARTICLES_SHOWN) or [])
        floor = kb_service.settings().kb.suggest_threshold
        others = [h for h in (result.hits if result else []) if h.article_id not in already and h.score >= floor][:3]
        if not others:
            dispatcher.utter_message(text="Sorry that didn't help. I'll pass you to a person.")
            return events + handoff_events(tracker, "answer_rejected")
        suggest_articles(dispatcher, others, "Sorry about that. Maybe one of these is closer:")
        return events + [
            SlotSet(Slot.KB_LAST_TIER, Tier.SUGGEST.value),
            SlotSet(Slot.KB_LAST_ARTICLE, others[0].article_id),
            SlotSet(Slot.KB_ARTICLES_SHOWN, shown(tracker, *[h.article_id for h in others])),
            SlotSet(Slot.HANDOFF_PENDING, False),
        ]
