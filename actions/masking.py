"""Mask secrets (card numbers, CVV, IBAN, passwords) before text reaches a summary or log."""

from __future__ import annotations

import re

CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){9,15}(\d{4})\b")
CVV = re.compile(r"\b(cvv|cvc|security code)\b(?:\s*(?:is|:|=))?\W{0,3}\d{3,4}\b", re.IGNORECASE)
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){10,30}\b")
PASSWORD = re.compile(r"\b(password|passcode)\b(\s*(?:is|:|=)\s*)\S+", re.IGNORECASE)
PIN = re.compile(r"\b(pin)\b(\s*(?:is|:|=)?\s*)\d{4,6}\b", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    # IBANs first: a spaced IBAN also looks like a run of card digits.
    text = IBAN.sub(lambda m: f"[IBAN ending {m.group(0).replace(' ', '')[-4:]}]", text)
    text = CARD_NUMBER.sub(lambda m: f"[card ending {m.group(1)}]", text)
    text = CVV.sub(lambda m: f"{m.group(1)} [masked]", text)
    text = PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}[masked]", text)
    text = PIN.sub(lambda m: f"{m.group(1)}{m.group(2)}[masked]", text)
    return text
