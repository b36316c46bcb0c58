"""Retention: conversations without activity for HUB_RETENTION_DAYS are anonymised everywhere
(the hub's store empties their texts and personal details, Rasa's tracker store loses their
events), a batch at a time, and audit entries older than HUB_AUDIT_RETENTION_DAYS are deleted.

A batch is one short write transaction, and the job works at most HUB_RETENTION_DUTY of the time
(0.1: after a batch that took 0.1 s it waits 0.9 s): the database and the two cores it shares with
Rasa stay with the customers, and a job that empties a year at once takes longer instead. Before a conversation's customer email goes, each of its resolved
handoffs gets its first-contact-resolution outcome written down (`fcr_returned`), so the
dashboard's figures for past days stay what they were.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from handoff import background
from handoff.privacy.rasa_tracker import RasaTrackerStore, TrackerStoreUnavailable
from handoff.settings import HubSettings
from handoff.store import Store

log = logging.getLogger(__name__)
DAY = 86400.0
PAUSE_BETWEEN_BATCHES_SECONDS = 0.05


@dataclass
class RetentionReport:
    anonymised: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    audit_entries_deleted: int = 0

    def add(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            self.removed[name] = self.removed.get(name, 0) + count

    def to_json(self) -> dict[str, Any]:
        return {
            "anonymised": self.anonymised,
            "removed": self.removed,
            "audit_entries_deleted": self.audit_entries_deleted,
        }


class Retention:
    def __init__(
        self,
        store: Store,
        tracker: RasaTrackerStore,
        settings: HubSettings,
        clock: Callable[[], float] = time.time,
        pause_seconds: float = PAUSE_BETWEEN_BATCHES_SECONDS,
        duty: float | None = None,
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.settings = settings
        self.clock = clock
        self.pause_seconds = pause_seconds
        self.duty = settings.retention_duty if duty is None else duty

    async def run_once(self) -> RetentionReport:
        report = RetentionReport()
        now = self.clock()
        if self.settings.retention_days > 0:
            cutoff = now - self.settings.retention_days * DAY
            while ids := await self.store.conversations_to_anonymise(cutoff, self.settings.retention_batch):
                started = time.monotonic()
                outcomes = await self._first_contact_outcomes(ids, now)
                report.add({"rasa_events": await self.tracker.delete_conversations(ids)})
                counts = await self.store.anonymise_conversations(ids, outcomes)
                report.anonymised += counts.pop("conversations", 0)
                report.add(counts)
                worked = time.monotonic() - started
                await asyncio.sleep(max(self.pause_seconds, worked * (1 - self.duty) / self.duty))
        if self.settings.audit_retention_days > 0:
            report.audit_entries_deleted = await self.store.prune_audit(now - self.settings.audit_retention_days * DAY)
        if report.anonymised:
            await self.store.audit("retention", "retention", detail=report.to_json())
            log.info("retention: %d conversation(s) anonymised %s", report.anonymised, report.removed)
        return report

    async def _first_contact_outcomes(self, ids: list[str], now: float) -> dict[int, bool]:
        """Did each resolved handoff's customer come back (same conversation or same email)
        within HUB_FCR_WINDOW_HOURS? Only outcomes whose window has closed are written."""
        window = self.settings.fcr_window_hours * 3600
        resolved = [h for h in await self.store.resolved_handoffs_to_roll_up(ids) if h["resolved_at"] + window <= now]
        if not resolved:
            return {}
        emails = {str(h["customer_email"]).lower() for h in resolved if h["customer_email"]}
        later = await self.store.handoffs_queued_between(
            min(h["resolved_at"] for h in resolved),
            max(h["resolved_at"] for h in resolved) + window,
            emails,
            {h["conversation_id"] for h in resolved},
        )
        outcomes: dict[int, bool] = {}
        for handoff in resolved:
            email = str(handoff["customer_email"]).lower() if handoff["customer_email"] else None
            outcomes[handoff["id"]] = any(
                other["id"] != handoff["id"]
                and handoff["resolved_at"] < other["queued_at"] <= handoff["resolved_at"] + window
                and (
                    other["conversation_id"] == handoff["conversation_id"]
                    or (email is not None and str(other["customer_email"] or "").lower() == email)
                )
                for other in later
            )
        return outcomes


RETENTION = web.AppKey("retention", Retention)


async def _run_once(retention: Retention) -> None:
    try:
        await retention.run_once()
    except TrackerStoreUnavailable as exc:  # said plainly, without a traceback: a setting to check
        log.warning("retention paused: %s", exc)


async def run_periodically(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the retention job runs a minute after start (or sooner), then every
    HUB_RETENTION_CHECK_SECONDS."""
    retention = app[RETENTION]
    seconds = retention.settings.retention_check_seconds
    async with background.every(seconds, lambda: _run_once(retention), "retention", first_after=min(60.0, seconds)):
        yield
