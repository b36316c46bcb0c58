"""Mask secrets (card numbers, CVV, IBAN, passwords, PINs) before text reaches a summary, a log
or the hub's content-gap questions.

Numbers are masked only when they are what they look like: a card number passes the Luhn check
and an IBAN the ISO 13616 mod-97 check (python-stdnum), so a phone number, an order reference or
an amount is left readable for the agent. Words that announce a secret ("password is:", "cvv2",
"pin number") mask whatever follows them, checked or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import iban as iban_number
from stdnum import luhn

#: 13 to 19 digits, in groups split by a space or two, a dash or " - " (how people type cards)
CARD_CANDIDATE = re.compile(r"(?<![\w-])\d(?:(?:[ \t]{0,2}[-.–][ \t]{0,2}|[ \t]{1,2})?\d){12,18}(?![\w-])")
IBAN_CANDIDATE = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}\b")
CVV = re.compile(
    r"\b(cvv2?|cvc2?|cid|csc|security code)\b(?:\s*(?:number\s*)?(?:is|:|=|-)\s*)*\W{0,3}\d{3,4}\b", re.IGNORECASE
)
PASSWORD = re.compile(r"\b(password|passcode|passwd|passphrase|pwd)\b(\s*(?:is\s*[:=]?|[:=])\s*)\S+", re.IGNORECASE)
PIN = re.compile(r"\b(pin(?:\s+(?:number|code))?)\b(\s*(?:is\s*[:=]?|[:=])?\s*)\d{4,6}\b", re.IGNORECASE)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))
    if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
        return f"[card ending {digits[-4:]}]"
    return match.group(0)


def _iban(match: re.Match[str]) -> str:
    """The longest run of the match's space-separated groups that is a valid IBAN is masked
    (the pattern alone would also swallow the words after a spaced IBAN)."""
    groups = match.group(0).split(" ")
    for end in range(len(groups), 0, -1):
        compact = "".join(groups[:end]).upper()
        if iban_number.is_valid(compact):
            rest = " ".join(groups[end:])
            return f"[IBAN ending {compact[-4:]}]" + (f" {rest}" if rest else "")
    return match.group(0)


#: what each secret kind is called when the customer is told it was hidden
SECRET_NAMES = {"card": "a card number", "cvv": "a security code", "password": "a password", "pin": "a PIN"}


@dataclass(frozen=True)
class Redaction:
    """Text with its secrets hidden, and which kinds were found (in SECRET_NAMES order)."""

    text: str
    kinds: tuple[str, ...]


def _apply(text: str, kind: str, found: list[str]) -> str:
    """One secret rule; `found` gets the kind when the rule changed the text."""
    if kind == "card":
        masked = CARD_CANDIDATE.sub(_card, text)
    elif kind == "cvv":
        masked = CVV.sub(lambda m: f"{m.group(1)} [masked]", text)
    elif kind == "password":
        masked = PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}[masked]", text)
    else:
        masked = PIN.sub(lambda m: f"{m.group(1)}{m.group(2)}[masked]", text)
    if masked != text:
        found.append(kind)
    return masked


def redact_secrets(text: str) -> Redaction:
    """Hide what a customer must never send in a chat (card numbers, security codes, passwords,
    PINs) before the message is stored, sent to Rasa or shown to an agent. IBANs stay: customers
    give them for refunds, and an agent needs them."""
    found: list[str] = []
    for kind in SECRET_NAMES:
        text = _apply(text, kind, found)
    return Redaction(text, tuple(found))


def mask_secrets(text: str) -> str:
    """Everything redact_secrets hides, and IBANs too (summaries, logs, content-gap questions)."""
    # IBANs first: a spaced IBAN also looks like a run of card digits.
    return redact_secrets(IBAN_CANDIDATE.sub(_iban, text)).text
