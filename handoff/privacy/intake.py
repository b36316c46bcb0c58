"""Secrets a customer types are hidden before the message is stored, sent to Rasa or shown to an
agent (HUB_REDACT_SECRETS, on by default), and the customer is told what was hidden."""

from __future__ import annotations

from dataclasses import dataclass

from actions.masking import SECRET_NAMES, redact_secrets


@dataclass(frozen=True)
class Intake:
    """A customer message as the hub keeps it."""

    text: str  # what is stored and shown
    bot_text: str | None  # what Rasa gets (None: the text itself)
    hidden: tuple[str, ...]  # the kinds of secret hidden (actions.masking.SECRET_NAMES)


def take_in(text: str, bot_text: str | None, bot_text_is_button: bool, redact: bool) -> Intake:
    """`bot_text_is_button`: Rasa gets a payload the bot offered, which is the bot's own text."""
    if not redact:
        return Intake(text, bot_text, ())
    shown = redact_secrets(text)
    hidden = list(shown.kinds)
    if bot_text is not None and not bot_text_is_button:
        for_bot = redact_secrets(bot_text)
        bot_text = for_bot.text
        hidden += [kind for kind in for_bot.kinds if kind not in hidden]
    return Intake(shown.text, bot_text, tuple(kind for kind in SECRET_NAMES if kind in hidden))


def hidden_notice(kinds: tuple[str, ...]) -> str:
    """What the customer is told, once per message that had something hidden."""
    names = [SECRET_NAMES[kind] for kind in kinds]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"I've hidden {listed} from your message, so no one can read it. Please never share card numbers, "
        "security codes, PINs or passwords in this chat: no one from our team will ever ask for them."
    )
