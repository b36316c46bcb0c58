"""Follow-up questions: "How long does delivery take?" then "and express?".

A follow-up that is too short or too vague to stand alone is searched together with the question
before it. A complete question on another topic ("how do I change my PIN?") is searched alone.

An elliptical follow-up keeps the *aspect* of the question before it and changes its object:
"is there a max amount I can top up with a card?" then "and by bank transfer?" still asks about
a limit. When the follow-up names no aspect of its own (a fee, a limit, a time), the previous
question's is carried over in words (`carry_aspect`): the mixed vector alone drifted to the article
about the new object ("adding money by bank transfer").

The decision has two parts:
- `refers_back(text)`: the wording itself points at what came before: it opens like a follow-up
  ("and …", "what about …", "same for …") or is a short message built around a pronoun
  ("how much does that cost?", "can I cancel it?"). Such a message is always searched in context.
- otherwise a short message (at most `SHORT_WORDS` words) is searched both ways, and the
  context wins unless the message alone reaches the answer tier with the same article
  (`actions.answers.search_with_context`).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker

from actions.slots import Slot

#: openings that continue the previous question
FOLLOW_UP_OPENERS = re.compile(
    r"^(?:and|&|also|plus|or|but|so|then|ok(?:ay)?\s+and|what about|how about|what if|what for|"
    r"same (?:for|with)|is (?:it|that) (?:the )?same|does (?:it|that|this) (?:also|work|apply)|"
    r"and if|and what|and how|and can|and is|and do|and does|and the)\b",
    re.IGNORECASE,
)
#: words that point back at something named before
ANAPHORA = re.compile(
    r"\b(?:it|its|it's|that|this|those|these|they|them|one|ones|there|he|him|his|she|her)\b", re.IGNORECASE
)
#: openings that say the message is a new topic: never searched in context, whatever follows
#: ("separately, what does it cost to send money abroad?")
TOPIC_SHIFT = re.compile(
    r"^\W*(?:btw|by the way|separately|unrelated|another (?:thing|question)|different (?:topic|question)|"
    r"new question|separate question|quick (?:one|q|question)|one more thing|on another note|"
    r"changing (?:the )?subject)\b",
    re.IGNORECASE,
)
WORD = re.compile(r"[\w'’-]+")
#: at most this many words: a message this short may lean on the previous question, unless its
#: search alone is confident
SHORT_WORDS = 10
#: a pronoun counts as pointing back only in a message of at most this many words (a longer
#: message with "it" is usually complete: "I ordered a card last month and it has not come")
ANAPHORA_MAX_WORDS = 12
#: customer turns back at which an earlier question still counts as the context
CONTEXT_TURNS = 2
MAX_CONTEXT_CHARS = 300


#: what a question asks about, beyond its object: each name → (how customers say it, the words
#: carried into an elliptical follow-up that does not say it itself)
ASPECTS: dict[str, tuple[re.Pattern[str], str]] = {
    "fee": (
        re.compile(
            r"\b(?:fees?|charges?|charged|cost(?:s|ing)?|free|price|pay anything|take a cut|commission|"
            r"(?:more |less )?expensive|cheap(?:er)?)\b",
            re.IGNORECASE,
        ),
        "fees",
    ),
    "limit": (
        re.compile(
            r"\b(?:limits?|max(?:imum)?|min(?:imum)?|the most|how (?:much|many) can|cap(?:ped)?)\b", re.IGNORECASE
        ),
        "limit",
    ),
    "time": (
        re.compile(
            r"\b(?:how long|how soon|how quickly|when (?:will|would|should|do|does|can|is)|take to (?:arrive|come))\b",
            re.IGNORECASE,
        ),
        "how long",
    ),
}


def aspects_of(text: str) -> list[str]:
    """The aspects a question asks about ("fee", "limit", "time"), in `ASPECTS` order."""
    return [name for name, (said, _carried) in ASPECTS.items() if said.search(text)]


def carry_aspect(previous: str, text: str) -> str:
    """`text` with the previous question's aspects added in words when it names none itself
    ("and by bank transfer?" after a question about limits → "and by bank transfer? limit")."""
    if aspects_of(text):
        return text
    carried = [ASPECTS[name][1] for name in aspects_of(previous)]
    return f"{text.strip()} {' '.join(carried)}" if carried else text


def as_follow_up(previous: str, text: str) -> str:
    """The words to search a follow-up by: with the previous question's aspect carried over when the
    wording refers back (`refers_back`), else the text itself."""
    return carry_aspect(previous, text) if refers_back(text) else text


def words(text: str) -> list[str]:
    return WORD.findall(text)


def starts_new_topic(text: str) -> bool:
    """True when the message says it is about something else ("btw", "separately", "different
    question"): it is searched alone even if it then uses a pronoun."""
    return bool(TOPIC_SHIFT.match(text))


def refers_back(text: str) -> bool:
    """True when the wording itself continues the previous question."""
    text = text.strip()
    if FOLLOW_UP_OPENERS.match(text):
        return True
    return len(words(text)) <= ANAPHORA_MAX_WORDS and bool(ANAPHORA.search(text))


def is_short(text: str) -> bool:
    """Short enough that it may not stand on its own."""
    return len(words(text)) <= SHORT_WORDS


def previous_question(tracker: Tracker) -> str | None:
    """The question the help center last answered or suggested articles for (as searched, context
    included), if that was within the last `CONTEXT_TURNS` customer turns before the latest one;
    else None."""
    query = tracker.get_slot(Slot.KB_LAST_QUERY)
    if not query or tracker.get_slot(Slot.KB_LAST_TIER) not in ("answer", "suggest"):
        # A question the help center could not place at all ("the thing I mentioned earlier")
        # is no context: it would only pull the follow-up toward a random article.
        return None
    user_turns = 0
    events: list[dict[str, Any]] = list(tracker.events)
    for event in reversed(events[:-1] if events and events[-1].get("event") == "user" else events):
        kind = event.get("event")
        if kind == "action" and event.get("name") == "action_answer_from_kb":
            return str(query)
        if kind == "user":
            user_turns += 1
            if user_turns > CONTEXT_TURNS:
                return None
        if kind == "action" and event.get("name") in ("action_handoff", "action_handoff_resolved"):
            return None
    return None


def in_context(previous: str, text: str) -> str:
    """The query for a follow-up: the previous question, then the follow-up (trimmed from the left
    so the newest words always stay)."""
    combined = f"{previous.strip()} {text.strip()}"
    return combined[-MAX_CONTEXT_CHARS:]
