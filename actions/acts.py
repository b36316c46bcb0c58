"""Dialogue acts that hand a conversation to a person, checked against the customer's own words.

NLU (DIET) names the act; it is confident far more often than it is right on messages unlike its
training examples ("it keeps doing that same weird thing" came out as frustration at 1.00). So an
act that sends the customer to a person must also show in the wording:

- asking for a person names one ("agent", "someone", "a human", "your team", "speak", "call" …);
- a complaint says so ("complaint", "formal", "escalate", "rude", "ombudsman" …);
- frustration shows anger (`anger_words`), shouting, or clearly negative wording (VADER).

When the wording does not back NLU up, the message is a question for the help center like any
other. The figures for each check (recall on held-out phrasings, false alarms on held-out
customer questions) are in the README, "Answers and handoffs", and come from `make eval`.
"""

from __future__ import annotations

import re

from knowledge_base.search import Tier

#: words that name a person to talk to on their own ("agent", "a real person", "customer service")
PERSON_NAMED = re.compile(
    r"\b(?:humans?|huma?n|huamn|agents?|agnet|representatives?|reps?|operators?|advis[oe]rs?|staff|"
    r"employees?|managers?|supervisors?|specialists?|"
    r"(?:real|live|actual|proper|physical) (?:person|people|one|someone|human|agent|chat|support)|"
    r"customer (?:services?|support|care)|support (?:team|staff|desk|line|person)|your team|call ?back|"
    r"phone number|live chat|not a (?:bot|robot|machine)|no more bots?|"
    r"(?:transfer|put|connect|pass) me (?:through )?(?:to|over to|with) (?:support|someone|somebody|a person))\b",
    re.IGNORECASE,
)
#: words that name a person only when the customer also asks to reach them ("someone" alone may
#: be the recipient of a transfer: "and to someone who also has kestrel?")
PERSON_VAGUE = re.compile(
    r"\b(?:person|persn|someone|somebody|anyone|anybody|people|team|member|colleagues?)\b", re.IGNORECASE
)
REACH_VERBS = re.compile(
    r"\b(?:talk|speak|speek|chat|call|ring|phone|contact|connect|transfer|put|get|give|find|need|want|wanna|"
    r"prefer|rather|reach|escalate|hand|pass|discuss|word|deal|is there|are there|available|please|pls|plz)\b",
    re.IGNORECASE,
)
#: asking to be put through, not asking what we are: "get me someone real", "I want a person"
#: ("am I talking to a human?" names a person too, but only asks)
REACH_REQUEST = re.compile(
    r"\b(?:(?:get|put|connect|transfer|pass|give|find) me|let me (?:talk|speak|chat)|"
    r"(?:can|could|may) i (?:talk|speak|chat)|i (?:want|need|wanna|'d like|would like|demand)|"
    r"(?:i'd|i would) rather)\b",
    re.IGNORECASE,
)
COMPLAINT_WORDS = re.compile(
    r"\b(?:complain\w*|grievances?|ombudsman|formal\w*|escalat\w*|report\w*|on record|rude\w*|"
    r"treated|treatment|mishandl\w*|unprofessional|misconduct|behaviou?r|attitude|dissatisf\w*|"
    r"compensation|final response|deadlock)\b",
    re.IGNORECASE,
)
#: strong anger: words an ordinary question about a card or a transfer does not need
ANGER_WORDS = re.compile(
    r"\b(?:disgrac\w*|livid|furious|fuming|outrag\w*|appall\w*|unacceptable|pathetic|shambles|useless|"
    r"hopeless|rubbish|garbage|ridiculous|incompetent|worst|terrible|awful|horrible|horrendous|disgust\w*|"
    r"infuriat\w*|fed up|sick (?:and tired )?of|had enough|wtf|ffs|joke|laughable|absurd|scandal\w*|"
    r"pissed|bloody|damn\w*|crap|sucks|hate)\b",
    re.IGNORECASE,
)
#: venting aimed at the bot or the company ("you're not listening", "this app…")
AIMED_AT_US = re.compile(
    r"\b(?:you're|youre|you are|yourselves|"
    r"your (?:app|bot|service|company|staff|people|support|team|bank|system|website|chat|answers?)|"
    r"you (?:clearly|never|don't|do not|keep|just|can't|cannot|still|obviously|really|guys|people|lot)|"
    r"this (?:app|bot|bank|service|company|chat|place|thing)|customer service)\b",
    re.IGNORECASE,
)
#: exasperation, sarcasm and giving up: weak alone, so they only back NLU's frustration intent
EXASPERATION = re.compile(
    r"\b(?:unbelievable|seriously|enough|done|pointless|waste|wasting|circles|same thing|again|forever|"
    r"ages|nothing works|never works|nobody|no one|fix (?:it|this)|sort it out|kidding|give up|"
    r"losing my mind|tether|had it|fed|sick|tired|wall|bend|review|1 star|leaving|leave|"
    r"close my account|switch(?:ing)? banks?|thanks for nothing|great|wonderful|lovely|amazing|"
    r"brilliant|perfect|impressive|slow clap|argh+|ugh+|jesus|god|christ|circus|amateur|bad|worse|"
    r"clowns?|cares?|nightmare|abysmal|trash|seething|nowhere|patience|typical|bother|not happy|"
    r"elsewhere|gone|jeez|omg|helpful,? not|not\.|so much for|throw my phone|how hard|"
    r"how many times|never get back|all morning|for days|better answers|uselessness|nothing i try)\b",
    re.IGNORECASE,
)
#: NLU intents that would send the customer to a person
ESCALATION_INTENTS = frozenset({"frustration", "request_human", "complain"})
SHOUTED_WORD = re.compile(r"\b[A-Z]{3,}\b")
#: VADER compound at or below which frustration NLU found counts as backed by the wording
NEGATIVE_WORDING = -0.4


