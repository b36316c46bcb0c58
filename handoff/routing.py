"""Which team a handoff goes to: a table in settings (`HUB_TEAM_ROUTES`) from the handoff's reason
or the category the form collected to a team's name, and one rule no setting changes: a security
matter (`sensitive_topic`) always goes to the Security team.

Standard library only, so the settings can check the table at start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SECURITY_TEAM = "Security"
ALWAYS_SECURITY = frozenset({"sensitive_topic"})
#: where the handoff's details keep the form's category (actions/slots.py Slot.ISSUE_CATEGORY)
CATEGORY_DETAIL = "issue_category"
_ROUTE = re.compile(r"^(reason|category):([a-z0-9_-]{1,40})=(.{1,60})$")


class RouteError(ValueError):
    """A malformed routing entry: the message says how to write one."""


def parse_routes(entries: Iterable[str]) -> dict[str, str]:
    """{"reason:complaint": "Care", "category:cards": "Cards"} from entries like `category:cards=Cards`."""
    routes: dict[str, str] = {}
    for entry in entries:
        match = _ROUTE.match(entry.strip())
        if match is None:
            raise RouteError(
                f"HUB_TEAM_ROUTES entry {entry!r}: write reason:CODE=Team or category:NAME=Team, "
                "comma-separated (category:cards=Cards,reason:complaint=Care)"
            )
        kind, key, team = match.groups()
        routes[f"{kind}:{key}"] = team.strip()
    return routes


def team_for(routes: Mapping[str, str], reason: str, details: Mapping[str, str]) -> str | None:
    """The team's name for a handoff, or None for the general queue; the reason's route beats the category's."""
    if reason in ALWAYS_SECURITY:
        return SECURITY_TEAM
    category = str(details.get(CATEGORY_DETAIL) or "").strip().lower()
    return routes.get(f"reason:{reason}") or (routes.get(f"category:{category}") if category else None)
