"""Conversation search for agents (`GET /api/agent/search`): the query string read and checked
here, the searching itself in the store (handoff/store/search.py)."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web

from handoff import auth
from handoff.app_keys import STORE
from handoff.errors import error_response
from handoff.metrics.figures import BadPeriod, midnight, parse_day
from handoff.ownership import State
from handoff.store import SearchQuery
from handoff.store.search import DEFAULT_RESULTS

routes = web.RouteTableDef()
MAX_QUERY = 200
MAX_RESULTS = 100
_REASON = re.compile(r"^[a-z_]{1,40}$")
STATES = tuple(state.value for state in State)


def search_query(request: web.Request) -> SearchQuery | str:
    """The SearchQuery a request's query string asks for, or what is wrong with it."""
    params = request.query
    text = params.get("q", "").strip()
    if len(text) > MAX_QUERY:
        return f"A search is up to {MAX_QUERY} characters."
    state = params.get("state", "") or None
    if state is not None and state not in STATES:
        return f"?state is one of {', '.join(STATES)}."
    reason = params.get("reason", "") or None
    if reason is not None and not _REASON.match(reason):
        return "?reason is a handoff reason code, such as customer_request."
    team, team_id, general = params.get("team", ""), None, False
    if team == "none":
        general = True
    elif team.isascii() and team.isdigit() and len(team) < 10:
        team_id = int(team)
    elif team:
        return "?team is a team's id, or none for the general queue."
    raw_limit = params.get("limit", "")
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit[:4]) <= MAX_RESULTS):
        return f"?limit is 1 to {MAX_RESULTS}."
    try:
        first = parse_day(params["from"], "from") if params.get("from") else None
        last = parse_day(params["to"], "to") if params.get("to") else None
        if first and last and first > last:
            raise BadPeriod("'from' is after 'to'; swap them.")
        before = midnight(last + timedelta(days=1)) if last else None
    except (BadPeriod, OverflowError) as exc:
        return str(exc) if isinstance(exc, BadPeriod) else "'to' is too far in the future."
    return SearchQuery(
        text=text,
        state=state,
        reason=reason,
        team_id=team_id,
        general_queue=general,
        started_from=midnight(first) if first else None,
        started_before=before,
        limit=int(raw_limit) if raw_limit else DEFAULT_RESULTS,
    )


@routes.get("/api/agent/search")
@auth.agent_required
async def search(request: web.Request) -> web.StreamResponse:
    """`?q=` words, an email or a name; `state`, `reason`, `team` (an id or none), `from`/`to`
    (YYYY-MM-DD, UTC: the day the conversation started), `limit` (25, at most 100)."""
    query = search_query(request)
    if isinstance(query, str):
        return error_response(400, "malformed", query)
    hits = await request.app[STORE].search_conversations(query)
    return web.json_response({"results": [hit.to_json() for hit in hits], "limit": query.limit})