def asks_for_a_person(text: str) -> bool:
    return bool(PERSON_NAMED.search(text)) or (bool(PERSON_VAGUE.search(text)) and bool(REACH_VERBS.search(text)))


def wants_to_reach_a_person(text: str) -> bool:
    """A request to be put through to someone ("are you a robot? get me someone real"), not only a
    question whether this is a person ("am I talking to a human?")."""
    return asks_for_a_person(text) and bool(REACH_REQUEST.search(text))


def is_a_complaint(text: str) -> bool:
    return bool(COMPLAINT_WORDS.search(text))


def anger_words(text: str) -> int:
    return len(ANGER_WORDS.findall(text))


def is_shouting(text: str) -> bool:
    return len(SHOUTED_WORD.findall(text)) >= 2 or "!!" in text or "?!" in text or "!?" in text


def vents(text: str, sentiment: float) -> bool:
    """Wording that backs NLU's frustration intent: anger, shouting, negative wording (VADER at
    or below NEGATIVE_WORDING), venting aimed at us, or exasperation and sarcasm."""
    return (
        anger_words(text) >= 1
        or is_shouting(text)
        or sentiment <= NEGATIVE_WORDING
        or bool(AIMED_AT_US.search(text))
        or bool(EXASPERATION.search(text))
    )


def is_frustrated(intent: str, text: str, sentiment: float, tier: Tier, threshold: float) -> bool:
    """Whether this message hands off as frustration.

    - The help center has an answer or suggestions: answer it (an emotional question is a
      question: "I ordered a card but it has not arrived. Help please!", "the rate was
      terrible"), unless the message is plainly angry: two anger words ("…this is disgraceful
      and I'm livid"), or one when NLU also says frustration; with suggestions only, also when
      NLU heard an escalation (frustration, a person, a complaint) and the wording vents.
    - Nothing to answer with: NLU's escalation hands off when the wording vents (`vents`): "I'm
      so done with you people"; without it, an anger word or very negative wording (VADER at or
      below `threshold`) does.
    """
    angry = anger_words(text)
    plainly_angry = angry >= 2 or (angry >= 1 and intent == "frustration")
    if tier == Tier.ANSWER:
        return plainly_angry
    escalation_vents = intent in ESCALATION_INTENTS and vents(text, sentiment)
    if tier == Tier.SUGGEST:
        return plainly_angry or escalation_vents
    return escalation_vents or angry >= 1 or sentiment <= threshold
