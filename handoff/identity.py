"""Verified customer identity, the way the big widgets do it (Intercom's "identity verification").

The website's server signs the logged-in customer's email with the secret it shares with the hub,
`HMAC-SHA256(HUB_IDENTITY_SECRET, email.lower())` in hex, and puts the signature on the widget's
script tag (`data-customer-signature`). The hub trusts a name and an email as the customer's only
with a valid signature; anything else is shown to agents as unverified, and an email typed later
in the chat never replaces a verified one.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, email: str) -> str:
    return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def is_verified(secret: str, email: str | None, signature: object) -> bool:
    """True only with a configured secret, an email and its exact signature."""
    if not secret or not email or not isinstance(signature, str) or len(signature) > 128:
        return False
    return hmac.compare_digest(sign(secret, email), signature.strip().lower())
