"""actions/acts.py: the wording that must back NLU before a message goes to a person."""

from __future__ import annotations

import pytest

from actions.acts import anger_words, asks_for_a_person, is_a_complaint, is_frustrated, is_shouting
from actions.sentiment import compound_score
from knowledge_base.search import Tier

THRESHOLD = -0.6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can you transfer me to an agent?", True),
        ("how do I contact an agent?", True),
        ("are you a robot? get me someone real", True),
        ("stop, I need to speak to an actual employee", True),
        ("none of it looks right to me anymore", False),
        ("Can you sort out my situation?", False),
    ],
)
def test_asking_for_a_person_names_one(text: str, expected: bool) -> None:
    assert asks_for_a_person(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to lodge a formal grievance", True),
        ("one of your staff was rude to me", True),
        ("it's about the letter I got", False),
    ],
)
def test_a_complaint_says_so(text: str, expected: bool) -> None:
    assert is_a_complaint(text) is expected


@pytest.mark.parametrize(
    ("intent", "text", "tier", "expected"),
    [
        # an emotional question with a confident answer is answered
        ("ask_question", "I ordered a card but it has not arrived. Help please!", Tier.ANSWER, False),
        ("frustration", "I ordered a card but it has not arrived. Help please!", Tier.ANSWER, False),
        ("ask_question", "the exchange rate applied is wrong!", Tier.SUGGEST, False),
        ("ask_question", "took out cash in turkey and the rate was terrible", Tier.SUGGEST, False),
        # plainly angry: a person, even when there is an answer
        (
            "ask_question",
            "Three days and my transfer still hasn't arrived, this is disgraceful and I'm livid",
            Tier.ANSWER,
            True,
        ),
        ("frustration", "my transfer is stuck again, this is ridiculous", Tier.ANSWER, True),
        # venting with nothing to answer
        ("frustration", "this is disgraceful and I'm livid", Tier.NONE, True),
        ("frustration", "WHY DOES NOTHING EVER WORK HERE", Tier.NONE, True),
        ("ask_question", "this bank is a joke", Tier.NONE, True),
        # NLU says frustration, the words do not: a vague message, not a person yet
        ("frustration", "the thing I mentioned earlier is still happening", Tier.NONE, False),
        ("frustration", "that thing on the screen, the grey bit", Tier.NONE, False),
    ],
)
def test_frustration_needs_the_words_to_back_it(intent: str, text: str, tier: Tier, expected: bool) -> None:
    assert is_frustrated(intent, text, compound_score(text), tier, THRESHOLD) is expected


def test_anger_and_shouting_are_counted() -> None:
    assert anger_words("this is disgraceful and I'm livid") == 2
    assert anger_words("I'm a bit annoyed that my transfer is pending") == 0
    assert is_shouting("THIS IS RIDICULOUS") and is_shouting("where is my card??!!")
    assert not is_shouting("My PIN is blocked, help")
