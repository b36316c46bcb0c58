"""Every Rasa slot the actions read or set, by name (the names are bot/domain.yml's; a test
checks that the two lists agree)."""

from __future__ import annotations


class Slot:
    """Slot names as constants: a typo is an AttributeError, not a slot that is never set."""

    CUSTOMER_NAME = "customer_name"
    CUSTOMER_EMAIL = "customer_email"
    ISSUE_CATEGORY = "issue_category"
    TRANSACTION_REF = "transaction_ref"
    ISSUE_DESCRIPTION = "issue_description"
    HANDOFF_PENDING = "handoff_pending"
    HANDOFF_REASON = "handoff_reason"
    HANDOFF_PRIORITY = "handoff_priority"
    KB_LAST_QUERY = "kb_last_query"
    KB_LAST_TIER = "kb_last_tier"
    KB_LAST_ARTICLE = "kb_last_article"
    KB_ARTICLES_SHOWN = "kb_articles_shown"
    KB_FEEDBACK = "kb_feedback"
    KB_REJECTIONS = "kb_rejections"
    LOW_CONFIDENCE_TURNS = "low_confidence_turns"
    REQUESTED_SLOT = "requested_slot"  # Rasa's own: the slot a form is asking for


ALL_SLOTS: tuple[str, ...] = tuple(
    value for name, value in vars(Slot).items() if name.isupper() and isinstance(value, str)
)
