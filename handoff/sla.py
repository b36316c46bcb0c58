"""First-response targets (the desk's SLA): how long a customer who is handed off may wait for a
person's first reply, per priority (`HUB_SLA_HIGH_SECONDS`, `HUB_SLA_NORMAL_SECONDS`,
`HUB_SLA_LOW_SECONDS`; 0: no target for that priority).

The clock runs from `queued_at` (the handoff) to `first_response_at` (the first agent reply, which
a release, a re-claim or a transfer does not reset). A handoff *meets* its target when the first
reply came within it, is *breached* when it came later or has not come and the target has passed,
and is *running* otherwise. The inbox shows each queue card's time left; the metrics count
attainment (met / (met + breached)) per day and per team, leaving running ones out.

Pure functions of the times given, so the queue, the metrics and the tests judge alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MET, BREACHED, RUNNING = "met", "breached", "running"


@dataclass(frozen=True)
class SlaTargets:
    """Seconds to a first reply per priority; 0 means no target."""

    high: float = 300.0
    normal: float = 1800.0
    low: float = 14400.0

    def target(self, priority: str) -> float | None:
        seconds = {"high": self.high, "normal": self.normal, "low": self.low}.get(priority, self.normal)
        return seconds if seconds > 0 else None


@dataclass(frozen=True)
class SlaStatus:
    target_seconds: float
    due_at: float
    responded_at: float | None
    state: str  # met | breached | running
    seconds_left: float  # negative once breached; at the reply when there was one

    def to_json(self) -> dict[str, Any]:
        return {
            "target_seconds": self.target_seconds,
            "due_at": self.due_at,
            "responded_at": self.responded_at,
            "state": self.state,
            "seconds_left": round(self.seconds_left, 1),
        }


def sla_status(
    targets: SlaTargets, priority: str, queued_at: float, first_response_at: float | None, now: float
) -> SlaStatus | None:
    """Where one handoff stands against its priority's target (None: no target)."""
    target = targets.target(priority)
    if target is None:
        return None
    due = queued_at + target
    if first_response_at is not None:
        return SlaStatus(
            target, due, first_response_at, MET if first_response_at <= due else BREACHED, due - first_response_at
        )
    return SlaStatus(target, due, None, BREACHED if now > due else RUNNING, due - now)
