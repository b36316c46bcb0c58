"""The store's refusals; each has the `code` the API reports."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's refusals; `code` is what the API reports."""

    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class Conflict(StoreError):
    code = "conflict"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


class NotYours(StoreError):
    code = "not_yours"


class RatingRefused(StoreError):
    code = "rating_refused"
