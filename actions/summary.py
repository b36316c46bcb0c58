"""The handoff summary: built from the tracker, deterministically, for an agent to act on at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from actions.conversation import customer_turns, transcript
from actions.masking import mask_secrets
from actions.sentiment import compound_score, label
from actions.slots import Slot
from handoff.contract import reason

DETAIL_SLOTS = {
    Slot.CUSTOMER_NAME: "Name",
    Slot.CUSTOMER_EMAIL: "Email",
    Slot.ISSUE_CATEGORY: "Category",
    Slot.TRANSACTION_REF: "Transaction",
    Slot.ISSUE_DESCRIPTION: "Issue",
}
NOT_GIVEN = "not given"
LAST_TURNS = 6


@dataclass(frozen=True)
class Summary:
    headline: str
    text: str
    details: dict[str, str]
    sentiment: float
    articles: list[dict[str, Any]]


def collected_details(tracker: Tracker) -> dict[str, str]:
    details = {}
    for slot in DETAIL_SLOTS:
        value = tracker.get_slot(slot)
        if value not in (None, ""):
            details[slot] = mask_secrets(str(value))
    return details


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def build_summary(tracker: Tracker) -> Summary:
    why = reason(str(tracker.get_slot(Slot.HANDOFF_REASON) or "customer_request"))
    details = collected_details(tracker)
    turns = [mask_secrets(t) for t in customer_turns(tracker)]
    first_real_turn = next((t for t in turns if len(t.split()) >= 3), turns[0] if turns else "")
    described = details.get(Slot.ISSUE_DESCRIPTION, "")
    issue = described if described and described != NOT_GIVEN else first_real_turn
    sentiment = min((compound_score(t) for t in turns), default=0.0)

    feedback = {f["article"]: f["helpful"] for f in (tracker.get_slot(Slot.KB_FEEDBACK) or [])}
    articles = [
        {"id": a, "helpful": feedback.get(a)} for a in dict.fromkeys(tracker.get_slot(Slot.KB_ARTICLES_SHOWN) or [])
    ]

    headline = f"{why.label}: {_shorten(issue, 90)}" if issue else why.label
    lines = [
        f"{why.label} [{why.code}], priority {why.priority}.",
        f'Issue, in the customer\'s words: "{_shorten(issue, 300)}"' if issue else "Issue: not stated.",
    ]
    known = [f"{DETAIL_SLOTS[k]}: {v}" for k, v in details.items() if k != Slot.ISSUE_DESCRIPTION]
    lines.append("Details: " + ("; ".join(known) if known else "none collected."))
    if articles:
        tried = []
        for a in articles:
            verdict = {True: "helped", False: "did not help", None: "no feedback"}[a["helpful"]]
            tried.append(f"{a['id']} ({verdict})")
        lines.append("Bot tried: " + ", ".join(tried) + ".")
    else:
        lines.append("Bot tried: no help-center article.")
    lines.append(f"Sentiment: {label(sentiment)} ({sentiment:+.2f}).")
    lines.append("Last turns:")
    for speaker, text in transcript(tracker, LAST_TURNS):
        lines.append(f"  {speaker}: {_shorten(mask_secrets(text), 160)}")
    return Summary(headline=headline, text="\n".join(lines), details=details, sentiment=sentiment, articles=articles)
