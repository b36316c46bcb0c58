"""Why a conversation goes to a person: reason codes, their priority and wording.

These codes travel in the handoff payload (README, "Handoff payload") and in the hub's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandoffReason:
    code: str
    priority: str  # "high" | "normal"
    label: str


REASONS: dict[str, HandoffReason] = {
    r.code: r
    for r in (
        HandoffReason("customer_request", "normal", "Customer asked for a person"),
        HandoffReason("low_confidence", "normal", "Bot did not understand twice in a row"),
        HandoffReason("answer_rejected", "normal", "Customer rejected the bot's answers"),
        HandoffReason("frustration", "high", "Customer is frustrated"),
        HandoffReason("complaint", "normal", "Customer wants to make a complaint"),
        HandoffReason("sensitive_topic", "high", "Security matter (card, fraud, unrecognised payment)"),
        HandoffReason("kb_unavailable", "normal", "Help center unavailable"),
    )
}

def reason(code: str) -> HandoffReason:
    return REASONS.get(code, HandoffReason(code, "normal", code.replace("_", " ").capitalize()))
