"""Who owns a conversation: the state machine bot → queued → agent → resolved → bot.

While a conversation is queued or with an agent, nothing is sent to Rasa.
"""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    RESOLVED = "resolved"


#: for each target state, the states it may be entered from
ALLOWED_FROM: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.BOT, State.AGENT}),  # handoff, or an agent releases it
    State.AGENT: frozenset({State.QUEUED}),  # a claim
    State.RESOLVED: frozenset({State.AGENT}),
    State.BOT: frozenset({State.RESOLVED}),  # the customer writes again after resolution
}

OPEN_HANDOFF = ("queued", "claimed")
PRIORITY_RANK = {"high": 0, "normal": 1, "low": 2}


def check_transition(to: State) -> frozenset[State]:
    return ALLOWED_FROM[to]


def bot_owns(state: State) -> bool:
    """Whether a customer message goes to Rasa (resolved: the bot takes over again)."""
    return state in (State.BOT, State.RESOLVED)
