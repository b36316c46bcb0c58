"""Settings of the action server, read once (environment beats `.env`, which beats defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from knowledge_base.environment import Environment
from knowledge_base.settings import KBSettings

#: every held-out BANKING77 security question that only reached the suggest tier scored ≥ 0.63
SECURITY_MIN_SCORE = 0.6


@dataclass(frozen=True)
class ActionSettings:
    host: str
    port: int
    #: consecutive turns with no usable answer (NLU fallback or KB tier "none") before handoff
    low_confidence_limit: int
    #: answers marked "not helpful" before handoff
    rejection_limit: int
    #: VADER compound score at or below which a message counts as frustrated
    frustration_threshold: float
    kb: KBSettings
    #: lowest search score (cosine) at which a winning needs_person article hands off as a
    #: security matter, from the suggest tier up (README, "Answers and handoffs")
    security_min_score: float = SECURITY_MIN_SCORE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ActionSettings:
        read = Environment(env)
        return cls(
            host=read.text("ACTION_SERVER_HOST", "127.0.0.1"),
            port=read.integer("ACTION_SERVER_PORT", 5055),
            low_confidence_limit=read.integer("HANDOFF_LOW_CONFIDENCE_TURNS", 2),
            rejection_limit=read.integer("HANDOFF_REJECTED_ANSWERS", 2),
            frustration_threshold=read.number("HANDOFF_FRUSTRATION_THRESHOLD", -0.6),
            kb=KBSettings.from_env(read.values),
            security_min_score=read.number("HANDOFF_SECURITY_MIN_SCORE", SECURITY_MIN_SCORE),
        )
